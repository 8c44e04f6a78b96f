"""Every limit of the policy at its edge: ``>=`` at a threshold, the first and last open minute.

Each example sits exactly on a boundary and one step inside it, so turning a
``>=`` into ``>``, doubling a threshold or opening a center one minute longer
makes a test here fail.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from router.opening import Moment
from router.policy import Call, Router, decide
from router.state import CenterState, Snapshot
from tests.router.network import demo_config

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
IDLE = CenterState(agents_logged_in=5, agents_available=5, avg_handle_s=180)
WITTENBERG = "03491 123456"
HALBERSTADT = "03941 12345"


def snapshot(**states: CenterState) -> Snapshot:
    centers = {
        cid: IDLE
        for cid in ("bremen", "wittenberg", "halberstadt", "paderborn", "sachsen-anhalt", "bund")
    }
    centers.update(states)
    return Snapshot(centers=centers)


def test_the_network_has_the_limits_these_examples_assume() -> None:
    limits = demo_config().centers["wittenberg"].thresholds
    assert (limits.max_waiting, limits.max_expected_wait_s) == (10, 120)


@pytest.mark.parametrize(("waiting", "overloaded"), [(9, False), (10, True), (11, True)])
def test_waiting_at_the_limit_is_overloaded(router: Router, waiting: int, overloaded: bool) -> None:
    # Many agents with short calls: the expected wait (<= 12 s) stays far below its limit.
    state = CenterState(waiting=waiting, agents_logged_in=100, agents_busy=100, avg_handle_s=60)
    wait = state.expected_wait_s()
    assert wait is not None and wait < 60
    d = decide(Call(WITTENBERG), TUESDAY, snapshot(wittenberg=state), router)
    assert d.target == ("sachsen-anhalt" if overloaded else "wittenberg")
    assert (f"wittenberg overloaded: {waiting} waiting >= 10" in d.reasons) is overloaded


@pytest.mark.parametrize(
    ("avg_handle_s", "expected_wait_s", "overloaded"),
    [(59.5, 119.0, False), (60.0, 120.0, True), (60.5, 121.0, True)],
)
def test_expected_wait_at_the_limit_is_overloaded(
    router: Router, avg_handle_s: float, expected_wait_s: float, overloaded: bool
) -> None:
    # One caller waiting, one agent busy: a new caller waits for two handle times.
    state = CenterState(waiting=1, agents_logged_in=1, agents_busy=1, avg_handle_s=avg_handle_s)
    assert state.expected_wait_s() == expected_wait_s
    d = decide(Call(WITTENBERG), TUESDAY, snapshot(wittenberg=state), router)
    assert d.target == ("sachsen-anhalt" if overloaded else "wittenberg")
    reason = f"wittenberg overloaded: expected wait {expected_wait_s:.0f} s >= 120 s"
    assert (reason in d.reasons) is overloaded


@pytest.mark.parametrize(
    ("hh", "mm", "open_"),
    [(7, 59, False), (8, 0, True), (8, 1, True), (17, 58, True), (17, 59, True), (18, 0, False)],
)
def test_open_from_the_opening_minute_through_the_last_minute_before_closing(
    router: Router, hh: int, mm: int, open_: bool
) -> None:
    # Halberstadt: Mon-Fri 08:00-18:00; closed, its calls go to Sachsen-Anhalt (07:00-20:00).
    at = datetime(2026, 11, 24, hh, mm, tzinfo=BERLIN)
    d = decide(Call(HALBERSTADT), at, snapshot(), router)
    assert d.home == "halberstadt"
    assert d.target == ("halberstadt" if open_ else "sachsen-anhalt")
    closed = "halberstadt closed: outside opening hours (Tue 08:00-18:00)"
    assert (closed in d.reasons) is not open_
    assert (router.closed_reason("halberstadt", Moment.of(at), snapshot()) is None) is open_


@pytest.mark.parametrize(("partner_waiting", "target"), [(12, "paderborn"), (11, "bund")])
def test_an_overloaded_partner_must_be_strictly_better_to_take_the_call(
    router: Router, partner_waiting: int, target: str
) -> None:
    # Both over their limits; an equal expected wait is no reason to move the caller.
    home = CenterState(waiting=12, agents_logged_in=3, agents_busy=3, avg_handle_s=200)
    partner = CenterState(
        waiting=partner_waiting, agents_logged_in=3, agents_busy=3, avg_handle_s=200
    )
    d = decide(Call("05251 1234"), TUESDAY, snapshot(paderborn=home, bund=partner), router)
    assert d.target == target
    assert ("no partner does better: stay at paderborn" in d.reasons) is (target == "paderborn")


@pytest.mark.parametrize(("available", "expected"), [(2, 0.0), (1, 30.0)])
def test_a_free_agent_for_every_waiting_caller_and_one_more_means_no_wait(
    available: int, expected: float
) -> None:
    # One caller waiting: two free agents serve the newcomer at once, one does not.
    state = CenterState(waiting=1, agents_logged_in=2, agents_available=available, avg_handle_s=60)
    assert state.expected_wait_s() == expected
