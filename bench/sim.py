"""Benchmark: lotse's what-if engine against Ciw and a bare heapq loop on the same M/M/c queue.

One center open around the clock, Poisson arrivals, exponential handle times,
``c`` agents, no abandonment: the queue of Erlang C. lotse routes every call by
the real policy (``router.policy.decide_at``, asked again only when a fact its
decision rests on changed: ``sim.engine.decisions``); Ciw (``import ciw``) just
queues; the bare loop is the least pure Python can do (a heap of departures, a
deque of waiting callers): the floor. All three simulate the same horizon; each
is run ``--repeat`` times, alternating, and the best speed of each counts (the
machine's noise only ever slows a run down). Speeds are calls per second of the
process's CPU time: all three are single-threaded pure Python, and on a shared
machine wall time mostly measures the neighbours; still, compare the ratios,
which come from one run, rather than absolute figures across runs. Prints
calls simulated per second and the ratios, the service levels against Erlang
C, and from one more (instrumented) run how much of lotse's time per call the
routing policy takes.

Accuracy: ``lotse_sl_ci95`` is the half-width of a 95 % confidence interval of
lotse's service level from batch means (each run cut into ``BATCHES``
stretches of consecutive hours, Student's t). Queue lengths stay correlated
over hundreds of calls under load, so the interval is far wider than a
binomial one of the same calls: about ±1.1 pp at 1 M calls of M/M/20 at 90 %.

    .venv/bin/python bench/sim.py [--agents 20] [--rate 360] [--aht 180]
                                  [--calls 200000] [--repeat 3] [--seed 1] [--json]
                                  [--max-waiting N]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import math
import random
import statistics
import sys
import time
from collections import deque
from datetime import date
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ciw

import sim.engine.decisions as decisions
from router import policy
from router.compiled import Instant
from router.config import Center, Config, Thresholds, TimeRange, WeeklyHours
from router.numbering import OrtsnetzTable
from router.policy import Call, Decision, Router
from router.state import Snapshot
from sim.engine import NATIONAL, Engine, NoHolidays, SimReport, simulate
from sim.erlang import erlang_c
from sim.scenario import (
    CallerMix,
    CenterPlan,
    Dist,
    DistKind,
    Scenario,
    constant_agents,
    constant_week,
)

THRESHOLD_S = 30.0
# Batches per run for the confidence interval: each long against the queue's memory.
BATCHES = 20


def mmc_scenario(
    table: OrtsnetzTable,
    rate: float,
    aht: float,
    agents: int,
    days: int,
    max_waiting: int | None = None,
) -> Scenario:
    """One center, open 24/7, callers from Berlin's Ortsnetz: M/M/c through the policy.

    With ``max_waiting`` the center counts as overloaded from that many callers
    waiting on: it has no partner, so the call stays, but the decision names
    the queue length (the engine keeps one per length).
    """
    always = (TimeRange(dtime(0), dtime(0)),)
    center = Center(
        id="solo",
        name="M/M/c",
        state="BE",
        queue="115-solo",
        greeting="lotse/greeting-solo",
        offhours_announcement="lotse/offhours-solo",
        hours=WeeklyHours((always,) * 7),
        ortsnetze=("30",),
        thresholds=Thresholds(max_waiting=max_waiting, no_agents=False),
    )
    config = Config(centers={"solo": center}, fallback_center="solo")
    plan = CenterPlan(
        calls_per_hour=constant_week(rate),
        agents=constant_agents(agents),
        handle=Dist(DistKind.EXPONENTIAL, aht),
        patience=Dist(DistKind.NONE),
    )
    return Scenario(
        name="M/M/c",
        config=config,
        table=table,
        start=date(2026, 11, 23),
        days=days,
        plans={"solo": plan},
        callers=CallerMix(mobile=0.0, anonymous=0.0),
        threshold_s=THRESHOLD_S,
        short_abandon_s=0.0,
    )


def run_lotse(scenario: Scenario, seed: int) -> tuple[float, SimReport]:
    """(calls per second, report) of one lotse run."""
    gc.collect()
    started = time.process_time()
    router = Router(scenario.config, scenario.table, calendar=NoHolidays())
    report = simulate(scenario, seed=seed, router=router)
    elapsed = time.process_time() - started
    return report.calls / elapsed, report


def batch_ratios(report: SimReport, batches: int) -> list[float]:
    """The national service level of each of ``batches`` stretches of consecutive hours."""
    within = report.hourly_within[NATIONAL]
    counted = report.hourly_offered[NATIONAL]
    hours = len(counted)
    levels = []
    for b in range(batches):
        lo, hi = b * hours // batches, (b + 1) * hours // batches
        base = sum(counted[lo:hi])
        if base:
            levels.append(sum(within[lo:hi]) / base)
    return levels


def student_t975(df: int) -> float:
    """The 97.5 % quantile of Student's t (Cornish-Fisher; within 1e-3 from 5 df on)."""
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def ci95(levels: list[float]) -> float:
    """Half-width of the 95 % interval of the mean of independent batch levels."""
    n = len(levels)
    if n < 2:
        return math.inf
    return student_t975(n - 1) * statistics.stdev(levels) / math.sqrt(n)


def policy_share(scenario: Scenario, seed: int) -> tuple[float, int]:
    """(microseconds per call spent in ``router.policy.decide_at``, questions to the
    policy) from an extra, instrumented run."""
    real = policy.decide_at
    spent = [0.0]

    def timed(call: Call, instant: Instant, snapshot: Snapshot, router: Router) -> Decision:
        started = time.perf_counter()
        decision = real(call, instant, snapshot, router)
        spent[0] += time.perf_counter() - started
        return decision

    decisions.decide_at = timed  # type: ignore[attr-defined]  # the engine's global, as tests patch it
    try:
        router = Router(scenario.config, scenario.table, calendar=NoHolidays())
        engine = Engine(scenario, seed=seed, router=router)
        report = engine.run()
    finally:
        decisions.decide_at = real  # type: ignore[attr-defined]
    return spent[0] / report.calls * 1e6, engine.decider.asked


def run_bare(
    rate: float, aht: float, agents: int, horizon_s: float, seed: int
) -> tuple[float, float, int]:
    """(calls per second, service level, calls) of the bare heapq M/M/c loop: the floor.

    Arrivals until the horizon, then the queue drains; a call's wait runs from
    its arrival to an agent taking it, as in lotse (ring time 0).
    """
    gc.collect()
    started = time.process_time()
    rng = random.Random(seed)
    expo = rng.expovariate
    lam, mu = rate / 3600.0, 1.0 / aht
    departures: list[float] = []
    push, pop = heapq.heappush, heapq.heappop
    queue: deque[float] = deque()
    busy = calls = within = 0
    t = expo(lam)
    while t < horizon_s:
        while departures and departures[0] <= t:
            done = pop(departures)
            if queue:
                if done - queue.popleft() <= THRESHOLD_S:
                    within += 1
                push(departures, done + expo(mu))
            else:
                busy -= 1
        calls += 1
        if busy < agents:
            busy += 1
            within += 1
            push(departures, t + expo(mu))
        else:
            queue.append(t)
        t += expo(lam)
    while queue:
        done = pop(departures)
        if done - queue.popleft() <= THRESHOLD_S:
            within += 1
        push(departures, done + expo(mu))
    elapsed = time.process_time() - started
    return calls / elapsed, within / calls, calls


def run_ciw(
    rate: float, aht: float, agents: int, horizon_s: float, seed: int
) -> tuple[float, float, int]:
    """(customers per second, service level, customers) of one Ciw run over the horizon."""
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate / 3600.0)],
        service_distributions=[ciw.dists.Exponential(1.0 / aht)],
        number_of_servers=[agents],
    )
    ciw.seed(seed)
    gc.collect()
    started = time.process_time()
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(horizon_s)
    elapsed = time.process_time() - started
    records = sim.get_all_records()
    within = sum(1 for r in records if r.waiting_time <= THRESHOLD_S)
    return len(records) / elapsed, within / len(records), len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rate", type=float, default=360.0, help="calls per hour")
    parser.add_argument("--aht", type=float, default=180.0, help="mean handle time, s")
    parser.add_argument("--calls", type=int, default=200_000, help="about this many calls")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-waiting",
        type=int,
        default=None,
        help="overload threshold of the center (decisions then name the queue length)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    table = OrtsnetzTable.load()
    days = max(1, math.ceil(args.calls / (args.rate * 24)))
    scenario = mmc_scenario(table, args.rate, args.aht, args.agents, days, args.max_waiting)
    horizon = days * 86400.0
    lotse_runs: list[tuple[float, SimReport]] = []
    ciw_runs, bare_runs = [], []
    for i in range(args.repeat):
        lotse_runs.append(run_lotse(scenario, args.seed + i))
        ciw_runs.append(run_ciw(args.rate, args.aht, args.agents, horizon, args.seed + i))
        bare_runs.append(run_bare(args.rate, args.aht, args.agents, horizon, args.seed + i))
    lotse_speed = max(r[0] for r in lotse_runs)
    ciw_speed = max(r[0] for r in ciw_runs)
    bare_speed = max(r[0] for r in bare_runs)
    # Service levels over all repetitions: more calls, a tighter estimate.
    within = sum(r.national.answered_within for _, r in lotse_runs)
    counted = sum(sum(r.hourly_offered[NATIONAL]) for _, r in lotse_runs)
    lotse_sl = within / counted
    lotse_ci = ci95([level for _, r in lotse_runs for level in batch_ratios(r, BATCHES)])
    ciw_sl = sum(r[1] * r[2] for r in ciw_runs) / sum(r[2] for r in ciw_runs)
    bare_sl = sum(r[1] * r[2] for r in bare_runs) / sum(r[2] for r in bare_runs)
    exact = erlang_c(args.rate, args.aht, args.agents, THRESHOLD_S).service_level
    policy_us, asked = policy_share(scenario, args.seed)
    result = {
        "agents": args.agents,
        "max_waiting": args.max_waiting,
        "rate_per_h": args.rate,
        "aht_s": args.aht,
        "days": days,
        "repeat": args.repeat,
        "lotse_calls": lotse_runs[0][1].calls,
        "ciw_calls": ciw_runs[0][2],
        "bare_calls": bare_runs[0][2],
        "lotse_calls_per_s": round(lotse_speed),
        "ciw_calls_per_s": round(ciw_speed),
        "bare_calls_per_s": round(bare_speed),
        "ratio": round(lotse_speed / ciw_speed, 2),
        "lotse_vs_bare": round(lotse_speed / bare_speed, 3),
        "ciw_vs_bare": round(ciw_speed / bare_speed, 3),
        "lotse_sl": round(lotse_sl, 5),
        "lotse_sl_ci95": round(lotse_ci, 5),
        "erlang_c_inside": abs(lotse_sl - exact) <= lotse_ci,
        "ciw_sl": round(ciw_sl, 5),
        "bare_sl": round(bare_sl, 5),
        "erlang_c_sl": round(exact, 5),
        "lotse_us_per_call": round(1e6 / lotse_speed, 2),
        "policy_us_per_call": round(policy_us, 2),
        "policy_asked": asked,
        "ciw_us_per_call": round(1e6 / ciw_speed, 1),
        "bare_us_per_call": round(1e6 / bare_speed, 2),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"M/M/{args.agents}: {args.rate:g} calls/h, AHT {args.aht:g} s, {days} days "
        f"(~{lotse_runs[0][1].calls} calls), best of {args.repeat}"
    )
    print(f"  lotse (policy in the loop) {lotse_speed:>10,.0f} calls/s   SL {lotse_sl:.2%}", end="")
    print(f" ± {lotse_ci:.2%} (95 %, batch means)")
    print(f"  Ciw                        {ciw_speed:>10,.0f} calls/s   SL {ciw_sl:.2%}")
    print(f"  bare heapq loop (floor)    {bare_speed:>10,.0f} calls/s   SL {bare_sl:.2%}")
    print(f"  ratio lotse/Ciw            {lotse_speed / ciw_speed:>10.2f}")
    print(f"  ratio lotse/bare           {lotse_speed / bare_speed:>10.2f}")
    inside = "inside" if result["erlang_c_inside"] else "OUTSIDE"
    print(f"  Erlang C                                       SL {exact:.2%} ({inside} lotse's CI)")
    print(
        f"  per call: lotse {1e6 / lotse_speed:.2f} us, of which the routing policy "
        f"{policy_us:.2f} us (asked {asked} times, decisions kept otherwise); "
        f"Ciw {1e6 / ciw_speed:.1f} us; bare {1e6 / bare_speed:.2f} us"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
