"""Against a real Asterisk, when one is reachable; skipped cleanly otherwise.

Set ``LOTSE_TEST_ASTERISK=host:port`` (AMI) and ``LOTSE_TEST_ASTERISK_USER`` /
``LOTSE_TEST_ASTERISK_SECRET`` for a manager.conf user with the generated
lotse privileges. The tests log in, resync the queue state from QueueStatus,
and check the session stays healthy: exactly what the controller does at start.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from ami.events import QueueParams, QueueStatusComplete
from ami.session import AmiSession, Connected

TARGET = os.environ.get("LOTSE_TEST_ASTERISK", "")
pytestmark = pytest.mark.skipif(
    not TARGET, reason="no real Asterisk: set LOTSE_TEST_ASTERISK=host:port to run these"
)


def _endpoint() -> tuple[str, int]:
    host, _, port = TARGET.rpartition(":")
    return host or "127.0.0.1", int(port)


async def test_login_and_resync_from_real_queuestatus() -> None:
    host, port = _endpoint()
    events: list[object] = []
    session = AmiSession(
        host,
        port,
        os.environ.get("LOTSE_TEST_ASTERISK_USER", "lotse"),
        os.environ.get("LOTSE_TEST_ASTERISK_SECRET", ""),
        sink=events.extend,
        rng=random.Random(0),
    )
    session.start()
    try:
        async with asyncio.timeout(10):
            while not session.connected:
                await asyncio.sleep(0.05)
        assert isinstance(events[0], Connected)
        result = await session.action("QueueStatus", timeout=10)
        async with asyncio.timeout(5):
            while not any(isinstance(e, QueueStatusComplete) for e in events):
                await asyncio.sleep(0.05)
        queues = {e.queue for e in events if isinstance(e, QueueParams)}
        assert result.items >= len(queues)
        pong = await session.action("Ping")
        assert (pong.response.get("Response") or "").lower() == "success"
    finally:
        await session.stop()
