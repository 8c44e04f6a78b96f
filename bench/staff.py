"""Benchmark: the staffing planner on the national week, wall time on this machine.

Runs ``lotse sim staff sim/scenarios/national-week.yaml`` in-process (the same
search: Erlang A start, rounds of simulated replications in worker
processes), and prints the wall time, the runs simulated and the answer
beside per-center Erlang C. ``--workers 1`` shows what the worker processes
buy.

    .venv/bin/python bench/staff.py [--workers N] [--seed 0] [--rounds 4]
                                    [--replications 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from router.numbering import OrtsnetzTable
from sim.scenarioload import load_scenario
from sim.staffing.evaluate import default_workers
from sim.staffing.search import Rules, plan_staffing

SCENARIO = Path(__file__).resolve().parent.parent / "sim" / "scenarios" / "national-week.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--replications", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    scenario = load_scenario(SCENARIO, table=OrtsnetzTable.load())
    loaded = time.perf_counter()
    rules = Rules(
        target=0.75,
        threshold_s=scenario.threshold_s,
        rounds=args.rounds,
        replications=args.replications,
        seed=args.seed,
    )
    plan = plan_staffing(scenario, rules, workers=args.workers)
    wall = time.perf_counter() - started
    figures = {
        "scenario": scenario.name,
        "workers": args.workers,
        "wall_s": round(wall, 2),
        "load_s": round(loaded - started, 2),
        "runs": plan.evaluations,
        "calls_per_run": plan.calls_simulated // max(len(plan.rounds[-1].seeds), 1),
        "agent_hours": round(plan.agent_hours, 1),
        "erlang_c_agent_hours": round(plan.erlang_c_agent_hours, 1),
        "erlang_a_agent_hours": round(plan.erlang_a_agent_hours, 1),
        "confidence_all_centers": round(plan.confidence.all_centers, 4),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"national week: {plan.evaluations} runs of ~{figures['calls_per_run']:,} calls")
    print(f"  wall time       {wall:6.1f} s with {args.workers} worker(s) (60 s budget)")
    print(
        f"  agent-hours     {plan.agent_hours:8,.0f} (Erlang C per center without spill "
        f"{plan.erlang_c_agent_hours:,.0f}, Erlang A start {plan.erlang_a_agent_hours:,.0f})"
    )
    print(
        f"  confidence      {plan.confidence.all_centers:.1%} that another seed keeps every center"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
