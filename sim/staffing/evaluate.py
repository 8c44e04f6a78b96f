"""One candidate evaluation: a staffing and a seed in, the run's figures out.

:func:`evaluate` is a pure function of the scenario and a small
:class:`EvalTask`; it returns a small :class:`EvalResult`. Both are frozen and
picklable, and nothing is shared between tasks, so a sweep can run them in
worker processes (:class:`Evaluator`) or, later, on a distributed engine (the
scenario broadcast once per worker, tasks mapped over it). The figures are
the engine's own report (:func:`sim.engine.simulate`): the planner never
recounts a service level.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, replace

from router.policy import Action
from sim.engine import Engine
from sim.engine.decisions import Choice
from sim.engine.model import SimCall, SimCenter
from sim.engine.timeline import SLOT_S
from sim.scenario import DAYS, HALF_HOURS, Scenario, WeekHalfHours

# A staffing as sent to a worker: per center, agents per weekday and half hour
# as unsigned 16-bit numbers (7 x 48 cells, 672 bytes a center).
Staffing = tuple[tuple[str, bytes], ...]


def pack(tables: Mapping[str, WeekHalfHours]) -> Staffing:
    """Tables of agents in the compact, picklable form of a task."""
    return tuple(
        (cid, array("H", [n for day in week for n in day]).tobytes())
        for cid, week in sorted(tables.items())
    )


def unpack(staffing: Staffing) -> dict[str, WeekHalfHours]:
    """The tables of :func:`pack`."""
    found: dict[str, WeekHalfHours] = {}
    for cid, raw in staffing:
        cells = array("H")
        cells.frombytes(raw)
        found[cid] = tuple(tuple(cells[d * HALF_HOURS : (d + 1) * HALF_HOURS]) for d in range(DAYS))
    return found


def with_staffing(scenario: Scenario, tables: Mapping[str, WeekHalfHours]) -> Scenario:
    """``scenario`` with these centers' agents replaced (the others keep theirs)."""
    plans = dict(scenario.plans)
    for cid, week in tables.items():
        plans[cid] = replace(scenario.plan(cid), agents=week)
    return replace(scenario, plans=plans)


@dataclass(frozen=True)
class EvalTask:
    """Run the scenario with this staffing and this seed."""

    staffing: Staffing
    seed: int


@dataclass(frozen=True)
class CenterFigures:
    """One center's figures of one run (the engine's report, slimmed)."""

    id: str
    # calls counted for the service level, and answered within the threshold, per hour
    counted: tuple[int, ...]
    within: tuple[int, ...]
    service_level: float | None
    asa_s: float | None
    abandon_rate: float | None
    queued: int  # calls that joined a queue (the report's "offered")
    agent_hours: float
    spill_in: int
    spill_out: int
    offhours_in: int
    offhours_out: int
    # calls that joined this center's queue, per half hour of the window
    joins: tuple[int, ...]


@dataclass(frozen=True)
class EvalResult:
    """What one run of a candidate found."""

    seed: int
    calls: int
    centers: tuple[CenterFigures, ...]
    national_service_level: float | None


class _JoinCounter(Engine):
    """The engine, also counting the calls that join each queue per half hour.

    The report counts calls by their home; the planner's queueing model also
    needs what each queue was offered, overflow and spills included. A call
    answered the moment it first joins a queue is counted where the agent
    takes it (``_take`` with no wait: the engine's inline path never plays a
    decision for it); every other queue decision where it is played
    (``_act``).
    """

    def __init__(self, scenario: Scenario, *, seed: int) -> None:
        super().__init__(scenario, seed=seed)
        # One spare half hour: a call at the very end of the period.
        self.joins = [[0] * (len(self.timeline.slots) + 1) for _ in self.centers]

    def _act(self, t: float, call: SimCall, choice: Choice) -> None:
        target = choice.target
        if (
            choice.action is Action.QUEUE
            and target is not None
            and (target.waiting or target.logged_in <= target.busy or 0.0 <= call.first_queue < t)
        ):
            self.joins[target.index][int(t / SLOT_S)] += 1
        super()._act(t, call, choice)

    def _take(self, t: float, center: SimCenter, home: SimCenter, hour: int, since: float) -> None:
        if since == t:
            self.joins[center.index][int(t / SLOT_S)] += 1
        super()._take(t, center, home, hour, since)


def evaluate(scenario: Scenario, task: EvalTask) -> EvalResult:
    """Simulate ``scenario`` with the task's staffing and seed; the report, slimmed."""
    engine = _JoinCounter(with_staffing(scenario, unpack(task.staffing)), seed=task.seed)
    report = engine.run()
    slots = len(engine.timeline.slots)
    joins = {}
    for c in engine.centers:
        row = engine.joins[c.index]
        row[slots - 1] += row[slots]
        joins[c.id] = tuple(row[:slots])
    moves: dict[str, list[int]] = {c.id: [0, 0, 0, 0] for c in report.centers}
    for column, flows in ((0, report.overflow), (2, report.offhours_flows)):
        for flow in flows:
            moves[flow.target][column] += flow.calls
            moves[flow.source][column + 1] += flow.calls
    centers = tuple(
        CenterFigures(
            id=c.id,
            counted=tuple(report.hourly_offered[c.id]),
            within=tuple(report.hourly_within[c.id]),
            service_level=c.service_level,
            asa_s=c.asa_s,
            abandon_rate=c.abandon_rate,
            queued=c.offered,
            agent_hours=c.agent_hours,
            spill_in=moves[c.id][0],
            spill_out=moves[c.id][1],
            offhours_in=moves[c.id][2],
            offhours_out=moves[c.id][3],
            joins=joins[c.id],
        )
        for c in report.centers
    )
    return EvalResult(task.seed, report.calls, centers, report.national.service_level)


# --- running tasks -------------------------------------------------------------------

_WORKER_SCENARIO: Scenario | None = None


def _init_worker(scenario: Scenario) -> None:
    global _WORKER_SCENARIO
    _WORKER_SCENARIO = scenario


def _worker_evaluate(task: EvalTask) -> EvalResult:
    assert _WORKER_SCENARIO is not None, "worker started without a scenario"
    return evaluate(_WORKER_SCENARIO, task)


def default_workers() -> int:
    """The CPU count this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class Evaluator:
    """Runs tasks in this process (one worker) or in a pool of worker processes.

    Results come back in the order of the tasks, whatever finished first, so
    a sweep is deterministic for a seed whatever the number of workers.
    """

    def __init__(self, scenario: Scenario, workers: int) -> None:
        self.scenario = scenario
        self.workers = max(1, workers)
        self._pool: Executor | None = None
        if self.workers > 1:
            # The scenario goes to each worker once, not with every task.
            self._pool = ProcessPoolExecutor(
                self.workers, initializer=_init_worker, initargs=(scenario,)
            )

    def map(
        self, tasks: Sequence[EvalTask], done: Callable[[], None] | None = None
    ) -> list[EvalResult]:
        """Evaluate ``tasks``; ``done`` is called as each one finishes."""
        results: list[EvalResult] = []
        for result in self._results(tasks):
            results.append(result)
            if done is not None:
                done()
        return results

    def _results(self, tasks: Sequence[EvalTask]) -> Iterator[EvalResult]:
        if self._pool is None:
            for task in tasks:
                yield evaluate(self.scenario, task)
            return
        yield from self._pool.map(_worker_evaluate, tasks)

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
