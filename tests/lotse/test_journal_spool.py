"""The journal's spool: append-only, crash-safe, bounded; replayed in order, never twice."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from lotse.journal import Journal, JournalError, QueueJoined, Record, Spilled, SpillReason, rows
from lotse.journal.spool import HEADER_BYTES, Spool, spool_path
from tests.lotse.test_journal_store import T0, Clock, answered_call
from tests.lotse.test_journal_store import rows as read_rows


def row(i: int) -> tuple[float, str]:
    return (1000.0 + i, rows.encode(QueueJoined(f"c{i}", T0, "koeln", "115-koeln", i)))


def seqs(spool: Spool) -> list[int]:
    return [r.seq for r in spool.peek(1_000_000)]


def test_records_come_back_in_order_after_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j-spool"
    spool = Spool.open(path)
    assert spool.append([row(1), row(2)]) == 2
    assert spool.append([row(3)]) == 1
    spool.close()
    again = Spool.open(path)
    found = again.peek(10)
    assert [r.seq for r in found] == [1, 2, 3]
    assert [r.encoded for r in found] == [row(i)[1] for i in (1, 2, 3)]
    assert again.oldest_since() == 1001.0
    again.replayed(found[:2])
    assert (again.unreplayed, again.oldest_since(), seqs(again)) == (1, 1003.0, [3])
    assert again.append([row(4)]) == 1
    assert seqs(again) == [3, 4]


@pytest.mark.parametrize("cut", [1, 10, 24, 30])
def test_a_torn_last_record_is_cut_off_and_the_rest_kept(
    tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j-spool"
    spool = Spool.open(path)
    spool.append([row(1), row(2), row(3)])
    spool.close()
    whole = path.stat().st_size
    with path.open("r+b") as f:  # a crash in the middle of the last write
        f.truncate(whole - cut)
    with caplog.at_level(logging.WARNING, logger="lotse.journal.spool"):
        again = Spool.open(path)
    assert seqs(again) == [1, 2]
    assert [r.getMessage() for r in caplog.records] == ["journal.spool_torn_record"]
    # Cut back to the last whole record: what follows is readable again.
    assert again.append([row(4)]) == 1
    assert seqs(again) == [1, 2, 3]  # numbered on from the last whole record
    assert [r.encoded for r in again.peek(3)][2] == row(4)[1]


def test_a_last_record_with_a_wrong_checksum_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "j-spool"
    spool = Spool.open(path)
    spool.append([row(1), row(2)])
    spool.close()
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a sector of the last write that never reached the disk
    path.write_bytes(bytes(data))
    assert seqs(Spool.open(path)) == [1]


def test_a_file_without_the_header_starts_anew(tmp_path: Path) -> None:
    path = tmp_path / "j-spool"
    path.write_bytes(b"LOTSE")  # torn while the header was written
    spool = Spool.open(path)
    assert (spool.unreplayed, spool.size) == (0, HEADER_BYTES)
    assert spool.append([row(1)]) == 1


def test_the_limit_takes_whole_records_only(tmp_path: Path) -> None:
    one = len(row(1)[1]) + 24  # frame header + row
    spool = Spool.open(tmp_path / "j-spool", max_bytes=HEADER_BYTES + 2 * one)
    assert spool.append([row(1), row(2), row(3)]) == 2  # exactly at the limit: two fit
    assert spool.size == HEADER_BYTES + 2 * one
    assert spool.append([row(4)]) == 0
    spool.replayed(spool.peek(2))
    spool.reset()  # replayed: emptied, room again
    assert spool.append([row(5)]) == 1


def test_replayed_records_are_skipped_by_the_journals_mark(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "j-spool")
    spool.append([row(1), row(2), row(3)])
    assert spool.skip_replayed("another generation", 3) == 0
    assert spool.skip_replayed(spool.generation, 2) == 2
    assert seqs(spool) == [3]


# --- the journal with its spool ------------------------------------------------------


class Faulty:
    """The journal's connection, whose writes fail with an I/O error while ``broken``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self.broken = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, sql: str, params: Any = None) -> Any:
        if self.broken and ("journal_apply" in sql or sql.startswith("BEGIN")):
            return self._fail()
        return self._conn.execute(sql, params)

    async def _fail(self) -> None:
        err = sqlite3.OperationalError("disk I/O error")
        err.sqlite_errorcode = 10 | (3 << 8)  # SQLITE_IOERR_WRITE
        raise err


async def faulty_journal(path: Path, clock: Clock, **kw: Any) -> tuple[Journal, Faulty]:
    journal = await Journal.open(path, clock=clock, salt=b"s" * 32, retry_s=0.01, **kw)
    faulty = Faulty(journal._conn)
    journal._conn = faulty  # type: ignore[assignment]
    return journal, faulty


async def until(condition: Callable[[], bool], step: Callable[[], Awaitable[None]]) -> None:
    while not condition():
        await step()


async def test_records_the_file_refuses_are_spooled_and_replayed_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "j.sqlite"
    clock = Clock()
    journal, faulty = await faulty_journal(db, clock)
    first = answered_call("a", T0)
    spilled = [
        Spilled("b", T0, "koeln", "bund", SpillReason.TIMEOUT, 30.0),
        *answered_call("b", T0 + timedelta(seconds=40), "bund")[2:],
    ]
    with caplog.at_level(logging.INFO, logger="lotse.journal.store"):
        for rec in first:
            journal.record(rec)
        await journal.flush()
        faulty.broken = True
        for rec in spilled:
            journal.record(rec)
        await journal.flush()  # the file refuses: the records go to the spool
        s = journal.stats()
        assert (s.healthy, s.spooled, s.spool_records) == (False, 4, 4)
        assert s.failures.get("io", 0) >= 1 and s.failures.get("record", 0) == 0
        assert s.lag_s >= 0 and spool_path(db).stat().st_size > HEADER_BYTES
        clock.advance(3)
        assert journal.lag_s() == 3.0  # the spooled records are not in the file
        for rec in answered_call("c", T0)[:2]:  # after the failure: behind the spool
            journal.record(rec)
        faulty.broken = False
        await until(lambda: not journal.stats().spool_records, journal.flush)
    s = journal.stats()
    assert (s.healthy, s.spooled, s.spool_records, s.dropped, s.written) == (True, 6, 0, 0, 11)
    assert journal.lag_s() == 0.0
    await journal.close()
    # In order: the spill's wait was added before the answer's.
    (b,) = read_rows(db, "SELECT * FROM calls WHERE call_id = 'b'")
    assert (b["wait_s"], b["answered_center"], b["hops"]) == (42.0, "bund", 1)
    kinds = [r["kind"] for r in read_rows(db, "SELECT kind FROM call_events WHERE call_id = 'b'")]
    assert kinds == ["spilled", "queued", "answered", "ended"]
    assert len(read_rows(db, "SELECT * FROM call_events")) == 11
    # One line per change of state, not one per record.
    lines = [r.getMessage() for r in caplog.records]
    assert lines.count("journal.unwritable") == 1
    assert lines.count("journal.writable") == 1
    assert lines.count("journal.spool_replayed") == 1


async def test_a_spool_left_by_a_crash_is_replayed_at_start_once(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal, faulty = await faulty_journal(db, Clock())
    faulty.broken = True
    recs: list[Record] = answered_call("a", T0)
    for rec in recs:
        journal.record(rec)
    await journal.flush()
    assert journal.stats().spool_records == 5
    # A kill now: the writer stops, the spool stays (fsynced), nothing more is written.
    assert journal._writer is not None
    journal._writer.cancel()
    journal._closing = True
    await journal._conn.close()

    again = await Journal.open(db, clock=Clock(), salt=b"s" * 32)
    await until(lambda: not again.stats().spool_records, again.flush)
    await again.close()
    assert len(read_rows(db, "SELECT * FROM call_events WHERE call_id = 'a'")) == 5
    third = await Journal.open(db, clock=Clock(), salt=b"s" * 32)
    await third.flush()
    assert third.stats().written == 0  # nothing replayed twice
    await third.close()
    assert len(read_rows(db, "SELECT * FROM call_events WHERE call_id = 'a'")) == 5


async def test_a_replayed_spool_that_could_not_be_emptied_is_not_replayed_again(
    tmp_path: Path,
) -> None:
    """A crash between replaying and emptying: the journal's mark says what it has."""
    db = tmp_path / "j.sqlite"
    j = await Journal.open(db, clock=Clock(), salt=b"s" * 32)
    await j.close()
    spool = Spool.open(spool_path(db))
    recs = answered_call("a", T0)
    spool.append([(1000.0, rows.encode(r)) for r in recs])
    spool.close()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('spool_replayed', ?)", (f"{spool.generation}:3",)
        )
    conn.close()
    journal = await Journal.open(db, clock=Clock(), salt=b"s" * 32)
    await until(lambda: not journal.stats().spool_records, journal.flush)
    await journal.close()
    kinds = [r["kind"] for r in read_rows(db, "SELECT kind FROM call_events ORDER BY seq")]
    assert kinds == ["answered", "ended"]  # only the records after the mark


async def test_when_the_spool_is_full_records_are_dropped_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "j.sqlite"
    one = len(rows.encode(QueueJoined("c0000", T0, "koeln", "115-koeln", 1))) + 24
    journal, faulty = await faulty_journal(db, Clock(), spool_max_bytes=HEADER_BYTES + 10 * one)
    faulty.broken = True
    with caplog.at_level(logging.WARNING, logger="lotse.journal.store"):
        for i in range(25):
            journal.record(QueueJoined(f"c{i:04d}", T0, "koeln", "115-koeln", 1))
        await journal.flush()
        for i in range(25, 30):
            journal.record(QueueJoined(f"c{i:04d}", T0, "koeln", "115-koeln", 1))
        await journal.flush()
    s = journal.stats()
    assert (s.spooled, s.dropped, s.spool_records) == (10, 20, 10)
    trouble = [r for r in caplog.records if r.getMessage() == "journal.spool_trouble"]
    assert len(trouble) == 1 and "is full" in trouble[0].__dict__["trouble"]
    dropped = [r for r in caplog.records if r.getMessage() == "journal.dropped"]
    # Once a minute, with the count so far.
    assert [(r.__dict__["dropped"], r.__dict__["recover_from"]) for r in dropped] == [
        (15, "queue_log")
    ]
    faulty.broken = False
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lotse.journal.store"):
        await until(lambda: not journal.stats().spool_records, journal.flush)
    ok = [r for r in caplog.records if r.getMessage() == "journal.spool_ok"]
    assert [r.__dict__["dropped_meanwhile"] for r in ok] == [20]
    await journal.close()
    assert len(read_rows(db, "SELECT * FROM calls")) == 10


async def test_a_journal_removed_under_the_controller_spools_for_the_next_file(
    tmp_path: Path,
) -> None:
    """SQLite would go on writing into the removed file, which nobody reads again."""
    db = tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=Clock(), salt=b"s" * 32, retry_s=0.01)
    for rec in answered_call("before", T0):
        journal.record(rec)
    await journal.flush()
    for f in (db, Path(f"{db}-wal")):
        f.unlink(missing_ok=True)
    for rec in answered_call("after", T0):
        journal.record(rec)
    await journal.flush()
    s = journal.stats()
    assert (s.healthy, s.spool_records, s.failures.get("removed", 0) >= 1) == (False, 5, True)
    await journal.close()  # the spool keeps them
    # The next start (on a restored or a new file) replays them.
    again = await Journal.open(db, clock=Clock(), salt=b"s" * 32)
    await until(lambda: not again.stats().spool_records, again.flush)
    await again.close()
    found = read_rows(db, "SELECT call_id, count(*) AS n FROM call_events GROUP BY call_id")
    assert [(r["call_id"], r["n"]) for r in found] == [("after", 5)]


async def test_importers_wait_until_the_spool_is_replayed(tmp_path: Path) -> None:
    """An import beside spooled records would add what their replay adds again."""
    journal, faulty = await faulty_journal(tmp_path / "j.sqlite", Clock())

    async def count(conn: aiosqlite.Connection) -> int:
        async with conn.execute("SELECT count(*) FROM call_events") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else -1

    faulty.broken = True
    for rec in answered_call("a", T0):
        journal.record(rec)
    with pytest.raises(JournalError, match="records wait in the spool"):
        await journal.exclusive(count)
    faulty.broken = False
    assert await journal.exclusive(count) == 5  # flushed: replayed first
    await journal.close()


async def test_a_journal_falling_behind_spools_and_catches_up_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=Clock(), salt=b"s" * 32, batch_size=5, max_pending=20)
    with caplog.at_level(logging.WARNING, logger="lotse.journal.store"):
        for i in range(15):  # no await: the writer cannot keep up
            journal.record(QueueJoined("c", T0 + timedelta(seconds=i), "koeln", "115-koeln", i))
        await journal.flush()
    s = journal.stats()
    # One batch written, then 10 waiting: half the queue's bound, so to the spool.
    assert (s.spooled, s.written, s.spool_records, s.dropped, s.healthy) == (10, 15, 0, 0, True)
    assert [r.getMessage() for r in caplog.records] == ["journal.behind"]
    await journal.close()
    positions = read_rows(db, "SELECT detail FROM call_events WHERE call_id = 'c' ORDER BY seq")
    assert [json.loads(r["detail"])["position"] for r in positions] == list(range(15))
