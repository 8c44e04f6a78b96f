"""Tables of the journal file kept beside the call records (overrides, callbacks).

They change a few times a minute at most, so each store gets a plain SQLite
connection of its own, used on a worker thread one piece of work at a time:
the call records' writer and its batching stay untouched, and a change is
committed before the caller is told it happened, so it survives a crash or a
restart. The journal must have been opened (and so migrated) before.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from os import PathLike
from typing import TypeVar

from lotse.journal.schema import JournalError, file_uri

_T = TypeVar("_T")
_BUSY_TIMEOUT_S = 5.0


async def connect_side_table(
    path: str | PathLike[str], table: str, what: str, pragmas: Sequence[str] = ()
) -> sqlite3.Connection:
    """A connection to the journal at ``path`` whose ``table`` is readable.

    ``pragmas`` are run first; ``what`` names the table in the error
    (:class:`JournalError`, with the path) when the file cannot be read.
    """

    def connect() -> sqlite3.Connection:
        # The journal's own way in (see file_uri): no memory-mapped -shm, and
        # the one lock the process holds on the file.
        conn = sqlite3.connect(
            file_uri(path),
            uri=True,
            timeout=_BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA mmap_size=0")
            for pragma in pragmas:
                conn.execute(f"PRAGMA {pragma}")
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    try:
        return await asyncio.to_thread(connect)
    except sqlite3.Error as err:
        raise JournalError(f"{path}: cannot read {what}: {err}") from err


class SideTable:
    """One connection to the journal file, used by one piece of work at a time."""

    def __init__(self, conn: sqlite3.Connection, label: str) -> None:
        self._conn = conn
        self._label = label
        self._lock = threading.Lock()

    async def _run(self, work: Callable[[sqlite3.Connection], _T], what: str) -> _T:
        def locked() -> _T:
            with self._lock:
                return work(self._conn)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.Error as err:
            raise JournalError(f"{self._label}: {what} failed: {err}") from err

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        await asyncio.to_thread(self._conn.close)
