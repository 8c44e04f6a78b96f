"""The call journal: records in, SQLite rows out, without ever stalling call routing.

The controller calls :meth:`Journal.record` on the routing path; it only puts
the record in a bounded in-memory queue. A writer task drains the queue in
batches, each batch one transaction, whenever ``batch_size`` records are
waiting or when the oldest waiting record has waited ``flush_interval_s``
(measured from when it was recorded, not from when the writer woke). If the disk falls
so far behind that the queue is full, further records are dropped and counted
(a warning at most once a minute) rather than making callers wait: a gap in
the journal is cheaper than a caller held in silence.

Durability (the promise the README states): the file runs in WAL mode with
``synchronous=FULL``, so a batch counts as written only once its commit is
fsynced to the write-ahead log. A SIGKILL or a power cut therefore loses only
records still in the in-memory queue: at most ``flush_interval_s`` (200 ms)
of them, plus the one batch whose commit was under way, as long as the writer
keeps up (``lag_s``; the metric ``lotse_journal_lag_seconds`` and its
alert say when it does not). The fsync costs one disk flush per batch, at most
a few per second at 115 rates; WAL keeps readers (``lotse report``) off the
writer's back and the file is never corrupted by a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import aiosqlite

from lotse.journal import privacy, rows
from lotse.journal.records import Record
from lotse.journal.schema import SCHEMA_VERSION, JournalError, migrate

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_T = TypeVar("_T")

# Warnings about dropped or unwritable records repeat at most this often.
_WARN_INTERVAL = timedelta(seconds=60)
# A report or a purge may hold the write lock briefly; wait rather than fail.
_BUSY_TIMEOUT_MS = 5000
# Where an older lotse kept a generated hash salt (deleted on open).
_SALT_KEY = "caller_hash_salt"
# See _handing_over_the_gil: how often a write in flight checks whether the
# event loop's thread was busy all the time (this share of it, at least), and
# for how long the loop then steps aside.
_GIL_CHECK_S = 0.003
_SATURATED = 0.9
_GIL_STEP_ASIDE_S = 0.0002


@dataclass(frozen=True, slots=True)
class _Queued:
    """A record waiting for the writer: itself, its encoded row, when it was queued."""

    rec: Record
    encoded: str
    since: datetime
    queued_mono: float


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A call whose row has no end yet: what a reconcile needs to continue or close it."""

    call_id: str
    home: str | None
    center: str | None  # where the call last went (final_center)
    answered: bool
    abandoned: bool
    announced: bool
    queued: bool


_OPEN_CALLS = """
SELECT call_id, home, final_center, answered_at IS NOT NULL, abandoned, announced, queued
FROM calls WHERE ended_at IS NULL ORDER BY arrived_at
"""


@dataclass(frozen=True, slots=True)
class JournalStats:
    """Counters for the metrics (:mod:`metrics.journal`) and the closing log line.

    ``pending``: records waiting in memory; ``failed``: records refused for
    themselves (a bug, never retried); ``failures``: failed writes to the
    file by reason; ``spooled``: records that went to the spool;
    ``spool_records``: those not yet replayed; ``lag_s``: age of the oldest
    record not yet in the file; ``healthy``: the file takes writes.
    """

    pending: int
    written: int
    dropped: int
    failed: int
    transactions: int
    spooled: int = 0
    spool_records: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    lag_s: float = 0.0
    healthy: bool = True


class Journal:
    """An open call journal. Create with :meth:`open`; end with :meth:`close`.

    Not thread-safe: call :meth:`record` from the event loop that opened it.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        label: str,
        *,
        clock: Clock,
        key: bytes,
        retention_days: int,
        batch_size: int,
        flush_interval_s: float,
        max_pending: int,
    ) -> None:
        self._conn = conn
        self._label = label
        self._clock = clock
        self._key = key
        self._retention = timedelta(days=retention_days)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_pending = max_pending
        self._pending: deque[_Queued] = deque()
        self._inflight_since: datetime | None = None
        # One transaction at a time on the connection: writer, flush and purge.
        self._lock = asyncio.Lock()
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._closed = False
        self._written = 0
        self._dropped = 0
        self._failed = 0
        self._transactions = 0
        self._failures: dict[str, int] = {}
        self._healthy = True
        self._last_warning: dict[str, datetime] = {}
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        path: str | PathLike[str],
        *,
        clock: Clock,
        key: bytes | None = None,
        key_source: str = "configuration",
        salt: bytes | None = None,
        retention_days: int = 90,
        batch_size: int = 200,
        flush_interval_s: float = 0.2,
        max_pending: int = 10_000,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> Journal:
        """Open (creating or migrating) the journal at ``path`` and start its writer.

        ``key`` keys the caller hashes (see :mod:`lotse.journal.privacy`;
        ``salt`` is its older name; ``key_source`` says where it came from,
        for the log). It is held in memory only: never written
        to the file, never passed to SQLite, never logged. When ``None`` a
        one-off key is drawn with ``random_bytes``, and hashes link repeat
        callers only while this journal is open (tests and tools; ``lotse
        run`` refuses to start without a key). A salt an older lotse stored
        in the file is deleted. Calls older than ``retention_days`` are purged
        before the journal accepts records.

        Raises :class:`JournalError` when the file cannot be used, including
        :class:`~lotse.journal.schema.SchemaTooNew`.
        """
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if batch_size < 1 or max_pending < batch_size:
            raise ValueError("need 1 <= batch_size <= max_pending")
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be positive")
        label = str(path)
        if not Path(path).parent.is_dir():
            raise JournalError(
                f"{label}: cannot open the journal: no directory {Path(path).parent}"
            )
        connecting = aiosqlite.connect(Path(path), isolation_level=None)
        try:
            conn = await connecting
        except sqlite3.Error as err:
            await _worker_stopped(connecting)
            raise JournalError(f"{label}: cannot open the journal: {err}") from err
        try:
            await _configure(conn, label)
            found = await migrate(conn, label)
            await _prepare_writes(conn, label)
            await _drop_stored_salt(conn, label)
        except BaseException:
            await conn.close()
            raise
        key = key if key is not None else salt
        source = key_source
        if key is None:
            key, source = random_bytes(privacy.KEY_BYTES), "a one-off key (none configured)"
        journal = cls(
            conn,
            label,
            clock=clock,
            key=key,
            retention_days=retention_days,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            max_pending=max_pending,
        )
        try:
            purged = await journal.purge(clock())
        except BaseException:
            await conn.close()
            raise
        _yield_cpu_to_routing(conn, label)
        journal._writer = asyncio.create_task(journal._run(), name="journal-writer")
        log.info(
            "journal.opened",
            extra={
                "path": label,
                "schema_version": SCHEMA_VERSION,
                "found_version": found,
                "key_source": source,
                "purged_calls": purged,
            },
        )
        return journal

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def hash_key(self) -> bytes:
        """The key of the caller hashes (for the callback store's rows; never logged)."""
        return self._key

    def caller_hash(self, caller: str) -> str | None:
        """The keyed hash of a caller number as the switch delivered it (``None`` if anonymous)."""
        return privacy.hash_caller(caller, self._key)

    def record(self, rec: Record) -> None:
        """Queue ``rec`` for writing; never blocks, never raises.

        A full queue drops the record; one that cannot be stored is counted as
        failed at once.
        """
        if self._closing or len(self._pending) >= self._max_pending:
            self._dropped += 1
            self._warn("dropped", "journal.dropped", dropped=self._dropped)
            return
        # Encoded now, a record at a time, so that the writer's batch costs the
        # event loop one string join rather than a pause of milliseconds.
        try:
            encoded = rows.encode(rec)
        except (ValueError, TypeError) as err:
            self._unwritable(rec, err)
            return
        self._pending.append(_Queued(rec, encoded, self._clock(), time.monotonic()))
        self._nonempty.set()
        if len(self._pending) >= self._batch_size:
            self._full.set()

    def lag_s(self) -> float:
        """Seconds the oldest record not yet committed has been waiting (0 when none)."""
        oldest = self._inflight_since
        if oldest is None and self._pending:
            oldest = self._pending[0].since
        if oldest is None:
            return 0.0
        return max(0.0, (self._clock() - oldest).total_seconds())

    def stats(self) -> JournalStats:
        """Current counters and state (see :class:`JournalStats`).

        Safe to call from the metrics server's thread: it only reads.
        """
        try:
            lag = self.lag_s()
        except IndexError:  # the writer took the last record meanwhile
            lag = 0.0
        return JournalStats(
            pending=len(self._pending),
            written=self._written,
            dropped=self._dropped,
            failed=self._failed,
            transactions=self._transactions,
            failures=dict(self._failures),
            lag_s=lag,
            healthy=self._healthy,
        )

    async def flush(self) -> None:
        """Return once every record queued before the call is committed (or failed)."""
        await self._write_pending(len(self._pending))

    async def open_calls(self) -> list[OpenCall]:
        """Every call without an end, after writing what is queued (for a reconcile).

        Includes rows a previous controller process left open when it died.
        """
        await self.flush()
        async with self._lock:
            try:
                async with self._conn.execute(_OPEN_CALLS) as cur:
                    found = await cur.fetchall()
            except sqlite3.Error as err:
                raise JournalError(f"{self._label}: reading open calls failed: {err}") from err
        return [
            OpenCall(str(r[0]), r[1], r[2], bool(r[3]), bool(r[4]), bool(r[5]), bool(r[6]))
            for r in found
        ]

    async def exclusive(self, work: Callable[[aiosqlite.Connection], Awaitable[_T]]) -> _T:
        """Run ``work`` on the journal's connection, alone, after writing what is queued.

        For importers that must read and write in one transaction (Asterisk's
        queue_log, :mod:`lotse.queuelog.importer`): ``work`` gets the
        connection in autocommit mode with the batch view of
        :data:`~lotse.journal.rows.APPLY_BATCH` ready, opens its own
        transaction and ends it. The writer waits meanwhile.
        """
        await self.flush()
        async with self._lock:
            return await work(self._conn)

    async def close(self) -> None:
        """Write everything still queued, stop the writer and close the file (idempotent)."""
        if self._closed:
            return
        self._closing = True
        self._nonempty.set()
        self._full.set()
        if self._writer is not None:
            await self._writer
        await self._write_pending(len(self._pending))
        self._closed = True
        await self._conn.close()
        log.info(
            "journal.closed",
            extra={
                "path": self._label,
                "written": self._written,
                "dropped": self._dropped,
                "failed": self._failed,
            },
        )

    async def purge(self, now: datetime) -> int:
        """Delete calls that arrived more than the retention period before ``now``.

        Returns the number of calls deleted; their events go with them.
        """
        cutoff = rows.timestamp(now - self._retention)
        async with self._lock:
            try:
                await self._conn.execute("BEGIN")
                await self._conn.execute(
                    "DELETE FROM call_events WHERE call_id IN "
                    "(SELECT call_id FROM calls WHERE arrived_at < ?)",
                    (cutoff,),
                )
                cur = await self._conn.execute("DELETE FROM calls WHERE arrived_at < ?", (cutoff,))
                deleted = cur.rowcount
                await self._conn.execute("COMMIT")
            except sqlite3.Error as err:
                await self._rollback()
                raise JournalError(f"{self._label}: purging old calls failed: {err}") from err
        return deleted

    async def _run(self) -> None:
        while not self._closing:
            try:
                if not self._pending:
                    self._nonempty.clear()
                    await self._nonempty.wait()
                    continue
                if len(self._pending) < self._batch_size:
                    # Give the batch a moment to fill (fewer, larger transactions),
                    # but never beyond the oldest record's flush deadline: that
                    # bound is what a SIGKILL can lose.
                    self._full.clear()
                    due = self._pending[0].queued_mono + self._flush_interval_s
                    wait_s = due - time.monotonic()
                    if wait_s > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._full.wait(), wait_s)
                await self._write_pending(len(self._pending))
            except Exception:
                log.exception("journal.writer_error")
                await asyncio.sleep(self._flush_interval_s)

    async def _write_pending(self, limit: int) -> None:
        async with self._lock:
            while limit > 0 and self._pending:
                n = min(self._batch_size, limit, len(self._pending))
                batch = [self._pending.popleft() for _ in range(n)]
                self._inflight_since = batch[0].since
                try:
                    await self._write_batch(batch)
                finally:
                    self._inflight_since = None
                limit -= n

    async def _write_batch(self, batch: list[_Queued]) -> None:
        """Commit ``batch`` in one transaction; on failure, isolate the bad records."""
        if not batch:
            return
        try:
            # One statement in autocommit mode: one transaction, and one trip
            # to the writer thread.
            await _handing_over_the_gil(
                self._conn.execute(rows.APPLY_BATCH, (rows.batch(q.encoded for q in batch),))
            )
        except sqlite3.Error as err:
            # Nothing to roll back: a failed autocommit statement undoes itself.
            self._count_failure(err)
            if len(batch) > 1:
                for one in batch:
                    await self._write_batch([one])
                return
            self._unwritable(batch[0].rec, err)
            return
        self._transactions += 1
        self._written += len(batch)
        self._set_healthy(True, None)

    def _count_failure(self, err: sqlite3.Error) -> str:
        reason = failure_reason(err)
        self._failures[reason] = self._failures.get(reason, 0) + 1
        if reason != "record":
            self._set_healthy(False, err)
        return reason

    def _set_healthy(self, healthy: bool, err: sqlite3.Error | None) -> None:
        """Log the journal file's state once per change, not once per record."""
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if healthy:
            log.warning("journal.writable", extra={"path": self._label})
        else:
            log.error("journal.unwritable", extra={"path": self._label, "error": str(err)})

    def _unwritable(self, rec: Record, err: Exception) -> None:
        self._failed += 1
        # The error text names tables, constraints or types, never values.
        self._warn(
            "failed",
            "journal.record_failed",
            kind=rec.kind,
            call_id=rec.call_id,
            error=str(err),
            failed=self._failed,
        )

    async def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                await self._conn.execute("ROLLBACK")

    def _warn(self, key: str, event: str, **fields: object) -> None:
        now = self._clock()
        last = self._last_warning.get(key)
        if last is None or now - last >= _WARN_INTERVAL:
            self._last_warning[key] = now
            log.warning(event, extra=fields)


# SQLite's primary result codes (the low byte of the extended code).
_REASONS = {
    13: "full",  # SQLITE_FULL (also a file size limit: EFBIG)
    8: "readonly",  # SQLITE_READONLY
    3: "readonly",  # SQLITE_PERM
    10: "io",  # SQLITE_IOERR (an immutable -wal: EPERM on write)
    14: "io",  # SQLITE_CANTOPEN
    15: "io",  # SQLITE_PROTOCOL
    11: "corrupt",  # SQLITE_CORRUPT
    26: "corrupt",  # SQLITE_NOTADB
    5: "locked",  # SQLITE_BUSY
    6: "locked",  # SQLITE_LOCKED
    1: "record",  # SQLITE_ERROR: the statement failed on its values
    18: "record",  # SQLITE_TOOBIG
    19: "record",  # SQLITE_CONSTRAINT
    20: "record",  # SQLITE_MISMATCH
    25: "record",  # SQLITE_RANGE
}


def failure_reason(err: sqlite3.Error) -> str:
    """Why a write failed, as a label of ``lotse_journal_write_failures_total``.

    Every reason but ``record`` is the file's trouble, not the record's: the
    same record may be written later.
    """
    code = getattr(err, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return "other"
    return _REASONS.get(code & 0xFF, "other")


async def _configure(conn: aiosqlite.Connection, label: str) -> None:
    try:
        async with conn.execute("PRAGMA journal_mode=WAL") as cur:
            row = await cur.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            log.warning("journal.wal_unavailable", extra={"path": label, "mode": row and row[0]})
        # FULL: in WAL mode one fsync of the log per commit, so a committed
        # batch survives a power cut too (NORMAL could lose the last ones).
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    except sqlite3.DatabaseError as err:
        raise JournalError(f"{label}: not a lotse journal ({err})") from err


async def _prepare_writes(conn: aiosqlite.Connection, label: str) -> None:
    """Create this connection's batch-apply view and trigger (TEMP: not in the file)."""
    try:
        await conn.execute(rows.APPLY_VIEW)
        await conn.execute(rows.APPLY_TRIGGER)
    except sqlite3.Error as err:
        # Only an SQLite without JSON support or upsert (before 3.38) fails here.
        raise JournalError(
            f"{label}: this SQLite ({sqlite3.sqlite_version}) cannot write the journal: {err}"
        ) from err


async def _drop_stored_salt(conn: aiosqlite.Connection, label: str) -> None:
    """Delete the hash salt an older lotse kept in the journal itself.

    Whoever had the file had that salt, and with it every caller behind a hash
    (an Ortsnetz prefix beside it leaves a few million numbers to try). The
    key now lives outside the journal; hashes made with the old salt stay as
    they are, unlinked to new ones, until the retention period purges them.
    ``secure_delete`` overwrites the deleted value in the file, and the
    checkpoint moves that page out of the write-ahead log. The value itself is
    neither read nor logged.
    """
    async with conn.execute("SELECT count(*) FROM meta WHERE key = ?", (_SALT_KEY,)) as cur:
        row = await cur.fetchone()
    if not row or not row[0]:
        return
    await conn.execute("PRAGMA secure_delete = ON")
    try:
        await conn.execute("DELETE FROM meta WHERE key = ?", (_SALT_KEY,))
        await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await conn.execute("PRAGMA secure_delete = OFF")
    # Hashes written before no longer link to new ones.
    log.warning("journal.salt_deleted", extra={"path": label})


async def _handing_over_the_gil(work: Awaitable[_T]) -> _T:
    """Await ``work`` done on the connection's thread, making sure that thread gets the GIL.

    While the event loop has work every time it polls (a burst of AMI
    events), it gives the GIL up at each poll and takes it straight back, and
    CPython then never lets a waiting thread force a switch: the writer
    thread would wait for the GIL until the burst ends, however long. So
    while the work is not done, every few milliseconds in which the loop's
    thread was busy all the time, the loop steps aside for a fraction of one.
    Only then: when the loop does idle, the writer gets the GIL by itself, and
    stepping aside would only add latency.
    """
    task = asyncio.ensure_future(work)
    try:
        busy_since, wall_since = time.thread_time(), time.monotonic()
        while True:
            done, _ = await asyncio.wait((task,), timeout=_GIL_CHECK_S)
            if done:
                return task.result()
            busy, wall = time.thread_time(), time.monotonic()
            if busy - busy_since >= _SATURATED * (wall - wall_since):
                time.sleep(_GIL_STEP_ASIDE_S)
                busy, wall = time.thread_time(), time.monotonic()
            busy_since, wall_since = busy, wall
    finally:
        # Cancelled while waiting (the writer stopped): the work must not
        # outlive its caller unobserved, as a plain await would not.
        task.cancel()


def _yield_cpu_to_routing(conn: aiosqlite.Connection, label: str) -> None:
    """Run the connection's worker thread (where SQLite does its work) only on idle CPU.

    Journal writes are background work; a routing decision is a caller
    waiting. On a busy machine (a small controller box, or one the load
    generator shares), SQLite taking a core from the event loop or the PBX
    shows as answer latency: with bench/agi.py, p90 1.7 ms at SCHED_IDLE
    against 3.5–4 ms at normal priority. If the CPU stays saturated, writes
    wait; the bounded queue then drops records, counted, and
    ``lotse_journal_lag_seconds`` raises its alert.
    """
    # aiosqlite runs each connection on a thread of its own; no public name for it.
    thread = getattr(conn, "_thread", None)
    tid = getattr(thread, "native_id", None)
    if tid is None or not hasattr(os, "sched_setscheduler"):
        return
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except OSError as err:
        log.debug("journal.normal_priority", extra={"path": label, "error": str(err)})


async def _worker_stopped(conn: aiosqlite.Connection) -> None:
    """Wait for the worker thread of a connection that failed to open.

    aiosqlite stops it without waiting: if the event loop closes first, the
    thread dies on "Event loop is closed" reporting the stop.
    """
    thread = getattr(conn, "_thread", None)
    if isinstance(thread, threading.Thread) and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)
