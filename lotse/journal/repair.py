"""``lotse journal repair JOURNAL [--out NEW]``: save what a damaged journal still holds.

``lotse run`` refuses a journal that fails SQLite's ``quick_check`` (a torn
last page after a disk fault, a file cut short). This copies every row that
can still be read into a new journal file of the current schema and leaves
the damaged file as it is: the damaged file (with its ``-wal``) is copied
aside first and read from the copy, so not even SQLite's recovery of the
write-ahead log touches the original.

Rows are read table by table in rowid order; where a damaged page makes a
read fail, the reader seeks past it (the rows on that page are lost) and
goes on. Tables without rowid (meta, overrides, callbacks: a few rows) are
read until the first failure.

Exit codes: 0 saved, 1 runtime failure (nothing readable, the new file not
writable), 2 bad input (no such journal, the new file exists).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cliutil import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from lotse.journal.schema import SCHEMA_VERSION, JournalError, file_uri

# The journal's tables, parents first.
TABLES = ("meta", "calls", "call_events", "overrides", "control_audit", "callbacks")
_CHUNK = 500
# How far past a damaged spot the reader looks for readable rows (rowids).
_SEEK_LIMIT = 1 << 40


@dataclass
class Saved:
    """What was saved, per table, and what could not be read."""

    rows: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "unreadable": self.unreadable}


def repair(damaged: Path, out: Path) -> Saved:
    """Copy what can be read of ``damaged`` into the new journal ``out``.

    Raises :class:`FileExistsError` when ``out`` exists, ``FileNotFoundError``
    when ``damaged`` does not, :class:`JournalError` when nothing of it reads.
    """
    if not damaged.is_file():
        raise FileNotFoundError(f"{damaged}: no journal file")
    if out.exists():
        raise FileExistsError(f"{out}: exists; name a new file with --out")
    with tempfile.TemporaryDirectory(prefix=".repair-", dir=out.parent) as tmp:
        copy = Path(tmp) / "damaged.sqlite"
        shutil.copyfile(damaged, copy)
        wal = Path(f"{damaged}-wal")
        if wal.is_file():
            shutil.copyfile(wal, Path(f"{copy}-wal"))
        src = sqlite3.connect(copy, isolation_level=None)
        try:
            return _copy(src, out, str(damaged))
        finally:
            src.close()


def _copy(src: sqlite3.Connection, out: Path, label: str) -> Saved:
    try:
        src.execute("PRAGMA mmap_size=0")
        present = {str(r[0]) for r in src.execute("SELECT name FROM sqlite_schema")}
    except sqlite3.DatabaseError as err:
        raise JournalError(f"{label}: nothing can be read: {err}") from err
    dst = _new_journal(out)
    saved = Saved()
    try:
        dst.execute("BEGIN")
        for table in TABLES:
            if table not in present:
                continue
            try:
                columns = _common_columns(src, dst, table)
            except sqlite3.DatabaseError as err:
                saved.unreadable[table] = str(err)
                continue
            insert = (
                f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            n = 0
            for values in _readable_rows(src, table, columns, saved):
                dst.execute(insert, values)
                n += 1
            saved.rows[table] = n
        dst.execute("COMMIT")
    finally:
        dst.close()
    return saved


def _new_journal(out: Path) -> sqlite3.Connection:
    """An empty journal of the current schema at ``out``, made as ``lotse run`` makes one."""
    import asyncio

    import aiosqlite

    from lotse.journal.schema import migrate

    async def create() -> None:
        async with aiosqlite.connect(file_uri(out), uri=True, isolation_level=None) as conn:
            await conn.execute("PRAGMA journal_mode=WAL")
            await migrate(conn, str(out))

    asyncio.run(create())
    return sqlite3.connect(file_uri(out), uri=True, isolation_level=None)


def _common_columns(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> list[str]:
    theirs = [str(r[1]) for r in src.execute(f"PRAGMA table_info({table})")]
    ours = {str(r[1]) for r in dst.execute(f"PRAGMA table_info({table})")}
    return [c for c in theirs if c in ours]


def _readable_rows(
    src: sqlite3.Connection, table: str, columns: list[str], saved: Saved
) -> Iterator[tuple[Any, ...]]:
    cols = ", ".join(columns)
    rowid = _has_rowid(src, table)
    if not rowid:
        try:
            for row in src.execute(f"SELECT {cols} FROM {table}"):
                yield tuple(row)
        except sqlite3.DatabaseError as err:
            saved.unreadable[table] = str(err)
        return
    after = -(1 << 62)
    query = f"SELECT rowid, {cols} FROM {table} NOT INDEXED WHERE rowid > ? ORDER BY rowid LIMIT ?"
    while True:
        try:
            chunk = src.execute(query, (after, _CHUNK)).fetchall()
        except sqlite3.DatabaseError as err:
            saved.unreadable[table] = str(err)
            # Read what comes before the damage one row at a time, then seek past it.
            rows, resume = _around_damage(src, query, after)
            yield from rows
            if resume is None:
                return
            after = resume
            continue
        if not chunk:
            return
        for row in chunk:
            yield tuple(row[1:])
        after = int(chunk[-1][0])


def _around_damage(
    src: sqlite3.Connection, query: str, after: int
) -> tuple[list[tuple[Any, ...]], int | None]:
    """Rows readable one at a time after ``after``, and a rowid to go on from (None: end)."""
    rows: list[tuple[Any, ...]] = []
    while True:
        try:
            one = src.execute(query, (after, 1)).fetchall()
        except sqlite3.DatabaseError:
            break
        if not one:
            return rows, None
        rows.append(tuple(one[0][1:]))
        after = int(one[0][0])
    step = 1
    while step < _SEEK_LIMIT:
        try:
            src.execute(query, (after + step, 1)).fetchall()
        except sqlite3.DatabaseError:
            step *= 2
            continue
        return rows, after + step
    return rows, None


def _has_rowid(src: sqlite3.Connection, table: str) -> bool:
    try:
        src.execute(f"SELECT rowid FROM {table} LIMIT 0")
    except sqlite3.OperationalError:
        return False
    return True


# --- the command ---------------------------------------------------------------------


def add_parser(jsub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse journal repair JOURNAL [--out NEW] [--json]``."""
    rep = jsub.add_parser(
        "repair",
        help="save what a damaged journal still holds into a new file",
        description="Copy every row that can still be read from a damaged journal (one "
        "lotse run refuses at start) into a new journal file; the damaged file is left as "
        "it is. Then move the new file into place and start lotse run again.",
    )
    rep.add_argument("journal", type=Path, help="the damaged journal file")
    rep.add_argument("--out", type=Path, help="the new file (default: JOURNAL.repaired)")
    rep.add_argument("--json", action="store_true", help="print what was saved as JSON")
    rep.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    damaged: Path = args.journal
    out: Path = args.out or Path(f"{damaged}.repaired")
    try:
        saved = repair(damaged, out)
    except (FileNotFoundError, FileExistsError) as err:
        print(f"lotse journal repair: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (JournalError, sqlite3.Error, OSError) as err:
        print(f"lotse journal repair: {err}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps({"out": str(out), **saved.as_dict()}))
        return EXIT_OK
    counts = ", ".join(f"{n} {table}" for table, n in saved.rows.items())
    print(f"saved into {out} (schema version {SCHEMA_VERSION}): {counts}")
    for table, problem in saved.unreadable.items():
        print(f"  {table}: some rows could not be read ({problem})")
    print(f"{damaged} is unchanged; move {out} into its place before starting lotse run")
    return EXIT_OK
