"""The configuration compiled for routing: everything a decision can look up.

A :class:`Router` is built once from the validated config and the numbering
plan. It precomputes what does not change between calls (each center's
opening-hours bitmap, partner chains and the fixed wording of its reasons, the
home of every Ortsnetz) and memoises what changes slowly (the local moment of a
UTC minute, the closure and holiday status of a day). Every memo caches a pure
function of its key, so a router stays referentially transparent and the
controller, the simulator and ``lotse route`` can share one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from router.config import Center, Config, UnconnectedMode
from router.decision import Action, Home, homeless
from router.numbering import Origin, OrtsnetzTable
from router.opening import HolidayCalendar, Moment, OpeningHours, closed_reason
from router.state import Snapshot

# Memos are cleared, not evicted, when they grow past this: a controller asks
# about one minute at a time, a simulation walks forward, so a cleared memo
# refills with the few keys still in use.
_MEMO_LIMIT = 1 << 16


class Instant(NamedTuple):
    """A local moment with what opening checks read: minute of the week, the day's closures."""

    moment: Moment
    slot: int
    closures: Mapping[str, str]


class CenterPlan(NamedTuple):
    """One center as the policy's hot path reads it."""

    id: str
    center: Center
    minutes: bytes
    labels: tuple[str, ...]
    overflow: tuple[str, ...]
    offhours: tuple[str, ...]
    no_agents: bool
    max_waiting: int | None
    max_expected_wait_s: float | None
    # The fixed wording of this center's reasons, built once.
    is_open: str
    closed: str
    overflow_open: str
    offhours_open: str
    stay: str
    final_hops: str
    final_alone: str


@dataclass(frozen=True)
class Router:
    """The configuration compiled for routing: config, numbering plan, calendar."""

    config: Config
    table: OrtsnetzTable
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar, compare=False)
    tz: ZoneInfo = field(init=False, compare=False)
    hours: Mapping[str, OpeningHours] = field(init=False, compare=False)
    plans: Mapping[str, CenterPlan] = field(init=False, compare=False)
    max_hops: int = field(init=False, compare=False)
    _instants: dict[int, Instant] = field(init=False, compare=False, repr=False)
    _days: dict[date, dict[str, str]] = field(init=False, compare=False, repr=False)
    _spill_reasons: dict[tuple[str, str, int], str] = field(init=False, compare=False, repr=False)
    _homes: dict[str, Home] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        config = self.config
        hours = {cid: OpeningHours.compile(c) for cid, c in config.centers.items()}
        plans = {cid: _plan(center, hours[cid], config) for cid, center in config.centers.items()}
        # The dataclass is frozen so that nobody rebinds the compiled parts;
        # building them is the one place that may.
        object.__setattr__(self, "tz", ZoneInfo(config.timezone))
        object.__setattr__(self, "hours", hours)
        object.__setattr__(self, "plans", plans)
        object.__setattr__(self, "max_hops", config.max_hops)
        object.__setattr__(self, "_instants", {})
        object.__setattr__(self, "_days", {})
        object.__setattr__(self, "_spill_reasons", {})
        object.__setattr__(self, "_homes", {})
        # A landline caller's home depends on nothing but the Ortsnetz: decide
        # it for all of them now, so no call pays for the first of its area.
        by_ortsnetz = config.center_by_ortsnetz
        for net in self.table:
            reason = f"via Ortsnetz 0{net.code} ({net.name})"
            origin = self.table.landline_origin(net.code)
            home = self.region_home(origin, by_ortsnetz.get(net.code), reason, "ortsnetz")
            self._homes[net.code] = home
        for cid, plan in plans.items():
            for target, onward in _spill_pairs(cid, plan):
                self.queue_reason(plans[target], onward, plans[target].center.queue_timeout_s)

    def instant(self, now: datetime) -> Instant:
        """The local instant of the aware datetime ``now``.

        Offsets change only on whole minutes, so the UTC minute is a sound key.
        """
        return self.instant_at(now.timestamp())

    def instant_at(self, timestamp: float) -> Instant:
        """The local instant of a POSIX timestamp (the simulator's virtual clock)."""
        key = int(timestamp // 60)
        instant = self._instants.get(key)
        if instant is None:
            if len(self._instants) >= _MEMO_LIMIT:
                self._instants.clear()
            local = datetime.fromtimestamp(key * 60, self.tz)
            instant = self.instant_of(Moment.of(local))
            self._instants[key] = instant
        return instant

    def instant_of(self, moment: Moment) -> Instant:
        """The instant of a local moment."""
        return Instant(moment, moment.weekday * 1440 + moment.minute, self.day_closures(moment.day))

    def day_closures(self, day: date) -> dict[str, str]:
        """Center id -> why it is closed all of ``day`` (closure day or state holiday)."""
        found = self._days.get(day)
        if found is None:
            if len(self._days) >= _MEMO_LIMIT:
                self._days.clear()
            holidays = self.calendar.on(day)
            found = {}
            for cid, center in self.config.centers.items():
                if day in center.closures:
                    found[cid] = f"closure day {day.isoformat()}"
                elif (name := holidays.get(center.state)) is not None:
                    found[cid] = f"public holiday {name} ({center.state})"
            self._days[day] = found
        return found

    def closed_reason(self, center_id: str, moment: Moment, snapshot: Snapshot) -> str | None:
        """Why a center is closed at the local moment, or ``None`` if open."""
        return closed_reason(
            self.config.centers[center_id],
            self.hours[center_id],
            moment,
            snapshot.of(center_id),
            self.calendar,
        )

    def landline_home(self, origin: Origin) -> Home:
        """The home of a landline caller (``origin.ortsnetz`` set), decided at start-up."""
        assert origin.ortsnetz is not None
        home = self._homes[origin.ortsnetz.code]
        if home.origin is not origin:
            # A table other than the router's classified the caller: keep their origin.
            early = home.early._replace(origin=origin) if home.early is not None else None
            home = home._replace(origin=origin, early=early)
        return home

    def region_home(self, origin: Origin, center_id: str | None, reason: str, via: str) -> Home:
        """The home for a region (``reason`` says how it was found) served by ``center_id``.

        A region no center serves goes to the fallback center, or to the
        'region not connected' announcement if the config says so.
        """
        config = self.config
        if center_id is not None:
            return Home(origin, config.centers[center_id], (f"home={center_id} {reason}",), via=via)
        where = reason.removeprefix("via ")
        if config.unconnected is UnconnectedMode.ANNOUNCEMENT:
            decision = homeless(
                Action.ANNOUNCE,
                origin,
                f"region not connected ({where})",
                announcement=config.unconnected_announcement,
            )
            return Home(origin, None, (), early=decision)
        return self.fallback_home(origin, f"region not connected ({where})")

    def fallback_home(self, origin: Origin, why: str) -> Home:
        """The national fallback center as the home, and why."""
        fallback = self.config.fallback_center
        return Home(
            origin,
            self.config.centers[fallback],
            (f"home={fallback}: fallback, {why}",),
            via="fallback",
        )

    def queue_reason(self, target: CenterPlan, onward: str, timeout: int) -> str:
        """``queue Q, spill to P after T s``: few distinct values, so built once each."""
        key = (target.id, onward, timeout)
        text = self._spill_reasons.get(key)
        if text is None:
            if len(self._spill_reasons) >= _MEMO_LIMIT:
                self._spill_reasons.clear()
            text = f"queue {target.center.queue}, spill to {onward} after {timeout} s"
            self._spill_reasons[key] = text
        return text


def _spill_pairs(cid: str, plan: CenterPlan) -> set[tuple[str, str]]:
    """(target, onward) pairs a call of ``cid`` can see: any two centers of a chain."""
    pairs: set[tuple[str, str]] = set()
    for chain in ((cid, *plan.overflow), (cid, *plan.offhours)):
        pairs.update((a, b) for a in chain for b in chain if a != b)
    return pairs


def _plan(center: Center, hours: OpeningHours, config: Config) -> CenterPlan:
    cid, limits = center.id, center.thresholds
    return CenterPlan(
        id=cid,
        center=center,
        minutes=hours.minutes,
        labels=hours.labels,
        overflow=tuple(config.overflow_chain[cid]),
        offhours=tuple(config.offhours_chain[cid]),
        no_agents=limits.no_agents,
        max_waiting=limits.max_waiting,
        max_expected_wait_s=limits.max_expected_wait_s,
        is_open=f"{cid} open",
        closed=f"{cid} closed: ",
        overflow_open=f"overflow partner {cid} open",
        offhours_open=f"off-hours partner {cid} open",
        stay=f"no partner does better: stay at {cid}",
        final_hops=f"final queue {center.queue}: hop limit {config.max_hops}",
        final_alone=f"final queue {center.queue}: no further partner open",
    )
