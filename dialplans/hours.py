"""A center's opening hours as Asterisk time specifications, and its closed days.

``GotoIfTime(times,weekdays,mdays,months,timezone?label)`` differs from lotse's
own :class:`router.config.TimeRange` in two ways that matter:

- Asterisk's time range includes its end minute: ``08:00-18:00`` is still open
  at 18:00:59 (``main/pbx_timing.c``, ``get_timerange`` sets the bit of the end
  minute too). lotse's ranges are half-open, so ``[08:00, 18:00)`` is written
  ``08:00-17:59``, and a range ending at midnight ``…-23:59``.
- Asterisk names weekdays ``sun``…``sat`` and lets ranges wrap (``sat-sun``);
  the names are the same three letters lotse uses, so spans translate as is.

Closed days (closure dates and the state's public holidays) have no weekly
pattern, so the fallback looks them up as extensions ``<center>-YYYYMMDD``
of a data context instead (see :mod:`dialplans.fallback`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time

from router.config import WEEKDAYS, Center, TimeRange
from router.opening import HolidayCalendar


@dataclass(frozen=True)
class TimeSpec:
    """One GotoIfTime condition: ``times`` on ``weekdays`` (Asterisk syntax)."""

    times: str
    weekdays: str

    def condition(self, timezone: str) -> str:
        """The condition part of ``GotoIfTime``: ``times,weekdays,*,*,timezone``."""
        return f"{self.times},{self.weekdays},*,*,{timezone}"


def asterisk_range(r: TimeRange) -> str:
    """A half-open lotse range as Asterisk's end-inclusive ``HH:MM-HH:MM``."""
    start = r.start.hour * 60 + r.start.minute
    end = 24 * 60 if r.end == time(0, 0) else r.end.hour * 60 + r.end.minute
    last = end - 1
    return f"{start // 60:02d}:{start % 60:02d}-{last // 60:02d}:{last % 60:02d}"


def weekday_list(days: Iterable[int]) -> str:
    """Weekday numbers (0 = Monday) as Asterisk's ``mon-fri&sun`` (spans joined by ``&``)."""
    ordered = sorted(set(days))
    spans: list[tuple[int, int]] = []
    for day in ordered:
        if spans and spans[-1][1] == day - 1:
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return "&".join(
        WEEKDAYS[lo] if lo == hi else f"{WEEKDAYS[lo]}-{WEEKDAYS[hi]}" for lo, hi in spans
    )


def time_specs(center: Center) -> tuple[TimeSpec, ...]:
    """The GotoIfTime conditions under which ``center`` is open, one per distinct day pattern.

    Days with identical ranges share one condition (``mon-thu`` then ``fri``);
    several ranges of a day (a lunch break) are joined with ``&``, which
    Asterisk accepts in the time field. A center closed all week has none.
    """
    by_pattern: dict[tuple[TimeRange, ...], list[int]] = {}
    for weekday in range(7):
        ranges = center.hours.ranges(weekday)
        if ranges:
            by_pattern.setdefault(tuple(ranges), []).append(weekday)
    specs = [
        TimeSpec("&".join(asterisk_range(r) for r in ranges), weekday_list(days))
        for ranges, days in by_pattern.items()
    ]
    return tuple(sorted(specs, key=lambda s: WEEKDAYS.index(s.weekdays[:3])))


def closed_days(center: Center, years: Iterable[int], calendar: HolidayCalendar) -> dict[date, str]:
    """Days ``center`` is closed whatever its hours: closures, and state holidays in ``years``.

    Values are a short reason for a comment (the holiday's German name, or
    ``closure``). Closures are listed whatever the year; holidays only for
    the years asked, because a static file cannot know the future.
    """
    days: dict[date, str] = {}
    for year in years:
        start = date(year, 1, 1)
        for offset in range(366):
            day = date.fromordinal(start.toordinal() + offset)
            if day.year != year:
                break
            name = calendar.holiday(center.state, day)
            if name is not None:
                days[day] = name
    for day in center.closures:
        days.setdefault(day, "closure")
    return dict(sorted(days.items()))
