"""The journal store: records in, rows out, batching, back-pressure, purge, restart."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotse.journal import (
    Abandoned,
    Answered,
    CallArrived,
    Closed,
    Decided,
    Ended,
    FallbackUsed,
    Journal,
    Outcome,
    QueueJoined,
    Record,
    Spilled,
    SpillReason,
)
from lotse.journal import store as journal_store
from lotse.journal.privacy import caller_hash
from router.numbering import NumberKind, Origin, Ortsnetz
from router.policy import Action, Decision

T0 = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
KOELN = Origin(NumberKind.LANDLINE, Ortsnetz("221", "Köln"), "0221…")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def rows(path: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    """Read the journal file with a separate, plain connection."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def decision(
    home: str, target: str | None, *reasons: str, action: Action = Action.QUEUE
) -> Decision:
    return Decision(
        action=action,
        origin=KOELN,
        home=home,
        target=target,
        queue=f"115-{target}" if target else None,
        greeting=f"lotse/greeting-{home}",
        announcement=None if target else f"lotse/offhours-{home}",
        queue_timeout_s=30 if target else 0,
        reasons=reasons,
    )


def answered_call(call_id: str, at: datetime, center: str = "koeln") -> list[Record]:
    """A call queued at its home ``center`` and answered after 12 s, talking 90 s."""
    return [
        CallArrived.of(call_id, at, KOELN, "00112233aabbccdd"),
        Decided.of(call_id, at, decision(center, center, f"home={center}", f"{center} open")),
        QueueJoined(call_id, at + timedelta(seconds=8), center, f"115-{center}", 1),
        Answered(call_id, at + timedelta(seconds=20), center, "Anna", 12.0),
        Ended(call_id, at + timedelta(seconds=110), 90.0, "Normal Clearing"),
    ]


async def open_journal(path: Path, clock: Clock, **kw: Any) -> Journal:
    return await Journal.open(path, clock=clock, salt=b"s" * 32, **kw)


async def test_records_survive_close_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    clock = Clock()
    journal = await open_journal(db, clock)
    for rec in answered_call("c1", T0):
        journal.record(rec)
    await journal.close()

    journal = await open_journal(db, clock)
    for rec in answered_call("c2", T0 + timedelta(minutes=5)):
        journal.record(rec)
    await journal.close()

    calls = rows(db, "SELECT * FROM calls ORDER BY call_id")
    assert [c["call_id"] for c in calls] == ["c1", "c2"]
    c1 = calls[0]
    assert c1["arrived_at"] == "2026-02-03T09:00:00.000000Z"
    assert c1["ortsnetz_prefix"] == "0221"
    assert c1["number_kind"] == "landline"
    assert (c1["home"], c1["final_center"], c1["answered_center"]) == ("koeln", "koeln", "koeln")
    assert c1["answered_at"] == "2026-02-03T09:00:20.000000Z"
    assert (c1["wait_s"], c1["talk_s"], c1["queued"], c1["abandoned"]) == (12.0, 90.0, 1, 0)
    assert (c1["ended_cause"], c1["overflowed"], c1["offhours"]) == ("Normal Clearing", 0, 0)

    events = rows(db, "SELECT * FROM call_events WHERE call_id = 'c1' ORDER BY seq")
    assert [(e["seq"], e["kind"]) for e in events] == [
        (1, "arrived"),
        (2, "decided"),
        (3, "queued"),
        (4, "answered"),
        (5, "ended"),
    ]
    detail = json.loads(events[1]["detail"])
    assert detail["reasons"] == ["home=koeln", "koeln open"]
    assert detail["action"] == "queue"
    assert json.loads(events[3]["detail"])["agent"] == "Anna"


async def test_many_records_are_written_in_few_transactions(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    journal = await open_journal(db, Clock(), batch_size=200)
    for i in range(1000):
        journal.record(QueueJoined(f"c{i}", T0, "koeln", "115-koeln", 1))
    await journal.flush()
    stats = journal.stats()
    await journal.close()

    assert (stats.written, stats.transactions, stats.pending) == (1000, 5, 0)
    assert rows(db, "SELECT count(*) FROM call_events")[0][0] == 1000
    assert rows(db, "SELECT count(*) FROM calls WHERE queued = 1")[0][0] == 1000


async def test_writer_commits_without_an_explicit_flush(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    journal = await open_journal(db, Clock(), flush_interval_s=0.01)
    try:
        journal.record(QueueJoined("c1", T0, "koeln", "115-koeln", 1))
        for _ in range(500):  # wait for the writer task, however slow the machine
            if journal.stats().written:
                break
            await asyncio.sleep(0.01)
        assert journal.stats().written == 1
        assert rows(db, "SELECT call_id FROM calls")[0][0] == "c1"
    finally:
        await journal.close()


async def test_full_queue_drops_records_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    journal = await open_journal(tmp_path / "j.sqlite", clock, batch_size=3, max_pending=3)
    with caplog.at_level(logging.WARNING, logger="lotse.journal.store"):
        for i in range(10):  # no await in between: the writer cannot drain
            journal.record(QueueJoined(f"c{i}", T0, "koeln", "115-koeln", 1))
    assert (journal.stats().pending, journal.stats().dropped) == (3, 7)
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1

    await journal.flush()
    assert journal.stats().written == 3
    await journal.close()


async def test_record_after_close_is_counted_as_dropped(tmp_path: Path) -> None:
    journal = await open_journal(tmp_path / "j.sqlite", Clock())
    await journal.close()
    journal.record(QueueJoined("late", T0, "koeln", "115-koeln", 1))
    assert journal.stats().dropped == 1
    await journal.close()  # idempotent


async def test_lag_is_the_age_of_the_oldest_unwritten_record(tmp_path: Path) -> None:
    clock = Clock()
    mono = [100.0]
    journal = await open_journal(tmp_path / "j.sqlite", clock, mono=lambda: mono[0])
    assert journal.lag_s() == 0.0
    journal.record(QueueJoined("c1", T0, "koeln", "115-koeln", 1))
    mono[0] += 1.0
    journal.record(QueueJoined("c2", T0, "koeln", "115-koeln", 1))
    mono[0] += 1.5
    assert journal.lag_s() == 2.5
    await journal.flush()
    assert journal.lag_s() == 0.0
    await journal.close()


class HeldCommit:
    """The journal's connection, whose batch waits until the test lets it go."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, params: Any = None) -> Any:
        if "journal_apply" in sql and not self.release.is_set():
            return self._held(sql, params)
        return self._conn.execute(sql, params)

    async def _held(self, sql: str, params: Any) -> Any:
        self.entered.set()
        await self.release.wait()
        return await self._conn.execute(sql, params)


async def test_lag_counts_the_batch_being_committed_as_the_oldest(tmp_path: Path) -> None:
    mono = [100.0]
    journal = await open_journal(tmp_path / "j.sqlite", Clock(), mono=lambda: mono[0])
    held = HeldCommit(journal._conn)
    journal._conn = held  # type: ignore[assignment]
    journal.record(QueueJoined("c1", T0, "koeln", "115-koeln", 1))
    flushing = asyncio.create_task(journal.flush())
    await held.entered.wait()  # c1's batch is in flight, its commit held
    mono[0] += 1.0
    journal.record(QueueJoined("c2", T0, "koeln", "115-koeln", 1))
    mono[0] += 2.0
    assert journal.lag_s() == 3.0  # c1's age, not the waiting c2's (2 s)
    held.release.set()
    await flushing
    await journal.flush()
    assert journal.lag_s() == 0.0
    await journal.close()


async def test_lag_is_real_time_under_a_fast_wall_clock(tmp_path: Path) -> None:
    """sim load --spawn runs the controller on the simulated day's clock (x60):
    the journal's lag is still measured in real seconds, not simulated ones."""
    clock = Clock()
    mono = [100.0]
    journal = await open_journal(tmp_path / "j.sqlite", clock, mono=lambda: mono[0])
    journal.record(QueueJoined("c1", T0, "koeln", "115-koeln", 1))
    clock.advance(60.0)  # one real second of a day simulated 60 times faster
    mono[0] += 1.0
    assert journal.lag_s() == 1.0
    await journal.flush()
    await journal.close()


async def test_spilled_call_adds_up_waits_and_keeps_its_home(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db, Clock())
    t = T0
    journal.record(CallArrived.of("c1", t, KOELN, None))
    journal.record(Decided.of("c1", t, decision("koeln", "koeln", "koeln open")))
    journal.record(QueueJoined("c1", t, "koeln", "115-koeln", 4))
    journal.record(
        Spilled("c1", t + timedelta(seconds=30), "koeln", "bonn", SpillReason.TIMEOUT, 30.0)
    )
    spill = decision("koeln", "bonn", "visited koeln", "spill from koeln")
    journal.record(Decided.of("c1", t + timedelta(seconds=30), spill, hop=1))
    journal.record(QueueJoined("c1", t + timedelta(seconds=31), "bonn", "115-bonn", 1))
    journal.record(Answered("c1", t + timedelta(seconds=41), "bonn", "Ben", 10.0))
    await journal.close()

    (call,) = rows(db, "SELECT * FROM calls")
    assert (call["home"], call["final_center"], call["answered_center"]) == (
        "koeln",
        "bonn",
        "bonn",
    )
    assert (call["wait_s"], call["hops"], call["overflowed"], call["abandoned"]) == (40.0, 1, 1, 0)


async def test_queueing_away_from_home_counts_as_overflow(tmp_path: Path) -> None:
    # Even without a Decided saying so (a record lost, or the static fallback).
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db, Clock())
    journal.record(Decided.of("c1", T0, decision("koeln", "koeln", "koeln open")))
    journal.record(QueueJoined("c1", T0, "bonn", "115-bonn", 1))
    journal.record(Decided.of("c2", T0, decision("koeln", "koeln", "koeln open")))
    journal.record(Abandoned("c2", T0, "koeln", 7.0, 2))
    await journal.close()

    flags = rows(db, "SELECT call_id, overflowed, abandoned, wait_s FROM calls ORDER BY call_id")
    assert [tuple(r) for r in flags] == [("c1", 1, 0, None), ("c2", 0, 1, 7.0)]


def test_decided_reads_offhours_and_overflow_from_the_decision() -> None:
    closed = decision(
        "koeln", "bund", "home=koeln", "koeln closed: after hours", "off-hours partner bund open"
    )
    rec = Decided.of("c1", T0, closed)
    assert (rec.offhours, rec.overflow, rec.action) == (True, True, Action.QUEUE)
    # Another center's closure is not the home's.
    busy = decision("koeln", "bonn", "bonn closed: after hours", "koeln overloaded: no agent")
    assert (Decided.of("c1", T0, busy).offhours, Decided.of("c1", T0, busy).overflow) == (
        False,
        True,
    )


def test_records_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="time zone"):
        QueueJoined("c1", datetime(2026, 2, 3, 9, 0), "koeln", "115-koeln", 1)


async def test_a_bad_record_does_not_take_its_batch_down(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db, Clock())
    bad = Decided("bad", T0, Action.QUEUE, "koeln", "koeln", None, None, None, 30, (object(),))  # type: ignore[arg-type]
    journal.record(QueueJoined("good1", T0, "koeln", "115-koeln", 1))
    journal.record(bad)
    journal.record(QueueJoined("good2", T0, "koeln", "115-koeln", 1))
    with caplog.at_level(logging.WARNING, logger="lotse.journal.store"):
        await journal.flush()
    stats = journal.stats()
    await journal.close()

    assert (stats.written, stats.failed) == (2, 1)
    assert [r[0] for r in rows(db, "SELECT call_id FROM calls ORDER BY call_id")] == [
        "good1",
        "good2",
    ]
    (failed,) = [r for r in caplog.records if r.getMessage() == "journal.record_failed"]
    fields = vars(failed)  # extra={...} values are the record's attributes
    assert (fields["kind"], fields["call_id"], fields["failed"]) == ("decided", "bad", 1)


async def test_purge_removes_only_calls_past_retention(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    clock = Clock()
    journal = await open_journal(db, clock, retention_days=90)
    for call_id, days_ago in (("old", 91), ("edge", 89), ("new", 1)):
        for rec in answered_call(call_id, T0 - timedelta(days=days_ago)):
            journal.record(rec)
    await journal.flush()
    assert await journal.purge(T0) == 1
    await journal.close()
    assert [r[0] for r in rows(db, "SELECT call_id FROM calls ORDER BY call_id")] == ["edge", "new"]
    assert {r[0] for r in rows(db, "SELECT call_id FROM call_events")} == {"edge", "new"}

    # Opening purges too: two days later "edge" is past the retention.
    clock.advance(2 * 86400)
    journal = await open_journal(db, clock, retention_days=90)
    await journal.close()
    assert [r[0] for r in rows(db, "SELECT call_id FROM calls")] == ["new"]
    assert len(rows(db, "SELECT * FROM call_events")) == 5


async def test_without_a_key_the_key_is_one_off_and_never_stored(tmp_path: Path) -> None:
    clock = Clock()
    number = "0221 4711835"
    path = tmp_path / "a.sqlite"

    async def hash_in(fill: bytes) -> str | None:
        journal = await Journal.open(path, clock=clock, random_bytes=lambda n: fill * n)
        try:
            return journal.caller_hash(number)
        finally:
            await journal.close()

    first = await hash_in(b"\x01")
    assert first == caller_hash("02214711835", b"\x01" * 32)
    # Reopened, a new one-off key: nothing of the first was kept.
    assert await hash_in(b"\x02") != first
    assert rows(path, "SELECT * FROM meta WHERE key = 'caller_hash_salt'") == []


async def test_a_salt_an_older_lotse_stored_is_deleted_and_old_hashes_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db, Clock())
    journal.record(CallArrived.of("old", T0, KOELN, "0123456789abcdef"))
    await journal.close()
    stored = "5a17" * 16
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('caller_hash_salt', ?)", (stored,))
    with caplog.at_level(logging.DEBUG):
        journal = await Journal.open(db, clock=Clock(), key=b"k" * 32)
        await journal.close()
    assert rows(db, "SELECT * FROM meta WHERE key = 'caller_hash_salt'") == []
    assert [tuple(r) for r in rows(db, "SELECT caller_hash FROM calls")] == [("0123456789abcdef",)]
    assert "journal.salt_deleted" in caplog.text
    assert stored not in caplog.text
    # Overwritten in the file, not only unlinked from the table.
    files = [db, db.with_name(db.name + "-wal")]
    assert not any(stored.encode() in f.read_bytes() for f in files if f.exists())


async def test_the_key_keys_the_hashes_and_salt_is_its_old_name(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path / "j.sqlite", clock=Clock(), key=b"k" * 20)
    assert journal.caller_hash("+49 221 4711835") == caller_hash("02214711835", b"k" * 20)
    assert journal.caller_hash("anonymous") is None
    await journal.close()
    journal = await Journal.open(tmp_path / "j.sqlite", clock=Clock(), salt=b"k" * 20)
    assert journal.caller_hash("+49 221 4711835") == caller_hash("02214711835", b"k" * 20)
    await journal.close()


async def test_open_refuses_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retention"):
        await Journal.open(tmp_path / "j.sqlite", clock=Clock(), retention_days=0)
    with pytest.raises(ValueError, match="batch_size"):
        await Journal.open(tmp_path / "j.sqlite", clock=Clock(), batch_size=10, max_pending=5)


# --- a batch in one statement ------------------------------------------------------

_CALL_IDS = st.sampled_from(["c1", "c2", "c3"])
_CENTERS = st.sampled_from(["koeln", "bonn", "bund"])
_WAITS = st.floats(min_value=0.0, max_value=3600.0, allow_nan=False).map(lambda w: round(w, 3))
_TIMES = st.integers(min_value=-3600, max_value=3600).map(lambda s: T0 + timedelta(seconds=s))
_MAYBE = st.none() | st.text("abcü0123456789", max_size=6)
_REASONS = ["koeln open", "bonn overloaded: no agent", "koeln closed: after hours"]


@st.composite
def _decided(draw: st.DrawFn) -> Decided:
    target = draw(st.none() | _CENTERS)
    action = Action.QUEUE if target else Action.ANNOUNCE
    reasons = draw(st.lists(st.sampled_from(_REASONS), max_size=2))
    return Decided.of(
        draw(_CALL_IDS),
        draw(_TIMES),
        decision(draw(_CENTERS), target, *reasons, action=action),
        hop=draw(st.integers(0, 3)),
        stale=draw(st.booleans()),
    )


_RECORDS: st.SearchStrategy[Record] = st.one_of(
    st.builds(CallArrived.of, _CALL_IDS, _TIMES, st.just(KOELN), _MAYBE, _MAYBE),
    _decided(),
    st.builds(QueueJoined, _CALL_IDS, _TIMES, _CENTERS, st.just("115-q"), st.integers(1, 9)),
    st.builds(
        Spilled,
        _CALL_IDS,
        _TIMES,
        _CENTERS,
        st.none() | _CENTERS,
        st.sampled_from(SpillReason),
        _WAITS,
    ),
    st.builds(Answered, _CALL_IDS, _TIMES, _CENTERS, st.just("Anna Ü."), _WAITS),
    st.builds(Abandoned, _CALL_IDS, _TIMES, _CENTERS, _WAITS, st.integers(1, 9)),
    st.builds(Ended, _CALL_IDS, _TIMES, st.none() | _WAITS, st.just("Normal Clearing")),
    st.builds(FallbackUsed, _CALL_IDS, _TIMES, _CENTERS, st.just("AGISTATUS=FAILURE")),
)


def _tables(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    calls = rows(path, "SELECT * FROM calls ORDER BY call_id")
    events = rows(path, "SELECT * FROM call_events ORDER BY call_id, seq")
    return [tuple(r) for r in calls], [tuple(r) for r in events]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 150).flatmap(lambda n: st.lists(_RECORDS, min_size=n, max_size=n)))
def test_a_batch_applies_exactly_as_its_records_one_by_one(
    tmp_path: Path, records: list[Record]
) -> None:
    # A batch is one SQL statement whose rows a trigger applies in order; the
    # result must not depend on where the batches were cut.
    async def write(path: Path, one_by_one: bool) -> None:
        path.unlink(missing_ok=True)
        journal = await open_journal(path, Clock(), batch_size=len(records) or 1)
        for rec in records:
            journal.record(rec)
            if one_by_one:
                await journal.flush()
        await journal.flush()
        stats = journal.stats()
        await journal.close()
        assert (stats.written, stats.failed) == (len(records), 0)

    whole, single = tmp_path / "batch.sqlite", tmp_path / "single.sqlite"
    asyncio.run(write(whole, one_by_one=False))
    asyncio.run(write(single, one_by_one=True))
    assert _tables(whole) == _tables(single)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no POSIX priorities here")
async def test_sqlite_works_at_a_lower_but_not_idle_priority(tmp_path: Path) -> None:
    """Routing first, but the writer is never starved (SCHED_IDLE lagged seconds)."""
    journal = await open_journal(tmp_path / "j.sqlite", Clock())
    tid = journal._conn._thread.native_id
    assert tid is not None
    try:
        assert os.sched_getscheduler(tid) != os.SCHED_IDLE
        loop_nice = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, tid) == loop_nice + journal_store._WRITER_NICE
        assert journal_store._WRITER_NICE > 0
    finally:
        await journal.close()


async def test_records_are_written_while_the_event_loop_never_idles(tmp_path: Path) -> None:
    # A burst of work that never lets the loop block (as a flood of AMI
    # events does): CPython alone would keep the GIL from the writer thread
    # until the burst ends. The journal must keep writing during it.
    journal = await open_journal(tmp_path / "j.sqlite", Clock(), batch_size=5)
    for n in range(20):
        journal.record(QueueJoined(f"c{n}", T0, "koeln", "115-koeln", 1))
    spins = 0
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 30.0  # a bound for a broken writer, far beyond a working one
    try:
        while journal.stats().written < 20 and loop.time() < give_up:
            sum(range(100_000))  # busy for a few ms, holding the GIL
            spins += 1
            await asyncio.sleep(0)
        assert journal.stats().written == 20, f"writer starved for {spins} loop turns"
    finally:
        await journal.close()


async def test_the_loop_steps_aside_only_when_it_never_idles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Handing the GIL to the writer costs the loop a pause; with an idle loop
    # the writer gets the GIL anyway, so a long write must not cost any.
    pauses: list[float] = []
    real_time = time

    class Time:
        thread_time = staticmethod(real_time.thread_time)
        monotonic = staticmethod(real_time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            pauses.append(seconds)
            real_time.sleep(seconds)

    monkeypatch.setattr(journal_store, "time", Time)
    journal = await open_journal(tmp_path / "j.sqlite", Clock(), batch_size=3000)
    for n in range(3000):  # one batch long enough for many checks
        journal.record(QueueJoined(f"c{n}", T0, "koeln", "115-koeln", 1))
    await journal.flush()
    await journal.close()
    assert journal.stats().written == 3000
    assert pauses == []


async def test_commits_are_fsynced_in_wal_mode(tmp_path: Path) -> None:
    # The durability promise: a committed batch survives a power cut, which
    # in WAL mode takes synchronous=FULL (2); NORMAL (1) may lose the last ones.
    journal = await open_journal(tmp_path / "j.sqlite", Clock())
    async with journal._conn.execute("PRAGMA synchronous") as cur:
        row = await cur.fetchone()
    await journal.close()
    assert row is not None and row[0] == 2


async def test_a_batch_waits_for_the_oldest_records_deadline_not_a_fresh_interval(
    tmp_path: Path,
) -> None:
    # The writer's wait is bounded by when the oldest record was queued: with
    # its deadline already past, the writer does not wait at all.
    behind = [7200.0]
    journal = await open_journal(
        tmp_path / "j.sqlite",
        Clock(),
        flush_interval_s=3600.0,
        mono=lambda: time.monotonic() - behind[0],
    )
    journal.record(answered_call("c1", T0)[0])
    behind[0] = 0.0
    for _ in range(200):
        if journal.stats().written:
            break
        await asyncio.sleep(0.01)
    written = journal.stats().written
    await journal.close()
    assert written == 1


async def test_open_calls_are_found_and_closed_as_unknown(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    clock = Clock()
    journal = await open_journal(db, clock)
    for rec in answered_call("done", T0):
        journal.record(rec)
    for rec in answered_call("talking", T0)[:-1]:
        journal.record(rec)
    for rec in answered_call("waiting", T0)[:3]:
        journal.record(rec)
    await journal.close()

    # A new process (after a SIGKILL) finds what the old one left open.
    journal = await open_journal(db, clock)
    found = {c.call_id: c for c in await journal.open_calls()}
    assert set(found) == {"talking", "waiting"}
    assert found["talking"].answered and not found["waiting"].answered
    assert found["waiting"].queued and found["waiting"].center == "koeln"
    later = T0 + timedelta(minutes=5)
    journal.record(Closed("talking", later, None, "gone at reconcile"))
    journal.record(Closed("waiting", later, Outcome.UNKNOWN, "gone at reconcile"))
    assert await journal.open_calls() == []
    await journal.close()
    got = {r["call_id"]: r for r in rows(db, "SELECT * FROM calls")}
    assert got["talking"]["outcome"] is None and got["talking"]["answered_center"] == "koeln"
    assert got["waiting"]["outcome"] == "unknown"
    assert got["waiting"]["ended_cause"] == "gone at reconcile"
    assert got["done"]["outcome"] is None


async def test_an_answer_learnt_later_clears_the_unknown_outcome(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db, Clock())
    for rec in answered_call("c1", T0)[:3]:
        journal.record(rec)
    journal.record(Closed("c1", T0 + timedelta(minutes=1), Outcome.UNKNOWN, "gone"))
    journal.record(Answered("c1", T0 + timedelta(seconds=20), "koeln", "Anna", None))
    await journal.close()
    (row,) = rows(db, "SELECT outcome, answered_center, wait_s FROM calls")
    assert (row["outcome"], row["answered_center"], row["wait_s"]) == (None, "koeln", None)


async def test_a_fallback_call_gets_its_home_from_the_fallback(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db, Clock())
    journal.record(FallbackUsed("c1", T0, "bremen", "agi-unreachable"))
    journal.record(Decided.of("c2", T0, decision("koeln", "bonn", "x")))
    journal.record(FallbackUsed("c2", T0, "bonn", "agi-timeout"))
    await journal.close()
    got = {r["call_id"]: r["home"] for r in rows(db, "SELECT call_id, home FROM calls")}
    assert got == {"c1": "bremen", "c2": "koeln"}
