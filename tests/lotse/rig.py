"""The end-to-end rig: the Asterisk stand-in and ``lotse run`` wired over loopback TCP.

The stand-in speaks AMI and FastAGI like Asterisk 22; the controller cannot
tell the difference. Wall-clock time for the routing policy is a fake the test
sets per phase, while queue timings run on the stand-in's compressed clock.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from lotse.controller import Controller, RunOptions, open_journal
from lotse.journal.privacy import JournalKey
from lotse.journal.store import Journal
from router.config import Config, Endpoint
from router.configload import load_config
from router.numbering import OrtsnetzTable
from standin import Pbx
from standin.agents import AgentProfile, Duration
from standin.clock import ScaledClock
from standin.staffing import AgentSpec, Staffing

REPO = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")
SPEED = 20.0
SECRET = "e2e-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeWall:
    """The controller's wall clock, set by the test per phase."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)

    def __call__(self) -> datetime:
        return self.at.astimezone(UTC)


@dataclass
class Rig:
    config: Config
    pbx: Pbx
    controller: Controller
    wall: FakeWall
    journal_path: Path


def staffing(config: Config, unstaffed: set[str]) -> Staffing:
    profile = AgentProfile(
        ring=Duration.parse("uniform:1:1"), handle=Duration.parse("exp:20"), wrapup_s=1
    )
    queues = {
        c.queue: tuple(AgentSpec(f"{c.id}-agent-{n}", profile) for n in range(2))
        for c in config.centers.values()
        if c.id not in unstaffed
    }
    return Staffing(queues=queues)


@asynccontextmanager
async def running_rig(
    tmp_path: Path, key: JournalKey | None = None, queue_log: Path | None = None
) -> AsyncIterator[Rig]:
    """Stand-in and controller started, the controller attached and in sync.

    With ``key``, the journal is opened as ``lotse run`` opens it, keyed with it.
    With ``queue_log``, the stand-in writes Asterisk's queue_log there and the
    controller follows it.
    """
    table = OrtsnetzTable.load()
    config = load_config(REPO / "config.yaml", table=table)
    # A loaded CI machine must not push a decision past the deadline: that
    # path (the static fallback) has a test of its own.
    config = replace(config, controller=replace(config.controller, agi_deadline_ms=3000))
    agi = Endpoint("127.0.0.1", free_port())
    pbx = Pbx(
        config,
        staffing=staffing(config, {"paderborn"}),
        table=table,
        # The stand-in runs the generated dialplan: its static fallback checks the
        # hours on the stand-in's clock, a Tuesday morning like the controller's.
        clock=ScaledClock(SPEED, start_epoch=FakeWall().at.timestamp()),
        seed=7,
        users={"lotse": SECRET},
        agi_url=f"agi://{agi}/route",
        queue_log=queue_log,
    )
    await pbx.start()
    wall = FakeWall()
    journal_path = tmp_path / "journal.sqlite"
    if key is None:
        journal = await Journal.open(journal_path, clock=wall)
    else:
        journal = await open_journal(config, str(journal_path), wall, key)
    host, port = pbx.ami_address
    options = RunOptions(
        ami=Endpoint(host, port),
        agi_listen=agi,
        metrics_listen=None,
        journal_path=str(journal_path),
        queue_log=None if queue_log is None else str(queue_log),
    )
    controller = Controller(
        config, options, secret=SECRET, journal=journal, wall_clock=wall, table=table
    )
    await controller.start()
    async with asyncio.timeout(10):
        while controller.live.stale:
            await asyncio.sleep(0.02)
    yield Rig(config, pbx, controller, wall, journal_path)
    await controller.stop()
    await pbx.close()


async def outcomes(rig: Rig, calls: list[tuple[str, str | None]]) -> list[object]:
    handles = [await rig.pbx.place_call(caller, postal_code=plz) for caller, plz in calls]
    async with asyncio.timeout(60):
        return [await h.outcome() for h in handles]
