"""The planner's analytic model: where calls go by design, and Erlang A per half hour.

For every half hour of the scenario's window the routing policy itself says
where each center's callers go while nobody is overloaded: home when it is
open, else the first open off-hours partner, else the off-hours announcement
(not counted in the service level). Callers without a usable region go to the
fallback center, which is then their home. That *designed* load per queue and
half hour is what a workforce tool sizes with Erlang formulas; overflow and
spills (load that moves because a queue is long) are left to the simulation,
whose results correct this model (``sim.staffing.search``).

A plan variable is a :class:`Cell`: one center's agents in one half hour of
one weekday (the resolution of the scenario's ``agents:`` tables), covering
every slot of the window with that weekday and half hour.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from router.compiled import Instant
from router.config import UnknownOriginMode
from router.policy import Action, Call, Router, decide_at
from router.state import CenterState, Snapshot
from sim.engine.callers import postal_samples
from sim.engine.timeline import SLOT_S, Timeline
from sim.erlang import agents_for, erlang
from sim.scenario import DAYS, HALF_HOURS, DistKind, Scenario

# Loads are rounded to this many steps per e-fold before the Erlang formulas
# (1 %), patience to whole seconds: the simulation corrects the model anyway,
# and centers with similar volumes then share one curve.
_LOAD_STEPS = 100
# Never plan more agents than this in one half hour of one center.
MAX_AGENTS = 2000


@dataclass(frozen=True)
class Queue:
    """What the Erlang formulas need to know about one center's queue."""

    aht_s: float
    threshold_s: float
    patience_s: float | None


@dataclass(frozen=True)
class Cell:
    """One plan variable: a center's agents on a weekday in one half hour.

    ``slots`` are the window's half hours it staffs; ``open_slots`` those in
    which the center is open (the others have no agents). ``hours`` is what
    one agent more costs in agent-hours over the window.
    """

    center: int
    weekday: int
    half: int
    slots: tuple[int, ...]
    open_slots: tuple[int, ...]

    @property
    def hours(self) -> float:
        """Agent-hours of one agent in this cell over the window."""
        return len(self.slots) * SLOT_S / 3600.0


@dataclass(frozen=True)
class Route:
    """Home ``home``'s counted calls in slot ``slot`` that queue at ``queue`` by design."""

    home: int
    slot: int
    queue: int
    calls: float


class Curve:
    """Erlang A (or C) figures of one queue at one load, by number of agents, filled on demand."""

    __slots__ = ("_kept", "_owner", "_queue", "_rate", "_sl")

    def __init__(self, rate: float, queue: Queue, owner: Curves) -> None:
        self._rate = rate
        self._queue = queue
        self._owner = owner
        self._sl: list[float] = []
        self._kept: list[float] = []

    def service_level(self, agents: int) -> float:
        """Answered within the threshold among all callers, with ``agents`` agents."""
        if agents >= len(self._sl):
            self._extend(agents)
        return self._sl[agents]

    def kept(self, agents: int) -> float:
        """Share of callers who do not abandon, with ``agents`` agents."""
        if agents >= len(self._kept):
            self._extend(agents)
        return self._kept[agents]

    def _extend(self, agents: int) -> None:
        sl, kept, q, rate = self._sl, self._kept, self._queue, self._rate
        while len(sl) <= agents:
            n = len(sl)
            if rate <= 0.0 or (sl and sl[-1] >= 1.0 - 1e-9 and kept[-1] >= 1.0 - 1e-9):
                sl.append(1.0)
                kept.append(1.0)
                continue
            result = erlang(rate, q.aht_s, n, q.threshold_s, q.patience_s)
            self._owner.evaluations += 1
            sl.append(result.service_level if n else 0.0)
            kept.append(1.0 - result.abandon_rate if n else 0.0)


class Curves:
    """The :class:`Curve` of every queue and load met, each computed once."""

    def __init__(self) -> None:
        self._curves: dict[tuple[float, Queue], Curve] = {}
        self.evaluations = 0

    @staticmethod
    def key(rate_per_h: float) -> float:
        """The rate rounded to the model's grid (0 stays 0)."""
        if rate_per_h <= 0.0:
            return 0.0
        return math.exp(round(math.log(rate_per_h) * _LOAD_STEPS) / _LOAD_STEPS)

    def curve(self, rate_per_h: float, queue: Queue) -> Curve:
        """The curve of ``queue`` at this load (rounded to the grid)."""
        key = (self.key(rate_per_h), queue)
        found = self._curves.get(key)
        if found is None:
            found = self._curves[key] = Curve(key[0], queue, self)
        return found

    def agents_for(self, rate_per_h: float, queue: Queue, target: float) -> int:
        """The fewest agents whose service level reaches ``target`` (0 without calls)."""
        if rate_per_h <= 0.0:
            return 0
        curve = self.curve(rate_per_h, queue)
        # Below the offered load's floor a queue of impatient callers rarely
        # makes a target; start a little below it and step up.
        n = max(0, int(rate_per_h * queue.aht_s / 3600.0 * 0.5))
        while n > 0 and curve.service_level(n) >= target:
            n //= 2
        while n < MAX_AGENTS and curve.service_level(n) < target:
            n += 1
        return n


@dataclass(frozen=True)
class NetworkModel:
    """The scenario seen by the planner: cells, designed routes, queues."""

    scenario: Scenario
    timeline: Timeline
    center_ids: tuple[str, ...]
    queues: tuple[Queue, ...]
    cells: tuple[Cell, ...]
    # cell index by (center, weekday, half); closed cells are not in it
    cell_of: dict[tuple[int, int, int], int]
    routes: tuple[Route, ...]
    # load[k][j]: calls per hour queued at center j in slot k by design
    load: tuple[tuple[float, ...], ...]
    # day index of each slot, and the dates
    slot_day: tuple[int, ...]
    days: tuple[str, ...]

    @classmethod
    def build(cls, scenario: Scenario, router: Router | None = None) -> NetworkModel:
        """Ask the policy where every center's calls go in every half hour of the window."""
        router = router or Router(scenario.config, scenario.table)
        timeline = Timeline.build(scenario, router)
        ids = timeline.center_ids
        index = {cid: i for i, cid in enumerate(ids)}
        config = scenario.config
        idle = Snapshot(
            centers={cid: CenterState(agents_logged_in=1, agents_available=1) for cid in ids}
        )
        callers = scenario.callers
        without_region = callers.mobile + callers.anonymous
        representative: list[Call | None] = []
        homeless_share: list[float] = []
        for cid in ids:
            center = config.centers[cid]
            if center.ortsnetze:
                code = center.ortsnetze[0]
                number = "0" + code + "2" * max(3, 10 - len(code))
                representative.append(Call(number, "115"))
            else:
                representative.append(None)
            keyed = 0.0
            if config.unknown_origin.mode is UnknownOriginMode.POSTAL_CODE and postal_samples(
                center, config, random.Random(0)
            ):
                keyed = callers.postal_code
            homeless_share.append(without_region * (1.0 - keyed) if center.ortsnetze else 1.0)
        homeless = Call("anonymous", "115", "")
        epoch = timeline.epoch.timestamp()
        routes: list[Route] = []
        loads: list[tuple[float, ...]] = []
        open_at: list[list[bool]] = []
        slot_day: list[int] = []
        day_index: dict[str, int] = {}
        for k, slot in enumerate(timeline.slots):
            day_key = slot.day.isoformat()
            slot_day.append(day_index.setdefault(day_key, len(day_index)))
            instant = router.instant_at(epoch + slot.start_s + SLOT_S / 2)
            closures = instant.closures
            start_minute = instant.slot - instant.slot % 30
            row_open = [
                cid not in closures
                and any(router.plans[cid].minutes[start_minute : start_minute + 30])
                for cid in ids
            ]
            open_at.append(row_open)
            here: list[Route] = []
            fallback_calls = 0.0
            for i, rate in enumerate(timeline.rates[k]):
                if rate <= 0.0:
                    continue
                calls = rate * SLOT_S
                fallback_calls += calls * homeless_share[i]
                call = representative[i]
                if call is not None:
                    mine = calls * (1.0 - homeless_share[i])
                    here += _route(router, call, instant, idle, index, k, mine)
            here += _route(router, homeless, instant, idle, index, k, fallback_calls)
            load = [0.0] * len(ids)
            for r in here:
                load[r.queue] += r.calls * 3600.0 / SLOT_S
            routes += here
            loads.append(tuple(load))
        cells: list[Cell] = []
        cell_of: dict[tuple[int, int, int], int] = {}
        by_key: dict[tuple[int, int], list[int]] = {}
        for k, slot in enumerate(timeline.slots):
            by_key.setdefault((slot.weekday, slot.half_hour), []).append(k)
        for j in range(len(ids)):
            for (weekday, half), slots in sorted(by_key.items()):
                opened = tuple(k for k in slots if open_at[k][j])
                if opened:
                    cell_of[(j, weekday, half)] = len(cells)
                    cells.append(Cell(j, weekday, half, tuple(slots), opened))
        return cls(
            scenario=scenario,
            timeline=timeline,
            center_ids=ids,
            queues=tuple(_queue(scenario, ids, j, routes) for j in range(len(ids))),
            cells=tuple(cells),
            cell_of=cell_of,
            routes=tuple(routes),
            load=tuple(loads),
            slot_day=tuple(slot_day),
            days=tuple(day_index),
        )

    def agents_table(self, x: Sequence[int], center: int) -> tuple[tuple[int, ...], ...]:
        """A center's agents per weekday and half hour under plan ``x`` (closed: 0)."""
        week = [[0] * HALF_HOURS for _ in range(DAYS)]
        for weekday in range(DAYS):
            for half in range(HALF_HOURS):
                e = self.cell_of.get((center, weekday, half))
                if e is not None:
                    week[weekday][half] = x[e]
        return tuple(tuple(day) for day in week)

    def cell_load(self, e: int) -> list[float]:
        """The designed load (calls per hour) of cell ``e`` in each of its open slots."""
        cell = self.cells[e]
        return [self.load[k][cell.center] for k in cell.open_slots]


def _route(
    router: Router,
    call: Call,
    instant: Instant,
    idle: Snapshot,
    index: dict[str, int],
    slot: int,
    calls: float,
) -> list[Route]:
    """Where ``calls`` like ``call`` queue in this slot by design (nothing if announced)."""
    if calls <= 0.0:
        return []
    decision = decide_at(call, instant, idle, router)
    if decision.action is Action.ASK_POSTAL_CODE:
        return []
    if decision.action is not Action.QUEUE or decision.home is None or decision.target is None:
        return []
    return [Route(index[decision.home], slot, index[decision.target], calls)]


def _queue(scenario: Scenario, ids: Sequence[str], j: int, routes: Sequence[Route]) -> Queue:
    """The Erlang parameters of center ``j``'s queue.

    The agent is busy while the phone rings, and the ring counts as waiting
    (the engine's wait ends when the agent picks up), so the ring time joins
    the handle time and comes off the threshold. Patience is the callers'
    (their home's), averaged over the calls queued here by design.
    """
    plan = scenario.plan(ids[j])
    ring = plan.ring.mean_s
    weight = 0.0
    total = 0.0
    infinite = 0.0
    for r in routes:
        if r.queue != j:
            continue
        patience = scenario.plan(ids[r.home]).patience
        if patience.kind is DistKind.NONE:
            infinite += r.calls
        else:
            total += r.calls * patience.mean_s
            weight += r.calls
    if weight == 0.0:
        own = plan.patience
        mean = None if own.kind is DistKind.NONE or own.mean_s <= 0 else float(round(own.mean_s))
    elif infinite > weight:
        mean = None
    else:
        mean = float(max(round(total / weight), 1))
    return Queue(
        aht_s=max(plan.handle.mean_s + ring, 1.0),
        threshold_s=max(scenario.threshold_s - ring, 0.0),
        patience_s=mean,
    )


def erlang_c_agents(rate: float, queue: Queue, target: float) -> int:
    """Erlang C's fewest agents for ``target`` (no abandonment), 0 without calls."""
    if rate <= 0.0:
        return 0
    return agents_for(rate, queue.aht_s, target, queue.threshold_s).agents
