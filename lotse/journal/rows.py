"""How a journal record becomes rows: one upsert of ``calls``, one ``call_events`` insert.

Every record kind is expressed as the same row of values (:data:`FIELDS`), so
a whole batch is one statement, and so one transaction (:data:`APPLY_BATCH`).
Its rows apply in order, which the upsert relies on (a spill's wait must be
added before the answer's). Per column the rule is:

* facts about the caller and the final outcome: the newest non-NULL value;
* ``home``: the first non-NULL value (spills do not move a call's home);
* ``arrived_at``: the earliest time seen;
* ``source``: the first non-NULL value (``queue_log`` once anything was
  imported from Asterisk's queue_log);
* ``outcome``: set by a ``Closed`` record, cleared by a later answer or
  abandon (what happened became known);
* flags (queued, abandoned, offhours, overflowed …): once set, stay set;
* ``wait_s``: the caller's whole wait in queues — the waits of the queues
  the call spilled from plus the wait in the queue where it was answered or
  abandoned.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from lotse.journal.records import (
    Abandoned,
    Answered,
    CallArrived,
    Closed,
    Decided,
    Ended,
    FallbackUsed,
    Imported,
    QueueJoined,
    Record,
    Spilled,
)
from router.policy import Action

# The values one record contributes, in the order of a batch row. The first
# names are the upsert's; ``kind``, ``center`` and ``detail`` only the event's.
FIELDS: tuple[str, ...] = (
    "call_id", "at", "ortsnetz_prefix", "caller_hash", "number_kind", "dialed_ortsnetz",
    "home", "final_center", "joined_center", "queued", "answered_center", "answered_at",
    "wait_s", "spill_wait_s", "talk_s", "abandoned", "offhours", "overflowed", "hop",
    "hop_inc", "announced", "fallback", "stale", "ended_at", "ended_cause", "outcome",
    "source", "kind", "center", "detail",
)  # fmt: skip
_INDEX = {name: i for i, name in enumerate(FIELDS)}
_KIND, _CENTER, _DETAIL = _INDEX["kind"], _INDEX["center"], _INDEX["detail"]

# A batch is one statement with one parameter, the JSON text of its rows: they
# go into a view whose INSTEAD OF trigger applies each, in order, to both
# tables. So the journal's writer thread holds the GIL only for a moment per
# batch, and SQLite does the rest without it. Binding values row by row
# (``executemany``, or many ``?``) holds it for about 10 us a record, and each
# time the writer is preempted while holding it the event loop stands still
# (measured with bench/agi.py: p90 latency 4 ms instead of 1.7 ms).
# The view and trigger are TEMP: per connection, never part of the schema.
APPLY_VIEW = "CREATE TEMP VIEW IF NOT EXISTS journal_apply AS SELECT " + ", ".join(
    f"NULL AS {name}" for name in FIELDS
)

APPLY_TRIGGER = """
CREATE TEMP TRIGGER IF NOT EXISTS journal_apply_row
INSTEAD OF INSERT ON journal_apply
BEGIN
INSERT INTO calls (
    call_id, arrived_at, ortsnetz_prefix, caller_hash, number_kind, dialed_ortsnetz,
    home, final_center, queued, answered_center, answered_at, wait_s, spilled_wait_s,
    talk_s, abandoned, offhours, overflowed, hops, announced, fallback, stale,
    ended_at, ended_cause, outcome, source
) VALUES (
    NEW.call_id, NEW.at, NEW.ortsnetz_prefix, NEW.caller_hash, NEW.number_kind,
    NEW.dialed_ortsnetz, NEW.home, NEW.final_center, NEW.queued, NEW.answered_center,
    NEW.answered_at, NEW.wait_s, NEW.spill_wait_s, NEW.talk_s, NEW.abandoned, NEW.offhours,
    NEW.overflowed, MAX(NEW.hop, NEW.hop_inc), NEW.announced, NEW.fallback, NEW.stale,
    NEW.ended_at, NEW.ended_cause, NEW.outcome, NEW.source
)
ON CONFLICT (call_id) DO UPDATE SET
    arrived_at = MIN(arrived_at, excluded.arrived_at),
    ortsnetz_prefix = COALESCE(excluded.ortsnetz_prefix, ortsnetz_prefix),
    caller_hash = COALESCE(excluded.caller_hash, caller_hash),
    number_kind = COALESCE(excluded.number_kind, number_kind),
    dialed_ortsnetz = COALESCE(excluded.dialed_ortsnetz, dialed_ortsnetz),
    home = COALESCE(home, excluded.home),
    final_center = COALESCE(excluded.final_center, final_center),
    queued = MAX(queued, excluded.queued),
    answered_center = COALESCE(excluded.answered_center, answered_center),
    answered_at = COALESCE(excluded.answered_at, answered_at),
    wait_s = CASE WHEN excluded.wait_s IS NULL THEN wait_s
                  ELSE spilled_wait_s + excluded.wait_s END,
    spilled_wait_s = spilled_wait_s + excluded.spilled_wait_s,
    talk_s = COALESCE(excluded.talk_s, talk_s),
    abandoned = MAX(abandoned, excluded.abandoned),
    offhours = MAX(offhours, excluded.offhours),
    overflowed = MAX(
        overflowed,
        excluded.overflowed,
        NEW.joined_center IS NOT NULL AND home IS NOT NULL AND NEW.joined_center != home
    ),
    hops = MAX(hops + NEW.hop_inc, NEW.hop),
    announced = MAX(announced, excluded.announced),
    fallback = MAX(fallback, excluded.fallback),
    stale = MAX(stale, excluded.stale),
    ended_at = COALESCE(excluded.ended_at, ended_at),
    ended_cause = COALESCE(excluded.ended_cause, ended_cause),
    source = COALESCE(source, excluded.source),
    outcome = CASE
        WHEN excluded.outcome IS NOT NULL THEN excluded.outcome
        WHEN excluded.answered_center IS NOT NULL OR excluded.abandoned THEN NULL
        ELSE outcome END;
INSERT INTO call_events (call_id, seq, at, kind, center, detail)
VALUES (
    NEW.call_id,
    (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_events WHERE call_id = NEW.call_id),
    NEW.at, NEW.kind, NEW.center, NEW.detail
);
END
"""

# ``?``: a JSON array of batch rows (:func:`batch`). ``key`` is the row's index:
# rows apply in the order they were recorded.
APPLY_BATCH = (
    "INSERT INTO journal_apply SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(FIELDS)))
    + " FROM json_each(?) ORDER BY key"
)

_BLANK: tuple[Any, ...] = tuple(
    0 if name in ("queued", "abandoned", "offhours", "overflowed", "hop", "hop_inc",
                  "announced", "fallback", "stale")
    else 0.0 if name == "spill_wait_s"
    else None
    for name in FIELDS
)  # fmt: skip


def timestamp(at: datetime) -> str:
    """The stored form of an aware time: UTC, fixed width, so text order is time order."""
    # isoformat, not strftime: as fixed-width, and a fraction of the cost.
    return at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def encode(rec: Record) -> str:
    """One record's batch row (:func:`row`) as JSON text, for :func:`batch`.

    Raises ``ValueError`` or ``TypeError`` for a record that cannot be stored
    (a value JSON cannot carry, an infinite wait).
    """
    return _ROW_JSON.encode(row(rec))


def batch(encoded: Iterable[str]) -> str:
    """The parameter of :data:`APPLY_BATCH`: rows from :func:`encode`, as one JSON array."""
    return "[" + ",".join(encoded) + "]"


def row(rec: Record) -> list[Any]:
    """The values one record contributes to a batch, in :data:`FIELDS` order."""
    at = timestamp(rec.at)
    values = list(_BLANK)
    values[0] = rec.call_id
    values[1] = at
    for name, value in _call_values(rec, at):
        values[_INDEX[name]] = value
    values[_KIND] = rec.kind
    values[_CENTER] = _event_center(rec)
    values[_DETAIL] = _DETAIL_JSON.encode(
        {name: getattr(rec, name) for name in _DETAIL_NAMES[type(rec)]}
    )
    return values


def _call_values(rec: Record, at: str) -> Iterable[tuple[str, Any]]:
    """The upsert values a record sets beyond the blank row (``at``: its stored time)."""
    match rec:
        case CallArrived():
            return (
                ("ortsnetz_prefix", rec.ortsnetz_prefix),
                ("caller_hash", rec.caller_hash),
                ("number_kind", str(rec.number_kind)),
                ("dialed_ortsnetz", rec.dialed_ortsnetz),
            )
        case Decided():
            return (
                ("home", rec.home),
                ("final_center", rec.target),
                ("offhours", int(rec.offhours)),
                ("overflowed", int(rec.overflow)),
                ("hop", rec.hop),
                ("announced", int(rec.action is Action.ANNOUNCE)),
                ("stale", int(rec.stale)),
            )
        case QueueJoined():
            return (("final_center", rec.center), ("joined_center", rec.center), ("queued", 1))
        case Spilled():
            return (
                ("final_center", rec.to_center),
                ("spill_wait_s", rec.wait_s),
                ("hop_inc", 1),
            )
        case Answered():
            return (
                ("final_center", rec.center),
                ("joined_center", rec.center),
                ("queued", 1),
                ("answered_center", rec.center),
                ("answered_at", at),
                ("wait_s", rec.wait_s),
            )
        case Abandoned():
            return (
                ("final_center", rec.center),
                ("joined_center", rec.center),
                ("queued", 1),
                ("abandoned", 1),
                ("wait_s", rec.wait_s),
            )
        case Ended():
            return (("talk_s", rec.talk_s), ("ended_at", at), ("ended_cause", rec.cause))
        case FallbackUsed():
            return (("home", rec.center), ("final_center", rec.center), ("fallback", 1))
        case Closed():
            outcome = None if rec.outcome is None else str(rec.outcome)
            return (("ended_at", at), ("ended_cause", rec.reason), ("outcome", outcome))
        case Imported():
            return (("home", rec.home), ("source", rec.source))
    return ()


# Compact, UTF-8 as it is; keys come sorted from _detail_names.
_DETAIL_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# NaN or an infinity would not be JSON that SQLite reads: refuse it here.
_ROW_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _detail_names(kind: type) -> tuple[str, ...]:
    """The fields of a record kind kept as its detail, in sorted (stored) order."""
    return tuple(
        sorted(f.name for f in dataclasses.fields(kind) if f.name not in ("call_id", "at"))
    )


_DETAIL_NAMES: dict[type, tuple[str, ...]] = {
    kind: _detail_names(kind) for kind in typing.get_args(Record)
}


def _event_center(rec: Record) -> str | None:
    match rec:
        case Decided():
            return rec.target
        case Spilled():
            return rec.from_center
        case QueueJoined() | Answered() | Abandoned() | FallbackUsed():
            return rec.center
        case _:
            return None
