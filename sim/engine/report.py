"""What a run found: per center and national, the figures of the 115 promise.

The view is per home center, with the definitions of :mod:`metrics.servicelevel`
that ``lotse report`` and the controller's ``lotse_home_calls_*`` metrics use
(per center, over calls whose *home* is the center, wherever they were
answered):

* ``calls``: calls for the center's region; ``off_hours`` of them came while
  it was closed;
* ``offered``: those that joined a queue (at the center or a partner); an
  off-hours announcement is not an offered call;
* ``service_level``: calls answered within the threshold (counted from first
  joining a queue to the agent picking up, across spills, ring time included
  as in Asterisk's ``HoldTime``) / (offered − callers who hung up within the
  short-abandon time − offered callers whose callback was kept, i.e. reached
  by its deadline); abandoned, all-busy and unfinished calls, and callbacks
  not kept, count as not answered in time;
* ``asa_s``: mean wait of the answered calls; ``abandon_rate``: abandoned among
  the calls that joined a queue;
* ``occupancy``: busy time of the center's own agents (ringing or talking)
  over their logged-in time within the period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from metrics.servicelevel import NATIONAL, average_speed_of_answer, service_level
from sim.engine.callbacks import CallbackReport
from sim.engine.model import HIST_BINS, HIST_STEP_S, SimCenter

if TYPE_CHECKING:
    from sim.engine.core import Engine


@dataclass(frozen=True)
class CenterReport:
    """The figures of one center, or of the whole network (``id == "national"``)."""

    id: str
    name: str
    calls: int
    offered: int
    off_hours: int
    answered: int
    answered_within: int
    abandoned: int
    short_abandoned: int
    announced_offhours: int
    announced_busy: int
    unfinished: int
    service_level: float | None
    asa_s: float | None
    abandon_rate: float | None
    answered_here: int
    agent_hours: float
    occupancy: float | None
    meets_target: bool | None
    # Callers of this home who left a queue (or did not join one) for a callback request.
    left_for_callback: int = 0
    # Offered callers of this home whose callback was kept: out of the service level.
    callbacks_kept: int = 0


@dataclass(frozen=True)
class Flow:
    """Calls moved from one center to another."""

    source: str
    target: str
    calls: int


@dataclass(frozen=True)
class SimReport:
    """Everything a run reports; the same seed gives an equal report."""

    scenario: str
    seed: int
    start: str
    days: int
    threshold_s: float
    target: float
    calls: int
    routings: int
    events: int
    unrouted: int
    centers: tuple[CenterReport, ...]
    national: CenterReport
    overflow: tuple[Flow, ...]
    offhours_flows: tuple[Flow, ...]
    hour_labels: tuple[str, ...]
    # Per center id (and "national"): service level per local hour of arrival.
    hourly_service_level: Mapping[str, tuple[float | None, ...]]
    # The counts behind it: calls counted (offered less the exclusions), and answered in time.
    hourly_offered: Mapping[str, tuple[int, ...]]
    hourly_within: Mapping[str, tuple[int, ...]]
    # Answered calls per 5 s of waiting (the last bin: 10 minutes and more).
    wait_histogram: Mapping[str, tuple[int, ...]]
    # Offers, requests and their outcomes (all zero unless the scenario models callbacks).
    callbacks: CallbackReport = field(default_factory=CallbackReport)

    @property
    def hist_step_s(self) -> float:
        """Width of a waiting-time histogram bin in seconds."""
        return HIST_STEP_S

    def center(self, center_id: str) -> CenterReport:
        """The report of one center (or ``"national"``)."""
        if center_id == NATIONAL:
            return self.national
        for c in self.centers:
            if c.id == center_id:
                return c
        raise KeyError(center_id)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``None`` for figures without calls to base them on)."""
        data = asdict(self)
        data["hourly_service_level"] = dict(self.hourly_service_level)
        data["hourly_offered"] = dict(self.hourly_offered)
        data["hourly_within"] = dict(self.hourly_within)
        data["wait_histogram"] = dict(self.wait_histogram)
        data["wait_histogram_step_s"] = HIST_STEP_S
        return data


@dataclass
class _Tally:
    offered: int = 0
    off_hours: int = 0
    queued: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    announced_offhours: int = 0
    announced_busy: int = 0
    unfinished: int = 0
    left_for_callback: int = 0
    callbacks_kept: int = 0
    wait_sum: float = 0.0
    answered_here: int = 0
    staffed_s: float = 0.0
    busy_s: float = 0.0

    def add(self, c: SimCenter) -> None:
        self.offered += c.offered
        self.off_hours += c.off_hours
        self.queued += c.queued
        self.answered += c.answered
        self.within += c.within
        self.abandoned += c.abandoned
        self.short_abandoned += c.short_abandoned
        self.announced_offhours += c.announced_offhours
        self.announced_busy += c.announced_busy
        self.unfinished += c.unfinished
        self.left_for_callback += c.left_for_callback
        self.callbacks_kept += c.callbacks_kept
        self.wait_sum += c.wait_sum
        self.answered_here += c.answered_here
        self.staffed_s += c.staffed_s
        self.busy_s += c.busy_s

    def report(self, cid: str, name: str, target: float) -> CenterReport:
        level = service_level(self.within, self.queued, self.short_abandoned, self.callbacks_kept)
        return CenterReport(
            id=cid,
            name=name,
            calls=self.offered,
            offered=self.queued,
            off_hours=self.off_hours,
            answered=self.answered,
            answered_within=self.within,
            abandoned=self.abandoned,
            short_abandoned=self.short_abandoned,
            announced_offhours=self.announced_offhours,
            announced_busy=self.announced_busy,
            unfinished=self.unfinished,
            service_level=level,
            asa_s=average_speed_of_answer(self.wait_sum, self.answered),
            abandon_rate=self.abandoned / self.queued if self.queued else None,
            answered_here=self.answered_here,
            agent_hours=self.staffed_s / 3600.0,
            occupancy=self.busy_s / self.staffed_s if self.staffed_s > 0 else None,
            meets_target=None if level is None else level >= target,
            left_for_callback=self.left_for_callback,
            callbacks_kept=self.callbacks_kept,
        )


def _hourly(
    offered: list[int], excluded: list[int], within: list[int]
) -> tuple[tuple[float | None, ...], tuple[int, ...]]:
    levels = tuple(
        service_level(w, o, x) for w, o, x in zip(within, offered, excluded, strict=True)
    )
    return levels, tuple(o - x for o, x in zip(offered, excluded, strict=True))


def _flows(moves: Mapping[tuple[str, str], int]) -> tuple[Flow, ...]:
    return tuple(
        Flow(a, b, n) for (a, b), n in sorted(moves.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def build_report(engine: Engine) -> SimReport:
    """Collect the tallies of a finished run."""
    scenario = engine.scenario
    target = scenario.target
    hours = engine.timeline.hours
    reports: list[CenterReport] = []
    nation = _Tally()
    levels: dict[str, tuple[float | None, ...]] = {}
    bases: dict[str, tuple[int, ...]] = {}
    withins: dict[str, tuple[int, ...]] = {}
    hists: dict[str, tuple[int, ...]] = {}
    n_offered, n_excluded, n_within = [0] * hours, [0] * hours, [0] * hours
    n_hist = [0] * HIST_BINS
    for c in engine.centers:
        tally = _Tally()
        tally.add(c)
        nation.add(c)
        reports.append(tally.report(c.id, c.center.name, target))
        levels[c.id], bases[c.id] = _hourly(c.hour_offered, c.hour_excluded, c.hour_within)
        withins[c.id] = tuple(c.hour_within)
        hists[c.id] = tuple(c.hist)
        for h in range(hours):
            n_offered[h] += c.hour_offered[h]
            n_excluded[h] += c.hour_excluded[h]
            n_within[h] += c.hour_within[h]
        for b in range(HIST_BINS):
            n_hist[b] += c.hist[b]
    levels[NATIONAL], bases[NATIONAL] = _hourly(n_offered, n_excluded, n_within)
    withins[NATIONAL] = tuple(n_within)
    hists[NATIONAL] = tuple(n_hist)
    return SimReport(
        scenario=scenario.name,
        seed=engine.seed,
        start=scenario.start.isoformat(),
        days=scenario.days,
        threshold_s=scenario.threshold_s,
        target=target,
        calls=engine.arrivals,
        routings=engine.routings,
        events=engine.events,
        unrouted=engine.unrouted,
        centers=tuple(reports),
        national=nation.report(NATIONAL, "all centers", target),
        overflow=_flows(engine.overflow),
        offhours_flows=_flows(engine.offhours_flows),
        hour_labels=engine.timeline.hour_labels,
        callbacks=engine.callbacks.report() if engine.callbacks is not None else CallbackReport(),
        hourly_service_level=levels,
        hourly_offered=bases,
        hourly_within=withins,
        wait_histogram=hists,
    )
