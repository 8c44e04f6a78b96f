"""The journal's spool: an append-only file beside the journal for records it cannot take now.

When the journal file cannot be written (disk full, an unwritable or
immutable file, an I/O error) or falls behind, the journal's writer appends
its records here instead, fsyncing once per batch, and replays them into the
journal file, in order, once it takes writes again (:mod:`lotse.journal.store`).
A record is dropped only when this file has reached its size limit.

The file (``<journal>-spool``)::

    header: MAGIC, then 16 random bytes naming this generation of the spool
    frame:  length (4 bytes), CRC-32 (4), sequence number (8), recorded at
            (8, float seconds since the epoch), then ``length`` bytes of the
            record's batch row (:func:`lotse.journal.rows.encode`, UTF-8)

Integers are big-endian; the CRC covers sequence number, time and row. A crash
can tear only the last frame (frames are appended and fsynced in order): at
open, a frame that is short or whose CRC does not match ends the file, and the
file is cut back to the frame before it. Which records were replayed is kept
in the journal file itself (``meta``: generation and sequence number, written
in the same transaction as the records), so a crash between replaying and
emptying the spool replays nothing twice. Once every record is replayed the
file is emptied and starts a new generation.

Blocking: call from a worker thread, one call at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"LOTSE-JOURNAL-SPOOL 1\n"
_GEN_BYTES = 16
HEADER_BYTES = len(MAGIC) + _GEN_BYTES
_FRAME = struct.Struct(">IIQd")
# No batch row comes near this; a length above it is a torn or foreign frame.
_MAX_ROW_BYTES = 1 << 20
DEFAULT_MAX_BYTES = 64 << 20


def spool_path(journal: str | PathLike[str]) -> Path:
    """Where the spool of the journal at ``journal`` lives."""
    return Path(f"{os.fspath(journal)}-spool")


@dataclass(frozen=True, slots=True)
class Spooled:
    """One spooled record: its number in this generation, when it was recorded, its row."""

    seq: int
    since: float
    encoded: str


class Spool:
    """An open spool file. Create with :meth:`open`."""

    def __init__(self, path: Path, fd: int, generation: str, max_bytes: int) -> None:
        self.path = path
        self._fd = fd
        self.generation = generation
        self._max_bytes = max_bytes
        self._size = HEADER_BYTES
        self._next_seq = 1
        # Where the first record not yet replayed starts, and what it is.
        self._read_pos = HEADER_BYTES
        self._read_seq = 1
        self._unreplayed = 0
        self._oldest: float | None = None

    @classmethod
    def open(cls, path: str | PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> Spool:
        """Open (creating) the spool at ``path``; a torn last frame is cut off.

        Raises ``OSError`` when the file cannot be opened or read.
        """
        if max_bytes <= HEADER_BYTES:
            raise ValueError("the spool's limit must leave room for records")
        p = Path(path)
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            head = os.pread(fd, HEADER_BYTES, 0)
            if len(head) == HEADER_BYTES and head.startswith(MAGIC):
                spool = cls(p, fd, head[len(MAGIC) :].hex(), max_bytes)
                spool._scan()
            else:
                if head:
                    log.warning("journal.spool_header_missing", extra={"spool": str(p)})
                spool = cls(p, fd, "", max_bytes)
                spool.reset()
        except BaseException:
            os.close(fd)
            raise
        return spool

    def _scan(self) -> None:
        """Find the frames, cut a torn tail off."""
        pos, count, last_seq = HEADER_BYTES, 0, 0
        end = os.fstat(self._fd).st_size
        while pos < end:
            frame = _read_frame(self._fd, pos)
            if frame is None:
                break
            seq, _since, _row, size = frame
            pos += size
            count += 1
            last_seq = seq
        if pos < end:
            log.warning(
                "journal.spool_torn_record", extra={"spool": str(self.path), "cut_bytes": end - pos}
            )
            os.ftruncate(self._fd, pos)
            os.fsync(self._fd)
        self._size = pos
        self._next_seq = last_seq + 1
        self._unreplayed = count
        self._read_pos, self._read_seq = HEADER_BYTES, 1 if count else self._next_seq
        self._oldest = self._since_at(self._read_pos)

    def skip_replayed(self, generation: str, seq: int) -> int:
        """Pass over the records the journal says it has (its mark ``generation:seq``).

        Returns how many were passed over; none when the mark is of another generation.
        """
        if generation != self.generation:
            return 0
        skipped = 0
        while self._unreplayed and self._read_seq <= seq:
            frame = _read_frame(self._fd, self._read_pos)
            if frame is None:
                break
            self._advance(frame[0], frame[3])
            skipped += 1
        return skipped

    @property
    def unreplayed(self) -> int:
        """Records in the file not yet replayed into the journal."""
        return self._unreplayed

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return self._size

    def oldest_since(self) -> float | None:
        """When the oldest record not yet replayed was recorded (epoch seconds)."""
        return self._oldest

    def append(self, records: Sequence[tuple[float, str]]) -> int:
        """Append ``(recorded at, row)`` records and fsync once; returns how many fit.

        Records beyond the size limit are not written (the caller counts them
        as dropped). Raises ``OSError`` when the file cannot be written; then
        none of them counts as spooled (a part may be in the file: it is cut
        off again before the next append).
        """
        frames: list[bytes] = []
        size, seq = self._size, self._next_seq
        for since, encoded in records:
            row = encoded.encode("utf-8")
            frame = _frame(seq, since, row)
            if size + len(frame) > self._max_bytes:
                break
            frames.append(frame)
            size += len(frame)
            seq += 1
        if not frames:
            return 0
        data = b"".join(frames)
        try:
            written = os.pwrite(self._fd, data, self._size)
            if written != len(data):
                raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes)")
            os.fsync(self._fd)
        except OSError:
            # Whatever reached the file is no record: cut it off (best effort;
            # a torn tail is cut at the next open anyway).
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        if not self._unreplayed:
            self._oldest = records[0][0]
            self._read_pos, self._read_seq = self._size, self._next_seq
        self._size = size
        self._next_seq = seq
        self._unreplayed += len(frames)
        return len(frames)

    def peek(self, limit: int) -> list[Spooled]:
        """Up to ``limit`` records not yet replayed, oldest first (the file is unchanged)."""
        found: list[Spooled] = []
        pos = self._read_pos
        while len(found) < min(limit, self._unreplayed):
            frame = _read_frame(self._fd, pos)
            if frame is None:
                raise OSError(f"{self.path}: record {self._read_seq + len(found)} is unreadable")
            seq, since, row, size = frame
            found.append(Spooled(seq, since, row.decode("utf-8")))
            pos += size
        return found

    def replayed(self, records: Sequence[Spooled]) -> None:
        """``records`` (the first of :meth:`peek`) are in the journal now."""
        for rec in records:
            frame_size = _FRAME.size + len(rec.encoded.encode("utf-8"))
            self._advance(rec.seq, frame_size)

    def _advance(self, seq: int, frame_size: int) -> None:
        self._read_pos += frame_size
        self._read_seq = seq + 1
        self._unreplayed -= 1
        self._oldest = self._since_at(self._read_pos) if self._unreplayed else None

    def _since_at(self, pos: int) -> float | None:
        head = os.pread(self._fd, _FRAME.size, pos)
        if len(head) < _FRAME.size:
            return None
        return float(_FRAME.unpack(head)[3])

    def reset(self) -> None:
        """Empty the file and start a new generation (every record was replayed).

        Raises ``OSError`` when the file cannot be written.
        """
        gen = secrets.token_bytes(_GEN_BYTES)
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, MAGIC + gen, 0)
        os.fsync(self._fd)
        self.generation = gen.hex()
        self._size = HEADER_BYTES
        self._next_seq = 1
        self._read_pos, self._read_seq = HEADER_BYTES, 1
        self._unreplayed = 0
        self._oldest = None

    def close(self) -> None:
        """Close the file (its records stay for the next open)."""
        os.close(self._fd)


def _frame(seq: int, since: float, row: bytes) -> bytes:
    crc = zlib.crc32(struct.pack(">Qd", seq, since) + row)
    return _FRAME.pack(len(row), crc, seq, since) + row


def _read_frame(fd: int, pos: int) -> tuple[int, float, bytes, int] | None:
    """The frame at ``pos``: sequence number, time, row, size; ``None`` if short or torn."""
    head = os.pread(fd, _FRAME.size, pos)
    if len(head) < _FRAME.size:
        return None
    length, crc, seq, since = _FRAME.unpack(head)
    if length > _MAX_ROW_BYTES:
        return None
    row = os.pread(fd, length, pos + _FRAME.size)
    if len(row) < length or zlib.crc32(head[8:] + row) != crc:
        return None
    return seq, since, row, _FRAME.size + length
