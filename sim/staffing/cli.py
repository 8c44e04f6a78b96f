"""``lotse sim staff``: the fewest agents per center and half hour that keep the promise.

Exit codes: 0 ok (a plan was found and written), 1 runtime failure (files
cannot be written), 2 bad input (scenario or arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cliutil import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from rich.console import Console

    from sim.scenario import Scenario
    from sim.staffing.search import Rules, StaffingPlan


SubParsers = argparse._SubParsersAction


def add_staff(sim_sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Register ``lotse sim staff``."""
    from sim.cli import add_network_option
    from sim.staffing.evaluate import default_workers

    staff = sim_sub.add_parser(
        "staff",
        help="plan the fewest agents per center and half hour that keep the promise",
        description="For every center and half hour of SCENARIO's window, the fewest agents so "
        "that, simulated with the real routing policy, every center's service level per day "
        "reaches the target and no half hour falls below the floor. Starts from Erlang A per "
        "half hour and corrects by simulation (overflow lets some centers need fewer agents, "
        "their partners more). The plan is written in the scenario's own agents: format.",
    )
    staff.add_argument(
        "scenario",
        type=Path,
        metavar="SCENARIO",
        help="scenario file (YAML; - reads standard input), or a shipped one by name",
    )
    staff.add_argument(
        "--target", type=float, metavar="X", help="service level to keep (default: scenario's)"
    )
    staff.add_argument(
        "--threshold-s", type=float, metavar="S", help="answered within S s (default: scenario's)"
    )
    staff.add_argument(
        "--max-abandon", type=float, metavar="R", help="also keep each center's abandon rate <= R"
    )
    staff.add_argument(
        "--floor",
        type=float,
        metavar="X",
        help="no half hour below this service level by Erlang A (default: target - 0.2)",
    )
    staff.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        metavar="P",
        help="chance that a run with another seed keeps every center at the target over the "
        "window (default 0.95)",
    )
    staff.add_argument("--out", type=Path, metavar="PLAN.yaml", help="write the plan here")
    staff.add_argument("--json", action="store_true", help="print the result as one JSON object")
    staff.add_argument("--plot", type=Path, metavar="DIR", help="write PNG charts into DIR")
    staff.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        metavar="N",
        help="worker processes for the simulations (default: the CPU count)",
    )
    staff.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    staff.add_argument(
        "--rounds", type=int, default=4, metavar="N", help="simulation rounds (default 4)"
    )
    staff.add_argument(
        "--replications",
        type=int,
        default=2,
        metavar="N",
        help="runs with different seeds per round (default 2)",
    )
    add_network_option(staff)
    staff.set_defaults(func=staff_command)


def staff_command(args: argparse.Namespace) -> int:
    """``lotse sim staff``."""
    from rich.console import Console

    from cliutil.tables import terminal_width
    from sim.cli import load_scenario_arg, plot_extra_missing, report_console, write_charts
    from sim.staffing.search import Rules

    err = Console(stderr=True)
    if plot_extra_missing(args.plot):
        return EXIT_FAILURE
    scenario = load_scenario_arg(args.scenario, args.config)
    if scenario is None:
        return EXIT_BAD_INPUT
    if args.workers < 1:
        print("lotse sim staff: --workers must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        rules = Rules(
            target=args.target if args.target is not None else scenario.target,
            threshold_s=args.threshold_s if args.threshold_s is not None else scenario.threshold_s,
            floor=args.floor,
            max_abandon=args.max_abandon,
            confidence=args.confidence,
            rounds=args.rounds,
            replications=args.replications,
            seed=args.seed,
        )
    except ValueError as problem:
        print(f"lotse sim staff: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    started = time.perf_counter()
    plan = _plan(scenario, rules, args.workers, err)
    elapsed = time.perf_counter() - started
    if args.out is not None:
        from sim.staffing.planfile import render_plan

        try:
            args.out.write_text(
                render_plan(plan.tables, _header(plan, args), tuple(scenario.config.centers)),
                encoding="utf-8",
            )
        except OSError as failure:
            print(
                f"{args.out}: cannot write the plan: {failure.strerror or failure}", file=sys.stderr
            )
            return EXIT_FAILURE
    if args.json:
        data = plan_json(plan)
        data["plan"] = None if args.out is None else str(args.out)
        data["elapsed_s"] = round(elapsed, 2)
        data["workers"] = args.workers
        print(json.dumps(data, ensure_ascii=False, allow_nan=False))
    else:
        out = report_console()
        print_plan(plan, out, terminal_width(out))
        err.print(
            f"{plan.evaluations} runs ({plan.calls_simulated:,} calls in the final round) "
            f"in {elapsed:.1f} s with {args.workers} worker(s)",
            style="dim",
        )
        if args.out is not None:
            err.print(f"wrote {args.out}", style="dim")
    if args.plot is not None:
        from sim.staffing.plots import write_plots

        return write_charts(args.plot, lambda directory: write_plots(plan, directory), err)
    return EXIT_OK


def _plan(scenario: Scenario, rules: Rules, workers: int, err: Console) -> StaffingPlan:
    from sim.staffing.search import plan_staffing

    if not err.is_terminal:
        return plan_staffing(scenario, rules, workers=workers)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(scenario.name, total=rules.rounds * rules.replications)

        def report(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=total)

        return plan_staffing(scenario, rules, workers=workers, progress=report)


def _header(plan: StaffingPlan, args: argparse.Namespace) -> str:
    r = plan.rules
    s = plan.scenario
    return (
        f"Staffing plan for {s.name!r} ({s.start.isoformat()}, {s.days} day(s)), "
        "by lotse sim staff\n"
        f"  {args.scenario} --target {r.target:g} --threshold-s {r.threshold_s:g} "
        f"--seed {r.seed}\n"
        f"Every center's service level per day >= {r.target:.0%} within {r.threshold_s:g} s "
        f"(simulated with the routing policy); no half hour below {r.floor_level:.0%} by "
        f"Erlang A.\n"
        f"{plan.agent_hours:,.0f} agent-hours; per-center Erlang C without spill: "
        f"{plan.erlang_c_agent_hours:,.0f}.\n"
        f"Chance that another seed keeps every center >= {r.target:.0%} over the window: "
        f"{plan.confidence.all_centers:.1%}.\n"
        f"Paste into a scenario's centers:, or: lotse sim run SCENARIO --staffing THIS_FILE"
    )


def plan_json(plan: StaffingPlan) -> dict[str, Any]:
    """The JSON object of ``lotse sim staff --json``."""
    r = plan.rules
    c = plan.confidence
    return {
        "scenario": plan.scenario.name,
        "start": plan.scenario.start.isoformat(),
        "days": plan.scenario.days,
        "target": r.target,
        "threshold_s": r.threshold_s,
        "floor": r.floor_level,
        "max_abandon": r.max_abandon,
        "seed": r.seed,
        "agent_hours": round(plan.agent_hours, 2),
        "erlang_c_agent_hours": round(plan.erlang_c_agent_hours, 2),
        "erlang_a_agent_hours": round(plan.erlang_a_agent_hours, 2),
        "scenario_agent_hours": round(plan.scenario_agent_hours, 2),
        "service_level": plan.service_level,
        "confidence": {
            "goal": r.confidence,
            "all_centers": c.all_centers,
            "worst_center": c.worst_center,
            "center_days": c.center_days,
            "center_days_expected_below": c.center_days_expected_below,
            "overdispersion": c.overdispersion,
            "worst_overdispersion": c.worst_overdispersion,
            "z_window": c.z_window,
            "runs": c.runs,
        },
        "rounds": [
            {
                "agent_hours": round(rd.agent_hours, 2),
                "worst_service_level": rd.worst_service_level,
                "centers_below": rd.centers_below,
                "seeds": list(rd.seeds),
            }
            for rd in plan.rounds
        ],
        "unreachable": list(plan.unreachable),
        "floor_check": {
            "center_hours": plan.center_hours_judged,
            "below_floor": [
                {"center": cid, "hour": hour, "service_level": level}
                for cid, hour, level in plan.center_hours_below_floor
            ],
        },
        "runs": plan.evaluations,
        "calls_final_round": plan.calls_simulated,
        "erlang_evaluations": plan.erlang_evaluations,
        "centers": [
            {
                "id": x.id,
                "name": x.name,
                "agent_hours": round(x.agent_hours, 2),
                "erlang_c_agent_hours": round(x.erlang_c_agent_hours, 2),
                "service_level": x.service_level,
                "worst_day_service_level": x.worst_day_service_level,
                "asa_s": x.asa_s,
                "abandon_rate": x.abandon_rate,
                "spill_in": x.spill_in,
                "spill_out": x.spill_out,
                "offhours_in": x.offhours_in,
                "offhours_out": x.offhours_out,
                "p_meets_target": x.p_meets_target,
            }
            for x in plan.centers
        ],
    }


def print_plan(plan: StaffingPlan, console: Console, width: int | None = None) -> None:
    """The per-center table, the totals beside Erlang C, and the confidence.

    ``width``: the terminal's; columns are left out by priority to fit it.
    """
    from cliutil.tables import Column, fit_table, print_fitted

    r = plan.rules
    title = (
        f"{plan.scenario.name}: staffing for {r.target:.0%} within {r.threshold_s:g} s "
        f"per center and day (means of the final {len(plan.rounds[-1].seeds)} run(s))"
    )
    # Left out on a narrow terminal, the highest number first (0 never).
    columns = [
        Column("center", "left", 0),
        Column("agent h", priority=0),
        Column("Erlang C h", priority=2),
        Column("SL", priority=0),
        Column("worst day", priority=1),
        Column("ASA s", priority=2),
        Column("abandoned", priority=2),
        Column("spill in", priority=3),
        Column("spill out", priority=3),
        Column("off-hours in", priority=3),
        Column("P(SL ok)", priority=1),
    ]
    rows: list[list[str]] = []

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    for x in plan.centers:
        if x.agent_hours == 0 and x.service_level is None:
            continue
        worst = x.worst_day_service_level
        style = "" if worst is None else ("green" if worst >= r.target else "bold red")
        rows.append(
            [
                x.id,
                f"{x.agent_hours:,.0f}",
                f"{x.erlang_c_agent_hours:,.0f}",
                pct(x.service_level),
                f"[{style}]{pct(worst)}[/]" if style else pct(worst),
                "-" if x.asa_s is None else f"{x.asa_s:.1f}",
                pct(x.abandon_rate),
                f"{x.spill_in:,.0f}",
                f"{x.spill_out:,.0f}",
                f"{x.offhours_in:,.0f}",
                "-" if x.p_meets_target is None else f"{x.p_meets_target:.3f}",
            ]
        )
    rows.append(
        [
            "total",
            f"{plan.agent_hours:,.0f}",
            f"{plan.erlang_c_agent_hours:,.0f}",
            pct(plan.service_level),
            *[""] * (len(columns) - 4),
        ]
    )
    total = frozenset({len(rows) - 2})
    print_fitted(console, fit_table(columns, rows, width, sections=total), title)
    saved = plan.erlang_c_agent_hours - plan.agent_hours
    share = abs(saved) / plan.erlang_c_agent_hours if plan.erlang_c_agent_hours else 0.0
    console.print(
        f"agent-hours {plan.agent_hours:,.0f}: {abs(saved):,.0f} ({share:.1%}) "
        f"{'fewer' if saved >= 0 else 'more'} than per-center "
        f"Erlang C without spill ({plan.erlang_c_agent_hours:,.0f}); Erlang A start "
        f"{plan.erlang_a_agent_hours:,.0f}; the scenario's own {plan.scenario_agent_hours:,.0f}"
    )
    below = plan.center_hours_below_floor
    shown = ", ".join(f"{cid} {hour} ({level:.0%})" for cid, hour, level in below[:8])
    console.print(
        f"floor: {len(below)} of {plan.center_hours_judged} center-hours with calls fell below "
        f"{r.floor_level:.0%} in the final runs" + (f": {shown}" if below else ""),
        style="yellow" if below else "green",
    )
    if plan.unreachable:
        console.print(
            f"no staffing reaches the target for: {', '.join(plan.unreachable)} "
            "(the runs lose more calls than agents can win back; see the table)",
            style="bold red",
        )
    c = plan.confidence
    console.print(
        f"confidence: another seed keeps every center >= {r.target:.0%} over the window with "
        f"{c.all_centers:.1%} (goal {r.confidence:.0%}; weakest center {c.worst_center:.3f}); "
        f"of {c.center_days} center-days, {c.center_days_expected_below:.1f} expected below "
        f"{r.target:.0%} (from {c.runs} runs, overdispersion {c.overdispersion:.2f})",
        style="green" if c.all_centers >= r.confidence else "yellow",
    )
