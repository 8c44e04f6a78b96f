"""Following Asterisk's queue_log while ``lotse run`` runs: tail, rotation, import.

:class:`Tail` reads a file that grows by whole lines and is rotated under it:

* a line without its newline yet stays for the next read;
* **rotation** (the path names a new file, logrotate's ``create`` or
  Asterisk's ``logger rotate``): the old file is read to its end first, then
  the new one from its start;
* **truncation** (logrotate's ``copytruncate``: same file, now shorter than
  what was read): read again from the start;
* a missing file (Asterisk not started yet, between rotation and reopen) is
  waited for.

:class:`QueueLogFollower` reads the file from its start when the controller
starts — so whatever happened while the controller was down is imported,
relying on the import being idempotent rather than on a stored offset — and
then every ``poll_s`` what was added. A call's lines are imported once the
newest of them is :data:`~lotse.queuelog.journeys.READY_AFTER_S` old, after
the controller's own records of the same moments (see the importer). Reading
yields to the event loop every :data:`SLICE_BYTES`, so a long file read at
start never holds up a routing decision for more than a few milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import structlog

from ami.queuelog import Chunk, parse_chunk
from lotse.fallbackbook import FallbackBook
from lotse.journal.store import Journal
from lotse.queuelog.importer import ImportResult, import_journeys
from lotse.queuelog.journeys import READY_AFTER_S, Folder
from metrics.registry import LotseMetrics
from router.config import Config
from router.numbering import OrtsnetzTable

log = structlog.get_logger("lotse.queuelog")

# Real seconds a call's newest line waits after it was read before the call is
# imported. READY_AFTER_S is on the queue_log's clock, which may run much
# faster (the stand-in's compressed time); the controller's own AMI records
# of the same moments take real time to reach the journal (200 ms at most
# while it keeps up).
READ_GRACE_S = 3.0
# Bytes parsed between two yields to the event loop (about 1,000 lines).
SLICE_BYTES = 64 * 1024
POLL_S = 1.0


@dataclass(slots=True)
class _Seen:
    """Lines read: parsed, bad, of unknown events."""

    lines: int = 0
    bad: int = 0
    unknown: int = 0


class Tail:
    """Whole lines appended to the file at ``path``, across rotation and truncation.

    Not thread-safe; blocking reads of a local file, a slice at a time.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: BinaryIO | None = None
        self._inode: tuple[int, int] | None = None
        self._pos = 0
        self._rest = b""
        self.rotations = 0
        self.truncations = 0
        # Lines the old file never finished before it was rotated away.
        self.torn = 0

    @property
    def position(self) -> int:
        """Bytes of the current file consumed as whole lines."""
        return self._pos

    def close(self) -> None:
        """Close the file (a later read opens it again from the start)."""
        if self._file is not None:
            self._file.close()
        self._file, self._inode, self._pos, self._rest = None, None, 0, b""

    def read_slice(self) -> Chunk | None:
        """The lines of up to :data:`SLICE_BYTES` more; ``None`` when nothing is left."""
        while True:
            if self._file is None and not self._open():
                return None
            assert self._file is not None
            block = self._file.read(SLICE_BYTES)
            if block:
                data = self._rest + block
                chunk = parse_chunk(data)
                self._rest = data[chunk.consumed :]
                self._pos += chunk.consumed
                return chunk
            if not self._check_replaced():
                return None

    def _open(self) -> bool:
        try:
            f = self.path.open("rb")
        except OSError:
            return False
        st = os.fstat(f.fileno())
        self._file, self._inode, self._pos, self._rest = f, (st.st_dev, st.st_ino), 0, b""
        return True

    def _check_replaced(self) -> bool:
        """At the end of the open file: was it rotated away or truncated? True: read on."""
        assert self._file is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # rotated, the new file not there yet: keep the old one open
        if (st.st_dev, st.st_ino) != self._inode:
            # The old file is read to its end. A line it never finished will
            # not be finished: Asterisk writes on into the new file.
            torn = bool(self._rest)
            self.close()
            self.torn += torn
            self.rotations += 1
            return self._open()
        size = os.fstat(self._file.fileno()).st_size
        if size < self._pos + len(self._rest):
            self._file.seek(0)
            self._pos, self._rest = 0, b""
            self.truncations += 1
            return True
        return False


class QueueLogFollower:
    """Follows the queue_log and imports it into ``journal`` (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        config: Config,
        table: OrtsnetzTable,
        journal: Journal,
        *,
        wall_clock: Callable[[], datetime],
        mono_clock: Callable[[], float] = time.monotonic,
        metrics: LotseMetrics | None = None,
        poll_s: float = POLL_S,
        fallback_book: FallbackBook | None = None,
    ) -> None:
        self.tail = Tail(path)
        self._config = config
        self._journal = journal
        self._folder = Folder(config, table, journal.caller_hash)
        self._clock = wall_clock
        self._mono = mono_clock
        self._newest = 0
        self._newest_read = 0.0
        self._metrics = metrics
        # Shared with the call tracker: a fallback call is counted once.
        self._book = fallback_book
        if self._book is None and metrics is not None:
            self._book = FallbackBook(metrics.fallback_calls)
        self._poll_s = poll_s
        self._seen_file: bool | None = None
        self.total = ImportResult()
        self.lines = _Seen()

    @property
    def following(self) -> int:
        """Calls read but not yet imported to their end (lines too fresh, or still going on)."""
        return len(self._folder)

    async def run(self) -> None:
        """Follow until cancelled; an error of one round is logged and the next tries again."""
        log.info("queue_log.following", path=str(self.tail.path))
        try:
            while True:
                try:
                    await self.step()
                except Exception as exc:
                    # The journal may be busy or the file unreadable for a while.
                    log.warning("queue_log.import_failed", error=str(exc))
                await asyncio.sleep(self._poll_s)
        finally:
            self.tail.close()

    async def step(self) -> ImportResult:
        """Read what was added, import the calls that are ready; returns what was imported."""
        seen = _Seen()
        tail = self.tail
        rotations, truncations, torn = tail.rotations, tail.truncations, tail.torn
        while (chunk := tail.read_slice()) is not None:
            self._folder.add_all(chunk.lines, self._mono())
            seen.lines += len(chunk.lines)
            seen.bad += chunk.bad
            seen.unknown += chunk.unknown
            await asyncio.sleep(0)
        seen.bad += tail.torn - torn
        if self._folder.newest > self._newest:
            self._newest, self._newest_read = self._folder.newest, self._mono()
        self._note_file(self.tail.rotations - rotations, self.tail.truncations - truncations)
        now = self._clock()
        stamp = self._queue_log_now()
        self._folder.settle(stamp)
        ready = self._folder.take(
            ready_before=stamp - READY_AFTER_S, read_before=self._mono() - READ_GRACE_S
        )
        result = ImportResult()
        if ready:
            retention = timedelta(days=self._config.controller.journal_retention_days)
            result = await import_journeys(self._journal, ready, not_before=now - retention)
        self._count(seen, result)
        self.total.add(result)
        if result.imported:
            log.info(
                "queue_log.imported",
                calls=result.imported,
                unseen=len(result.new_calls),
                skipped=result.skipped,
            )
        return result

    def _queue_log_now(self) -> int:
        """The time on the queue_log's clock: its newest line, and how long ago that was read.

        Not the controller's wall clock: Asterisk may run on a host whose
        clock differs, and the stand-in on a compressed, shifted one. A
        call's lines are then imported, and a spill settled, after the same
        time on the clock the file was written with, never at once because
        the clocks disagree.
        """
        if not self._newest:
            return 0
        return self._newest + int(self._mono() - self._newest_read)

    def _note_file(self, rotated: int, truncated: int) -> None:
        present = self.tail.path.exists()
        if present != self._seen_file:
            self._seen_file = present
            if not present:
                log.warning("queue_log.missing", path=str(self.tail.path))
        if rotated:
            log.info("queue_log.rotated", path=str(self.tail.path))
        if truncated:
            log.info("queue_log.truncated", path=str(self.tail.path))

    def _count(self, seen: _Seen, result: ImportResult) -> None:
        self.lines.lines += seen.lines
        self.lines.bad += seen.bad
        self.lines.unknown += seen.unknown
        m = self._metrics
        if m is None:
            return
        m.queue_log_lines.labels("read").inc(seen.lines)
        m.queue_log_lines.labels("bad").inc(seen.bad)
        m.queue_log_lines.labels("unknown").inc(seen.unknown)
        m.queue_log_calls.labels("imported").inc(result.imported)
        m.queue_log_calls.labels("skipped").inc(result.skipped)
        if self._book is not None:
            for call_id, home in result.fallback:
                self._book.count(call_id, home)
