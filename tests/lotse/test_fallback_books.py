"""The static fallback's calls are counted once: journal, metric, report.

A call the static fallback handled reaches the controller in up to three
ways: its UserEvent (only while the controller listens), a reconcile that
finds it alive in a queue (adopted), and the fallback's own queue_log lines
(QueueLog(): LOTSEFALLBACK, LOTSEANNOUNCE). Whether it ended before the
controller went away (the fallback took it while the controller was there
but did not answer), during its absence, or after it was back, and whether
it queued or only heard an announcement, it is one journal row with
``fallback = 1``, one ``lotse_fallback_calls_total`` and one in the report's
``fallback`` column — also when a restarted controller reads the whole
queue_log again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from ami.events import (
    CoreShowChannel,
    CoreShowChannelsComplete,
    Hangup,
    LotseFallback,
    QueueCallerJoin,
)
from lotse.calltrack import CallTracker
from lotse.controller import Controller
from lotse.fallbackbook import FallbackBook
from lotse.journal import Journal
from lotse.journal.report import report
from lotse.queuelog.follow import QueueLogFollower
from metrics.registry import LotseMetrics
from router.numbering import classify_caller
from standin import CallHandle
from standin.agents import AgentProfile, Duration
from tests.lotse.rig import SECRET, Rig, running_rig
from tests.lotse.test_queuelog_import import CONFIG, KEY, TABLE

T0 = 1796230054  # 2026-12-02 16:47:34 UTC
DAY = date(2026, 12, 2)
BERLIN = ZoneInfo("Europe/Berlin")
CALL = "1796230054.17"
CALLER = "04211234567"


def line(t: int, queue: str, agent: str, event: str, *data: str) -> str:
    return f"{t}|{CALL}|{queue}|{agent}|{event}|{'|'.join(data)}\n"


def routed(t: int, reason: str = "agi-failure") -> str:
    return line(t, "lotse-fallback", "NONE", "LOTSEFALLBACK", "bremen", reason)


def queued_lines(t: int) -> tuple[str, str]:
    """(while the caller waits, the answer and its end)"""
    waiting = line(t, "115-bremen", "NONE", "ENTERQUEUE", "", CALLER, "1")
    done = line(t + 8, "115-bremen", "anna", "CONNECT", "8", "1796230062.3", "2") + line(
        t + 68, "115-bremen", "anna", "COMPLETECALLER", "8", "60", "1"
    )
    return waiting, done


def announced_line(t: int) -> str:
    return line(t, "lotse-fallback", "NONE", "LOTSEANNOUNCE", "bremen", "offhours", "lotse/x")


@dataclass
class Process:
    """One controller process, in parts: its metrics, tracker and queue_log follower (one book)."""

    journal: Journal
    path: Path
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    mono: float = 0.0

    def __post_init__(self) -> None:
        metrics = LotseMetrics(self.registry, CONFIG.centers)
        book = FallbackBook(metrics.fallback_calls)
        self.tracker = CallTracker(
            CONFIG,
            self.journal.record,
            metrics,
            lambda: datetime.fromtimestamp(T0 + 30, UTC),
            self.journal.caller_hash,
            classify=lambda raw: classify_caller(raw, TABLE),
            fallback_book=book,
        )
        self.follower = QueueLogFollower(
            self.path,
            CONFIG,
            TABLE,
            self.journal,
            wall_clock=lambda: datetime.fromtimestamp(T0 + 3600, UTC),
            mono_clock=lambda: self.mono,
            metrics=metrics,
            fallback_book=book,
        )

    async def read_queue_log(self) -> None:
        """Read the file and import every call whose lines have settled."""
        await self.follower.step()
        self.mono += 1000.0
        await self.follower.step()

    def reconcile(self, *alive: CoreShowChannel) -> None:
        self.tracker.begin_reconcile("r1", [])
        for channel in alive:
            self.tracker.apply(channel)
        self.tracker.apply(CoreShowChannelsComplete(len(alive), "r1"))

    @property
    def counted(self) -> float:
        return sum(
            s.value
            for fam in self.registry.collect()
            if fam.name == "lotse_fallback_calls"
            for s in fam.samples
            if s.name.endswith("_total")
        )


def fallback_event() -> LotseFallback:
    return LotseFallback("PJSIP/carrier-1", CALL, CALL, CALLER, "bremen", "agi-failure")


def in_queue() -> CoreShowChannel:
    return CoreShowChannel(
        "PJSIP/carrier-1", CALL, CALL, CALLER, 6, "lotse-fallback", "queue", 12, "Queue",
        "115-bremen,,,,30", 20.0, None, "r1",
    )  # fmt: skip


def hangup() -> Hangup:
    return Hangup("PJSIP/carrier-1", CALL, CALL, CALLER, 16, "Normal Clearing")


def append(path: Path, *texts: str) -> None:
    with path.open("a") as f:
        f.write("".join(texts))


async def books(db: Path) -> tuple[list[tuple[object, ...]], int, int]:
    """(journal rows (call id, fallback, queued, announced), report fallback: bremen, national)"""
    with sqlite3.connect(db) as conn:
        rows = list(conn.execute("SELECT call_id, fallback, queued, announced FROM calls"))
    got = await report(db, DAY, BERLIN, CONFIG.service_level)
    bremen = next(r for r in got if r.center == "bremen")
    national = next(r for r in got if r.national)
    return rows, bremen.fallback, national.fallback


KINDS = ("queued", "announced")


@pytest.mark.parametrize("kind", KINDS)
async def test_ended_before_the_absence_heard_live_and_read_again(
    tmp_path: Path, kind: str
) -> None:
    # The controller is there but did not answer in time: the fallback took
    # the call, its UserEvent is heard; its lines are read after it ended.
    path, db = tmp_path / "queue_log", tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=lambda: datetime.now(UTC), salt=KEY)
    first = Process(journal, path)
    first.tracker.apply(fallback_event())
    if kind == "queued":
        first.tracker.apply(
            QueueCallerJoin("PJSIP/carrier-1", CALL, CALL, CALLER, "115-bremen", 1, 1)
        )
        waiting, done = queued_lines(T0)
        append(path, routed(T0), waiting, done)
    else:
        append(path, routed(T0), announced_line(T0 + 1))
    first.tracker.apply(hangup())
    await first.read_queue_log()
    assert first.counted == 1
    # It goes away and comes back: the whole file is read again.
    second = Process(journal, path)
    second.reconcile()
    await second.read_queue_log()
    await journal.close()
    assert second.counted == 0
    rows, bremen, national = await books(db)
    assert rows == [(CALL, 1, int(kind == "queued"), int(kind == "announced"))]
    assert (bremen, national) == (1, 1)


@pytest.mark.parametrize("kind", KINDS)
async def test_ended_during_the_absence_counted_from_the_queue_log(
    tmp_path: Path, kind: str
) -> None:
    path, db = tmp_path / "queue_log", tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=lambda: datetime.now(UTC), salt=KEY)
    # Nobody listens: the UserEvent goes nowhere, only the lines stay.
    if kind == "queued":
        waiting, done = queued_lines(T0)
        append(path, routed(T0, "direct"), waiting, done)
    else:
        append(path, routed(T0, "direct"), announced_line(T0 + 1))
    back = Process(journal, path)
    back.reconcile()
    await back.read_queue_log()
    assert back.counted == 1
    again = Process(journal, path)
    await again.read_queue_log()
    await journal.close()
    assert again.counted == 0
    rows, bremen, national = await books(db)
    assert rows == [(CALL, 1, int(kind == "queued"), int(kind == "announced"))]
    assert (bremen, national) == (1, 1)


@pytest.mark.parametrize(
    ("kind", "first"),
    [("queued", "reconcile"), ("queued", "queue_log"), ("announced", "reconcile")],
)
async def test_alive_at_the_restart_adopted_or_imported_once(
    tmp_path: Path, kind: str, first: str
) -> None:
    path, db = tmp_path / "queue_log", tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=lambda: datetime.now(UTC), salt=KEY)
    alive: tuple[CoreShowChannel, ...] = ()
    if kind == "queued":
        waiting, done = queued_lines(T0)
        append(path, routed(T0, "direct"), waiting)
        alive = (in_queue(),)
    else:
        # In the announcement, in no queue: the reconcile does not adopt it.
        append(path, routed(T0, "direct"), announced_line(T0 + 1))
        done = ""
    back = Process(journal, path)
    if first == "reconcile":
        back.reconcile(*alive)
        await back.read_queue_log()
    else:
        await back.read_queue_log()
        back.reconcile(*alive)
    # It ends under the controller's eyes.
    append(path, done)
    back.tracker.apply(hangup())
    await back.read_queue_log()
    assert back.counted == 1
    again = Process(journal, path)
    again.reconcile()
    await again.read_queue_log()
    await journal.close()
    assert again.counted == 0
    rows, bremen, national = await books(db)
    assert rows == [(CALL, 1, int(kind == "queued"), int(kind == "announced"))]
    assert (bremen, national) == (1, 1)
    with sqlite3.connect(db) as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM call_events ORDER BY seq")]
    assert kinds.count("fallback") == 1 and kinds.count("arrived") <= 1


# --- end to end: the stand-in runs the generated fallback and writes its queue_log ----


def agents(rig: Rig) -> list[tuple[str, str]]:
    """(queue, member) of every agent the rig logged in."""
    return [(q.name, m.name) for q in rig.pbx.core.queues for m in q.members]


async def fallback_calls(rig: Rig, caller: str, *, announced: bool) -> CallHandle:
    """A call the static fallback handles: queued, or (everybody logged out) the
    all-busy announcement only."""
    logged = agents(rig) if announced else []
    for queue, name in logged:
        rig.pbx.logout_agent(queue, name)
    handle = await rig.pbx.place_call(caller)
    async with asyncio.timeout(30):
        await handle.outcome()
    for queue, name in logged:
        rig.pbx.login_agent(queue, name, AgentProfile(ring=Duration(mean=1.0)))
    return handle


async def test_every_fallback_call_of_the_stand_in_is_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    async with running_rig(tmp_path, queue_log=path) as rig:
        first = rig.controller
        # Before the absence: the controller listens but does not route (FastAGI
        # closed): the fallback's UserEvent is heard.
        await first.agi.close()
        await first.agi.drain(1.0)
        before = [
            await fallback_calls(rig, "04211234501", announced=False),
            await fallback_calls(rig, "04211234502", announced=True),
        ]
        await first.stop()
        # During: nobody listens.
        during = [
            await fallback_calls(rig, "04211234503", announced=False),
            await fallback_calls(rig, "04211234504", announced=True),
        ]
        # After: alive when the controller is back (talking, or waiting).
        after = [await rig.pbx.place_call(f"0421 12345{n}") for n in (10, 11)]
        journal = await Journal.open(rig.journal_path, clock=rig.wall)
        second = Controller(
            rig.config,
            first.options,
            secret=SECRET,
            journal=journal,
            wall_clock=rig.wall,
            table=first.router.table,
        )
        await second.start()
        try:
            async with asyncio.timeout(60):
                for h in after:
                    await h.outcome()
            ids = [h.uniqueid for h in (*before, *during, *after)]
            async with asyncio.timeout(60):
                while True:
                    await journal.flush()
                    with sqlite3.connect(rig.journal_path) as conn:
                        rows = dict(conn.execute("SELECT call_id, fallback FROM calls"))
                    settled = not second.tracker.active_calls and not second.tracker.reconciling
                    if settled and all(rows.get(cid) == 1 for cid in ids):
                        break
                    await asyncio.sleep(0.2)
            # Until the follower has imported every call to its end: nothing twice.
            follower = second.queue_log
            assert follower is not None
            async with asyncio.timeout(60):
                while follower.following:
                    await asyncio.sleep(0.2)
            counted = [
                sum(
                    s.value
                    for fam in c.registry.collect()
                    if fam.name == "lotse_fallback_calls"
                    for s in fam.samples
                    if s.name.endswith("_total")
                )
                for c in (first, second)
            ]
        finally:
            await second.stop()
    # Every call once in the journal, fallback set; the metric once over both
    # processes (the first heard two, the second the other four).
    assert sorted(rows) == sorted(ids) and all(rows[cid] == 1 for cid in ids)
    assert counted == [2, 4]
    with sqlite3.connect(rig.journal_path) as conn:
        announced = {cid for (cid,) in conn.execute("SELECT call_id FROM calls WHERE announced")}
    assert announced == {before[1].uniqueid, during[1].uniqueid}
    got = await report(rig.journal_path, date(2026, 11, 24), BERLIN, rig.config.service_level)
    assert next(r for r in got if r.national).fallback == 6


async def test_an_unconnected_caller_announced_by_the_fallback_has_no_home(tmp_path: Path) -> None:
    # A region no center serves, unconnected: announcement: the fallback's
    # lines name no center; the call is the fallback's all the same.
    path, db = tmp_path / "queue_log", tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=lambda: datetime.now(UTC), salt=KEY)
    append(
        path,
        line(T0, "lotse-fallback", "NONE", "LOTSEFALLBACK", "", "direct"),
        line(T0, "lotse-fallback", "NONE", "LOTSEANNOUNCE", "", "unconnected", "lotse/nc"),
    )
    back = Process(journal, path)
    await back.read_queue_log()
    await journal.close()
    assert back.registry.get_sample_value("lotse_fallback_calls_total", {"center": "none"}) == 1
    with sqlite3.connect(db) as conn:
        rows = list(conn.execute("SELECT call_id, home, fallback, announced, ended_at FROM calls"))
    assert [r[:4] for r in rows] == [(CALL, None, 1, 1)] and rows[0][4] is not None
    got = await report(db, DAY, BERLIN, CONFIG.service_level)
    assert next(r for r in got if r.national).fallback == 1
