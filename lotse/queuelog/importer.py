"""Merging queue_log journeys into the journal: every call once, every fact once.

A journey's records are matched against the journal's events of the same
call id, by kind and center (:data:`~lotse.queuelog.journeys.Key`): the
journey's n-th ``queued`` at Bremen is already there when the journal holds
at least n ``queued`` events at Bremen for that call — whether the
controller wrote them from AMI or an earlier import did. Only the records
not yet there are written, in one transaction with the reading. So:

* importing the same file twice imports nothing the second time;
* a call the controller followed over AMI gets nothing twice (its row is not
  doubled, its waits not added again);
* a call the controller lost sight of (AMI cut, controller killed) gets what
  it missed: an answer, an abandon, its end. A row a reconcile closed with
  outcome ``unknown`` becomes an ordinary answered or abandoned call (the
  journal clears ``unknown`` on an answer or abandon), with the end time the
  queue_log tells;
* a call the journal does not know at all (routed by the static fallback
  while the controller was down) is created with its arrival (Ortsnetz
  prefix and keyed hash, never the number), its home, and source
  ``queue_log``;
* the static fallback's own lines (``LOTSEFALLBACK``, ``LOTSEANNOUNCE``) mark
  the call ``fallback`` and announced, once, whether the controller heard
  its UserEvent, adopted it alive at a reconcile, or never saw it.

Every call the import touched gets an ``Imported`` event and ``source =
'queue_log'``. Calls older than the journal's retention are not imported:
the next purge would delete them again, and the next import bring them back.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import aiosqlite

from lotse.journal import rows
from lotse.journal.records import FallbackUsed, Imported, Record
from lotse.journal.schema import JournalError
from lotse.journal.store import Journal
from lotse.queuelog.journeys import SOURCE, Journey, Key

# Calls per transaction: bounds the IN (...) lists and how long the journal's
# writer waits for one.
BATCH_CALLS = 200

_KINDS = ("queued", "answered", "abandoned", "spilled", "ended", "fallback", "decided")


@dataclass(slots=True)
class ImportResult:
    """What an import did, per call: ``imported`` (new, or completed), ``skipped``.

    ``new_calls`` are the homes of the calls the journal did not know at all
    (one entry per call): the calls the controller never saw. ``fallback``
    are (call id, home) of the static fallback's calls whose journal rows had
    no fallback event before: counted now (:class:`~lotse.fallbackbook.FallbackBook`).
    """

    imported: int = 0
    skipped: int = 0
    new_calls: list[str] = field(default_factory=list)
    fallback: list[tuple[str, str | None]] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        """Add ``other``'s counts to these."""
        self.imported += other.imported
        self.skipped += other.skipped
        self.new_calls.extend(other.new_calls)
        self.fallback.extend(other.fallback)


async def import_journeys(
    journal: Journal, journeys: Sequence[Journey], *, not_before: datetime
) -> ImportResult:
    """Merge ``journeys`` into ``journal``, but for those that began before ``not_before``."""
    result = ImportResult()
    keep: list[Journey] = []
    for journey in journeys:
        first = journey.first_at
        if first is None or first < not_before:
            result.skipped += 1
        else:
            keep.append(journey)
    for start in range(0, len(keep), BATCH_CALLS):
        part = keep[start : start + BATCH_CALLS]
        result.add(await journal.exclusive(functools.partial(_merge, journeys=part)))
    return result


async def _merge(conn: aiosqlite.Connection, *, journeys: Sequence[Journey]) -> ImportResult:
    result = ImportResult()
    ids = [j.call_id for j in journeys]
    marks = ",".join("?" * len(ids))
    try:
        await conn.execute("BEGIN IMMEDIATE")
        known = {
            str(r[0])
            for r in await conn.execute_fetchall(
                f"SELECT call_id FROM calls WHERE call_id IN ({marks})", ids
            )
        }
        have: Counter[tuple[str, str, str | None]] = Counter()
        kinds = ",".join("?" * len(_KINDS))
        for call_id, kind, center, n in await conn.execute_fetchall(
            f"SELECT call_id, kind, center, count(*) FROM call_events "
            f"WHERE call_id IN ({marks}) AND kind IN ({kinds}) GROUP BY call_id, kind, center",
            [*ids, *_KINDS],
        ):
            have[(str(call_id), str(kind), center)] = int(n)
        counted = {cid for cid, kind, _center in have if kind == "fallback"}
        encoded: list[str] = []
        for journey in journeys:
            records = _missing(journey, have, journey.call_id in known)
            if not records:
                result.skipped += 1
                continue
            result.imported += 1
            if journey.call_id not in known and journey.home is not None:
                result.new_calls.append(journey.home)
            used = next((r for r in records if isinstance(r, FallbackUsed)), None)
            if used is not None and journey.call_id not in counted:
                result.fallback.append((journey.call_id, used.center))
            encoded.extend(rows.encode(rec) for rec in records)
        if encoded:
            await conn.execute(rows.APPLY_BATCH, (rows.batch(encoded),))
        await conn.execute("COMMIT")
    except (sqlite3.Error, ValueError, TypeError) as err:
        await _rollback(conn)
        raise JournalError(f"importing the queue_log into the journal failed: {err}") from err
    except BaseException:
        # Cancelled (the controller stops): never leave the journal's connection
        # inside this transaction, or the writer's next batches would join it.
        await _rollback(conn)
        raise
    return result


async def _rollback(conn: aiosqlite.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            await conn.execute("ROLLBACK")


def _missing(
    journey: Journey, have: Counter[tuple[str, str, str | None]], known: bool
) -> list[Record]:
    """The journey's records the journal lacks, behind what makes the call known."""
    seen: Counter[Key] = Counter()
    missing: list[Record] = []
    for fact in journey.facts:
        seen[fact.key] += 1
        kind, center = fact.key
        if seen[fact.key] > have[(journey.call_id, kind, center)]:
            missing.append(fact.record)
    if not missing:
        return []
    first = min(rec.at for rec in missing)
    head: list[Record] = []
    if not known:
        if journey.arrived is not None:
            head.append(journey.arrived)
            first = min(first, journey.arrived.at)
        head.append(Imported(journey.call_id, first, SOURCE, journey.home))
    else:
        head.append(Imported(journey.call_id, first, SOURCE, None))
    return head + missing
