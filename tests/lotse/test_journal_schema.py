"""Journal schema versions: new files, migrations from older ones, refusal of newer ones."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lotse.journal import Answered, Journal, JournalError, SchemaTooNew
from lotse.journal.schema import MIGRATIONS, SCHEMA_VERSION

T0 = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)


def clock() -> datetime:
    return T0


def version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def columns(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
    finally:
        conn.close()


def make_v1(path: Path) -> None:
    """A journal as the first schema left it, with one answered call."""
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO calls (call_id, arrived_at, home, queued) "
        "VALUES ('old', '2026-02-03T08:00:00.000000Z', 'koeln', 1)"
    )
    conn.execute(
        "INSERT INTO call_events (call_id, seq, at, kind, center, detail) "
        "VALUES ('old', 1, '2026-02-03T08:00:00.000000Z', 'queued', 'koeln', '{}')"
    )
    conn.commit()
    conn.close()


async def test_new_file_gets_the_current_schema(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=clock)
    await journal.close()
    assert version(db) == SCHEMA_VERSION == 7
    assert {"dialed_ortsnetz", "announced", "fallback", "stale", "outcome", "source"} <= columns(db)
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"overrides", "control_audit"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_empty_version_0_file_is_migrated(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    db.touch()
    journal = await Journal.open(db, clock=clock)
    await journal.close()
    assert version(db) == SCHEMA_VERSION


async def test_version_1_journal_is_migrated_keeping_its_calls(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    make_v1(db)
    assert "announced" not in columns(db)

    journal = await Journal.open(db, clock=clock)
    journal.record(Answered("old", T0, "koeln", "Anna", 14.0))
    await journal.close()

    assert version(db) == SCHEMA_VERSION
    conn = sqlite3.connect(db)
    call = conn.execute(
        "SELECT home, answered_center, wait_s, announced, fallback, stale, source FROM calls"
    ).fetchone()
    seqs = conn.execute("SELECT seq, kind FROM call_events ORDER BY seq").fetchall()
    conn.close()
    # The controller saw the old calls: no source.
    assert call == ("koeln", "koeln", 14.0, 0, 0, 0, None)
    assert seqs == [(1, "queued"), (2, "answered")]


async def test_version_2_events_move_to_a_rowid_table_with_key_and_index(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    make_v1(db)
    conn = sqlite3.connect(db)
    conn.executescript(f"BEGIN; {MIGRATIONS[1]} PRAGMA user_version = 2; COMMIT;")
    conn.close()

    journal = await Journal.open(db, clock=clock)
    journal.record(Answered("old", T0, "koeln", "Anna", 14.0))
    await journal.close()

    conn = sqlite3.connect(db)
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'call_events'").fetchone()[0]
    indexes = {row[1] for row in conn.execute("PRAGMA index_list(call_events)")}
    events = conn.execute("SELECT call_id, seq, kind FROM call_events ORDER BY seq").fetchall()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO call_events VALUES "
            "('old', 1, '2026-02-03T08:00:00.000000Z', 'x', NULL, '{}')"
        )
    conn.close()
    assert "WITHOUT ROWID" not in sql.upper()
    assert "call_events_by_center" in indexes
    assert events == [("old", 1, "queued"), ("old", 2, "answered")]


async def test_failed_migration_leaves_the_old_version(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    make_v1(db)
    conn = sqlite3.connect(db)
    # A column the version-2 step adds already exists: its ALTER TABLE fails.
    conn.execute("ALTER TABLE calls ADD COLUMN stale INTEGER")
    conn.commit()
    conn.close()

    with pytest.raises(JournalError, match="from schema version 1 to 2"):
        await Journal.open(db, clock=clock)
    assert version(db) == 1
    assert "dialed_ortsnetz" not in columns(db)  # the steps before the failure rolled back


async def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=clock)
    await journal.close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    newer = SCHEMA_VERSION + 1
    with pytest.raises(SchemaTooNew, match=rf"version {newer} is newer .* upgrade lotse"):
        await Journal.open(db, clock=clock)
    assert version(db) == SCHEMA_VERSION + 1


async def test_other_sqlite_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.close()
    with pytest.raises(JournalError, match="not a lotse journal"):
        await Journal.open(db, clock=clock)


async def test_non_database_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_bytes(b"this is not an SQLite file, just some text " * 100)
    with pytest.raises(JournalError, match="not a lotse journal"):
        await Journal.open(db, clock=clock)


async def test_unopenable_path_is_a_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open"):
        await Journal.open(tmp_path / "missing-dir" / "j.sqlite", clock=clock)


async def test_a_failed_open_leaves_no_worker_thread_behind(tmp_path: Path) -> None:
    # A directory cannot be opened as a database: sqlite fails inside aiosqlite's
    # worker thread, which must be gone before the event loop may close.
    def workers() -> set[int | None]:
        # The event loop's executor threads stay; sqlite workers must not.
        return {t.ident for t in threading.enumerate() if not t.name.startswith("asyncio_")}

    before = workers()
    with pytest.raises(JournalError, match="cannot open"):
        await Journal.open(tmp_path, clock=clock)
    assert workers() <= before
