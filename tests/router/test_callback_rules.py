"""The callback rules field by field: what a retry and a start keep, which minute a
center serves (hours, closure days, its state's holidays), where the deadline
search ends, which centers the scheduler skips, and when no offer is made."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.callback import (
    CenterNow,
    Request,
    after_unanswered,
    offer_for,
    open_minute,
    service_deadline,
    sorted_by_entry,
    startable,
    started,
)
from router.config import CallbackSettings, Center, TimeRange, WeeklyHours
from router.decision import Action, Decision
from router.numbering import NumberKind, Origin
from router.opening import HolidayCalendar, OpeningHours
from router.state import CenterState, Snapshot

BERLIN = ZoneInfo("Europe/Berlin")
CALENDAR = HolidayCalendar()
NINE_TO_FIVE = WeeklyHours(((TimeRange(time(9, 0), time(17, 0)),),) * 5 + ((), ()))
ALL_DAY = WeeklyHours(((TimeRange(time(0, 0), time(0, 0)),),) * 7)
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
FRONLEICHNAM = date(2027, 5, 27)  # a Thursday; a holiday in NW, not in BE


def center(**kw: object) -> Center:
    fields: dict[str, object] = {
        "id": "c",
        "name": "C",
        "state": "NW",
        "queue": "q",
        "greeting": "lotse/g",
        "offhours_announcement": "lotse/o",
        "hours": NINE_TO_FIVE,
    }
    fields.update(kw)
    return Center(**fields)  # type: ignore[arg-type]


def serves(c: Center, at: datetime) -> bool:
    return open_minute(c, OpeningHours.compile(c), CALENDAR, at)


def deadline(c: Center, since: datetime, hours: float) -> datetime:
    return service_deadline(c, OpeningHours.compile(c), CALENDAR, since, hours)


# --- a retry and a start keep the request --------------------------------------------


def test_an_unanswered_attempt_keeps_everything_but_the_retry_time() -> None:
    settings = CallbackSettings(attempts=3, retry_interval_s=600)
    attempt = Request("r7", "wittenberg", 1000.5, 90_000.0, attempts=2, in_progress=True)
    assert after_unanswered(attempt, settings, now=5000.0) == Request(
        id="r7",
        center="wittenberg",
        entered_s=1000.5,
        deadline_s=90_000.0,
        attempts=2,
        not_before_s=5600.0,
        in_progress=False,
    )


@pytest.mark.parametrize(("attempts", "again"), [(2, True), (3, False), (4, False)])
def test_the_last_attempt_is_the_configured_number(attempts: int, again: bool) -> None:
    settings = CallbackSettings(attempts=3)
    attempt = Request("r", "c", 1.0, 1e9, attempts=attempts, in_progress=True)
    assert (after_unanswered(attempt, settings, now=10.0) is not None) is again


def test_a_start_keeps_everything_but_the_count_and_the_mark() -> None:
    waiting = Request("r7", "wittenberg", 1000.5, 90_000.0, attempts=1, not_before_s=4000.0)
    assert started(waiting) == Request(
        id="r7",
        center="wittenberg",
        entered_s=1000.5,
        deadline_s=90_000.0,
        attempts=2,
        not_before_s=4000.0,
        in_progress=True,
    )


# --- the minutes a center serves --------------------------------------------------------


@pytest.mark.parametrize(
    ("hh", "mm", "open_"),
    [(8, 59, False), (9, 0, True), (9, 30, True), (16, 59, True), (17, 0, False), (17, 30, False)],
)
def test_the_opening_and_the_closing_minute(hh: int, mm: int, open_: bool) -> None:
    assert serves(center(), TUESDAY.replace(hour=hh, minute=mm)) is open_


def test_a_closure_day_closes_within_the_hours() -> None:
    closed = center(closures=frozenset({TUESDAY.date()}))
    assert not serves(closed, TUESDAY)
    assert serves(closed, TUESDAY + timedelta(days=1))
    assert serves(center(), TUESDAY)


def test_a_holiday_closes_the_centers_of_its_state_only() -> None:
    at = datetime.combine(FRONLEICHNAM, time(10, 0), BERLIN)
    assert not serves(center(state="NW"), at)
    assert serves(center(state="BE"), at)


def test_the_deadline_skips_a_closure_day_and_a_holiday() -> None:
    # Wed 26 May 2027 16:00: one service hour left that day; Thu is Fronleichnam (NW).
    since = datetime(2027, 5, 26, 16, 0, tzinfo=BERLIN)
    friday_ten = datetime(2027, 5, 28, 10, 0, tzinfo=BERLIN)
    assert deadline(center(state="NW"), since, hours=2) == friday_ten
    assert deadline(center(state="BE"), since, hours=2) == since.replace(day=27, hour=10)
    closed_thursday = center(state="BE", closures=frozenset({FRONLEICHNAM}))
    assert deadline(closed_thursday, since, hours=2) == friday_ten


# --- the deadline --------------------------------------------------------------------------


def test_the_deadline_counts_from_the_start_of_the_requests_minute() -> None:
    since = TUESDAY.replace(second=42, microsecond=123_456)
    assert deadline(center(), since, hours=1) == TUESDAY.replace(hour=11)


@pytest.mark.parametrize("hours", [0.0, -1.0, 0.004])
def test_no_service_time_is_due_at_once(hours: float) -> None:
    # 0.004 h rounds to 0 minutes.
    since = TUESDAY.replace(second=42)
    assert deadline(center(), since, hours=hours) == since


def test_the_deadline_search_looks_one_year_ahead_and_no_further() -> None:
    since = datetime(2026, 11, 24, 0, 0, tzinfo=BERLIN)
    year = [since.date() + timedelta(days=i) for i in range(366)]
    # Closed 366 days: the first open minute is the first one the search no longer sees.
    never = center(hours=ALL_DAY, closures=frozenset(year))
    assert deadline(never, since, hours=1 / 60) == since
    # Closed 365 days: the last day of the search serves from midnight.
    last_day = center(hours=ALL_DAY, closures=frozenset(year[:-1]))
    assert deadline(last_day, since, hours=1 / 60) == since + timedelta(days=365, minutes=1)


@settings(max_examples=60, deadline=None)
@given(
    minute=st.integers(0, 7 * 1440 - 1),
    service_min=st.integers(1, 3 * 480),
)
def test_the_deadline_is_the_first_moment_with_enough_open_minutes(
    minute: int, service_min: int
) -> None:
    # Counted minute by minute with open_minute: the two must agree.
    c = center(closures=frozenset({date(2026, 11, 26)}))
    hours = OpeningHours.compile(c)
    since = TUESDAY.replace(hour=0) + timedelta(minutes=minute)
    due = service_deadline(c, hours, CALENDAR, since, service_min / 60)
    t, counted = since, 0
    while counted < service_min:
        counted += open_minute(c, hours, CALENDAR, t)
        t += timedelta(minutes=1)
    assert due == t


# --- the scheduler skips a center, not the rest --------------------------------------------


def test_a_center_that_does_not_serve_holds_back_only_its_own_requests() -> None:
    first = Request("a", "closed", 1.0, 1e9)
    second = Request("b", "open", 2.0, 1e9)
    centers = {"closed": CenterNow(3, serving=False), "open": CenterNow(1)}
    assert startable([first, second], centers, now=10.0) == [second]
    assert startable([first, second], {"open": CenterNow(1)}, now=10.0) == [second]


def test_a_center_without_a_free_agent_holds_back_only_its_own_requests() -> None:
    first = Request("a", "full", 1.0, 1e9)
    going = Request("g", "full", 0.5, 1e9, attempts=1, in_progress=True)
    second = Request("b", "free", 2.0, 1e9)
    centers = {"full": CenterNow(1), "free": CenterNow(1)}
    assert startable([going, first, second], centers, now=10.0) == [second]
    assert startable([first, second], {"full": CenterNow(0), "free": CenterNow(1)}, 10.0) == [
        second
    ]


def test_every_attempt_in_progress_takes_a_free_agent_of_its_center() -> None:
    going = [Request(f"g{i}", "c", float(i), 1e9, attempts=1, in_progress=True) for i in range(2)]
    waiting = [Request(f"w{i}", "c", 10.0 + i, 1e9) for i in range(3)]
    # Three free agents, two of them already dialling: one more attempt starts.
    assert startable([*going, *waiting], {"c": CenterNow(3)}, now=20.0) == waiting[:1]
    assert startable([*going, *waiting], {"c": CenterNow(2)}, now=20.0) == []


def test_requests_are_listed_oldest_entry_first_then_by_id() -> None:
    b, a, c = Request("b", "c", 5.0, 1e9), Request("a", "c", 5.0, 1e9), Request("c", "c", 1.0, 1e9)
    assert sorted_by_entry([b, a, c]) == [c, a, b]


# --- when no offer is made -------------------------------------------------------------


def _final_queue() -> Decision:
    origin = Origin(NumberKind.LANDLINE, None, "0421…")
    return Decision(Action.QUEUE, origin, "c", "c", "q", "lotse/g", None, 0, ())


def test_no_offer_without_a_wait_limit_or_without_the_targets_state() -> None:
    long_wait = Snapshot(centers={"c": CenterState(5, 0.0, 1, 0, 1, 240.0)})
    no_limit = {"c": center(callback=CallbackSettings(offer_when_closed=True))}
    assert offer_for(_final_queue(), no_limit, long_wait) == ""
    limit = {"c": center(callback=CallbackSettings(offer_expected_wait_s=60))}
    assert offer_for(_final_queue(), limit, long_wait) == "wait"
    assert offer_for(_final_queue(), limit, Snapshot()) == ""
    unknown = Snapshot(centers={"c": CenterState()})  # no queue status seen yet
    assert offer_for(_final_queue(), limit, unknown) == ""
