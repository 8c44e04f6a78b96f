"""Whether a center is open at a local moment: hours, closure days, state holidays.

Public holidays differ by federal state (Fronleichnam closes Paderborn in NW but
not Wittenberg in ST; Reformationstag closes Bremen and Sachsen-Anhalt but not
NW), so each center is judged by the holidays of its own state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

import holidays

from router.config import FEDERAL_STATES, WEEKDAYS, Center
from router.state import CenterState, Override


@dataclass
class HolidayCalendar:
    """Public holidays per German federal state, computed once per (state, year).

    The memo only ever caches the pure result of the ``holidays`` package, so a
    calendar is referentially transparent and safe to share between the
    controller, the simulator and the CLI.
    """

    _memo: dict[tuple[str, int], dict[date, str]] = field(default_factory=dict)
    _days: dict[date, dict[str, str]] = field(default_factory=dict)

    def holiday(self, state: str, day: date) -> str | None:
        """The German name of the public holiday on ``day`` in ``state``, if any."""
        key = (state, day.year)
        table = self._memo.get(key)
        if table is None:
            table = self._load(state, day.year)
            self._memo[key] = table
        return table.get(day)

    def on(self, day: date) -> dict[str, str]:
        """Federal state → holiday name, for the states where ``day`` is a public holiday.

        One lookup per decision instead of one per center asked about.
        """
        found = self._days.get(day)
        if found is None:
            found = {}
            for state in FEDERAL_STATES:
                name = self.holiday(state, day)
                if name is not None:
                    found[state] = name
            self._days[day] = found
        return found

    @staticmethod
    def _load(state: str, year: int) -> dict[date, str]:
        if not 1 <= year <= 9999:
            return {}
        try:
            found = holidays.country_holidays("DE", subdiv=state, years=year, language="de")
        except (NotImplementedError, ValueError, OverflowError):
            # The package covers a bounded range of years; beyond it we know no holidays.
            return {}
        return {d: str(name) for d, name in found.items()}


class Moment(NamedTuple):
    """A local wall-clock moment, split once into what opening checks need."""

    day: date
    weekday: int
    minute: int

    @classmethod
    def of(cls, local: datetime) -> Moment:
        """Split an aware local datetime."""
        return cls(local.date(), local.weekday(), local.hour * 60 + local.minute)


@dataclass(frozen=True)
class OpeningHours:
    """A center's weekly hours compiled to one flag per minute of the week, with labels.

    The opening check on the hot path is then a single index into 10 KiB of
    bytes; the labels are only used when a reason has to be given.
    """

    minutes: bytes
    labels: tuple[str, ...]

    @classmethod
    def compile(cls, center: Center) -> OpeningHours:
        """Compile ``center.hours``; an end of 00:00 means midnight."""
        minutes = bytearray(7 * 1440)
        labels = []
        for weekday in range(7):
            ranges = center.hours.ranges(weekday)
            for r in ranges:
                lo = r.start.hour * 60 + r.start.minute
                hi = r.end.hour * 60 + r.end.minute or 1440
                base = weekday * 1440
                minutes[base + lo : base + hi] = b"\x01" * (hi - lo)
            hours = ", ".join(str(r) for r in ranges) if ranges else "closed all day"
            labels.append(f"outside opening hours ({WEEKDAYS[weekday].capitalize()} {hours})")
        return cls(bytes(minutes), tuple(labels))

    def open_at(self, weekday: int, minute: int) -> bool:
        """Whether the hours admit ``minute`` of the day on ``weekday``."""
        return self.minutes[weekday * 1440 + minute] == 1


def closed_reason(
    center: Center,
    hours: OpeningHours,
    moment: Moment,
    state: CenterState,
    calendar: HolidayCalendar,
) -> str | None:
    """Why ``center`` is closed at the local ``moment``, or ``None`` if open.

    A supervisor's override wins over everything; then closure days, state
    holidays and the weekly hours, in that order, so the reason names the most
    specific cause.
    """
    override = state.override
    if override is not None:
        return None if override is Override.OPEN else state.override_closed_reason()
    day = moment.day
    if day in center.closures:
        return f"closure day {day.isoformat()}"
    name = calendar.on(day).get(center.state)
    if name is not None:
        return f"public holiday {name} ({center.state})"
    if not hours.open_at(moment.weekday, moment.minute):
        return hours.labels[moment.weekday]
    return None
