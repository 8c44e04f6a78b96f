"""The controller's ordered consumer: one bad event is skipped, never the end of the state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import structlog

from ami.codec import Message, encode
from ami.events import QueueCallerJoin
from lotse.controller import Controller, RunOptions
from lotse.journal.store import Journal
from router.config import Endpoint
from router.configload import load_config
from router.numbering import OrtsnetzTable
from tests.ami.peer import PEER_SECRET, FlappingPeer
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


async def test_a_flapping_ami_link_leaves_the_state_stale_only_while_it_is_down(
    tmp_path: Path,
) -> None:
    # The probe's peer: every login accepted, the connection dropped 0.3 s
    # later, 8 times. Each reconnect waits the shortest backoff, and the state
    # is fresh again after each resync: stale only between a loss and the
    # resync that follows the next login.
    peer = FlappingPeer(hold_s=0.3, flaps=8)

    async def queue_status(msg: Message, writer: asyncio.StreamWriter) -> None:
        aid = msg.action_id or ""
        writer.write(
            encode([("Response", "Success"), ("ActionID", aid), ("EventList", "start")])
            + encode(
                [
                    ("Event", "QueueStatusComplete"),
                    ("ActionID", aid),
                    ("EventList", "Complete"),
                    ("ListItems", "0"),
                ]
            )
        )

    peer.on_action["QueueStatus"] = queue_status
    await peer.start()
    table = OrtsnetzTable.load()
    config = load_config(REPO / "config.yaml", table=table)
    wall = FakeWall()
    journal = await Journal.open(tmp_path / "journal.sqlite", clock=wall)
    options = RunOptions(
        ami=Endpoint("127.0.0.1", peer.port),
        agi_listen=Endpoint("127.0.0.1", free_port()),
        metrics_listen=None,
        journal_path=str(tmp_path / "journal.sqlite"),
    )
    controller = Controller(
        config, options, secret=PEER_SECRET, journal=journal, wall_clock=wall, table=table
    )
    delays: list[float] = []

    async def no_wait(delay: float) -> None:
        delays.append(delay)

    controller.session._sleep = no_wait
    resyncs = controller.metrics.resyncs
    stale_while_up: list[tuple[int, float]] = []
    await controller.start()
    try:
        async with asyncio.timeout(20):
            while not (peer.logins == 9 and resyncs._value.get() == 9):
                # Stale with the link up and its resync already done is the bug.
                connects = controller.session.connects
                if (
                    controller.live.stale
                    and controller.session.connected
                    and resyncs._value.get() >= connects
                ):
                    stale_while_up.append((connects, resyncs._value.get()))
                await asyncio.sleep(0.005)
        assert not controller.live.stale
    finally:
        async with asyncio.timeout(10):
            await controller.stop()
        await peer.close()
    assert peer.dropped == 8
    assert stale_while_up == []
    # Every wait the shortest: 0.2 s plus at most 0.2 s of jitter.
    assert len(delays) == 8 and all(0.2 <= d <= 0.4 for d in delays)


async def test_events_of_unknown_queues_are_counted_and_each_queue_logged_once(
    tmp_path: Path,
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

    def joined(n: int, queue: str) -> QueueCallerJoin:
        uid = f"1700000000.{n}"
        return QueueCallerJoin(f"PJSIP/carrier-{n:08x}", uid, uid, "", queue, 1, 1)

    events: list[object] = [
        joined(1, "sales"),
        joined(2, "115-bremen"),
        joined(3, "sales"),
        joined(4, "support"),
        joined(5, "sales"),
    ]
    await controller.start()
    try:
        with structlog.testing.capture_logs() as logs:
            controller.events.put_nowait(events)
            async with asyncio.timeout(5):
                while controller.live.snapshot().centers["bremen"].waiting < 1:
                    await asyncio.sleep(0.01)
    finally:
        await controller.stop()
    assert controller.metrics.unknown_queue_events._value.get() == 4
    named = [e["queue"] for e in logs if e["event"] == "ami.unknown_queue"]
    assert named == ["sales", "support"]
