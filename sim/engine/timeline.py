"""The scenario's period cut into half hours of virtual time, with rates and staffing.

Virtual time is seconds since local midnight of the scenario's first day. Local
half hours map to absolute half hours one to one (German DST shifts by whole
hours), so each absolute half hour carries the local weekday, half hour and
date that pick its calls per hour and its agents. A daylight-saving day has
46 or 50 half hours, as the callers and agents experience it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from router.opening import HolidayCalendar
from router.policy import Router
from sim.scenario import Scenario

SLOT_S = 1800.0


class NoHolidays(HolidayCalendar):
    """A calendar without public holidays: textbook queues in tests and benchmarks."""

    def holiday(self, state: str, day: date) -> str | None:
        """Never a holiday."""
        return None

    def on(self, day: date) -> dict[str, str]:
        """No state has a holiday on any day."""
        return {}


@dataclass(frozen=True)
class Slot:
    """One half hour of the period: its start and what the local clock says."""

    start_s: float
    weekday: int
    half_hour: int
    day: date
    # The local hour this half hour belongs to, counted from the start (a DST
    # day's repeated hour is two hours of the report).
    hour_index: int


@dataclass(frozen=True)
class Timeline:
    """The period's half hours and, per half hour, each center's call rate and agents.

    ``rates[k][i]`` is center ``i``'s arrival rate in calls per second during
    slot ``k``; ``cum_rates[k]`` their running sums for drawing the center of a
    merged arrival; ``agents[k][i]`` the agents logged in.
    """

    epoch: datetime
    end_s: float
    slots: tuple[Slot, ...]
    center_ids: tuple[str, ...]
    rates: tuple[tuple[float, ...], ...]
    cum_rates: tuple[tuple[float, ...], ...]
    agents: tuple[tuple[int, ...], ...]
    hour_labels: tuple[str, ...]

    @classmethod
    def build(cls, scenario: Scenario, router: Router) -> Timeline:
        """Cut ``scenario``'s period into half hours in the router's time zone."""
        tz = router.tz
        first = datetime.combine(scenario.start, datetime.min.time(), tzinfo=tz)
        last = datetime.combine(
            scenario.start + timedelta(days=scenario.days), datetime.min.time(), tzinfo=tz
        )
        epoch = first.astimezone(UTC)
        end_s = (last.astimezone(UTC) - epoch).total_seconds()
        config = scenario.config
        ids = tuple(config.centers)
        plans = [scenario.plan(cid) for cid in ids]
        centers = [config.centers[cid] for cid in ids]
        slots: list[Slot] = []
        rates: list[tuple[float, ...]] = []
        cum_rates: list[tuple[float, ...]] = []
        agents: list[tuple[int, ...]] = []
        labels: list[str] = []
        count = round(end_s / SLOT_S)
        for k in range(count):
            local = (epoch + timedelta(seconds=k * SLOT_S)).astimezone(tz)
            half = local.hour * 2 + local.minute // 30
            if half % 2 == 0 or not labels:
                labels.append(local.strftime("%a %H:00"))
            slot = Slot(k * SLOT_S, local.weekday(), half, local.date(), len(labels) - 1)
            slots.append(slot)
            holidays = router.calendar.on(slot.day)
            row: list[float] = []
            staff: list[int] = []
            for center, plan in zip(centers, plans, strict=True):
                off_day = slot.day in center.closures or center.state in holidays
                rate = plan.calls_per_hour[slot.weekday][half // 2] / 3600.0
                if center.state in holidays:
                    rate *= scenario.holiday_volume
                row.append(rate)
                working = plan.staff_holidays or not off_day
                staff.append(plan.agents[slot.weekday][half] if working else 0)
            rates.append(tuple(row))
            running = 0.0
            cum: list[float] = []
            for rate in row:
                running += rate
                cum.append(running)
            cum_rates.append(tuple(cum))
            agents.append(tuple(staff))
        return cls(
            epoch=epoch,
            end_s=end_s,
            slots=tuple(slots),
            center_ids=ids,
            rates=tuple(rates),
            cum_rates=tuple(cum_rates),
            agents=tuple(agents),
            hour_labels=tuple(labels),
        )

    @property
    def hours(self) -> int:
        """How many local hours the report breaks the period into."""
        return len(self.hour_labels)

    def slot_at(self, t: float) -> int:
        """The index of the half hour containing virtual time ``t``."""
        k = int(t // SLOT_S)
        return min(max(k, 0), len(self.slots) - 1)

    def total_rate(self, k: int) -> float:
        """All centers' calls per second in slot ``k``."""
        cum = self.cum_rates[k]
        return cum[-1] if cum else 0.0

    def center_of(self, k: int, u: float) -> int:
        """The center whose share of slot ``k``'s total rate holds ``u`` (0 <= u < total)."""
        cum = self.cum_rates[k]
        return min(bisect.bisect_right(cum, u), len(cum) - 1)
