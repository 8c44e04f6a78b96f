"""How a caller who took a callback counts in the 115 service level (docs/service-level.md).

The promise: 75 % answered within 30 s, otherwise feedback within 24 hours of
service time. A callback kept — completed no later than its deadline — is a
caller served by the second part: left out of the 30-s figure. One not kept
(a second late, expired, cancelled, not reached, still open) is an offered
call not answered in time. The definition lives in metrics/servicelevel.py;
the report reads it from the journal's calls and callbacks tables.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lotse.journal import Answered, CallArrived, Decided, Ended, Journal, QueueJoined, Record
from lotse.journal.callbackstore import StoredRequest
from lotse.journal.report import report
from lotse.journal.rows import timestamp
from metrics.servicelevel import Journey, Tally, callback_kept, service_level
from router.config import ServiceLevel
from router.numbering import NumberKind, Origin, Ortsnetz
from router.policy import Action
from tests.lotse.rig import Rig

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 2, 3)
LEVEL = ServiceLevel(threshold_s=30, target=0.75, short_abandon_s=5)
CALLER = Origin(NumberKind.LANDLINE, Ortsnetz("421", "Bremen"), "0421…")
DEADLINE = 1_770_200_000.0


@pytest.mark.parametrize(
    ("outcome", "ended", "kept"),
    [
        ("completed", DEADLINE - 3600, True),
        ("completed", DEADLINE, True),  # exactly at the deadline: kept
        ("completed", DEADLINE + 1, False),  # one second after: not kept
        ("expired", DEADLINE, False),
        ("cancelled", DEADLINE - 3600, False),
        ("no_answer", DEADLINE - 3600, False),
        (None, None, False),  # still open: not (yet) kept
    ],
)
def test_a_callback_is_kept_when_completed_by_its_deadline(
    outcome: str | None, ended: float | None, kept: bool
) -> None:
    assert callback_kept(outcome, ended, DEADLINE) is kept


def test_the_bremen_day_two_kept_callbacks_are_left_out_of_the_30_s_figure() -> None:
    # Nine callers answered in time and two who took a callback: 9/11 = 81.8 %
    # before callbacks were defined; kept, they are served by the promise's
    # second part and the figure is 9/9.
    answered = [Journey("bremen", ("bremen",), "bremen", wait_s=12.0) for _ in range(9)]
    callbacks = [Journey("bremen", ("bremen",), callback_kept=True) for _ in range(2)]
    t = Tally()
    for call in [*answered, *callbacks]:
        t.add(call, LEVEL)
    assert (t.offered, t.answered_within, t.callbacks_kept) == (11, 9, 2)
    assert t.service_level == 1.0
    # Not kept (late, expired, cancelled, open): offered and not answered in time.
    late = Tally()
    for call in [*answered, *(Journey("bremen", ("bremen",)) for _ in range(2))]:
        late.add(call, LEVEL)
    assert late.service_level == pytest.approx(9 / 11)
    # A callback whose call was answered after all counts as the answer.
    both = Tally()
    both.add(Journey("bremen", ("bremen",), "bremen", wait_s=40.0, callback_kept=True), LEVEL)
    assert (both.callbacks_kept, both.service_level) == (0, 0.0)
    # Nothing but kept callbacks: no figure, not 0 % or 100 %.
    assert service_level(0, 2, 0, 2) is None


def local(hh: int, mm: int) -> datetime:
    return datetime.combine(DAY, time(hh, mm), tzinfo=BERLIN)


def queued_and_left(cid: str, t: datetime) -> list[Record]:
    """A Bremen caller who waited 40 s and left the queue for a callback."""
    return [
        CallArrived.of(cid, t, CALLER, "h-" + cid),
        Decided(cid, t, Action.QUEUE, "bremen", "bremen", "115-bremen", "g", None, 0, ("test",)),
        QueueJoined(cid, t + timedelta(seconds=5), "bremen", "115-bremen", 3),
        Ended(cid, t + timedelta(seconds=50), None, "Normal Clearing"),
    ]


async def test_the_report_counts_kept_callbacks_by_the_one_definition(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite"
    journal = await Journal.open(db, clock=lambda: datetime.now(UTC), salt=b"k" * 32)
    answered_in_time = local(8, 0)
    for rec in [
        *queued_and_left("ok", answered_in_time)[:3],
        Answered("ok", answered_in_time + timedelta(seconds=15), "bremen", "a", 10.0),
    ]:
        journal.record(rec)
    fates = {
        "at-deadline": ("completed", 0.0),
        "second-late": ("completed", 1.0),
        "expired": ("expired", 0.0),
        "cancelled": ("cancelled", -3600.0),
        "no-answer": ("no_answer", -3600.0),
        "open": (None, None),
    }
    for n, cid in enumerate(fates):
        for rec in queued_and_left(cid, local(9, n)):
            journal.record(rec)
    # After hours: the request's call never queued, so no service level holds it.
    closed = local(20, 0)
    journal.record(CallArrived.of("closed", closed, CALLER, "h-closed"))
    await journal.close()
    deadline = local(9, 0) + timedelta(days=1)
    with sqlite3.connect(db) as conn:
        for n, (cid, (outcome, offset)) in enumerate(
            [*fates.items(), ("closed", ("completed", 0.0))]
        ):
            ended = None if offset is None else timestamp(deadline + timedelta(seconds=offset))
            conn.execute(
                "INSERT INTO callbacks (id, center, call_id, requested_at, entered_s, deadline_s,"
                " outcome, ended_at) VALUES (?, 'bremen', ?, ?, 0, ?, ?, ?)",
                (f"r{n}", cid, timestamp(local(9, n)), deadline.timestamp(), outcome, ended),
            )
    rows = await report(db, DAY, BERLIN, LEVEL)
    bremen = next(r for r in rows if r.center == "bremen")
    # Seven offered: one answered in time, one kept (exactly at its deadline),
    # five not kept; SL = 1 / (7 - 0 - 1).
    assert (bremen.offered, bremen.answered_within, bremen.callbacks_kept) == (7, 1, 1)
    assert bremen.service_level == pytest.approx(1 / 6)
    national = next(r for r in rows if r.national)
    assert national.callbacks_kept == 1
    assert national.service_level == pytest.approx(1 / 6)
    assert bremen.cb_requested == 7 and bremen.cb_completed == 3


def stored(rid: str, call_id: str, center: str, deadline: datetime) -> StoredRequest:
    return StoredRequest(
        rid, center, call_id, deadline, 0.0, deadline.timestamp(), None, None, 1, 0.0, None
    )


async def test_the_controller_counts_a_kept_callback_for_home_and_queue(rig: Rig) -> None:
    # Wittenberg's caller waited at the partner Sachsen-Anhalt and left that
    # queue for a callback: kept, it leaves Wittenberg's (home) figure and
    # Sachsen-Anhalt's (queue) one. Late, answered after all, or never offered:
    # nothing leaves.
    controller = rig.controller
    t = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    witt = Origin(NumberKind.LANDLINE, Ortsnetz("3491", "Wittenberg"), "03491…")
    for cid in ("kept", "late", "answered", "closed"):
        controller.journal.record(CallArrived.of(cid, t, witt, "h-" + cid))
        target = None if cid == "closed" else "sachsen-anhalt"
        action = Action.ANNOUNCE if cid == "closed" else Action.QUEUE
        controller.journal.record(
            Decided(cid, t, action, "wittenberg", target, None, None, None, 0, ("test",))
        )
        if cid != "closed":
            controller.journal.record(
                QueueJoined(cid, t, "sachsen-anhalt", "115-sachsen-anhalt", 1)
            )
    controller.journal.record(Answered("answered", t, "sachsen-anhalt", "a", 50.0))
    deadline = t + timedelta(days=1)
    ended = [
        (stored("r1", "kept", "sachsen-anhalt", deadline), deadline),
        (stored("r2", "late", "sachsen-anhalt", deadline), deadline + timedelta(seconds=1)),
        (stored("r3", "answered", "sachsen-anhalt", deadline), t),
        (stored("r4", "closed", "wittenberg", deadline), t),
    ]
    for request, at in ended:
        controller._callback_ended(request, "completed", at)
    controller._callback_ended(stored("r5", "kept", "sachsen-anhalt", deadline), "expired", t)
    counts = [t for t in controller._tasks if t.get_name() == "cb-kept"]
    assert len(counts) == 3  # the late and the expired one are not even looked up
    await asyncio.gather(*counts)
    value = controller.registry.get_sample_value
    assert value("lotse_home_calls_callbacks_kept_total", {"center": "wittenberg"}) == 1
    assert value("lotse_calls_callbacks_kept_total", {"center": "sachsen-anhalt"}) == 1
    assert value("lotse_calls_callbacks_kept_total", {"center": "wittenberg"}) == 0
