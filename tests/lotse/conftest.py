"""Fixtures for the controller's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.lotse.realasterisk import (
    SKIP_REASON,
    TARGET,
    Ami,
    Lotse,
    Settings,
    build_dialplan,
    free_port,
    make_config,
    metric,
    prepare_asterisk,
    unique_prefix,
)
from tests.lotse.rig import Rig, running_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The stand-in and ``lotse run`` attached to it (see ``tests/lotse/rig.py``)."""
    async with running_rig(tmp_path) as r:
        yield r


# --- the tests against a real Asterisk (tests/lotse/realasterisk.py) --------------


@pytest.fixture(scope="session")
def real_lotse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lotse]:
    """lotse's generated files loaded into the real Asterisk and one ``lotse run``
    of this checkout against it, for the whole session (one journal: every call
    of the session is the controller's own, so a fallback call stands out)."""
    if not TARGET:
        pytest.skip(SKIP_REASON)
    s = Settings.from_env()
    tmp = tmp_path_factory.mktemp("real-asterisk")
    metrics_port = free_port()
    config = make_config(tmp, s, agi_port=free_port(), metrics_port=metrics_port)
    # What Asterisk loaded before: put back (and reloaded) after the session.
    saved = {f: f.read_bytes() for f in s.etc.glob("*_lotse.conf")}
    build_dialplan(config, s)
    asyncio.run(prepare_asterisk(s))
    lotse = Lotse(config, tmp, s, metrics_port)
    lotse.start()
    try:
        asyncio.run(lotse.ready())
        asyncio.run(lotse.caught_up())
        yield lotse
    finally:
        lotse.stop()
        for f, data in saved.items():
            f.write_bytes(data)
        asyncio.run(prepare_asterisk(s, callees=False))


@pytest.fixture
async def ami(real_lotse: Lotse) -> AsyncIterator[Ami]:
    """The all-privileges AMI user; every call the test placed is hung up after it."""
    client = Ami()
    await client.connect(real_lotse.s)
    client.prefix = unique_prefix()
    try:
        yield client
    finally:
        await client.hangup_all(client.prefix)
        await client.close()
    # Whatever the test checked: lotse read everything this Asterisk sent.
    m = await real_lotse.metrics()
    assert metric(m, "lotse_malformed_input_total", source="ami") == 0
    assert metric(m, "lotse_event_errors_total") == 0
    assert real_lotse.problems() == []
