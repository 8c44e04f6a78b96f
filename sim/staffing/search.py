"""The staffing search: Erlang A per half hour, corrected by simulating the real policy.

The rules a plan must keep (``lotse sim staff``, README "Staffing planner"):

* *per day*: every center's service level of each day (the engine's 115
  figure, over the calls whose home it is) reaches the target in a fresh run
  with a chance of :data:`DAY_CONFIDENCE` each; days with fewer than
  :data:`MIN_DAY_CALLS` counted calls are left to the window rule;
* *window*: a fresh run with another seed keeps every center's service level
  over the whole window at or above the target with the chosen confidence
  (jointly for all centers: each center gets ``1 - (1 - confidence) / N``),
  the margin above the target at most :data:`MAX_MARGIN`;
* *floor per half hour*: by the Erlang formula of its load (designed, raised
  to what the runs saw join the queue), no half hour of a queue falls below
  ``floor`` (default ``target - 0.2``); the final runs check it per center and
  hour and the plan lists the hours that still fell below;
* optionally *abandonment*: every center's abandon rate over the window stays
  at or below ``max_abandon``;
* fixed constraints: closed half hours get no agents, an open one at least one
  and at least the scenario's ``min_agents``; a center that cannot add agents
  keeps at most the scenario's.

Search: start from Erlang A per half hour of the designed load
(``sim.staffing.model``). Each round simulates the current plan with a few
seeds (the replications, in parallel), and the difference between what the
runs found and what the Erlang model predicted for each day and center
becomes that constraint's correction: positive where partners absorb
overflow, negative where a center's calls wait at busy partners. With the
corrections (pooled over rounds, later rounds weighing more) a greedy step
adds agents where the model says they lift the missing service level most per
agent-hour, then takes agents away where they are worth least as long as
every rule still holds. The step before the last round only adds agents:
more agents do not lower a service level in the engine (the property test
``tests/sim/staffing/test_engine_monotone.py``), so what the runs before it
found met stays met, and what fell short is mended. The plan of the
last round is the one evaluated with fresh seeds, so its reported figures
and confidence are measured, not predicted.
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from metrics.servicelevel import service_level
from sim.engine.timeline import SLOT_S
from sim.scenario import Scenario, WeekHalfHours
from sim.staffing.evaluate import CenterFigures, EvalResult, EvalTask, Evaluator, pack
from sim.staffing.model import MAX_AGENTS, Curves, NetworkModel, erlang_c_agents

# A day with fewer counted calls than this is judged over the window only.
MIN_DAY_CALLS = 30.0
# The chance a fresh run keeps the target on each center-day.
DAY_CONFIDENCE = 0.8
# The most a goal lies above the target: a center with a few dozen calls a day
# cannot be made sure of for another seed at any sane staffing (the spread of
# 50 calls at 75 % is 6 points); its chance is reported instead.
MAX_MARGIN = 0.05
# A center-hour is checked against the floor in the final runs from this many calls on.
FLOOR_CHECK_CALLS = 20
# An agent lifting the missing figures by less than this per agent-hour is not added.
_MIN_GAIN = 1e-6
# Degrees of freedom the network's overdispersion counts for in a center's own.
_SHRINK_DF = 2
# Variance of a run's service level over the binomial one, before any run says.
_PRIOR_OVERDISPERSION = 2.0

Progress = Callable[[str, int, int], None]

_DAY, _WINDOW, _ABANDON = "day", "window", "abandon"


@dataclass(frozen=True)
class Rules:
    """What a plan must keep, and how hard the search looks."""

    target: float = 0.75
    threshold_s: float = 30.0
    floor: float | None = None
    max_abandon: float | None = None
    confidence: float = 0.95
    rounds: int = 4
    replications: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.target < 1.0:
            raise ValueError(f"target must lie between 0 and 1, got {self.target}")
        if not self.threshold_s >= 0.0:
            raise ValueError(f"threshold must be >= 0 s, got {self.threshold_s}")
        if self.floor is not None and not 0.0 <= self.floor <= self.target:
            raise ValueError(f"floor must lie between 0 and the target, got {self.floor}")
        if self.max_abandon is not None and not 0.0 < self.max_abandon < 1.0:
            raise ValueError(f"max abandon must lie between 0 and 1, got {self.max_abandon}")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"confidence must lie in [0.5, 1), got {self.confidence}")
        if self.rounds < 1 or self.replications < 1:
            raise ValueError("at least one round and one replication")

    @property
    def floor_level(self) -> float:
        """The per-half-hour floor: given, or 20 points below the target."""
        return self.floor if self.floor is not None else max(self.target - 0.2, 0.0)


@dataclass(frozen=True)
class CenterSummary:
    """One center under the plan: hours, and the figures of the final runs (means)."""

    id: str
    name: str
    agent_hours: float
    erlang_c_agent_hours: float
    service_level: float | None
    worst_day_service_level: float | None
    asa_s: float | None
    abandon_rate: float | None
    spill_in: float
    spill_out: float
    offhours_in: float
    offhours_out: float
    # Chance that a run with another seed keeps the target over the window.
    p_meets_target: float | None


@dataclass(frozen=True)
class Confidence:
    """How sure the plan holds for another seed (normal approximation)."""

    all_centers: float
    worst_center: float
    center_days: int
    center_days_expected_below: float
    overdispersion: float
    worst_overdispersion: float
    z_window: float
    runs: int


@dataclass(frozen=True)
class RoundSummary:
    """One round of the search: the plan simulated, and what the runs found."""

    agent_hours: float
    worst_service_level: float | None
    centers_below: float
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class StaffingPlan:
    """The search's answer."""

    scenario: Scenario
    rules: Rules
    tables: dict[str, WeekHalfHours]
    agent_hours: float
    erlang_c_agent_hours: float
    erlang_a_agent_hours: float
    scenario_agent_hours: float
    centers: tuple[CenterSummary, ...]
    confidence: Confidence
    rounds: tuple[RoundSummary, ...]
    # Centers with a day or window no staffing can bring to its goal (say, a
    # threshold shorter than the ring time, or a center that cannot add agents).
    unreachable: tuple[str, ...]
    service_level: float | None
    hour_labels: tuple[str, ...]
    hourly_service_level: tuple[float | None, ...]
    # Center-hours with at least FLOOR_CHECK_CALLS counted calls in the final
    # runs, and those of them whose simulated service level fell below the floor.
    center_hours_judged: int
    center_hours_below_floor: tuple[tuple[str, str, float], ...]
    calls_simulated: int
    evaluations: int
    erlang_evaluations: int


@dataclass
class _Constraint:
    kind: str
    home: int
    day: int
    goal: float
    # (cell, slot, weight) terms; calls no open cell serves count as failures
    terms: list[tuple[int, int, float]]
    calls: float = 0.0
    delta_sum: float = 0.0
    delta_weight: float = 0.0

    @property
    def delta(self) -> float:
        return self.delta_sum / self.delta_weight if self.delta_weight else 0.0


class _Problem:
    """The constraints and their terms, indexed both ways, over one model.

    ``load[k][j]`` is what the Erlang curves of queue ``j`` assume in slot
    ``k``: the designed load, raised to what the runs saw joining the queue
    (overflow and spills from other centers) once they have run.
    """

    def __init__(self, model: NetworkModel, rules: Rules, curves: Curves) -> None:
        self.model = model
        self.rules = rules
        self.curves = curves
        self.constraints: list[_Constraint] = []
        self._build()
        self.load = [list(row) for row in model.load]
        queues = model.queues
        self.curve = [[curves.curve(v, queues[j]) for j, v in enumerate(row)] for row in self.load]
        # per cell: (constraint index, uses the abandonment curve, terms (slot, weight))
        self.by_cell: list[list[tuple[int, bool, list[tuple[int, float]]]]] = [
            [] for _ in model.cells
        ]
        self.cells_of: list[list[int]] = []
        for c, con in enumerate(self.constraints):
            grouped: dict[int, list[tuple[int, float]]] = {}
            for e, k, weight in con.terms:
                grouped.setdefault(e, []).append((k, weight))
            for e, terms in sorted(grouped.items()):
                self.by_cell[e].append((c, con.kind == _ABANDON, terms))
            self.cells_of.append(sorted(grouped))
        self.hours = [len(cell.open_slots) * SLOT_S / 3600.0 for cell in model.cells]

    def _build(self) -> None:
        model, rules = self.model, self.rules
        n_days = len(model.days)
        per_day: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
        day_calls: dict[tuple[int, int], float] = {}
        home_calls: dict[int, float] = {}
        for r in model.routes:
            slot = model.timeline.slots[r.slot]
            d = model.slot_day[r.slot]
            day_calls[(r.home, d)] = day_calls.get((r.home, d), 0.0) + r.calls
            home_calls[r.home] = home_calls.get(r.home, 0.0) + r.calls
            e = model.cell_of.get((r.queue, slot.weekday, slot.half_hour))
            if e is not None:
                per_day.setdefault((r.home, d), []).append((e, r.slot, r.calls))
        for home in sorted(home_calls):
            total = home_calls[home]
            if total < MIN_DAY_CALLS:
                continue
            window: list[tuple[int, int, float]] = []
            for d in range(n_days):
                terms = per_day.get((home, d), [])
                calls = day_calls.get((home, d), 0.0)
                window += [(e, k, w / total) for e, k, w in terms]
                if calls >= MIN_DAY_CALLS:
                    day_terms = [(e, k, w / calls) for e, k, w in terms]
                    self.constraints.append(
                        _Constraint(_DAY, home, d, rules.target, day_terms, calls)
                    )
            self.constraints.append(_Constraint(_WINDOW, home, -1, rules.target, window, total))
            if rules.max_abandon is not None:
                kept = 1.0 - rules.max_abandon
                self.constraints.append(_Constraint(_ABANDON, home, -1, kept, window, total))

    def observe_load(self, results: Sequence[EvalResult]) -> None:
        """Take the queues' joins seen in ``results`` (their mean) as the curves' loads.

        Never below the designed load: the runs add what overflow and spills
        brought, a seed's quiet half hour does not make the model optimistic.
        """
        ids = self.model.center_ids
        per_hour = 3600.0 / SLOT_S / len(results)
        slots = len(self.load)
        now = [[0.0] * len(ids) for _ in range(slots)]
        for result in results:
            for j, f in enumerate(_in_order(result, ids)):
                for k, n in enumerate(f.joins):
                    now[k][j] += n * per_hour
        queues = self.model.queues
        for k in range(slots):
            for j in range(len(ids)):
                value = max(self.model.load[k][j], now[k][j])
                self.load[k][j] = value
                self.curve[k][j] = self.curves.curve(value, queues[j])

    def cell_load(self, e: int) -> list[float]:
        """The load the curves assume in each open slot of cell ``e``."""
        cell = self.model.cells[e]
        return [self.load[k][cell.center] for k in cell.open_slots]

    def predict(self, x: Sequence[int]) -> list[float]:
        """Each constraint's figure by the Erlang model under plan ``x``."""
        pred = [0.0] * len(self.constraints)
        for e, entries in enumerate(self.by_cell):
            j = self.model.cells[e].center
            n = x[e]
            curve = self.curve
            for c, kept, terms in entries:
                if kept:
                    pred[c] += sum(w * curve[k][j].kept(n) for k, w in terms)
                else:
                    pred[c] += sum(w * curve[k][j].service_level(n) for k, w in terms)
        return pred

    def unreachable(self) -> list[int]:
        """Constraints whose goal lies above what the model could ever promise them."""
        return [
            c
            for c, con in enumerate(self.constraints)
            if sum(w for _, _, w in con.terms) + con.delta < con.goal
        ]

    def slack(self, x: Sequence[int]) -> list[float]:
        """Each constraint's estimate (model plus correction) less its goal."""
        pred = self.predict(x)
        return [p + con.delta - con.goal for p, con in zip(pred, self.constraints, strict=True)]

    def change(
        self, e: int, n_from: int, n_to: int, slack: Sequence[float] | None = None
    ) -> list[tuple[int, float]]:
        """How the constraints of cell ``e`` move when its agents go from ``n_from`` to ``n_to``.

        With ``slack``, only the constraints that are not met.
        """
        cell = self.model.cells[e]
        j = cell.center
        d_sl: dict[int, float] = {}
        d_kept: dict[int, float] = {}
        moves: list[tuple[int, float]] = []
        for c, kept, terms in self.by_cell[e]:
            if slack is not None and slack[c] >= 0.0:
                continue
            table = d_kept if kept else d_sl
            total = 0.0
            for k, w in terms:
                d = table.get(k)
                if d is None:
                    curve = self.curve[k][j]
                    if kept:
                        d = curve.kept(n_to) - curve.kept(n_from)
                    else:
                        d = curve.service_level(n_to) - curve.service_level(n_from)
                    table[k] = d
                total += w * d
            moves.append((c, total))
        return moves


def _in_order(result: EvalResult, ids: Sequence[str]) -> list[CenterFigures]:
    by_id = {f.id: f for f in result.centers}
    return [by_id[cid] for cid in ids]


def _bounds(problem: _Problem, x_floor: float) -> tuple[list[int], list[int]]:
    """Least and most agents per cell: open, ``min_agents``, the floor, ``can_add_agents``."""
    model = problem.model
    curves = problem.curves
    lower: list[int] = []
    upper: list[int] = []
    scenario = model.scenario
    for e, cell in enumerate(model.cells):
        plan = scenario.plan(model.center_ids[cell.center])
        q = model.queues[cell.center]
        least = max(1, plan.min_agents)
        if x_floor > 0.0:
            for rate in problem.cell_load(e):
                if rate > 0.0:
                    least = max(least, curves.agents_for(rate, q, x_floor))
        most = MAX_AGENTS
        if not plan.can_add_agents:
            most = plan.agents[cell.weekday][cell.half]
        lower.append(min(least, most))
        upper.append(most)
    return lower, upper


def _add(problem: _Problem, x: list[int], upper: Sequence[int], slack: list[float]) -> None:
    """Add agents until every constraint holds (or cannot be helped any more).

    A constraint that would miss its goal even if every queue answered every
    call at once (the correction says the runs lose more than that) gets no
    agents thrown at it: ``_Problem.unreachable``.
    """
    hopeless = set(problem.unreachable())
    for _ in range(1_000_000):
        worst, worst_slack = -1, 0.0
        for c, s in enumerate(slack):
            if s < worst_slack - 1e-12 and c not in hopeless:
                worst, worst_slack = c, s
        if worst < 0:
            return
        best, best_score = -1, 0.0
        for e in problem.cells_of[worst]:
            if x[e] >= upper[e]:
                continue
            score = 0.0
            for c, d in problem.change(e, x[e], x[e] + 1, slack):
                score += min(d, -slack[c])
            score /= problem.hours[e] or 1.0
            if score > max(best_score, _MIN_GAIN):
                best, best_score = e, score
        if best < 0:
            hopeless.add(worst)
            continue
        for c, d in problem.change(best, x[best], x[best] + 1):
            slack[c] += d
        x[best] += 1


def _remove(problem: _Problem, x: list[int], lower: Sequence[int], slack: list[float]) -> None:
    """Take agents away where they are worth least, while every constraint still holds."""

    def loss(e: int) -> float:
        return -sum(d for _, d in problem.change(e, x[e], x[e] - 1)) / (problem.hours[e] or 1.0)

    heap = [(loss(e), e, x[e]) for e in range(len(x)) if x[e] > lower[e]]
    heapq.heapify(heap)
    while heap:
        _, e, n = heapq.heappop(heap)
        if x[e] != n or n <= lower[e]:
            continue
        moves = problem.change(e, n, n - 1)
        if any(d < -1e-15 and slack[c] + d < 0.0 for c, d in moves):
            # Slack only shrinks from here on, so this cell stays as it is.
            continue
        for c, d in moves:
            slack[c] += d
        x[e] = n - 1
        if x[e] > lower[e]:
            heapq.heappush(heap, (loss(e), e, x[e]))


def _seed(base: int, round_: int, rep: int) -> int:
    """The seed of one run: distinct per round and replication, fixed by the base seed."""
    return (base * 1_000_003 + round_ * 1009 + rep + 1) % (2**63)


def plan_staffing(
    scenario: Scenario,
    rules: Rules,
    *,
    workers: int = 1,
    progress: Progress | None = None,
) -> StaffingPlan:
    """Search the fewest agents per center and half hour that keep ``rules``."""
    scenario = replace(scenario, target=rules.target, threshold_s=rules.threshold_s)
    with Evaluator(scenario, workers) as evaluator:
        return _search(scenario, rules, evaluator, progress)


def _search(
    scenario: Scenario, rules: Rules, evaluator: Evaluator, progress: Progress | None
) -> StaffingPlan:
    total_runs = rules.rounds * rules.replications
    say: Progress = progress or (lambda _stage, _done, _total: None)
    say("routing the window by design", 0, total_runs)
    model = NetworkModel.build(scenario)
    curves = Curves()
    problem = _Problem(model, rules, curves)
    lower, upper = _bounds(problem, rules.floor_level)
    x = [
        min(
            upper[e],
            max(
                [lower[e]]
                + [
                    curves.agents_for(rate, model.queues[cell.center], rules.target)
                    for rate in problem.cell_load(e)
                ]
            ),
        )
        for e, cell in enumerate(model.cells)
    ]
    erlang_a_hours = _hours(problem, x)
    erlang_c_hours = [0.0] * len(model.center_ids)
    for e, cell in enumerate(model.cells):
        q = model.queues[cell.center]
        need = max([lower[e]] + [erlang_c_agents(r, q, rules.target) for r in problem.cell_load(e)])
        erlang_c_hours[cell.center] += need * problem.hours[e]
    hour_day = _hour_days(model)
    spread = _Spread()
    rounds: list[RoundSummary] = []
    results: list[EvalResult] = []
    done = 0
    evaluated: list[int] | None = None
    for r in range(rules.rounds):
        if evaluated is not None and evaluated == x:
            break  # the corrections no longer change the plan
        say(f"round {r + 1}: simulating {_hours(problem, x):,.0f} agent-hours", done, total_runs)
        staffing = pack(_tables(model, x))
        tasks = [EvalTask(staffing, _seed(rules.seed, r, q)) for q in range(rules.replications)]

        label = f"round {r + 1}: simulating"

        def tick(label: str = label) -> None:
            nonlocal done
            done += 1
            say(label, done, total_runs)

        results = evaluator.map(tasks, tick)
        evaluated = list(x)
        # The curves take the loads these runs saw; the corrections are what
        # the runs found beyond the curves at those loads.
        problem.observe_load(results)
        pred = problem.predict(x)
        observed = [_observed(problem, con, results, hour_day) for con in problem.constraints]
        for con, p, seen in zip(problem.constraints, pred, observed, strict=True):
            for value in seen:
                con.delta_sum += (r + 1) * (value - p)
                con.delta_weight += r + 1
            level = statistics.fmean(seen) if seen else 0.0
            if con.kind == _WINDOW and len(seen) > 1 and 0.0 < level < 1.0:
                binomial = level * (1.0 - level) / con.calls
                spread.add(con.home, statistics.variance(seen) / binomial, len(seen) - 1)
        _set_goals(problem, rules, spread, rules.replications)
        rounds.append(_round_summary(problem, x, observed, rules, [t.seed for t in tasks]))
        if r < rules.rounds - 1:
            lower, upper = _bounds(problem, rules.floor_level)
            x = [min(max(n, lo), hi) for n, lo, hi in zip(x, lower, upper, strict=True)]
            slack = problem.slack(x)
            _add(problem, x, upper, slack)
            if r < rules.rounds - 2:
                _remove(problem, x, lower, slack)
    assert evaluated is not None
    say("done", total_runs, total_runs)
    return _answer(
        problem,
        evaluated,
        results,
        rules,
        spread,
        hour_day,
        rounds,
        erlang_a_hours,
        erlang_c_hours,
        curves,
    )


class _Spread:
    """How much more a center's service level varies from run to run than binomially.

    Runs of the same plan (the replications of a round) give each center a
    variance ratio with ``replications - 1`` degrees of freedom per round. A
    center's own ratio is shrunk towards the network's: a center fed by the
    whole country's overflow (the national center) varies far more than a
    regional one, but a few runs alone would be a shaky estimate.
    """

    def __init__(self) -> None:
        self.sums: dict[int, float] = {}
        self.dfs: dict[int, int] = {}

    def add(self, home: int, ratio: float, df: int) -> None:
        self.sums[home] = self.sums.get(home, 0.0) + ratio * df
        self.dfs[home] = self.dfs.get(home, 0) + df

    @property
    def pooled(self) -> float:
        df = sum(self.dfs.values())
        if df == 0:
            return _PRIOR_OVERDISPERSION
        return _clip(sum(self.sums.values()) / df)

    def of(self, home: int) -> float:
        pooled = self.pooled
        df = self.dfs.get(home, 0)
        return _clip((self.sums.get(home, 0.0) + _SHRINK_DF * pooled) / (df + _SHRINK_DF))


def _clip(phi: float) -> float:
    return min(max(phi, 1.0), 50.0)


def _z(rules: Rules, problem: _Problem) -> float:
    n = sum(1 for c in problem.constraints if c.kind == _WINDOW) or 1
    return statistics.NormalDist().inv_cdf(1.0 - (1.0 - rules.confidence) / n)


def _sigma(phi: float, target: float, calls: float, runs: int) -> float:
    """The spread of a fresh run's service level about the estimate (at the target).

    Binomial spread times the overdispersion the runs showed, widened by the
    uncertainty of the estimate itself: counted as if only the ``runs`` runs
    of one round had gone into it, since the corrections of earlier rounds
    were measured on other plans.
    """
    return math.sqrt(phi * target * (1.0 - target) / calls * (1.0 + 1.0 / max(runs, 1)))


def _set_goals(problem: _Problem, rules: Rules, spread: _Spread, runs: int) -> None:
    """Goals: the target plus the margin a fresh run needs (see the module doc)."""
    z_window = _z(rules, problem)
    z_day = statistics.NormalDist().inv_cdf(DAY_CONFIDENCE)
    for con in problem.constraints:
        if con.kind == _ABANDON or con.calls <= 0:
            continue
        z = z_window if con.kind == _WINDOW else z_day
        sigma = _sigma(spread.of(con.home), rules.target, con.calls, runs)
        con.goal = rules.target + min(z * sigma, MAX_MARGIN)


def _hour_days(model: NetworkModel) -> list[int]:
    days = [0] * model.timeline.hours
    for k, slot in enumerate(model.timeline.slots):
        days[slot.hour_index] = model.slot_day[k]
    return days


def _observed(
    problem: _Problem, con: _Constraint, results: Sequence[EvalResult], hour_day: Sequence[int]
) -> list[float]:
    """The constraint's figure in each run (runs without counted calls left out)."""
    seen: list[float] = []
    for result in results:
        figures = _in_order(result, problem.model.center_ids)[con.home]
        if con.kind == _ABANDON:
            if figures.abandon_rate is not None:
                seen.append(1.0 - figures.abandon_rate)
            continue
        counted = within = 0
        for h, (n, w) in enumerate(zip(figures.counted, figures.within, strict=True)):
            if con.kind == _WINDOW or hour_day[h] == con.day:
                counted += n
                within += w
        level = service_level(within, counted, 0)
        if level is not None:
            seen.append(level)
    return seen


def _hours(problem: _Problem, x: Sequence[int]) -> float:
    return sum(n * h for n, h in zip(x, problem.hours, strict=True))


def _tables(model: NetworkModel, x: Sequence[int]) -> dict[str, WeekHalfHours]:
    return {cid: model.agents_table(x, j) for j, cid in enumerate(model.center_ids)}


def _round_summary(
    problem: _Problem,
    x: Sequence[int],
    observed: Sequence[Sequence[float]],
    rules: Rules,
    seeds: Sequence[int],
) -> RoundSummary:
    window = [
        statistics.fmean(seen)
        for con, seen in zip(problem.constraints, observed, strict=True)
        if con.kind == _WINDOW and seen
    ]
    below = [
        sum(1 for v in seen if v < rules.target) / len(seen)
        for con, seen in zip(problem.constraints, observed, strict=True)
        if con.kind == _WINDOW and seen
    ]
    return RoundSummary(
        agent_hours=_hours(problem, x),
        worst_service_level=min(window) if window else None,
        centers_below=sum(below),
        seeds=tuple(seeds),
    )


def _answer(
    problem: _Problem,
    x: Sequence[int],
    results: Sequence[EvalResult],
    rules: Rules,
    spread: _Spread,
    hour_day: Sequence[int],
    rounds: Sequence[RoundSummary],
    erlang_a_hours: float,
    erlang_c_hours: Sequence[float],
    curves: Curves,
) -> StaffingPlan:
    model = problem.model
    scenario = model.scenario
    target = rules.target
    norm = statistics.NormalDist()
    pred = problem.predict(x)
    runs_total = sum(len(rd.seeds) for rd in rounds)
    runs_final = len(rounds[-1].seeds)
    p_center: dict[int, float] = {}
    day_below = 0.0
    center_days = 0
    for con, p in zip(problem.constraints, pred, strict=True):
        if con.kind == _ABANDON or con.calls <= 0:
            continue
        estimate = p + con.delta
        sigma = _sigma(spread.of(con.home), target, con.calls, runs_final)
        meets = norm.cdf((estimate - target) / sigma)
        if con.kind == _WINDOW:
            p_center[con.home] = meets
        else:
            center_days += 1
            day_below += 1.0 - meets
    hours_of = [0.0] * len(model.center_ids)
    for e, cell in enumerate(model.cells):
        hours_of[cell.center] += x[e] * problem.hours[e]
    centers: list[CenterSummary] = []
    for j, cid in enumerate(model.center_ids):
        figures = [_in_order(res, model.center_ids)[j] for res in results]
        daily = _daily_levels(figures, hour_day, len(model.days))
        centers.append(
            CenterSummary(
                id=cid,
                name=scenario.config.centers[cid].name,
                agent_hours=hours_of[j],
                erlang_c_agent_hours=erlang_c_hours[j],
                service_level=_mean([f.service_level for f in figures]),
                worst_day_service_level=min(daily) if daily else None,
                asa_s=_mean([f.asa_s for f in figures]),
                abandon_rate=_mean([f.abandon_rate for f in figures]),
                spill_in=statistics.fmean(f.spill_in for f in figures),
                spill_out=statistics.fmean(f.spill_out for f in figures),
                offhours_in=statistics.fmean(f.offhours_in for f in figures),
                offhours_out=statistics.fmean(f.offhours_out for f in figures),
                p_meets_target=p_center.get(j),
            )
        )
    all_centers = math.prod(p_center.values()) if p_center else 1.0
    unreachable = sorted(
        {model.center_ids[problem.constraints[c].home] for c in problem.unreachable()}
    )
    hourly = _national_hourly(results, model.timeline.hours)
    judged, below = _hours_below(results, rules.floor_level, model.timeline.hour_labels)
    counted = sum(sum(f.counted) for res in results for f in res.centers)
    within = sum(sum(f.within) for res in results for f in res.centers)
    scenario_hours = sum(n * SLOT_S / 3600.0 for row in model.timeline.agents for n in row)
    return StaffingPlan(
        scenario=scenario,
        rules=rules,
        tables=_tables(model, x),
        agent_hours=sum(hours_of),
        erlang_c_agent_hours=sum(erlang_c_hours),
        erlang_a_agent_hours=erlang_a_hours,
        scenario_agent_hours=scenario_hours,
        centers=tuple(centers),
        confidence=Confidence(
            all_centers=all_centers,
            worst_center=min(p_center.values()) if p_center else 1.0,
            center_days=center_days,
            center_days_expected_below=day_below,
            overdispersion=spread.pooled,
            worst_overdispersion=max(
                (spread.of(c.home) for c in problem.constraints), default=spread.pooled
            ),
            z_window=_z(rules, problem),
            runs=runs_total,
        ),
        rounds=tuple(rounds),
        unreachable=tuple(unreachable),
        # ``counted`` is already offered less the short abandons (the report's base).
        service_level=service_level(within, counted, 0),
        hour_labels=model.timeline.hour_labels,
        hourly_service_level=hourly,
        center_hours_judged=judged,
        center_hours_below_floor=below,
        calls_simulated=sum(res.calls for res in results),
        evaluations=runs_total,
        erlang_evaluations=curves.evaluations,
    )


def _daily_levels(
    figures: Sequence[CenterFigures], hour_day: Sequence[int], days: int
) -> list[float]:
    """A center's service level per day over the runs (days with enough calls)."""
    counted = [0] * days
    within = [0] * days
    for f in figures:
        for h, (n, w) in enumerate(zip(f.counted, f.within, strict=True)):
            counted[hour_day[h]] += n
            within[hour_day[h]] += w
    least = MIN_DAY_CALLS * len(figures)
    levels = [service_level(w, n, 0) for w, n in zip(within, counted, strict=True) if n >= least]
    return [level for level in levels if level is not None]


def _hours_below(
    results: Sequence[EvalResult], floor: float, labels: Sequence[str]
) -> tuple[int, tuple[tuple[str, str, float], ...]]:
    """The floor as the final runs saw it: center-hours with enough calls, and those below."""
    judged = 0
    below: list[tuple[int, str, float]] = []
    first = results[0]
    for j, f in enumerate(first.centers):
        for h in range(len(f.counted)):
            counted = sum(res.centers[j].counted[h] for res in results)
            if counted < FLOOR_CHECK_CALLS:
                continue
            judged += 1
            level = service_level(sum(res.centers[j].within[h] for res in results), counted, 0)
            if level is not None and level < floor:
                below.append((h, f.id, level))
    below.sort()
    return judged, tuple((cid, labels[h], level) for h, cid, level in below)


def _national_hourly(results: Sequence[EvalResult], hours: int) -> tuple[float | None, ...]:
    counted = [0] * hours
    within = [0] * hours
    for res in results:
        for f in res.centers:
            for h in range(hours):
                counted[h] += f.counted[h]
                within[h] += f.within[h]
    return tuple(service_level(w, n, 0) for w, n in zip(within, counted, strict=True))


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None
