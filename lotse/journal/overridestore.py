"""Supervisor overrides and the control socket's audit trail, kept in the journal file.

Overrides change a few times a day, so they get a plain SQLite connection of
their own, used on a worker thread: the call records' writer and its batching
stay untouched, and a change is committed before it takes effect, so an
override the supervisor was told about survives a crash or a restart. The
journal must have been opened (and so migrated to schema 4) before.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike

from lotse.journal.rows import timestamp
from lotse.journal.sidetable import SideTable, connect_side_table
from router.state import Override


@dataclass(frozen=True)
class CenterOverride:
    """A supervisor's override of one center: open or closed, why, until when, by whom."""

    center: str
    mode: Override
    reason: str
    until: datetime | None
    set_at: datetime
    set_by_uid: int | None


@dataclass(frozen=True)
class AuditEntry:
    """One change made over the control socket (``uid`` None: the controller itself)."""

    at: datetime
    uid: int | None
    action: str
    center: str | None = None
    mode: str | None = None
    until: datetime | None = None
    reason: str = ""
    detail: str = ""


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def _stamp(at: datetime | None) -> str | None:
    return None if at is None else timestamp(at)


class OverrideStore(SideTable):
    """The ``overrides`` and ``control_audit`` tables of one journal file."""

    @classmethod
    async def open(cls, path: str | PathLike[str]) -> OverrideStore:
        """Open the tables in the (already opened and migrated) journal at ``path``."""
        conn = await connect_side_table(path, "overrides", "the overrides")
        return cls(conn, str(path))

    async def load(self) -> list[CenterOverride]:
        """Every override stored, in center order."""

        def read(conn: sqlite3.Connection) -> list[CenterOverride]:
            rows = conn.execute(
                "SELECT center, mode, reason, until, set_at, set_by_uid FROM overrides "
                "ORDER BY center"
            ).fetchall()
            found = []
            for center, mode, reason, until, set_at, uid in rows:
                try:
                    kind = Override(mode)
                except ValueError:
                    continue
                set_time = _time(set_at)
                assert set_time is not None
                found.append(CenterOverride(center, kind, reason, _time(until), set_time, uid))
            return found

        return await self._run(read, "reading the overrides")

    async def change(self, center: str, override: CenterOverride | None, audit: AuditEntry) -> None:
        """Store ``override`` for ``center`` (``None`` removes it) with its audit record.

        One transaction: the override and the record of who changed it go
        together or not at all.
        """

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if override is None:
                    conn.execute("DELETE FROM overrides WHERE center = ?", (center,))
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO overrides "
                        "(center, mode, reason, until, set_at, set_by_uid) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            center,
                            str(override.mode),
                            override.reason,
                            _stamp(override.until),
                            timestamp(override.set_at),
                            override.set_by_uid,
                        ),
                    )
                _insert_audit(conn, audit)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(write, "storing the override")

    async def audit(self, entry: AuditEntry) -> None:
        """Keep one audit record (a reload, accepted or refused)."""
        await self._run(lambda conn: _insert_audit(conn, entry), "writing the audit record")

    async def audit_trail(self, limit: int = 100) -> list[AuditEntry]:
        """The latest ``limit`` audit records, oldest first."""

        def read(conn: sqlite3.Connection) -> list[AuditEntry]:
            rows = conn.execute(
                "SELECT at, uid, action, center, mode, until, reason, detail FROM control_audit "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            entries = []
            for at, uid, action, center, mode, until, reason, detail in reversed(rows):
                at_time = _time(at)
                assert at_time is not None
                entries.append(
                    AuditEntry(at_time, uid, action, center, mode, _time(until), reason, detail)
                )
            return entries

        return await self._run(read, "reading the audit trail")


def _insert_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO control_audit (at, uid, action, center, mode, until, reason, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            timestamp(entry.at),
            entry.uid,
            entry.action,
            entry.center,
            entry.mode,
            _stamp(entry.until),
            entry.reason,
            entry.detail,
        ),
    )
