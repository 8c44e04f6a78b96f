"""Callback requests in the journal file: durable, private, dialled at most once at a time.

A request must outlive a controller restart and an AMI drop, so it lives in
the journal database (table ``callbacks``, schema 7) on a plain SQLite
connection of its own (as the overrides do): every change is committed
before the controller acts on it.

* **Never dialled twice at once.** An attempt is *marked* (``in_flight`` set,
  ``attempts`` counted) in one conditional UPDATE that only succeeds when no
  attempt is in flight, and only then dialled. After a crash, an attempt found
  in flight is resolved by the dialer (still alive in Asterisk: followed;
  gone: counted as a failed attempt and retried after the interval), never
  dialled again blindly.
* **Private.** The number is the only personal datum, needed for the call:
  it is stored encrypted under the current key of the ring
  (:mod:`lotse.journal.callbackkeys`), never logged, and deleted when the
  request ends (with ``secure_delete`` and a WAL checkpoint, so the file does
  not keep the ciphertext in free pages either). The row keeps the journal's
  Ortsnetz prefix and keyed hash, as calls do.
* **Never lost to a key change.** A request whose number no key of the ring
  opens is read as ``locked``: still listed, counted and cancellable, and
  :meth:`CallbackStore.rekey` seals every open number under the current key.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from typing import TypeVar

from lotse.journal.callbackkeys import CallbackKeyError, KeyRing, NumberCipher
from lotse.journal.privacy import caller_hash
from lotse.journal.rows import timestamp
from lotse.journal.sidetable import SideTable, connect_side_table
from router.callback import Request
from router.callbacknumber import CallbackNumber

__all__ = ["CallbackKeyError", "CallbackStore", "NumberCipher", "RekeyResult", "StoredRequest"]

_T = TypeVar("_T")
_BUSY_TIMEOUT_S = 5.0
_COLUMNS = (
    "id, center, call_id, requested_at, entered_s, deadline_s, ortsnetz_prefix, caller_hash, "
    "attempts, not_before_s, in_flight"
)


@dataclass(frozen=True)
class StoredRequest:
    """An open request as stored (no number: that is read only to dial)."""

    id: str
    center: str
    call_id: str | None
    requested_at: datetime
    entered_s: float
    deadline_s: float
    ortsnetz_prefix: str | None
    caller_hash: str | None
    attempts: int
    not_before_s: float
    in_flight: str | None
    # No key of the ring opens its number: never dialled, kept until cancelled.
    locked: bool = False

    def for_scheduler(self) -> Request:
        """The request as :func:`router.callback.startable` sees it."""
        return Request(
            id=self.id,
            center=self.center,
            entered_s=self.entered_s,
            deadline_s=self.deadline_s,
            attempts=self.attempts,
            not_before_s=self.not_before_s,
            in_progress=self.in_flight is not None,
        )


@dataclass(frozen=True)
class RekeyResult:
    """What ``rekey`` did to the open requests' numbers (counts only)."""

    resealed: int
    current: int
    locked: tuple[str, ...]  # the ids of the requests no key opens


def _row(values: tuple[object, ...], locked: bool = False) -> StoredRequest:
    rid, center, call_id, at, entered, deadline, prefix, chash, attempts, nb, flight = values
    return StoredRequest(
        id=str(rid),
        center=str(center),
        call_id=None if call_id is None else str(call_id),
        requested_at=datetime.fromisoformat(str(at).removesuffix("Z")).replace(tzinfo=UTC),
        entered_s=float(entered),  # type: ignore[arg-type]
        deadline_s=float(deadline),  # type: ignore[arg-type]
        ortsnetz_prefix=None if prefix is None else str(prefix),
        caller_hash=None if chash is None else str(chash),
        attempts=int(attempts),  # type: ignore[call-overload]
        not_before_s=float(nb),  # type: ignore[arg-type]
        in_flight=None if flight is None else str(flight),
        locked=locked,
    )


class CallbackStore(SideTable):
    """The ``callbacks`` table of one (opened and migrated) journal file."""

    def __init__(
        self, conn: sqlite3.Connection, label: str, keys: KeyRing | NumberCipher, hash_key: bytes
    ) -> None:
        super().__init__(conn, label)
        self._keys = keys if isinstance(keys, KeyRing) else KeyRing(keys)
        self._hash_key = hash_key
        # (id, token) -> opens: the ring is fixed for the process, so a token
        # is tried once, not on every look at the open requests.
        self._opens: dict[tuple[str, bytes | None], bool] = {}

    @classmethod
    async def open(
        cls, path: str | PathLike[str], keys: KeyRing | NumberCipher, hash_key: bytes
    ) -> CallbackStore:
        """Open the table in the journal at ``path`` (opened, so migrated, before)."""
        # Freed cells are zeroed: an ended request leaves no ciphertext behind.
        conn = await connect_side_table(
            path, "callbacks", "the callback requests", pragmas=("secure_delete = ON",)
        )
        return cls(conn, str(path), keys, hash_key)

    @property
    def can_seal(self) -> bool:
        """True if new requests can be stored (there is a current key)."""
        return self._keys.can_seal

    async def add(
        self,
        request_id: str,
        center: str,
        number: CallbackNumber,
        *,
        entered_s: float,
        deadline_s: float,
        at: datetime,
        call_id: str | None = None,
        ortsnetz_prefix: str | None = None,
    ) -> StoredRequest:
        """Store a new request; committed when this returns."""
        token = self._keys.seal(number, request_id)
        chash = caller_hash(number.national, self._hash_key)
        stamp = timestamp(at)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO callbacks (id, center, call_id, requested_at, entered_s, "
                "deadline_s, ortsnetz_prefix, caller_hash, number_enc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request_id,
                    center,
                    call_id,
                    stamp,
                    entered_s,
                    deadline_s,
                    ortsnetz_prefix,
                    chash,
                    token,
                ),
            )

        await self._run(write, "storing the callback request")
        return StoredRequest(
            request_id,
            center,
            call_id,
            datetime.fromisoformat(stamp.removesuffix("Z")).replace(tzinfo=UTC),
            entered_s,
            deadline_s,
            ortsnetz_prefix,
            chash,
            0,
            0.0,
            None,
        )

    async def open_requests(self) -> list[StoredRequest]:
        """Every request not yet ended, oldest queue entry first."""

        def read(conn: sqlite3.Connection) -> list[StoredRequest]:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, number_enc FROM callbacks WHERE outcome IS NULL "
                "ORDER BY entered_s, id"
            ).fetchall()
            opens: dict[tuple[str, bytes | None], bool] = {}
            found = []
            for r in rows:
                rid, token = str(r[0]), None if r[-1] is None else bytes(r[-1])
                key = (rid, token)
                ok = self._opens.get(key)
                if ok is None:
                    ok = self._keys.opener(token, rid) is not None
                opens[key] = ok
                found.append(_row(tuple(r[:-1]), locked=not ok))
            self._opens = opens
            return found

        return await self._run(read, "reading the callback requests")

    async def mark_attempt(self, request_id: str, attempt_id: str) -> bool:
        """Mark an attempt in flight before dialling; False if one already is
        (or the request ended): then nothing may be dialled."""

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE callbacks SET in_flight = ?, attempts = attempts + 1 "
                "WHERE id = ? AND in_flight IS NULL AND outcome IS NULL",
                (attempt_id, request_id),
            )
            return cur.rowcount == 1

        return await self._run(write, "marking a callback attempt")

    async def number(self, request_id: str) -> CallbackNumber:
        """The number to dial (decrypted in memory only, for the dialer)."""

        def read(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT number_enc FROM callbacks WHERE id = ? AND outcome IS NULL", (request_id,)
            ).fetchone()
            return None if row is None or row[0] is None else bytes(row[0])

        token = await self._run(read, "reading a callback number")
        if token is None:
            raise KeyError(request_id)
        return self._keys.open(token, request_id)

    async def unanswered(self, request_id: str, attempt_id: str, not_before_s: float) -> bool:
        """The attempt ``attempt_id`` ended without the caller: retry after ``not_before_s``."""

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE callbacks SET in_flight = NULL, not_before_s = ? "
                "WHERE id = ? AND in_flight = ? AND outcome IS NULL",
                (not_before_s, request_id, attempt_id),
            )
            return cur.rowcount == 1

        return await self._run(write, "recording an unanswered callback attempt")

    async def end(self, request_id: str, outcome: str, at: datetime) -> bool:
        """End the request with ``outcome`` and delete its number for good."""

        def write(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE callbacks SET outcome = ?, ended_at = ?, in_flight = NULL, "
                "number_enc = NULL WHERE id = ? AND outcome IS NULL",
                (outcome, timestamp(at), request_id),
            )
            if cur.rowcount == 1:
                # The old page images in the WAL still hold the ciphertext until then.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return cur.rowcount == 1

        return await self._run(write, "ending a callback request")

    async def outcomes(self) -> dict[str, int]:
        """Ended requests per outcome (for the report)."""

        def read(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT outcome, count(*) FROM callbacks WHERE outcome IS NOT NULL GROUP BY outcome"
            ).fetchall()
            return {str(o): int(n) for o, n in rows}

        return await self._run(read, "counting callback outcomes")

    async def rekey(self) -> RekeyResult:
        """Seal every open request's number under the current key again.

        A number under an older key is opened and sealed anew in one
        conditional UPDATE (only if the row is still open and unchanged, so a
        running controller may go on meanwhile); one no key opens stays as it
        is (``locked``). The old ciphertext is zeroed (``secure_delete``) and
        checkpointed out of the WAL.
        """
        keys = self._keys
        if not keys.can_seal:
            raise CallbackKeyError("no current callback key to seal the numbers under")

        def work(conn: sqlite3.Connection) -> RekeyResult:
            rows = conn.execute(
                "SELECT id, number_enc FROM callbacks WHERE outcome IS NULL ORDER BY entered_s, id"
            ).fetchall()
            resealed = current = 0
            locked = []
            for rid, raw in rows:
                token = None if raw is None else bytes(raw)
                opener = keys.opener(token, str(rid))
                if opener is None or token is None:
                    locked.append(str(rid))
                    continue
                if opener == 0:
                    current += 1
                    continue
                fresh = keys.seal(keys.open(token, str(rid)), str(rid))
                cur = conn.execute(
                    "UPDATE callbacks SET number_enc = ? "
                    "WHERE id = ? AND number_enc = ? AND outcome IS NULL",
                    (fresh, rid, token),
                )
                resealed += cur.rowcount
            if resealed:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return RekeyResult(resealed, current, tuple(locked))

        return await self._run(work, "sealing the callback numbers under the current key")
