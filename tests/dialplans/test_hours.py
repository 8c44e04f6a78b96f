"""Opening hours as GotoIfTime specs: checked against a model of Asterisk's own matcher."""

from __future__ import annotations

from datetime import date, time

from hypothesis import given, settings
from hypothesis import strategies as st

from dialplans.hours import asterisk_range, closed_days, time_specs, weekday_list
from router.config import TimeRange, WeeklyHours
from tests.dialplans.helpers import CALENDAR, center

# Asterisk numbers weekdays from Sunday (main/pbx_timing.c, days[]).
_AST_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _ast_minutes(field: str) -> set[int]:
    """Minutes of the day a time field covers, as get_timerange() does: end minute included."""
    minutes: set[int] = set()
    for part in field.split("&"):
        lo, hi = part.split("-")
        start = int(lo[:2]) * 60 + int(lo[3:])
        end = int(hi[:2]) * 60 + int(hi[3:])
        x = start
        while x != end:
            minutes.add(x)
            x = (x + 1) % 1440
        minutes.add(x)
    return minutes


def _ast_days(field: str) -> set[int]:
    """Asterisk weekday numbers (0 = Sunday) of a weekday field; ranges wrap like get_range()."""
    days: set[int] = set()
    for part in field.split("&"):
        lo, _, hi = part.partition("-")
        start = _AST_DAYS.index(lo)
        end = _AST_DAYS.index(hi or lo)
        days.add(end)
        while start != end:
            days.add(start)
            start = (start + 1) % 7
    return days


def _open_per_asterisk(hours: WeeklyHours) -> set[tuple[int, int]]:
    """(Monday-first weekday, minute) pairs GotoIfTime would call open."""
    covered: set[tuple[int, int]] = set()
    for spec in time_specs(center("x", hours=hours)):
        for ast_day in _ast_days(spec.weekdays):
            weekday = (ast_day - 1) % 7
            covered |= {(weekday, m) for m in _ast_minutes(spec.times)}
    return covered


def _open_per_lotse(hours: WeeklyHours) -> set[tuple[int, int]]:
    return {
        (weekday, m)
        for weekday in range(7)
        for m in range(1440)
        if hours.is_open(weekday, time(m // 60, m % 60))
    }


def test_half_open_ranges_lose_their_last_minute() -> None:
    assert asterisk_range(TimeRange(time(8), time(18))) == "08:00-17:59"
    assert asterisk_range(TimeRange(time(7, 30), time(0))) == "07:30-23:59"
    assert asterisk_range(TimeRange(time(8), time(8, 1))) == "08:00-08:00"


def test_weekday_spans() -> None:
    assert weekday_list([0, 1, 2, 3, 4]) == "mon-fri"
    assert weekday_list([0, 1, 3, 4]) == "mon-tue&thu-fri"
    assert weekday_list([2]) == "wed"
    assert weekday_list([5, 6]) == "sat-sun"


def test_days_with_equal_hours_share_one_spec() -> None:
    lunch = (TimeRange(time(8), time(12)), TimeRange(time(13), time(18)))
    full = (TimeRange(time(8), time(18)),)
    hours = WeeklyHours((full, full, lunch, full, full, (), ()))
    specs = time_specs(center("x", hours=hours))
    assert [(s.times, s.weekdays) for s in specs] == [
        ("08:00-17:59", "mon-tue&thu-fri"),
        ("08:00-11:59&13:00-17:59", "wed"),
    ]
    assert specs[0].condition("Europe/Berlin") == "08:00-17:59,mon-tue&thu-fri,*,*,Europe/Berlin"


def test_closed_all_week_has_no_spec() -> None:
    assert time_specs(center("x", hours=WeeklyHours(((),) * 7))) == ()


_minute = st.integers(min_value=0, max_value=1439)


@st.composite
def _day(draw: st.DrawFn) -> tuple[TimeRange, ...]:
    cuts = sorted(draw(st.sets(st.integers(min_value=0, max_value=1440), max_size=4)))
    if len(cuts) % 2:
        cuts = cuts[:-1]
    ranges = []
    for lo, hi in zip(cuts[::2], cuts[1::2], strict=True):
        end = time(0) if hi == 1440 else time(hi // 60, hi % 60)
        ranges.append(TimeRange(time(lo // 60, lo % 60), end))
    return tuple(ranges)


@settings(max_examples=60, deadline=None)
@given(st.tuples(*[_day()] * 7))
def test_specs_open_exactly_when_lotse_is_open(days: tuple[tuple[TimeRange, ...], ...]) -> None:
    hours = WeeklyHours(days)
    assert _open_per_asterisk(hours) == _open_per_lotse(hours)


def test_closed_days_are_closures_and_the_states_holidays() -> None:
    nw = center("pb", state="NW", closures=frozenset({date(2026, 12, 24)}))
    st_ = center("wb", state="ST")
    nw_days = closed_days(nw, (2026,), CALENDAR)
    st_days = closed_days(st_, (2026,), CALENDAR)
    assert nw_days[date(2026, 12, 24)] == "closure"
    # Fronleichnam closes NW, not ST; Reformationstag the other way round.
    assert date(2026, 6, 4) in nw_days and date(2026, 6, 4) not in st_days
    assert date(2026, 10, 31) in st_days and date(2026, 10, 31) not in nw_days
    assert all(day.year == 2026 for day in st_days)
    assert list(nw_days) == sorted(nw_days)
