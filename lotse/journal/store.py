"""The call journal: records in, SQLite rows out, without ever stalling call routing.

The controller calls :meth:`Journal.record` on the routing path; it only puts
the record in a bounded in-memory queue. A writer task drains the queue in
batches, each batch one transaction, whenever ``batch_size`` records are
waiting or when the oldest waiting record has waited ``flush_interval_s``
(measured from when it was recorded, not from when the writer woke).

When the file cannot take a batch (disk full, an unwritable or immutable
file, an I/O error) or falls more than a second behind, the writer appends
the records to the spool beside it instead (:mod:`lotse.journal.spool`: one
fsync per batch) and, from then on, every new record too, so that order is
kept; it replays the spool into the file as soon as the file takes writes
again (retrying every ``retry_s``), and goes back to writing the file
directly once the spool is empty. A record is dropped only when neither the
spool nor the in-memory queue has room: counted, logged with the count at
most once a minute, never by making a caller wait — a gap in the journal is
cheaper than a caller held in silence, and Asterisk's queue_log still has the
call. Each change of the file's or the spool's state is logged once.

Durability (the promise the README states): the file runs in WAL mode with
``synchronous=FULL``, so a batch counts as written only once its commit (or
its spool append) is fsynced. A SIGKILL or a power cut therefore loses only
records still in the in-memory queue: at most ``flush_interval_s`` (200 ms)
of them, plus the one batch whose commit was under way (``lag_s``; the
metric ``lotse_journal_lag_seconds`` and its alert say when the file falls
behind). The fsync costs one disk flush per batch, at most a few per second
at 115 rates. The file is opened so that no failure to write it can become a
signal (see :func:`~lotse.journal.schema.file_uri`); the price is that no
other process can open it while the controller has it.
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
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import aiosqlite

from lotse.journal import privacy, rows
from lotse.journal.records import Record
from lotse.journal.schema import SCHEMA_VERSION, JournalError, JournalInUse, file_uri, migrate
from lotse.journal.spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_BYTES
from lotse.journal.spool import Spool, Spooled, spool_path

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
# A record waiting longer than this (five times the flush interval) means the
# file does not keep up: records then go to the spool, which takes them at the
# cost of an append and an fsync, and are replayed from there.
_BEHIND_S = 1.0
# Spooled records replayed per transaction.
_REPLAY_BATCH = 1000
# The journal's mark of what it has replayed from the spool (generation:seq).
_SPOOL_MARK = "spool_replayed"
# The start-up check reads the whole file; past this it stops and says so.
CHECK_S = 20.0


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

    Not thread-safe: call :meth:`record` from the event loop that opened it
    (:meth:`stats` may be read from another thread).
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
        spool_file: Path,
        spool_max_bytes: int,
        retry_s: float,
        identity: tuple[int, int] | None = None,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._conn = conn
        self._label = label
        self._clock = clock
        self._mono = mono
        self._key = key
        self._retention = timedelta(days=retention_days)
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_pending = max_pending
        self._pending: deque[_Queued] = deque()
        self._inflight_mono: float | None = None
        # One piece of work at a time on the connection and the spool: writer,
        # flush, replay and purge.
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
        # The spool (see lotse.journal.spool): opened when first needed.
        self._spool_file = spool_file
        # The file as opened (device, inode): SQLite goes on writing into a file
        # removed under it, into nothing anyone will read again.
        self._path = Path(label)
        self._identity = identity
        self._spool_max_bytes = spool_max_bytes
        self._spool: Spool | None = None
        # While set, records go to the spool, not to the file: the file failed
        # or fell behind, or the spool holds records not yet replayed (order).
        self._spooling = False
        self._retry_s = retry_s
        self._retry_at = 0.0
        self._spooled = 0
        self._spool_trouble: str | None = None
        self._dropped_at_spool_trouble = 0

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
        spool_max_bytes: int = DEFAULT_SPOOL_BYTES,
        retry_s: float = 1.0,
        check_s: float = CHECK_S,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        mono: Callable[[], float] = time.monotonic,
    ) -> Journal:
        """Open (creating or migrating) the journal at ``path`` and start its writer.

        ``key`` keys the caller hashes (see :mod:`lotse.journal.privacy`;
        ``salt`` is its older name; ``key_source`` says where it came from,
        for the log). It is held in memory only: never written
        to the file, never passed to SQLite, never logged. When ``None`` a
        one-off key is drawn with ``random_bytes``, and hashes link repeat
        callers only while this journal is open (tests and tools; ``lotse
        run`` refuses to start without a key). A salt an older lotse stored
        in the file is deleted. The file is checked first (``check_s``: at
        most that long, see :func:`check`); calls older than
        ``retention_days`` are purged before the journal accepts records; a
        spool left by an earlier run is replayed by the writer.

        Raises :class:`JournalError` when the file cannot be used, including
        :class:`~lotse.journal.schema.SchemaTooNew` and a damaged file.
        """
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if batch_size < 1 or max_pending < batch_size:
            raise ValueError("need 1 <= batch_size <= max_pending")
        if flush_interval_s <= 0 or retry_s <= 0:
            raise ValueError("flush_interval_s and retry_s must be positive")
        label = str(path)
        if not Path(path).parent.is_dir():
            raise JournalError(
                f"{label}: cannot open the journal: no directory {Path(path).parent}"
            )
        connecting = aiosqlite.connect(file_uri(path), uri=True, isolation_level=None)
        try:
            conn = await connecting
        except sqlite3.Error as err:
            await _worker_stopped(connecting)
            raise JournalError(f"{label}: cannot open the journal: {err}") from err
        try:
            await _configure(conn, label)
            await check(conn, label, check_s)
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
            spool_file=spool_path(path),
            identity=_identity(path),
            spool_max_bytes=spool_max_bytes,
            retry_s=retry_s,
            mono=mono,
        )
        try:
            purged = await journal.purge(clock())
            left = await journal._reopen_spool()
        except BaseException:
            await conn.close()
            raise
        _lower_writer_priority(conn, label)
        journal._writer = asyncio.create_task(journal._run(), name="journal-writer")
        log.info(
            "journal.opened",
            extra={
                "path": label,
                "schema_version": SCHEMA_VERSION,
                "found_version": found,
                "key_source": source,
                "purged_calls": purged,
                "spooled_to_replay": left,
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

        A full queue drops the record (counted, and logged with the count at
        most once a minute); one that cannot be stored is counted as failed
        at once. The queue is full only while neither the file nor the spool
        takes records.
        """
        if self._closing or len(self._pending) >= self._max_pending:
            self._dropped += 1
            # Asterisk's queue_log still has their calls.
            self._warn(
                "dropped",
                "journal.dropped",
                path=self._label,
                dropped=self._dropped,
                why="queue full or closed",
                recover_from="queue_log",
            )
            return
        # Encoded now, a record at a time, so that the writer's batch costs the
        # event loop one string join rather than a pause of milliseconds.
        try:
            encoded = rows.encode(rec)
        except (ValueError, TypeError) as err:
            self._unwritable(rec, err)
            return
        self._pending.append(_Queued(rec, encoded, self._clock(), self._mono()))
        self._nonempty.set()
        if len(self._pending) >= self._batch_size:
            self._full.set()

    def lag_s(self) -> float:
        """Seconds the oldest record not yet in the file has been waiting (0 when none).

        Counts records waiting in memory, in a batch being committed and in
        the spool. Records still in memory are aged on the monotonic clock, not
        on the journal's wall clock: under ``lotse sim load --spawn`` that clock
        is the simulated day's, which runs 60 times faster, and a real 0.25 s
        showed as 15 s. Spooled records may come from an earlier process, so
        only their recorded wall time can age them.
        """
        lag = 0.0
        # A batch in flight was taken from the front of the queue: it is older
        # than anything still waiting.
        oldest: float | None = self._inflight_mono
        pending = self._pending
        if oldest is None and pending:
            oldest = pending[0].queued_mono
        if oldest is not None:
            lag = self._mono() - oldest
        spool = self._spool
        spooled = spool.oldest_since() if spool is not None else None
        if spooled is not None:
            waited = self._clock() - datetime.fromtimestamp(spooled, UTC)
            lag = max(lag, waited.total_seconds())
        return max(0.0, lag)

    def stats(self) -> JournalStats:
        """Current counters and state (see :class:`JournalStats`).

        Safe to call from the metrics server's thread: it only reads.
        """
        try:
            lag = self.lag_s()
        except IndexError:  # the writer took the last record meanwhile
            lag = 0.0
        spool = self._spool
        return JournalStats(
            pending=len(self._pending),
            written=self._written,
            dropped=self._dropped,
            failed=self._failed,
            transactions=self._transactions,
            spooled=self._spooled,
            spool_records=spool.unreplayed if spool is not None else 0,
            failures=dict(self._failures),
            lag_s=lag,
            healthy=self._healthy,
        )

    async def flush(self) -> None:
        """Return once every record queued before the call is in the file or the spool.

        While spooling, the spool is replayed as far as the file takes it.
        """
        await self._write_pending(len(self._pending))
        if self._spooling:
            async with self._lock:
                await self._to_spool()
                while self._spooling and await self._replay():
                    pass

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

        Raises :class:`JournalError` while spooled records cannot be replayed
        (the file takes no writes): ``work`` would see the journal without
        them, and an import would add what the spool adds again later.
        """
        await self.flush()
        async with self._lock:
            if self._spooling:
                raise JournalError(
                    f"{self._label}: the journal cannot be written; records wait in the spool"
                )
            return await work(self._conn)

    async def close(self) -> None:
        """Write everything still queued, stop the writer and close the file (idempotent).

        What the file does not take stays in the spool for the next start.
        """
        if self._closed:
            return
        self._closing = True
        self._nonempty.set()
        self._full.set()
        if self._writer is not None:
            await self._writer
        await self._write_pending(len(self._pending))
        async with self._lock:
            if self._spooling:
                await self._to_spool()
                while self._spooling and await self._replay():
                    pass
            lost = len(self._pending)
            if lost:
                # Neither the file nor the spool took them.
                self._dropped += lost
                self._pending.clear()
            if self._spool is not None:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(self._spool.close)
        self._closed = True
        await self._conn.close()
        spool = self._spool
        log.info(
            "journal.closed",
            extra={
                "path": self._label,
                "written": self._written,
                "spooled": self._spooled,
                # Replayed at the next start.
                "spool_records": spool.unreplayed if spool is not None else 0,
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

    # --- the writer -----------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            try:
                if self._spooling:
                    await self._spool_step()
                    continue
                if not self._pending:
                    self._nonempty.clear()
                    await self._nonempty.wait()
                    continue
                await self._batch_filled()
                await self._write_pending(len(self._pending))
            except Exception:
                log.exception("journal.writer_error")
                await asyncio.sleep(self._flush_interval_s)

    async def _batch_filled(self) -> None:
        """Give the batch a moment to fill (fewer, larger transactions or fsyncs),
        but never beyond the oldest record's flush deadline: that bound is what
        a SIGKILL can lose."""
        if len(self._pending) >= self._batch_size or not self._pending:
            return
        self._full.clear()
        due = self._pending[0].queued_mono + self._flush_interval_s
        wait_s = due - self._mono()
        if wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), wait_s)

    async def _spool_step(self) -> None:
        """While spooling: records to the spool within the flush interval, replay when due."""
        now = self._mono()
        if now < self._retry_at:
            if self._pending:
                await self._batch_filled()
            else:
                self._nonempty.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nonempty.wait(), self._retry_at - now)
                return
        async with self._lock:
            await self._to_spool()
            if self._mono() >= self._retry_at and not await self._replay():
                self._retry_at = self._mono() + self._retry_s
        if self._pending and self._spool_trouble is not None:
            # Neither the spool nor (yet) the file takes them: they wait in
            # memory; trying again at once would only spin.
            await asyncio.sleep(self._retry_s)
        else:
            # Let the event loop run between replayed chunks.
            await asyncio.sleep(0)

    async def _write_pending(self, limit: int) -> None:
        async with self._lock:
            while limit > 0 and self._pending and not self._spooling:
                n = min(self._batch_size, limit, len(self._pending))
                batch = [self._pending.popleft() for _ in range(n)]
                self._inflight_mono = batch[0].queued_mono
                try:
                    done = await self._write_batch(batch)
                finally:
                    self._inflight_mono = None
                limit -= done
                if done < n:
                    # The file's trouble: these and everything after them go
                    # to the spool, in order, until the file takes writes.
                    self._pending.extendleft(reversed(batch[done:]))
                    self._start_spooling(self._retry_s)
                elif self._falling_behind():
                    # Records go to the spool and are replayed from there. At
                    # most once a minute: a rate near the limit may go back and forth.
                    self._warn(
                        "behind",
                        "journal.behind",
                        path=self._label,
                        waiting=len(self._pending),
                        spool=str(self._spool_file),
                    )
                    self._start_spooling(0.0)
            if self._spooling:
                await self._to_spool()

    def _falling_behind(self) -> bool:
        pending = self._pending
        if len(pending) >= self._max_pending // 2:
            return True
        return bool(pending) and self._mono() - pending[0].queued_mono > _BEHIND_S

    def _start_spooling(self, retry_after_s: float) -> None:
        self._spooling = True
        self._retry_at = self._mono() + retry_after_s

    async def _write_batch(self, batch: list[_Queued]) -> int:
        """Commit ``batch`` in one transaction; returns how many of it are done.

        Done means committed, or refused for itself (counted as failed, never
        retried). Fewer than all: the file failed at that record; it and the
        rest are not in the file.
        """
        if not batch or self._file_gone():
            return 0
        try:
            # One statement in autocommit mode: one transaction, and one trip
            # to the writer thread.
            await _handing_over_the_gil(
                self._conn.execute(rows.APPLY_BATCH, (rows.batch(q.encoded for q in batch),))
            )
        except sqlite3.Error as err:
            # Nothing to roll back: a failed autocommit statement undoes itself.
            if self._count_failure(err) != "record":
                return 0
            if len(batch) == 1:
                self._unwritable(batch[0].rec, err)
                return 1
            for i, one in enumerate(batch):
                if not await self._write_batch([one]):
                    return i
            return len(batch)
        self._transactions += 1
        self._written += len(batch)
        self._set_healthy(True, None)
        return len(batch)

    # --- the spool --------------------------------------------------------------------

    async def _reopen_spool(self) -> int:
        """Take up a spool an earlier run left; returns the records it has to replay."""
        if not self._spool_file.exists():
            return 0
        try:
            spool = await asyncio.to_thread(Spool.open, self._spool_file, self._spool_max_bytes)
        except OSError as err:
            raise JournalError(
                f"{self._spool_file}: cannot read the journal's spool: {err}"
            ) from err
        self._spool = spool
        async with self._conn.execute(
            "SELECT value FROM meta WHERE key = ?", (_SPOOL_MARK,)
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            generation, _, seq = str(row[0]).partition(":")
            await asyncio.to_thread(spool.skip_replayed, generation, int(seq or 0))
        if spool.unreplayed:
            self._start_spooling(0.0)
            log.warning(
                "journal.spool_left",
                extra={
                    "path": self._label,
                    "spool": str(self._spool_file),
                    "records": spool.unreplayed,
                },
            )
        return spool.unreplayed

    async def _to_spool(self) -> None:
        """Append every waiting record to the spool (one fsync); drop what its limit refuses.

        When the spool cannot be written the records stay in memory (the
        queue's bound then drops, counted) and are tried again.
        """
        if not self._pending:
            return
        items = list(self._pending)
        try:
            if self._spool is None:
                self._spool = await asyncio.to_thread(
                    Spool.open, self._spool_file, self._spool_max_bytes
                )
            spool = self._spool
            n = await asyncio.to_thread(
                spool.append, [(q.since.timestamp(), q.encoded) for q in items]
            )
        except OSError as err:
            self._spool_state(f"cannot be written ({err})")
            return
        for _ in range(n):
            self._pending.popleft()
        self._spooled += n
        if n == len(items):
            self._spool_state(None)
            return
        self._spool_state(f"is full ({self._spool_max_bytes} bytes)")
        for _ in range(len(items) - n):
            self._pending.popleft()
        self._dropped += len(items) - n
        # Asterisk's queue_log still has their calls (lotse journal import-queue-log).
        self._warn(
            "spool-full",
            "journal.dropped",
            path=self._label,
            dropped=self._dropped,
            why="spool full",
            recover_from="queue_log",
        )

    def _spool_state(self, trouble: str | None) -> None:
        """Log the spool's trouble once when it starts and once when it ends."""
        if trouble == self._spool_trouble:
            return
        if trouble is not None and self._spool_trouble is None:
            self._dropped_at_spool_trouble = self._dropped
            # Records wait in memory, then are dropped (counted); Asterisk's
            # queue_log still has their calls.
            log.error(
                "journal.spool_trouble",
                extra={"path": self._label, "spool": str(self._spool_file), "trouble": trouble},
            )
        elif trouble is None:
            # Import Asterisk's queue_log to restore the dropped records' calls.
            log.warning(
                "journal.spool_ok",
                extra={
                    "path": self._label,
                    "spool": str(self._spool_file),
                    "dropped_meanwhile": self._dropped - self._dropped_at_spool_trouble,
                    "recover_from": "queue_log",
                },
            )
        self._spool_trouble = trouble

    async def _replay(self) -> bool:
        """Write the next records of the spool into the file, or, when it has none,
        the next waiting batch; returns whether the file took them.

        Leaves spooling once the spool is replayed (and emptied).
        """
        spool = self._spool
        if spool is None or not spool.unreplayed:
            if self._spool_trouble is not None and self._pending:
                # Nothing in the spool (it cannot be written): try the file directly.
                n = min(self._batch_size, len(self._pending))
                batch = [self._pending.popleft() for _ in range(n)]
                done = await self._write_batch(batch)
                self._pending.extendleft(reversed(batch[done:]))
                if done < len(batch):
                    return False
            self._spooling = False
            return True
        try:
            chunk = await asyncio.to_thread(spool.peek, _REPLAY_BATCH)
        except OSError as err:
            self._spool_state(f"cannot be read ({err})")
            return False
        done = await self._apply_spooled(spool.generation, chunk)
        spool.replayed(chunk[:done])
        if done < len(chunk):
            return False
        if not spool.unreplayed:
            try:
                await asyncio.to_thread(spool.reset)
            except OSError as err:
                # Its records are marked replayed in the file: they are never
                # replayed twice, whatever stays in it.
                log.warning(
                    "journal.spool_reset_failed", extra={"path": self._label, "error": str(err)}
                )
            else:
                self._spool_state(None)
            self._spooling = False
            # Records go to the file again.
            log.info(
                "journal.spool_replayed", extra={"path": self._label, "spooled": self._spooled}
            )
        return True

    async def _apply_spooled(self, generation: str, chunk: list[Spooled]) -> int:
        """Commit spooled records with the spool's mark, in one transaction; returns how many
        are done (as :meth:`_write_batch`)."""
        if not chunk or self._file_gone():
            return 0
        mark = f"{generation}:{chunk[-1].seq}"
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
            await _handing_over_the_gil(
                self._conn.execute(rows.APPLY_BATCH, (rows.batch(r.encoded for r in chunk),))
            )
            await self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_SPOOL_MARK, mark),
            )
            await self._conn.execute("COMMIT")
        except sqlite3.Error as err:
            await self._rollback()
            if self._count_failure(err) != "record":
                return 0
            if len(chunk) == 1:
                # Refused for itself: counted, and passed over (its mark alone).
                self._failed += 1
                self._warn("failed", "journal.record_failed", error=str(err), failed=self._failed)
                return 1 if await self._apply_mark(mark) else 0
            for i, one in enumerate(chunk):
                if not await self._apply_spooled(generation, [one]):
                    return i
            return len(chunk)
        self._transactions += 1
        self._written += len(chunk)
        self._set_healthy(True, None)
        return len(chunk)

    async def _apply_mark(self, mark: str) -> bool:
        try:
            await self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_SPOOL_MARK, mark),
            )
        except sqlite3.Error as err:
            self._count_failure(err)
            return False
        return True

    # --- failures -----------------------------------------------------------------------

    def _count_failure(self, err: sqlite3.Error) -> str:
        reason = failure_reason(err)
        self._failures[reason] = self._failures.get(reason, 0) + 1
        if reason != "record":
            self._set_healthy(False, err)
        return reason

    def _file_gone(self) -> bool:
        """Whether the journal file was removed or replaced since it was opened (counted)."""
        if self._identity is None or _identity(self._path) == self._identity:
            return False
        self._failures["removed"] = self._failures.get("removed", 0) + 1
        self._set_healthy(False, "the journal file was removed or replaced")
        return True

    def _set_healthy(self, healthy: bool, err: sqlite3.Error | str | None) -> None:
        """Log the journal file's state once per change, not once per record."""
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if healthy:
            log.warning("journal.writable", extra={"path": self._label})
        else:
            # Records go to the spool until the file takes writes again.
            log.error(
                "journal.unwritable",
                extra={"path": self._label, "error": str(err), "spool": str(self._spool_file)},
            )

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


def _identity(path: str | PathLike[str]) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


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
        # No memory-mapped reads of the file either: a page read from a
        # mapping of a file cut short under it is a SIGBUS, not an error.
        await conn.execute("PRAGMA mmap_size=0")
        async with conn.execute("PRAGMA journal_mode=WAL") as cur:
            row = await cur.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            log.warning("journal.wal_unavailable", extra={"path": label, "mode": row and row[0]})
        # FULL: in WAL mode one fsync of the log per commit, so a committed
        # batch survives a power cut too (NORMAL could lose the last ones).
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    except sqlite3.DatabaseError as err:
        if failure_reason(err) == "locked":
            raise JournalInUse(
                f"{label}: the journal is in use by another process (a running lotse run?)"
            ) from err
        raise JournalError(f"{label}: not a lotse journal ({err})") from err


async def check(conn: aiosqlite.Connection, label: str, limit_s: float = CHECK_S) -> None:
    """Refuse a damaged journal file (``PRAGMA quick_check``), reading it for at most ``limit_s``.

    A file cut short (a torn last page) opens and even takes writes, and
    ``lotse report`` fails on it later as "malformed": better refused at
    start, with the way out (``lotse journal repair``). A file too big to
    check within ``limit_s`` is checked that far; the log says so.
    Raises :class:`JournalError`.
    """
    deadline = time.monotonic() + limit_s

    def past_deadline() -> int:
        return int(time.monotonic() > deadline)

    await conn.set_progress_handler(past_deadline, 1000)
    try:
        async with conn.execute("PRAGMA quick_check(10)") as cur:
            found = [str(r[0]) for r in await cur.fetchall()]
    except sqlite3.OperationalError as err:
        if "interrupt" not in str(err):
            found = [str(err)]
        else:
            # A big file: the part read is sound.
            log.warning("journal.check_stopped", extra={"path": label, "after_s": limit_s})
            found = ["ok"]
    except sqlite3.DatabaseError as err:
        found = [str(err)]
    finally:
        await conn.set_progress_handler(None, 1000)  # type: ignore[arg-type]
    if found != ["ok"]:
        # One line: SQLite heads its findings "*** in database main ***" + newline.
        found = [" ".join(f.replace("*** in database main ***", "").split()) for f in found]
        more = f" and {len(found) - 1} more problems" if len(found) > 1 else ""
        raise JournalError(
            f"{label}: the journal file is damaged ({found[0]}{more}); "
            f"save what can be saved with: lotse journal repair {label}"
        )


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


# The writer thread's nice value above the event loop's (see _lower_writer_priority).
_WRITER_NICE = 5


def _lower_writer_priority(conn: aiosqlite.Connection, label: str) -> None:
    """Give the connection's worker thread (where SQLite works) a lower, not an idle, priority.

    A routing decision is a caller waiting, a journal write is not: on a
    busy core the event loop should come first. But not at ``SCHED_IDLE``
    (as before): there the writer ran only when a core had nothing else to
    do, and with the PBX or a load generator beside the controller that was
    seldom: the journal lagged 3–13 s at 20–78 calls/s with CPU to spare, and
    a kill -9 lost every record of those seconds. At nice 5 the scheduler
    still gives the writer about a quarter of a contended core, far more
    than the few percent it needs at 100 calls/s, so the lag stays within the
    flush interval; the event loop keeps three times its weight.
    """
    # aiosqlite runs each connection on a thread of its own; no public name for it.
    thread = getattr(conn, "_thread", None)
    tid = getattr(thread, "native_id", None)
    if tid is None or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, 0) + _WRITER_NICE)
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
