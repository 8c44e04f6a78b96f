"""``GotoIfTime``/``ExecIfTime`` time specifications, as ``main/pbx_timing.c`` reads them.

``times,weekdays,mdays,months[,timezone]``; each field ``*`` (or empty) for
any, or ranges joined by ``&``. A time range ``08:00-17:59`` includes its
end minute (``get_timerange`` sets the end minute's bit too) and wraps past
midnight when the end is before the start; weekday (``sun``…``sat``), day
(1-31) and month (``jan``…``dec``) ranges wrap as well. The check is made
in the local time of ``timezone`` (default: the interpreter's zone); only
the minute counts, so 17:59:59 is inside ``…-17:59``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MINUTES = 24 * 60


class TimingError(ValueError):
    """A time specification Asterisk would reject."""


@dataclass(frozen=True)
class Timing:
    """A parsed specification: the sets of allowed minutes of day, weekdays, days, months."""

    minutes: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday, as Asterisk counts
    mdays: frozenset[int]
    months: frozenset[int]  # 1 = January
    timezone: str | None

    def matches(self, epoch: float, default_zone: str) -> bool:
        """Whether the moment ``epoch`` is inside the specification."""
        zone = _zone(self.timezone or default_zone)
        local = datetime.fromtimestamp(int(epoch), zone)
        return (
            local.month in self.months
            and local.day in self.mdays
            and (local.isoweekday() % 7) in self.weekdays
            and local.hour * 60 + local.minute in self.minutes
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimingError(f"unknown time zone {name!r}") from None


def _span(lo: int, hi: int, size: int, base: int) -> set[int]:
    """lo..hi inclusive, wrapping around a cycle of ``size`` values starting at ``base``."""
    out = set()
    x = lo
    while True:
        out.add(x)
        if x == hi:
            return out
        x = base + (x - base + 1) % size


def _ranges(
    field: str, parse_one: Callable[[str], int | None], size: int, base: int, what: str
) -> frozenset[int]:
    field = field.strip()
    if field in ("", "*"):
        return frozenset(range(base, base + size))
    out: set[int] = set()
    for part in field.split("&"):
        lo_text, sep, hi_text = part.partition("-")
        lo = parse_one(lo_text.strip())
        hi = parse_one(hi_text.strip()) if sep else lo
        if lo is None or hi is None:
            raise TimingError(f"bad {what} {part!r}")
        out |= _span(lo, hi, size, base)
    return frozenset(out)


def _minute(text: str) -> int | None:
    hour, sep, minute = text.partition(":")
    if not sep or not hour.isdigit() or not minute.isdigit():
        return None
    h, m = int(hour), int(minute)
    if h > 23 or m > 59:
        return None
    return h * 60 + m


def _name(names: tuple[str, ...], base: int) -> Callable[[str], int | None]:
    def parse(text: str) -> int | None:
        key = text.lower()[:3]
        return names.index(key) + base if key in names and len(text) >= 3 else None

    return parse


def _mday(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= 31 else None


def parse_timing(spec: str) -> Timing:
    """Parse ``times,weekdays,mdays,months[,timezone]`` (``|`` accepted as separator too)."""
    fields = [f.strip() for f in re.split(r"[|,]", spec)]
    if len(fields) > 5:
        raise TimingError(f"time specification {spec!r}: more than five fields")
    fields += ["*"] * (4 - len(fields)) if len(fields) < 4 else []
    times, weekdays, mdays, months = fields[:4]
    zone = fields[4] if len(fields) == 5 and fields[4] else None
    if zone is not None:
        _zone(zone)
    return Timing(
        minutes=_ranges(times, _minute, _MINUTES, 0, "time range"),
        weekdays=_ranges(weekdays, _name(_DAYS, 0), 7, 0, "weekday range"),
        mdays=_ranges(mdays, _mday, 31, 1, "day range"),
        months=_ranges(months, _name(_MONTHS, 1), 12, 1, "month range"),
        timezone=zone,
    )
