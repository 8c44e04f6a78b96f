"""Benchmark: lotse's what-if engine against Ciw on the same M/M/c queue.

One center open around the clock, Poisson arrivals, exponential handle times,
``c`` agents, no abandonment: the queue of Erlang C. lotse routes every call
through the real policy (``router.policy.decide_at``) with a live snapshot; Ciw
(``import ciw``) just queues. Both simulate the same horizon; each is run
``--repeat`` times, alternating, and the best speed of each counts (the
machine's noise only ever slows a run down). Prints calls simulated per
second for both, their ratio, and both service levels against Erlang C; and,
from one more (instrumented) run, how much of lotse's time per call the
routing policy takes.

    .venv/bin/python bench/sim.py [--agents 20] [--rate 360] [--aht 180]
                                  [--calls 200000] [--repeat 3] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from datetime import date
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ciw

import sim.engine.core as core
from router import policy
from router.compiled import Instant
from router.config import Center, Config, Thresholds, TimeRange, WeeklyHours
from router.numbering import OrtsnetzTable
from router.policy import Call, Decision, Router
from router.state import Snapshot
from sim.engine import NoHolidays, simulate
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


def mmc_scenario(table: OrtsnetzTable, rate: float, aht: float, agents: int, days: int) -> Scenario:
    """One center, open 24/7, callers from Berlin's Ortsnetz: M/M/c through the policy."""
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
        thresholds=Thresholds(no_agents=False),
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


def run_lotse(scenario: Scenario, seed: int) -> tuple[float, float, int]:
    """(calls per second, service level, calls) of one lotse run."""
    gc.collect()
    started = time.perf_counter()
    router = Router(scenario.config, scenario.table, calendar=NoHolidays())
    report = simulate(scenario, seed=seed, router=router)
    elapsed = time.perf_counter() - started
    level = report.national.service_level or 0.0
    return report.calls / elapsed, level, report.calls


def policy_share(scenario: Scenario, seed: int) -> float:
    """Microseconds per call spent in ``router.policy.decide_at`` (an extra, instrumented run)."""
    real = policy.decide_at
    spent = [0.0]

    def timed(call: Call, instant: Instant, snapshot: Snapshot, router: Router) -> Decision:
        started = time.perf_counter()
        decision = real(call, instant, snapshot, router)
        spent[0] += time.perf_counter() - started
        return decision

    core.decide_at = timed  # type: ignore[attr-defined]  # the engine's global, as tests patch it
    try:
        router = Router(scenario.config, scenario.table, calendar=NoHolidays())
        report = simulate(scenario, seed=seed, router=router)
    finally:
        core.decide_at = real  # type: ignore[attr-defined]
    return spent[0] / report.calls * 1e6


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
    started = time.perf_counter()
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(horizon_s)
    elapsed = time.perf_counter() - started
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
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    table = OrtsnetzTable.load()
    days = max(1, math.ceil(args.calls / (args.rate * 24)))
    scenario = mmc_scenario(table, args.rate, args.aht, args.agents, days)
    horizon = days * 86400.0
    lotse_runs, ciw_runs = [], []
    for i in range(args.repeat):
        lotse_runs.append(run_lotse(scenario, args.seed + i))
        ciw_runs.append(run_ciw(args.rate, args.aht, args.agents, horizon, args.seed + i))
    lotse_speed = max(r[0] for r in lotse_runs)
    ciw_speed = max(r[0] for r in ciw_runs)
    # Service levels over all repetitions: more calls, a tighter estimate.
    lotse_sl = sum(r[1] * r[2] for r in lotse_runs) / sum(r[2] for r in lotse_runs)
    ciw_sl = sum(r[1] * r[2] for r in ciw_runs) / sum(r[2] for r in ciw_runs)
    exact = erlang_c(args.rate, args.aht, args.agents, THRESHOLD_S).service_level
    policy_us = policy_share(scenario, args.seed)
    result = {
        "agents": args.agents,
        "rate_per_h": args.rate,
        "aht_s": args.aht,
        "days": days,
        "repeat": args.repeat,
        "lotse_calls": lotse_runs[0][2],
        "ciw_calls": ciw_runs[0][2],
        "lotse_calls_per_s": round(lotse_speed),
        "ciw_calls_per_s": round(ciw_speed),
        "ratio": round(lotse_speed / ciw_speed, 2),
        "lotse_sl": round(lotse_sl, 5),
        "ciw_sl": round(ciw_sl, 5),
        "erlang_c_sl": round(exact, 5),
        "lotse_us_per_call": round(1e6 / lotse_speed, 1),
        "policy_us_per_call": round(policy_us, 1),
        "ciw_us_per_call": round(1e6 / ciw_speed, 1),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"M/M/{args.agents}: {args.rate:g} calls/h, AHT {args.aht:g} s, {days} days "
        f"(~{lotse_runs[0][2]} calls), best of {args.repeat}"
    )
    print(f"  lotse (policy in the loop) {lotse_speed:>10,.0f} calls/s   SL {lotse_sl:.2%}")
    print(f"  Ciw                        {ciw_speed:>10,.0f} calls/s   SL {ciw_sl:.2%}")
    print(f"  ratio lotse/Ciw            {lotse_speed / ciw_speed:>10.2f}")
    print(f"  Erlang C                                       SL {exact:.2%}")
    print(
        f"  per call: lotse {1e6 / lotse_speed:.1f} us, of which the routing policy "
        f"{policy_us:.1f} us; Ciw {1e6 / ciw_speed:.1f} us"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
