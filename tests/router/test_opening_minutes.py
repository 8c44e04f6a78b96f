"""Weekly hours compiled to minutes: ranges off the full hour, two ranges a day, a range
to midnight, and the label that names the day's hours."""

from __future__ import annotations

from datetime import time

import pytest

from router.config import Center, TimeRange, WeeklyHours
from router.opening import OpeningHours

MONDAY, TUESDAY, SUNDAY = 0, 1, 6


def compiled(monday: tuple[TimeRange, ...]) -> OpeningHours:
    center = Center(
        id="c",
        name="C",
        state="BE",
        queue="q",
        greeting="lotse/g",
        offhours_announcement="lotse/o",
        hours=WeeklyHours((monday, (), (), (), (), (), ())),
    )
    return OpeningHours.compile(center)


def at(hh: int, mm: int) -> int:
    return hh * 60 + mm


def split() -> OpeningHours:
    """Mon 08:30-12:15 and 13:05-17:45, compiled in the test that asks."""
    return compiled((TimeRange(time(8, 30), time(12, 15)), TimeRange(time(13, 5), time(17, 45))))


@pytest.mark.parametrize(
    ("minute", "open_"),
    [
        (at(8, 29), False),
        (at(8, 30), True),
        (at(12, 14), True),
        (at(12, 15), False),
        (at(13, 4), False),
        (at(13, 5), True),
        (at(17, 44), True),
        (at(17, 45), False),
    ],
)
def test_ranges_off_the_full_hour_open_and_close_on_their_minute(minute: int, open_: bool) -> None:
    assert split().open_at(MONDAY, minute) is open_


def test_the_label_names_every_range_of_the_day() -> None:
    hours = split()
    assert hours.labels[MONDAY] == "outside opening hours (Mon 08:30-12:15, 13:05-17:45)"
    assert hours.labels[SUNDAY] == "outside opening hours (Sun closed all day)"


def test_a_range_to_midnight_ends_with_the_day() -> None:
    late = compiled((TimeRange(time(20, 0), time(0, 0)),))
    assert late.open_at(MONDAY, at(23, 59))
    assert not late.open_at(MONDAY, at(19, 59))
    assert not late.open_at(TUESDAY, at(0, 0))
    assert sum(late.minutes) == 4 * 60
