"""Callbacks: the scheduler keeps the place in line, the deadline counts service time,
only German landline and mobile numbers are dialled, and the config block is checked."""

from __future__ import annotations

import textwrap
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.callback import (
    CenterNow,
    Request,
    after_unanswered,
    expired,
    offer_for,
    open_minute,
    service_deadline,
    startable,
    started,
)
from router.callbacknumber import MAX_DIGITS, NumberRefused, callback_number
from router.config import CallbackSettings, Center, TimeRange, WeeklyHours
from router.configload import ConfigError, load_config_text
from router.decision import Decision
from router.numbering import OrtsnetzTable
from router.opening import HolidayCalendar, OpeningHours
from router.state import CenterState, Snapshot

BERLIN = ZoneInfo("Europe/Berlin")
TABLE = OrtsnetzTable.load()


def req(rid: str, entered: float, **kw: float | int | bool | str) -> Request:
    fields: dict[str, object] = {"center": "c", "deadline_s": 1e9}
    fields.update(kw)
    return Request(id=rid, entered_s=entered, **fields)  # type: ignore[arg-type]


# --- the scheduler -----------------------------------------------------------


def test_a_request_waits_for_a_live_caller_who_entered_earlier() -> None:
    r = req("a", entered=100.0)
    assert startable([r], {"c": CenterNow(1, (99.0,))}, now=200.0) == []
    assert startable([r], {"c": CenterNow(1, (101.0,))}, now=200.0) == [r]


def test_a_live_caller_who_entered_at_the_same_moment_does_not_hold_it_back() -> None:
    r = req("a", entered=100.0)
    assert startable([r], {"c": CenterNow(1, (100.0,))}, now=200.0) == [r]


def test_never_more_attempts_than_free_agents() -> None:
    rs = [req(str(i), entered=float(i)) for i in range(5)]
    assert [r.id for r in startable(rs, {"c": CenterNow(2)}, now=10.0)] == ["0", "1"]
    assert startable(rs, {"c": CenterNow(0)}, now=10.0) == []


def test_attempts_in_progress_use_free_agents_and_are_not_started_again() -> None:
    going = started(req("a", entered=1.0))
    other = req("b", entered=2.0)
    assert startable([going, other], {"c": CenterNow(1)}, now=10.0) == []
    assert startable([going, other], {"c": CenterNow(2)}, now=10.0) == [other]


def test_retry_interval_and_deadline() -> None:
    r = req("a", entered=1.0, not_before_s=50.0, deadline_s=100.0)
    free = {"c": CenterNow(1)}
    assert startable([r], free, now=49.9) == []
    assert startable([r], free, now=50.0) == [r]
    assert startable([r], free, now=99.9) == [r]
    assert startable([r], free, now=100.0) == []
    assert expired([r], now=99.9) == []
    assert expired([r], now=100.0) == [r]
    assert expired([started(r)], now=100.0) == []


def test_retries_up_to_the_attempts() -> None:
    cfg = CallbackSettings(offer_after_wait_s=60, attempts=2, retry_interval_s=300)
    r = started(req("a", entered=1.0))
    again = after_unanswered(r, cfg, now=10.0)
    assert again is not None and again.attempts == 1 and not again.in_progress
    assert again.not_before_s == 310.0
    assert after_unanswered(started(again), cfg, now=400.0) is None


def test_a_center_that_does_not_serve_starts_nothing_however_many_agents_are_free() -> None:
    r = req("a", entered=1.0)
    assert startable([r], {"c": CenterNow(3, serving=False)}, now=10.0) == []
    assert startable([r], {"c": CenterNow(3, serving=True)}, now=10.0) == [r]


def test_an_unknown_center_starts_nothing() -> None:
    assert startable([req("a", 1.0)], {}, now=5.0) == []


# A random history of one center: live callers arrive and wait, requests enter,
# agents free up; every step the scheduler starts what it may.
_step = st.tuples(
    st.sampled_from(["live", "request", "free", "answer_live", "end_attempt"]),
    st.integers(0, 3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, min_size=1, max_size=60))
def test_property_no_overtake_no_duplicate_no_overbooking(steps: list[tuple[str, int]]) -> None:
    now = 0.0
    live: list[float] = []  # entry times of live callers waiting
    pending: dict[str, Request] = {}
    free = 0
    n = 0
    for kind, k in steps:
        now += 1.0 + k
        if kind == "live":
            live.append(now)
        elif kind == "request":
            # A caller leaves the queue keeping its entry time, or comes in closed hours.
            entered = live.pop(k % len(live)) if live else now
            n += 1
            pending[f"r{n}"] = Request(f"r{n}", "c", entered, deadline_s=1e9)
        elif kind == "free":
            free += 1
        elif kind == "answer_live" and live and free:
            live.remove(min(live))
            free -= 1
        elif kind == "end_attempt":
            going = [r for r in pending.values() if r.in_progress]
            if going:
                done = going[k % len(going)]
                free += 1
                del pending[done.id]
        chosen = startable(pending.values(), {"c": CenterNow(free, tuple(live))}, now)
        ids = [r.id for r in chosen]
        assert len(ids) == len(set(ids))
        assert len(chosen) <= free
        for r in chosen:
            assert not r.in_progress
            assert all(entry >= r.entered_s for entry in live), "overtook a live caller"
            pending[r.id] = started(r)
            free -= 1
        assert free >= 0


# --- the deadline on the service-time calendar ----------------------------------


def _center(**kw: object) -> Center:
    nine_to_five = (TimeRange(time(9, 0), time(17, 0)),)
    hours = WeeklyHours((nine_to_five,) * 5 + ((), ()))
    fields: dict[str, object] = {
        "id": "c",
        "name": "C",
        "state": "NW",
        "queue": "q",
        "greeting": "lotse/g",
        "offhours_announcement": "lotse/o",
        "hours": hours,
    }
    fields.update(kw)
    return Center(**fields)  # type: ignore[arg-type]


def _deadline(center: Center, since: datetime, hours: float = 24.0) -> datetime:
    return service_deadline(center, OpeningHours.compile(center), HolidayCalendar(), since, hours)


def test_deadline_counts_only_service_hours() -> None:
    c = _center()
    # Tue 2026-11-24 10:00: 7 h left Tue, 8 h Wed, 8 h Thu, 1 h Fri → Fri 10:00.
    since = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
    assert _deadline(c, since) == datetime(2026, 11, 27, 10, 0, tzinfo=BERLIN)


def test_deadline_skips_weekend_closure_days_and_state_holidays() -> None:
    # Thu 2026-12-24 is a closure day, 25/26 are holidays, 27 a Sunday.
    c = _center(closures=frozenset({datetime(2026, 12, 24).date()}))
    since = datetime(2026, 12, 23, 16, 0, tzinfo=BERLIN)
    # 1 h on the 23rd, then Mon 28th 8 h, Tue 29th 8 h, 7 h into Wed 30th.
    assert _deadline(c, since) == datetime(2026, 12, 30, 16, 0, tzinfo=BERLIN)


def test_a_request_made_while_closed_counts_from_the_next_opening() -> None:
    c = _center()
    since = datetime(2026, 11, 27, 20, 0, tzinfo=BERLIN)  # Friday evening
    assert _deadline(c, since, hours=1) == datetime(2026, 11, 30, 10, 0, tzinfo=BERLIN)


def test_exactly_the_last_open_minute() -> None:
    c = _center()
    since = datetime(2026, 11, 24, 16, 59, tzinfo=BERLIN)
    assert _deadline(c, since, hours=1 / 60) == datetime(2026, 11, 24, 17, 0, tzinfo=BERLIN)
    assert open_minute(c, OpeningHours.compile(c), HolidayCalendar(), since)
    assert not open_minute(
        c, OpeningHours.compile(c), HolidayCalendar(), since.replace(hour=17, minute=0)
    )


def test_a_center_never_open_expires_at_once() -> None:
    c = _center(hours=WeeklyHours(((),) * 7))
    since = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
    assert _deadline(c, since) == since


# --- callback numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["0421 123456", "0049421123456", "+49 421 123456", "015712345678", "0345 1234567"],
)
def test_german_landlines_and_mobiles_pass(raw: str) -> None:
    number = callback_number(raw)
    assert number.e164.startswith("+49")
    assert number.national.startswith("0")
    assert number.e164[6:] not in repr(number)


@pytest.mark.parametrize(
    "raw",
    [
        "09001234567",  # premium rate
        "01371234567",  # mass-call
        "01801234567",  # shared cost
        "070012345678",  # personal number
        "0800123456",  # service
        "110",
        "112",
        "115",
        "116117",
        "118800",
        "+33123456789",  # foreign
        "",
        "0421",  # an Ortsnetz alone
        "04211234567890123456",
    ],
)
def test_refused_numbers(raw: str) -> None:
    with pytest.raises(NumberRefused) as info:
        callback_number(raw)
    if len(raw) > 4:
        assert raw not in str(info.value)


def test_the_digit_limit_is_sixteen_digits_as_keyed() -> None:
    # 0049 + a 12-digit Bremen number: exactly MAX_DIGITS keyed digits still pass.
    assert len("0049421123456789") == MAX_DIGITS == 16
    assert callback_number("0049 421 123456789").e164 == "+49421123456789"
    with pytest.raises(NumberRefused, match="too many digits"):
        callback_number("0049 421 1234567890")


@given(st.text(alphabet="0123456789+ ", max_size=20))
def test_any_keyed_input_is_refused_or_a_german_landline_or_mobile(raw: str) -> None:
    try:
        number = callback_number(raw)
    except NumberRefused:
        return
    assert number.e164.startswith("+49")
    national = number.e164[3:]
    assert not national.startswith(("11", "137", "180", "700", "800", "900"))


@given(
    st.sampled_from(["900", "137", "11", "180", "700", "800"]), st.text("0123456789", max_size=9)
)
def test_service_prefixes_are_always_refused(prefix: str, rest: str) -> None:
    with pytest.raises(NumberRefused):
        callback_number("0" + prefix + rest)


# --- the config block ------------------------------------------------------------

BASE = textwrap.dedent(
    """\
    fallback_center: bund
    centers:
      bund:
        name: Servicecenter des Bundes
        state: BE
        queue: 115-bund
        greeting: lotse/greeting-bund
        offhours_announcement: lotse/offhours-bund
        hours: {mon-fri: "06:00-22:00"}
        CALLBACK
    """
)


def _load(block: str) -> Center:
    return load_config_text(BASE.replace("CALLBACK", block), "t.yaml", TABLE).centers["bund"]


def test_callback_block_is_read() -> None:
    cb = _load(
        "callback: {offer_expected_wait_s: 120, offer_after_wait_s: 90, attempts: 2,"
        " retry_interval_s: 300, deadline_service_h: 16}"
    ).callback
    assert cb == CallbackSettings(
        offer_expected_wait_s=120.0,
        offer_after_wait_s=90,
        attempts=2,
        retry_interval_s=300,
        deadline_service_h=16.0,
    )


def test_no_block_no_callback() -> None:
    assert _load("queue_timeout_s: 30").callback is None
    assert _load("callback: null").callback is None


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "callback: {offer_after_wait_s: 0}",
            "t.yaml:10:36: centers.bund.callback.offer_after_wait_s: must be at least 1, got 0",
        ),
        (
            "callback: {offer_after_wait_s: 60, attempts: 0}",
            "t.yaml:10:50: centers.bund.callback.attempts: must be at least 1, got 0",
        ),
        (
            "callback: {offer_expected_wait_s: -1}",
            "t.yaml:10:39: centers.bund.callback.offer_expected_wait_s: must be above 0, got -1",
        ),
        (
            "callback: {attempts: 2}",
            "t.yaml:10:15: centers.bund.callback: offers a callback never; set"
            " offer_expected_wait_s, offer_after_wait_s or offer_when_closed"
            " (or remove the block)",
        ),
    ],
)
def test_bad_callback_blocks(block: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(block)
    assert [str(p) for p in info.value.problems] == [message]


def test_unknown_callback_key_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        _load("callback: {offer_after_wait_s: 60, retries: 2}")
    assert "retries" in str(info.value.problems[0])


# --- which offer a decision carries ---------------------------------------------------


def _decision(action: str, **kw: object) -> Decision:
    from router.decision import Action
    from router.numbering import NumberKind, Origin

    fields: dict[str, object] = {
        "action": Action(action),
        "origin": Origin(NumberKind.LANDLINE, None, "0421…"),
        "home": "bund",
        "target": "bund",
        "queue": "115-bund",
        "greeting": None,
        "announcement": None,
        "queue_timeout_s": 0,
        "reasons": (),
    }
    fields.update(kw)
    return Decision(**fields)  # type: ignore[arg-type]


def _snapshot(waiting: int, free: int, logged_in: int) -> Snapshot:
    state = CenterState(waiting, 0.0, logged_in, free, logged_in - free, 240.0)
    return Snapshot(centers={"bund": state})


def test_offer_before_a_final_queue_over_the_expected_wait_limit() -> None:
    cb = CallbackSettings(offer_expected_wait_s=120)
    centers = {"bund": _center(id="bund", callback=cb)}
    # (waiting - free + 1) * 240 / logged_in: 1 ahead of 2 agents → 240 s > 120 s.
    busy = _snapshot(waiting=1, free=0, logged_in=2)
    assert offer_for(_decision("queue"), centers, busy) == "wait"
    # Exactly at the limit: no offer (the limit is "exceeds").
    at_limit = _snapshot(waiting=0, free=0, logged_in=2)
    assert offer_for(_decision("queue"), centers, at_limit) == ""
    # A queue with a timeout is not final: no offer yet.
    assert offer_for(_decision("queue", queue_timeout_s=30), centers, busy) == ""
    assert offer_for(_decision("queue"), {"bund": _center(id="bund")}, busy) == ""


def test_offer_after_the_offhours_announcement_when_configured() -> None:
    centers = {"bund": _center(id="bund", callback=CallbackSettings(offer_when_closed=True))}
    closed = _decision("announce", target=None, queue=None, offhours=True)
    assert offer_for(closed, centers, _snapshot(0, 0, 0)) == "closed"
    busy = _decision("announce", target=None, queue=None, offhours=False)
    assert offer_for(busy, centers, _snapshot(0, 0, 0)) == ""
    off = {"bund": _center(id="bund", callback=CallbackSettings(offer_after_wait_s=60))}
    assert offer_for(closed, off, _snapshot(0, 0, 0)) == ""
