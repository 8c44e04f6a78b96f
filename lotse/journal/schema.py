"""The journal's SQLite schema and how an older journal file is brought up to date.

The schema version lives in SQLite's ``PRAGMA user_version`` (0 for a new,
empty file). ``MIGRATIONS[i]`` takes a journal from version ``i`` to
``i + 1``; each step runs in one transaction together with the version bump,
so a crash mid-migration leaves the file at the old version. A file written by
a newer lotse is refused rather than guessed at.

Tables:

``calls``
    One row per call, kept current by upserts as records arrive: where the
    caller came from (Ortsnetz prefix, keyed hash), the home center, where
    the call ended up, waits, talk time and flags. What the daily report reads.
``call_events``
    Every record of every call in order (``seq`` per call), with the record's
    fields as JSON in ``detail``: the audit trail, decision reasons included.
    ``outcome`` is NULL unless the flags cannot tell the outcome: ``unknown``
    for a call the controller lost sight of and closed when it reconciled.
``meta``
    Key/value facts about the journal itself (never the hash key; a salt an
    older lotse kept here is deleted on open).
``overrides``
    The supervisor overrides in effect, one row per center (``lotse ctl
    override``): read at start-up, so an override survives a restart.
``control_audit``
    Every change made over the control socket, kept: when, who (the peer's
    uid), what (override, expiry, reload), for which center, until when, why.
``callbacks``
    Callback requests: center, the caller's queue entry time (epoch seconds,
    the place in line), the deadline, attempts, the attempt in flight, the
    outcome; the number encrypted, and only while the request is open.

Times are UTC text, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: fixed width, so text
order is time order and the indexes serve range queries by day.
"""

from __future__ import annotations

import sqlite3
from os import PathLike
from pathlib import Path

import aiosqlite

_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    arrived_at TEXT NOT NULL,
    ortsnetz_prefix TEXT,
    caller_hash TEXT,
    number_kind TEXT,
    home TEXT,
    final_center TEXT,
    queued INTEGER NOT NULL DEFAULT 0,
    answered_center TEXT,
    answered_at TEXT,
    wait_s REAL,
    spilled_wait_s REAL NOT NULL DEFAULT 0,
    talk_s REAL,
    abandoned INTEGER NOT NULL DEFAULT 0,
    offhours INTEGER NOT NULL DEFAULT 0,
    overflowed INTEGER NOT NULL DEFAULT 0,
    hops INTEGER NOT NULL DEFAULT 0,
    ended_at TEXT,
    ended_cause TEXT
);

CREATE INDEX calls_by_arrival ON calls (arrived_at);

CREATE TABLE call_events (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    center TEXT,
    detail TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;
"""

# Version 2: the dialled Ortsnetz (``0221 115``), and flags for calls that got
# an announcement, went through the static fallback, or were routed on a stale
# snapshot; per-center look-ups of the audit trail by time.
_V2 = """
ALTER TABLE calls ADD COLUMN dialed_ortsnetz TEXT;
ALTER TABLE calls ADD COLUMN announced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN fallback INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;
CREATE INDEX call_events_by_center ON call_events (center, at);
"""

# Version 3: call_events as an ordinary (rowid) table. Its rows carry the
# record as JSON, a few hundred bytes: too large for a WITHOUT ROWID table,
# whose B-tree then holds few rows per page; writing a record costs about half
# as much this way. Same columns, same (call_id, seq) key, same index.
_V3 = """
CREATE TABLE call_events_v3 (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    center TEXT,
    detail TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
INSERT INTO call_events_v3 (call_id, seq, at, kind, center, detail)
    SELECT call_id, seq, at, kind, center, detail FROM call_events ORDER BY call_id, seq;
DROP TABLE call_events;
ALTER TABLE call_events_v3 RENAME TO call_events;
CREATE INDEX call_events_by_center ON call_events (center, at);
"""

# Version 4: a call's explicit outcome where the flags cannot tell it. NULL:
# read the outcome from the flags (answered, abandoned, announced). 'unknown':
# the controller lost sight of the call (killed, AMI down) and found it gone
# when it reconciled with Asterisk; such a call is neither answered nor an
# unanswered offered call, and the report shows it in a column of its own.
# A later record that tells what happened (an answer, an abandon, a
# queue_log import) clears it.
_V4 = """
ALTER TABLE calls ADD COLUMN outcome TEXT;
CREATE INDEX calls_open ON calls (ended_at) WHERE ended_at IS NULL;
"""

# Version 5: supervisor overrides and the audit trail of the control socket.
_V5 = """
CREATE TABLE overrides (
    center TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    reason TEXT NOT NULL,
    until TEXT,
    set_at TEXT NOT NULL,
    set_by_uid INTEGER
) WITHOUT ROWID;
CREATE TABLE control_audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    uid INTEGER,
    action TEXT NOT NULL,
    center TEXT,
    mode TEXT,
    until TEXT,
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX control_audit_by_time ON control_audit (at);
"""

# Version 6: where the journal learned of a call. NULL: the controller saw it
# (FastAGI, AMI); 'queue_log': some or all of its journey was imported from
# Asterisk's queue_log (calls the controller never saw, or lost sight of).
_V6 = """
ALTER TABLE calls ADD COLUMN source TEXT;
"""

# Version 7: callback requests (lotse.journal.callbackstore). The number to
# call is the only personal datum and is kept encrypted (``number_enc``, a
# Fernet token) and only while the request is open; the journal's usual
# Ortsnetz prefix and keyed hash stay. ``in_flight``: the attempt marked
# before it was dialled, cleared when its outcome is known.
_V7 = """
CREATE TABLE callbacks (
    id TEXT PRIMARY KEY,
    center TEXT NOT NULL,
    call_id TEXT,
    requested_at TEXT NOT NULL,
    entered_s REAL NOT NULL,
    deadline_s REAL NOT NULL,
    ortsnetz_prefix TEXT,
    caller_hash TEXT,
    number_enc BLOB,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before_s REAL NOT NULL DEFAULT 0,
    in_flight TEXT,
    outcome TEXT,
    ended_at TEXT
) WITHOUT ROWID;
CREATE INDEX callbacks_open ON callbacks (center, entered_s) WHERE outcome IS NULL;
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7)
SCHEMA_VERSION = len(MIGRATIONS)


# SQLite's primary result codes for a file another connection holds.
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def file_uri(path: str | PathLike[str]) -> str:
    """The URI every connection of the controller opens the journal with.

    ``vfs=unix-excl``: the process takes one lock on the file for as long as
    it has it open, and SQLite keeps the WAL index in heap memory instead of
    the memory-mapped ``-shm`` file. Why: a write into a shared mapping of a
    file the kernel will not let change (``chattr +i``, a file cut short, a
    full tmpfs) is not an error SQLite can return but a SIGBUS, which killed
    the whole controller, FastAGI and all (exit 135). With no mapping, the
    same trouble is an I/O error on one write, which the journal counts and
    survives (its spool). The connections of one process (the record writer,
    the override and callback tables) share the heap index, so they work as
    before. The price: no other process can open the journal while ``lotse
    run`` has it (``lotse report`` on the live file says so), which also
    keeps a second controller from writing into it. Isolating the writer in
    a child process instead would leave the side tables' connections, which
    read the mapping every second, in the routing process.
    """
    return f"{Path(path).resolve().as_uri()}?vfs=unix-excl"


class JournalError(Exception):
    """The journal file cannot be used; the message says why and what to do."""


class JournalInUse(JournalError):
    """Another process holds the journal (a running ``lotse run``): a runtime failure."""


class SchemaTooNew(JournalError):
    """The journal was written by a newer lotse with a schema this one does not know."""


async def user_version(conn: aiosqlite.Connection) -> int:
    """The schema version recorded in the file (0 for a new file)."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


async def migrate(conn: aiosqlite.Connection, label: str) -> int:
    """Bring the journal on ``conn`` to :data:`SCHEMA_VERSION`; returns the version found.

    ``conn`` must be in autocommit mode (``isolation_level=None``). ``label``
    names the file in error messages.
    """
    try:
        found = await user_version(conn)
    except sqlite3.DatabaseError as err:
        if getattr(err, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
            raise JournalInUse(
                f"{label}: the journal is in use by another process (a running lotse run "
                "holds it; see README, Journal trouble)"
            ) from err
        raise JournalError(f"{label}: not a lotse journal ({err})") from err
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{label}: journal schema version {found} is newer than this lotse "
            f"understands ({SCHEMA_VERSION}); upgrade lotse or use another journal file"
        )
    if found == 0:
        await _refuse_foreign_tables(conn, label)
    for version in range(found, SCHEMA_VERSION):
        script = f"BEGIN;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
        try:
            await conn.executescript(script)
        except sqlite3.Error as err:
            if conn.in_transaction:
                await conn.rollback()
            raise JournalError(
                f"{label}: migrating the journal from schema version {version} "
                f"to {version + 1} failed: {err}"
            ) from err
    return found


async def _refuse_foreign_tables(conn: aiosqlite.Connection, label: str) -> None:
    # Version 0 with tables means some other program's database: do not mix in.
    async with conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'") as cur:
        row = await cur.fetchone()
    if row is not None and row[0]:
        raise JournalError(f"{label}: an SQLite database that is not a lotse journal")
