"""The service-level definitions of metrics/servicelevel.py, each limit at its edge and
each tally field for every kind of call (docs/service-level.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.servicelevel import (
    Journey,
    Tally,
    average_speed_of_answer,
    callback_kept,
    service_level,
    short_abandon,
    tally,
    within_threshold,
)
from router.callback import Outcome
from router.config import ServiceLevel

LEVEL = ServiceLevel(threshold_s=30, short_abandon_s=5)


@pytest.mark.parametrize(
    ("wait", "within"), [(0.0, True), (29.9, True), (30.0, True), (30.1, False)]
)
def test_a_wait_of_exactly_the_threshold_is_in_time(wait: float, within: bool) -> None:
    assert within_threshold(wait, LEVEL) is within


@pytest.mark.parametrize(("wait", "short"), [(0.0, True), (4.9, True), (5.0, False), (5.1, False)])
def test_a_hang_up_after_exactly_the_short_limit_counts(wait: float, short: bool) -> None:
    assert short_abandon(wait, LEVEL) is short


@pytest.mark.parametrize(
    ("figures", "level"),
    [
        ((3, 10, 0, 0), 0.3),
        ((3, 10, 2, 0), 3 / 8),
        ((3, 10, 2, 3), 3 / 5),
        ((3, 10, 0, 3), 3 / 7),
        ((1, 2, 1, 0), 1.0),  # a base of one
        ((0, 2, 1, 1), None),  # a base of zero
        ((0, 2, 2, 1), None),  # below zero cannot happen, but is no figure either
        ((0, 0, 0, 0), None),
    ],
)
def test_the_service_level_leaves_out_short_abandons_and_kept_callbacks(
    figures: tuple[int, int, int, int], level: float | None
) -> None:
    assert service_level(*figures) == level


def test_kept_callbacks_default_to_none() -> None:
    assert service_level(3, 10, 2) == 3 / 8


@pytest.mark.parametrize(
    ("outcome", "ended", "kept"),
    [
        (Outcome.COMPLETED, 999.0, True),
        (Outcome.COMPLETED, 1000.0, True),  # exactly at the deadline
        (Outcome.COMPLETED, 1000.5, False),
        (Outcome.COMPLETED, None, False),
        (Outcome.NO_ANSWER, 999.0, False),
        (Outcome.EXPIRED, 1000.0, False),
        (Outcome.CANCELLED, 10.0, False),
        (None, None, False),  # still open
        (None, 999.0, False),
    ],
)
def test_a_callback_is_kept_when_completed_no_later_than_its_deadline(
    outcome: str | None, ended: float | None, kept: bool
) -> None:
    assert callback_kept(outcome, ended, 1000.0) is kept


def test_average_speed_of_answer() -> None:
    assert average_speed_of_answer(90.0, 3) == 30.0
    assert average_speed_of_answer(0.0, 0) is None
    assert average_speed_of_answer(12.0, 0) is None


def test_a_journey_is_offered_when_it_entered_a_queue_and_overflows_to_the_others() -> None:
    assert not Journey("a").offered
    assert Journey("a", queues=("a",)).offered
    assert Journey("a", queues=("a",)).partners == ()
    assert Journey("a", queues=("a", "b", "c")).partners == ("b", "c")
    assert Journey("a", queues=("b",)).partners == ("b",)
    assert Journey(None, queues=("b", "c")).partners == ()
    assert Journey(None, queues=("b",)).offered


# Each kind of call, alone in a tally, and every figure it must leave.
KINDS = [
    pytest.param(Journey("a"), Tally(calls=1), id="never queued"),
    pytest.param(
        Journey("a", offhours=True, announced=True),
        Tally(calls=1, offhours=1, announced=1),
        id="off-hours announcement",
    ),
    pytest.param(
        Journey("a", queues=("a",), answered_by="a", wait_s=30.0),
        Tally(calls=1, offered=1, answered=1, answered_within=1, waits=[30.0]),
        id="answered at the threshold",
    ),
    pytest.param(
        Journey("a", queues=("a",), answered_by="a", wait_s=30.5),
        Tally(calls=1, offered=1, answered=1, waits=[30.5]),
        id="answered late",
    ),
    pytest.param(
        Journey("a", queues=("a",), answered_by="a"),
        Tally(calls=1, offered=1, answered=1),
        id="answered, wait unknown",
    ),
    pytest.param(
        Journey("a", queues=("a", "b"), answered_by="b", wait_s=12.0, fallback=True),
        Tally(
            calls=1,
            offered=1,
            answered=1,
            answered_within=1,
            overflow_out=1,
            fallback=1,
            waits=[12.0],
        ),
        id="answered at a partner",
    ),
    pytest.param(
        Journey("a", queues=("a",), abandoned=True, wait_s=4.0),
        Tally(calls=1, offered=1, abandoned=1, short_abandoned=1),
        id="short abandon",
    ),
    pytest.param(
        Journey("a", queues=("a",), abandoned=True, wait_s=5.0),
        Tally(calls=1, offered=1, abandoned=1),
        id="abandon at the short limit",
    ),
    pytest.param(
        Journey("a", queues=("a",), abandoned=True),
        Tally(calls=1, offered=1, abandoned=1),
        id="abandon, wait unknown",
    ),
    pytest.param(
        Journey("a", queues=("a",), wait_s=60.0, callback_kept=True),
        Tally(calls=1, offered=1, callbacks_kept=1),
        id="left for a callback that was kept",
    ),
    pytest.param(
        Journey("a", queues=("a",), answered_by="a", wait_s=3.0, callback_kept=True),
        Tally(calls=1, offered=1, answered=1, answered_within=1, waits=[3.0]),
        id="answered: a kept callback does not count twice",
    ),
    pytest.param(
        Journey("a", queues=("a",), callback_kept=False),
        Tally(calls=1, offered=1),
        id="callback not kept",
    ),
    pytest.param(
        Journey("a", queues=("a", "b", "c"), unknown=True, offhours=True, announced=True),
        Tally(calls=1, unknown=1, offhours=1, announced=1, overflow_out=2),
        id="end unseen",
    ),
    pytest.param(
        Journey("a", unknown=True, fallback=True),
        Tally(calls=1, unknown=1, fallback=1),
        id="end unseen, static fallback",
    ),
]


@pytest.mark.parametrize(("call", "expected"), KINDS)
def test_one_call_of_each_kind(call: Journey, expected: Tally) -> None:
    figures = Tally()
    figures.add(call, LEVEL)
    assert figures == expected


@pytest.mark.parametrize(("call", "expected"), KINDS)
def test_calls_add_up(call: Journey, expected: Tally) -> None:
    figures = Tally()
    figures.add(call, LEVEL)
    figures.add(call, LEVEL)
    counts = {name: 2 * value for name, value in vars(expected).items() if name != "waits"}
    assert figures == Tally(**counts, waits=expected.waits * 2)


def test_nationally_an_overflow_answered_where_it_went_counts_once() -> None:
    answered = Journey("a", queues=("a", "b"), answered_by="b", wait_s=5.0)
    lost = Journey("a", queues=("a", "b"), abandoned=True, wait_s=50.0)
    assert tally([answered], LEVEL)[1].overflow_in_answered == 1
    assert tally([lost], LEVEL)[1].overflow_in_answered == 0
    assert tally([answered, lost], LEVEL)[1].overflow_in_answered == 1


def test_a_kept_callback_counts_only_when_the_call_was_neither_answered_nor_abandoned() -> None:
    figures = Tally()
    figures.add(Journey("a", queues=("a",), answered_by="a", callback_kept=True), LEVEL)
    figures.add(Journey("a", queues=("a",), callback_kept=True), LEVEL)
    assert (figures.answered, figures.callbacks_kept) == (1, 1)


def test_a_tallys_service_level_and_speed_of_answer() -> None:
    figures = Tally()
    for call in [
        Journey("a", queues=("a",), answered_by="a", wait_s=10.0),
        Journey("a", queues=("a",), answered_by="a", wait_s=50.0),
        Journey("a", queues=("a",), abandoned=True, wait_s=2.0),
        Journey("a", queues=("a",), abandoned=True, wait_s=40.0),
        Journey("a", queues=("a",), callback_kept=True),
        Journey("a", queues=("a",)),
    ]:
        figures.add(call, LEVEL)
    # 1 in time / (6 offered - 1 short abandon - 1 kept callback)
    assert figures.service_level == 1 / 4
    assert figures.asa_s == 30.0
    assert Tally().service_level is None and Tally().asa_s is None


def test_overflow_in_is_credited_to_the_partner_and_its_answers_counted() -> None:
    answered_at_b = Journey("a", queues=("a", "b", "c"), answered_by="b", wait_s=20.0)
    lost_at_c = Journey("a", queues=("a", "c"), abandoned=True, wait_s=50.0)
    homeless = Journey(None, queues=("c",), answered_by="c", wait_s=1.0)
    per, nation = tally([answered_at_b, lost_at_c, homeless], LEVEL)
    assert set(per) == {"a", "b", "c"}
    assert per["a"] == Tally(
        calls=2,
        offered=2,
        answered=1,
        answered_within=1,
        abandoned=1,
        overflow_out=3,
        waits=[20.0],
    )
    assert per["b"] == Tally(overflow_in=1, overflow_in_answered=1)
    assert per["c"] == Tally(overflow_in=2)
    assert nation == Tally(
        calls=3,
        offered=3,
        answered=2,
        answered_within=2,
        abandoned=1,
        overflow_out=3,
        overflow_in=3,
        overflow_in_answered=1,
        waits=[20.0, 1.0],
    )


_journeys = st.builds(
    Journey,
    home=st.sampled_from(["a", "b", None]),
    queues=st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True).map(tuple),
    answered_by=st.sampled_from(["a", "b", "c", None]),
    abandoned=st.booleans(),
    wait_s=st.one_of(st.none(), st.floats(0, 100)),
    unknown=st.booleans(),
    callback_kept=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_journeys, max_size=20))
def test_national_figures_are_the_sum_of_the_homes_and_overflow_balances(
    calls: list[Journey],
) -> None:
    per, nation = tally(calls, LEVEL)
    homed = [c for c in calls if c.home is not None]
    assert sum(t.calls for t in per.values()) == len(homed)
    assert nation.calls == len(calls)
    assert nation.overflow_out == nation.overflow_in == sum(t.overflow_in for t in per.values())
    assert sum(t.overflow_out for t in per.values()) == nation.overflow_out
    for figures in (nation, *per.values()):
        assert figures.answered_within <= figures.answered <= figures.offered <= figures.calls
        assert figures.short_abandoned <= figures.abandoned
