"""Whether a center is open at a local moment: hours, closure days, state holidays.

Public holidays differ by federal state (Fronleichnam closes Paderborn in NW but
not Wittenberg in ST; Reformationstag closes Bremen and Sachsen-Anhalt but not
NW), so each center is judged by the holidays of its own state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import holidays

from router.config import WEEKDAYS, Center
from router.state import CenterState, Override


@dataclass
class HolidayCalendar:
    """Public holidays per German federal state, computed once per (state, year).

    The memo only ever caches the pure result of the ``holidays`` package, so a
    calendar is referentially transparent and safe to share between the
    controller, the simulator and the CLI.
    """

    _memo: dict[tuple[str, int], dict[date, str]] = field(default_factory=dict)

    def holiday(self, state: str, day: date) -> str | None:
        """The German name of the public holiday on ``day`` in ``state``, if any."""
        key = (state, day.year)
        table = self._memo.get(key)
        if table is None:
            table = self._load(state, day.year)
            self._memo[key] = table
        return table.get(day)

    @staticmethod
    def _load(state: str, year: int) -> dict[date, str]:
        if not 1 <= year <= 9999:
            return {}
        try:
            found = holidays.Germany(subdiv=state, years=year, language="de")
        except (NotImplementedError, ValueError, OverflowError):
            # The package covers a bounded range of years; beyond it we know no holidays.
            return {}
        return {d: str(name) for d, name in found.items()}


def closed_reason(
    center: Center, local: datetime, state: CenterState, calendar: HolidayCalendar
) -> str | None:
    """Why ``center`` is closed at the local wall-clock moment, or ``None`` if open.

    A supervisor's override wins over everything; then closure days, state
    holidays and the weekly hours, in that order, so the reason names the most
    specific cause.
    """
    if state.override is Override.OPEN:
        return None
    if state.override is Override.CLOSED:
        return "closed by supervisor override"
    day = local.date()
    if day in center.closures:
        return f"closure day {day.isoformat()}"
    name = calendar.holiday(center.state, day)
    if name is not None:
        return f"public holiday {name} ({center.state})"
    weekday = day.weekday()
    if not center.hours.is_open(weekday, local.time()):
        ranges = center.hours.ranges(weekday)
        hours = ", ".join(str(r) for r in ranges) if ranges else "closed all day"
        return f"outside opening hours ({WEEKDAYS[weekday].capitalize()} {hours})"
    return None
