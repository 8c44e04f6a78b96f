"""The daily 115 service report, per center and national, read from the call journal.

The report shows the per-home view of the service level; the figures are
defined once, in :mod:`metrics.servicelevel` (the controller's
``lotse_home_calls_*`` metrics count the same). In short (per center C, over
the calls that *arrived* on the local day, each call counted once however
often it spilled):

calls
    Calls whose home municipality is C — the center responsible for the
    caller's Ortsnetz, dialled Ortsnetz or postal code, whoever took the call.
offered
    Those of C's calls that were offered to an agent: they entered at least
    one queue, at C or at a partner. Calls that only heard an announcement
    (off-hours, all busy) or hung up before queueing are not offered: a closed
    center's announcement is not a missed call.
answered / answered within T
    Offered calls an agent took, anywhere; within T when the caller's wait —
    summed over every queue of the journey — was at most T (30 s).
abandoned / short abandons
    Offered calls whose caller hung up while waiting; short when they hung up
    within ``short_abandon_s`` (they never gave the center a chance). A call
    that left a queue after its timeout and spilled to a partner is not an
    abandon: it is counted where it finally ended.
cb kept
    Offered calls of C nobody answered whose caller took a callback that was
    kept: completed no later than its deadline (the request's ``ended_at``
    against its ``deadline_s``). Served by the promise's second part
    (feedback within 24 hours), they are left out of the 30-s figure; a
    callback not kept (late, not reached, expired, cancelled, still open)
    counts as not answered in time.
service level
    The 115 promise figure::

        SL = answered within T / (offered − short abandons − cb kept)

    ``None`` when nobody was offered.
ASA
    Average speed of answer: mean wait of the answered calls.
overflow out
    Queue entries of C's calls at other centers (overflow or off-hours
    partner, or a spill), once per call and partner: a call that spilled to
    two partners counts twice.
overflow in / in answered
    Other municipalities' calls that queued at C / that C answered; once per
    call. Nationally overflow in equals overflow out.
off-hours
    C's calls that arrived while C was closed.
announced
    C's calls that were given an announcement (off-hours, all busy).
unknown
    C's calls whose outcome nobody saw: the controller lost sight of them
    (killed, AMI down) and found them gone from Asterisk when it reconciled.
    They are not offered calls: counting them as unanswered would blame the
    center for the controller's outage. A queue_log import that tells their
    outcome turns them into ordinary calls.
fallback
    C's calls that the static fallback routed (the controller was down or did
    not answer in time), each once however the journal learned of them: the
    fallback's UserEvent, a reconcile that found the call alive, or the
    fallback's own queue_log lines. They count in the other columns like any
    call.

The national row applies the same definitions to every call of the day —
including calls that never got a home (a caller who hung up at the
postal-code prompt) — and sums the centers' overflow figures.
callbacks (cb req / cb done / cb no ans. / cb exp / cb open)
    Callback requests made on the day for C (the center whose queue the
    caller left, or the home when every center was closed), and how those
    ended so far: completed (the caller was reached), not reached in any
    attempt, expired at the deadline (24 hours of C's service time), still
    open. No number is ever read for the report.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from os import PathLike
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from cliutil.tables import Column, csv_cell, fit_table, render_plain
from lotse.journal.rows import timestamp
from lotse.journal.schema import JournalError, migrate
from metrics.servicelevel import NATIONAL, PER_HOME_VIEW, Journey, Tally, callback_kept, tally
from router.config import ServiceLevel

_CALLS = """
SELECT call_id, home, queued, answered_center, wait_s, abandoned, offhours, overflowed, announced,
       outcome, fallback
FROM calls WHERE arrived_at >= ? AND arrived_at < ?
"""
_HANDLED = """
SELECT e.call_id, e.center
FROM calls AS c JOIN call_events AS e ON e.call_id = c.call_id
WHERE c.arrived_at >= ? AND c.arrived_at < ?
  AND e.kind IN ('queued', 'answered', 'abandoned') AND e.center IS NOT NULL
ORDER BY e.call_id, e.seq
"""
# Callback requests of the day's calls (a call has at most one that ended
# well; any kept one keeps it).
_CALL_CALLBACKS = """
SELECT b.call_id, b.outcome, b.ended_at, b.deadline_s
FROM calls AS c JOIN callbacks AS b ON b.call_id = c.call_id
WHERE c.arrived_at >= ? AND c.arrived_at < ?
"""
_CALLBACKS = """
SELECT center, outcome, count(*) AS n FROM callbacks
WHERE requested_at >= ? AND requested_at < ? GROUP BY center, outcome
"""


@dataclass(frozen=True, slots=True)
class CenterReport:
    """One row of the daily report; see the module docstring for the definitions."""

    center: str
    calls: int
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    short_abandoned: int
    service_level: float | None
    asa_s: float | None
    overflow_out: int
    overflow_in: int
    overflow_in_answered: int
    offhours: int
    announced: int
    unknown: int = 0
    fallback: int = 0
    callbacks_kept: int = 0
    cb_requested: int = 0
    cb_completed: int = 0
    cb_no_answer: int = 0
    cb_expired: int = 0
    cb_open: int = 0
    national: bool = False


def _result(center: str, t: Tally, *, national: bool = False) -> CenterReport:
    return CenterReport(
        center=center,
        calls=t.calls,
        offered=t.offered,
        answered=t.answered,
        answered_within=t.answered_within,
        abandoned=t.abandoned,
        short_abandoned=t.short_abandoned,
        service_level=t.service_level,
        asa_s=t.asa_s,
        overflow_out=t.overflow_out,
        overflow_in=t.overflow_in,
        overflow_in_answered=t.overflow_in_answered,
        offhours=t.offhours,
        announced=t.announced,
        unknown=t.unknown,
        fallback=t.fallback,
        callbacks_kept=t.callbacks_kept,
        national=national,
    )


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The aware start and end of the local ``day`` (23 or 25 hours on DST changes)."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


# The days a report may name: the 115's calendar (as the control socket's times),
# and a day whose end a datetime still holds.
FIRST_YEAR, LAST_YEAR = 2000, 2099


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` as a date from :data:`FIRST_YEAR` to :data:`LAST_YEAR`; ``ValueError``
    (saying what is wrong) otherwise."""
    try:
        day = date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"{text!r} is outside {FIRST_YEAR}–{LAST_YEAR}")
    return day


async def report(
    db_path: str | PathLike[str], day: date, tz: ZoneInfo, service_level: ServiceLevel
) -> list[CenterReport]:
    """The report of the local ``day``: one row per center seen, by id, then the national row.

    Raises :class:`JournalError` when ``db_path`` is missing or no usable journal.
    """
    path = Path(db_path)
    if not path.is_file():
        raise JournalError(f"{path}: no journal file")
    bounds = _bounds(day, tz)
    # mode=rw: a report must never create an empty journal where a path was mistyped.
    uri = f"{path.resolve().as_uri()}?mode=rw"
    async with aiosqlite.connect(uri, uri=True, isolation_level=None) as conn:
        await conn.execute("PRAGMA busy_timeout=5000")
        await migrate(conn, str(path))
        conn.row_factory = aiosqlite.Row
        calls = await conn.execute_fetchall(_CALLS, bounds)
        handled = await conn.execute_fetchall(_HANDLED, bounds)
        callbacks = await conn.execute_fetchall(_CALLBACKS, bounds)
        call_callbacks = await conn.execute_fetchall(_CALL_CALLBACKS, bounds)
    return _assemble(list(calls), list(handled), callbacks, call_callbacks, service_level)


def read_report(
    conn: sqlite3.Connection, day: date, tz: ZoneInfo, service_level: ServiceLevel
) -> list[CenterReport]:
    """:func:`report` on an open connection to a current journal, blocking: for a
    worker thread of the running controller, whose journal no other process may
    open (:func:`lotse.journal.schema.file_uri`). One read transaction, so the
    figures are of one moment while the writer goes on committing."""
    bounds = _bounds(day, tz)
    conn.execute("BEGIN")
    try:
        calls = _fetch(conn, _CALLS, bounds)
        handled = _fetch(conn, _HANDLED, bounds)
        callbacks = _fetch(conn, _CALLBACKS, bounds)
        call_callbacks = _fetch(conn, _CALL_CALLBACKS, bounds)
    finally:
        conn.execute("COMMIT")
    return _assemble(calls, handled, callbacks, call_callbacks, service_level)


def _fetch(conn: sqlite3.Connection, sql: str, bounds: tuple[str, str]) -> list[sqlite3.Row]:
    cur = conn.execute(sql, bounds)
    cur.row_factory = sqlite3.Row
    return cur.fetchall()


def _bounds(day: date, tz: ZoneInfo) -> tuple[str, str]:
    start, end = day_bounds(day, tz)
    return timestamp(start), timestamp(end)


def _assemble(
    calls: list[aiosqlite.Row],
    handled: list[aiosqlite.Row],
    callbacks: Iterable[Any],
    call_callbacks: Iterable[Any],
    service_level: ServiceLevel,
) -> list[CenterReport]:
    rows = _aggregate(calls, handled, service_level, kept_callbacks(call_callbacks))
    return with_callbacks(rows, callbacks)


def _epoch(stamp: str) -> float:
    """A journal time (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) as epoch seconds."""
    return datetime.fromisoformat(stamp.removesuffix("Z")).replace(tzinfo=UTC).timestamp()


def kept_callbacks(rows: Iterable[Any]) -> set[str]:
    """The call ids among ``(call_id, outcome, ended_at, deadline_s)`` whose callback was kept
    (:func:`metrics.servicelevel.callback_kept`)."""
    kept: set[str] = set()
    for call_id, outcome, ended_at, deadline_s in rows:
        ended = None if ended_at is None else _epoch(str(ended_at))
        if callback_kept(outcome, ended, float(deadline_s)):
            kept.add(str(call_id))
    return kept


def with_callbacks(rows: list[CenterReport], counts: Any) -> list[CenterReport]:
    """The rows with the day's callback requests per center (and their sum nationally)."""
    per: defaultdict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for center, outcome, n in counts:
        per[center][outcome or "open"] += int(n)
    by_center = {r.center: r for r in rows if not r.national}
    for center in per:
        if center not in by_center:
            by_center[center] = _result(center, Tally())
    out: list[CenterReport] = []
    sums: defaultdict[str, int] = defaultdict(int)
    for center in sorted(by_center):
        c = per.get(center, {})
        for key, n in c.items():
            sums[key] += n
        out.append(_callback_figures(by_center[center], c))
    national = next(r for r in rows if r.national)
    out.append(_callback_figures(national, sums))
    return out


def _callback_figures(row: CenterReport, c: dict[str, int]) -> CenterReport:
    return replace(
        row,
        cb_requested=sum(c.values()),
        cb_completed=c.get("completed", 0),
        cb_no_answer=c.get("no_answer", 0),
        cb_expired=c.get("expired", 0),
        cb_open=c.get("open", 0),
    )


def journeys(
    calls: list[aiosqlite.Row],
    handled: list[aiosqlite.Row],
    kept: frozenset[str] | set[str] = frozenset(),
) -> list[Journey]:
    """The journal's calls as :class:`~metrics.servicelevel.Journey` values; ``kept``:
    the ids of calls whose callback was kept."""
    queues: defaultdict[str, list[str]] = defaultdict(list)
    for row in handled:
        if row["center"] not in queues[row["call_id"]]:
            queues[row["call_id"]].append(row["center"])
    return [
        Journey(
            home=row["home"],
            queues=tuple(queues[row["call_id"]]) if row["queued"] else (),
            answered_by=row["answered_center"],
            abandoned=bool(row["abandoned"]),
            wait_s=row["wait_s"],
            offhours=bool(row["offhours"]),
            announced=bool(row["announced"]),
            unknown=row["outcome"] == "unknown",
            fallback=bool(row["fallback"]),
            callback_kept=row["call_id"] in kept,
        )
        for row in calls
    ]


def _aggregate(
    calls: list[aiosqlite.Row],
    handled: list[aiosqlite.Row],
    level: ServiceLevel,
    kept: frozenset[str] | set[str] = frozenset(),
) -> list[CenterReport]:
    per_center, total = tally(journeys(calls, handled, kept), level)
    rows = [_result(c, per_center[c]) for c in sorted(per_center)]
    rows.append(_result(NATIONAL, total, national=True))
    return rows


# Field, heading, and how readily the column is left out on a narrow terminal
# (0 never; the highest number first): the promise's figures stay.
_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("center", "center", 0),
    ("calls", "calls", 2),
    ("offered", "offered", 0),
    ("answered", "answered", 0),
    ("answered_within", "≤{t}s", 1),
    ("service_level", "SL", 0),
    ("asa_s", "ASA", 1),
    ("abandoned", "abandoned", 1),
    ("short_abandoned", "<{s}s", 3),
    ("callbacks_kept", "cb kept", 3),
    ("overflow_out", "ovfl out", 2),
    ("overflow_in", "ovfl in", 2),
    ("overflow_in_answered", "in answ.", 3),
    ("offhours", "off-hours", 2),
    ("announced", "announced", 3),
    ("unknown", "unknown", 2),
    ("fallback", "fallback", 3),
    ("cb_requested", "cb req", 4),
    ("cb_completed", "cb done", 4),
    ("cb_no_answer", "cb no ans.", 4),
    ("cb_expired", "cb exp", 4),
    ("cb_open", "cb open", 4),
)


def render_text(
    rows: list[CenterReport],
    day: date,
    tz: ZoneInfo,
    level: ServiceLevel,
    width: int | None = None,
) -> str:
    """A table with a heading that states the day and the service-level formula.

    ``width``: the terminal's columns; the least important columns are left
    out (and named) to fit, never a figure cut. ``None``: every column.
    """
    columns = [
        Column(
            h.format(t=level.threshold_s, s=level.short_abandon_s),
            justify="left" if name == "center" else "right",
            priority=priority,
        )
        for name, h, priority in _COLUMNS
    ]
    body = [[_cell(name, getattr(r, name)) for name, _, _ in _COLUMNS] for r in rows]
    title = (
        f"115 service report {day.isoformat()} ({tz.key}), {PER_HOME_VIEW}; "
        f"SL = answered ≤{level.threshold_s}s / (offered − abandoned <{level.short_abandon_s}s "
        "− callbacks kept), "
        f"target {level.target:.0%}"
    )
    sections = frozenset({len(body) - 2}) if len(body) > 1 else frozenset()
    fitted = fit_table(columns, body, width, sections=sections, complete="--json or --csv")
    return f"{title}\n\n{render_plain(fitted, width)}"


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "service_level":
        return f"{value:.1%}"
    if name == "asa_s":
        return f"{value:.1f}s"
    return str(value)


def render_csv(rows: list[CenterReport]) -> str:
    """CSV with one header line, every figure (see :func:`cliutil.tables.csv_cell`)."""
    buf = io.StringIO()
    names = [f.name for f in fields(CenterReport)]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for r in rows:
        writer.writerow([csv_cell(n, getattr(r, n)) for n in names])
    return buf.getvalue()


def render_json(rows: list[CenterReport], day: date, tz: ZoneInfo, level: ServiceLevel) -> str:
    """One JSON document: the day, the service-level parameters, the center rows and the total."""
    return json.dumps(report_doc(rows, day, tz, level), ensure_ascii=False, indent=2) + "\n"


def report_doc(
    rows: list[CenterReport], day: date, tz: ZoneInfo, level: ServiceLevel
) -> dict[str, Any]:
    """What :func:`render_json` prints, as a dict (also the control socket's ``report`` answer)."""
    return {
        "day": day.isoformat(),
        "timezone": tz.key,
        "service_level": asdict(level),
        "centers": [asdict(r) for r in rows if not r.national],
        "national": next((asdict(r) for r in rows if r.national), None),
    }


def from_doc(doc: Any) -> tuple[list[CenterReport], date, ZoneInfo, ServiceLevel]:
    """:func:`report_doc`'s dict read back (rows, day, zone, service level), to be rendered as
    if read from the file; ``ValueError`` for anything else."""
    try:
        national = dict(doc["national"], national=True)
        rows = [CenterReport(**dict(c, national=False)) for c in doc["centers"]]
        rows.append(CenterReport(**national))
        return (
            rows,
            date.fromisoformat(doc["day"]),
            ZoneInfo(doc["timezone"]),
            ServiceLevel(**doc["service_level"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"not a report ({type(err).__name__}: {err})") from None
