"""How a journal record becomes rows: one upsert of ``calls``, one ``call_events`` insert.

Every record kind is expressed as the same parameter set for one upsert
statement, so a whole batch is two ``executemany`` calls in one transaction.
``executemany`` applies the rows in order, which the upsert relies on (a
spill's wait must be added before the answer's). Per column the rule is:

* facts about the caller and the final outcome: the newest non-NULL value;
* ``home``: the first non-NULL value (spills do not move a call's home);
* ``arrived_at``: the earliest time seen;
* flags (queued, abandoned, offhours, overflowed …): once set, stay set;
* ``wait_s``: the caller's whole wait in queues — the waits of the queues
  the call spilled from plus the wait in the queue where it was answered or
  abandoned.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from datetime import UTC, datetime
from typing import Any

from lotse.journal.records import (
    Abandoned,
    Answered,
    CallArrived,
    Decided,
    Ended,
    FallbackUsed,
    QueueJoined,
    Record,
    Spilled,
)
from router.policy import Action

UPSERT_CALL = """
INSERT INTO calls (
    call_id, arrived_at, ortsnetz_prefix, caller_hash, number_kind, dialed_ortsnetz,
    home, final_center, queued, answered_center, answered_at, wait_s, spilled_wait_s,
    talk_s, abandoned, offhours, overflowed, hops, announced, fallback, stale,
    ended_at, ended_cause
) VALUES (
    :call_id, :at, :ortsnetz_prefix, :caller_hash, :number_kind, :dialed_ortsnetz,
    :home, :final_center, :queued, :answered_center, :answered_at, :wait_s, :spill_wait_s,
    :talk_s, :abandoned, :offhours, :overflowed, MAX(:hop, :hop_inc), :announced, :fallback,
    :stale, :ended_at, :ended_cause
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
        :joined_center IS NOT NULL AND home IS NOT NULL AND :joined_center != home
    ),
    hops = MAX(hops + :hop_inc, :hop),
    announced = MAX(announced, excluded.announced),
    fallback = MAX(fallback, excluded.fallback),
    stale = MAX(stale, excluded.stale),
    ended_at = COALESCE(excluded.ended_at, ended_at),
    ended_cause = COALESCE(excluded.ended_cause, ended_cause)
"""

INSERT_EVENT = """
INSERT INTO call_events (call_id, seq, at, kind, center, detail)
VALUES (
    :call_id,
    (SELECT COALESCE(MAX(seq), 0) + 1 FROM call_events WHERE call_id = :call_id),
    :at, :kind, :center, :detail
)
"""

_BLANK: dict[str, Any] = {
    "ortsnetz_prefix": None,
    "caller_hash": None,
    "number_kind": None,
    "dialed_ortsnetz": None,
    "home": None,
    "final_center": None,
    "joined_center": None,
    "queued": 0,
    "answered_center": None,
    "answered_at": None,
    "wait_s": None,
    "spill_wait_s": 0.0,
    "talk_s": None,
    "abandoned": 0,
    "offhours": 0,
    "overflowed": 0,
    "hop": 0,
    "hop_inc": 0,
    "announced": 0,
    "fallback": 0,
    "stale": 0,
    "ended_at": None,
    "ended_cause": None,
}


def timestamp(at: datetime) -> str:
    """The stored form of an aware time: UTC, fixed width, so text order is time order."""
    # isoformat, not strftime: as fixed-width, and a fraction of the cost.
    return at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def params(rec: Record) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parameters of :data:`UPSERT_CALL` and of :data:`INSERT_EVENT` for one record."""
    at = timestamp(rec.at)
    return call_params(rec, at), event_params(rec, at)


def call_params(rec: Record, at: str) -> dict[str, Any]:
    """Parameters of :data:`UPSERT_CALL` for one record (``at``: its stored time)."""
    params = {**_BLANK, "call_id": rec.call_id, "at": at}
    match rec:
        case CallArrived():
            params.update(
                ortsnetz_prefix=rec.ortsnetz_prefix,
                caller_hash=rec.caller_hash,
                number_kind=str(rec.number_kind),
                dialed_ortsnetz=rec.dialed_ortsnetz,
            )
        case Decided():
            params.update(
                home=rec.home,
                final_center=rec.target,
                offhours=int(rec.offhours),
                overflowed=int(rec.overflow),
                hop=rec.hop,
                announced=int(rec.action is Action.ANNOUNCE),
                stale=int(rec.stale),
            )
        case QueueJoined():
            params.update(final_center=rec.center, joined_center=rec.center, queued=1)
        case Spilled():
            params.update(final_center=rec.to_center, spill_wait_s=rec.wait_s, hop_inc=1)
        case Answered():
            params.update(
                final_center=rec.center,
                joined_center=rec.center,
                queued=1,
                answered_center=rec.center,
                answered_at=at,
                wait_s=rec.wait_s,
            )
        case Abandoned():
            params.update(
                final_center=rec.center,
                joined_center=rec.center,
                queued=1,
                abandoned=1,
                wait_s=rec.wait_s,
            )
        case Ended():
            params.update(talk_s=rec.talk_s, ended_at=at, ended_cause=rec.cause)
        case FallbackUsed():
            params.update(final_center=rec.center, fallback=1)
    return params


def event_params(rec: Record, at: str) -> dict[str, Any]:
    """Parameters of :data:`INSERT_EVENT`: the whole record, fields as JSON."""
    detail = {name: getattr(rec, name) for name in _DETAIL_NAMES[type(rec)]}
    return {
        "call_id": rec.call_id,
        "at": at,
        "kind": rec.kind,
        "center": _event_center(rec),
        "detail": _DETAIL_JSON.encode(detail),
    }


# Compact, UTF-8 as it is; keys come sorted from _detail_names.
_DETAIL_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


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
