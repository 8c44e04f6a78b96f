"""When citizens call 115: the shape of a week, hour by hour.

Municipal service lines see the same week everywhere: little before 7, a steep
rise to a peak between 9 and 11 (highest on Monday, when the weekend's
questions arrive), a dip over lunch, a smaller second peak in the early
afternoon, a slow decline to the evening, a quiet Friday afternoon, and almost
nothing at night or on the weekend (callers still try, and hear the off-hours
announcement). :data:`WEEK_115` holds relative weights per weekday and hour;
:func:`scale` turns them into calls per hour for a weekly volume.
"""

from __future__ import annotations

from sim.scenario import DAYS, HOURS, WeekHours

# A Tuesday to Thursday, relative to its 10:00 hour.
_WORKDAY = (
    0.02, 0.01, 0.01, 0.01, 0.01, 0.02,  # 00-06
    0.06, 0.35, 0.80, 1.00, 1.00, 0.88,  # 06-12
    0.62, 0.74, 0.80, 0.70, 0.52, 0.34,  # 12-18: lunch dip, second peak at 14
    0.16, 0.09, 0.06, 0.04, 0.03, 0.02,  # 18-24
)  # fmt: skip

# Monday: the weekend's questions make the morning peak a third higher.
_MONDAY_FACTOR = tuple(1.35 if 8 <= h < 12 else 1.15 if 12 <= h < 16 else 1.05 for h in range(24))
# Friday: a normal morning, then the week winds down early.
_FRIDAY_FACTOR = tuple(0.95 if h < 12 else 0.55 if h < 15 else 0.4 for h in range(24))
_SATURDAY = tuple(0.06 if 9 <= h < 14 else 0.03 if 7 <= h < 18 else 0.01 for h in range(24))
_SUNDAY = tuple(0.02 if 9 <= h < 18 else 0.01 for h in range(24))

WEEK_115: WeekHours = (
    tuple(w * f for w, f in zip(_WORKDAY, _MONDAY_FACTOR, strict=True)),
    _WORKDAY,
    tuple(w * 0.97 for w in _WORKDAY),
    _WORKDAY,
    tuple(w * f for w, f in zip(_WORKDAY, _FRIDAY_FACTOR, strict=True)),
    _SATURDAY,
    _SUNDAY,
)

PROFILES: dict[str, WeekHours] = {"115": WEEK_115}


def scale(shape: WeekHours, calls_per_week: float) -> WeekHours:
    """Calls per hour following ``shape`` that add up to ``calls_per_week``."""
    total = sum(sum(day) for day in shape)
    factor = calls_per_week / total if total > 0 else 0.0
    return tuple(tuple(w * factor for w in day) for day in shape)


def check_shape(shape: WeekHours) -> None:
    """Refuse a weekly table that is not 7 days of 24 non-negative numbers."""
    if len(shape) != DAYS or any(len(day) != HOURS for day in shape):
        raise ValueError("a weekly profile has 7 days of 24 hours")
    if any(w < 0 for day in shape for w in day):
        raise ValueError("calls per hour cannot be negative")
