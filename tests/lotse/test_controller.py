"""The controller's ordered consumer: one bad event is skipped, never the end of the state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ami.events import QueueCallerJoin
from lotse.controller import Controller, RunOptions
from lotse.journal.store import Journal
from router.config import Endpoint
from router.configload import load_config
from router.numbering import OrtsnetzTable
from tests.lotse.rig import REPO, SECRET, FakeWall, free_port


def join(n: int) -> QueueCallerJoin:
    uid = f"1700000000.{n}"
    return QueueCallerJoin(f"PJSIP/carrier-{n:08x}", uid, uid, "", "q-bremen", n, n)


async def test_an_event_that_fails_is_counted_and_the_next_ones_still_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = OrtsnetzTable.load()
    config = load_config(REPO / "config.yaml", table=table)
    wall = FakeWall()
    journal = await Journal.open(tmp_path / "journal.sqlite", clock=wall)
    options = RunOptions(
        ami=Endpoint("127.0.0.1", free_port()),  # nobody listens: AMI stays down
        agi_listen=Endpoint("127.0.0.1", free_port()),
        metrics_listen=None,
        journal_path=str(tmp_path / "journal.sqlite"),
    )
    controller = Controller(
        config, options, secret=SECRET, journal=journal, wall_clock=wall, table=table
    )
    applied: list[int] = []
    real_apply = controller.tracker.apply

    def apply(event: object) -> None:
        assert isinstance(event, QueueCallerJoin)
        if event.position == 2:
            raise KeyError("a bug in the tracker")
        applied.append(event.position)
        real_apply(event)

    monkeypatch.setattr(controller.tracker, "apply", apply)
    await controller.start()
    try:
        controller.events.put_nowait([join(1), join(2), join(3)])
        controller.events.put_nowait([join(4)])
        async with asyncio.timeout(5):
            while len(applied) < 3:
                await asyncio.sleep(0.01)
    finally:
        async with asyncio.timeout(10):  # stop() must not wait for a consumer in vain
            await controller.stop()
    assert applied == [1, 3, 4]
    assert controller.metrics.event_errors._value.get() == 1
