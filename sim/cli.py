"""``lotse sim run`` (the what-if engine) and ``lotse erlang`` (the formulas).

Exit codes: 0 ok, 1 runtime failure (charts cannot be written), 2 bad input
(a scenario or configuration with problems, impossible arguments).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cliutil import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    STDIN,
    STDIN_NAME,
    default_config_path,
    read_config,
)
from cliutil.tables import UNLIMITED, Column, fit_table, print_fitted, terminal_width
from metrics.servicelevel import PER_HOME_VIEW
from router.config import Config
from router.confignodes import ConfigError, decode_text
from router.numbering import OrtsnetzTable
from sim.engine import NATIONAL, DecisionMismatch, SimReport, simulate
from sim.erlang import ErlangResult, agents_for, erlang
from sim.loadcli import add_load
from sim.national import national_network, render_config
from sim.scenario import Scenario
from sim.scenarioload import load_scenario, load_scenario_text, sample_names, sample_path
from sim.staffing.cli import add_staff

_SHOWN_FLOWS = 15
_FLOW_COLUMNS = (Column("from", "left", 0), Column("to", "left", 0), Column("calls", priority=0))
T = TypeVar("T")

SubParsers = argparse._SubParsersAction


def add_parser(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Register ``lotse sim`` (``run``, ``staff``, ``load``, ``national``) and ``lotse erlang``."""
    sim = sub.add_parser(
        "sim",
        help="what-if engine: simulate a scenario with the real routing policy",
        description="Simulate scenarios in virtual time: every call routed by the controller's "
        "policy, queues, agents per half hour, abandonment. Answers: will each center keep "
        "the 115 promise?",
    )
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="COMMAND", required=True)
    run = sim_sub.add_parser(
        "run",
        help="run a scenario file and report per center and national",
        description="Run SCENARIO (YAML, see sim/scenarios/) and report per center and "
        "national: offered, answered, service level, average speed of answer, abandonment, "
        "occupancy, overflow between centers, off-hours calls.",
    )
    run.add_argument(
        "scenario",
        type=Path,
        metavar="SCENARIO",
        help="scenario file (YAML; - reads standard input), or a shipped one by name "
        "(normal-day, monday-peak, holiday-nw, national-week)",
    )
    run.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    run.add_argument("--json", action="store_true", help="print the report as one JSON object")
    run.add_argument("--plot", type=Path, metavar="DIR", help="write PNG charts into DIR")
    run.add_argument(
        "--verify-decisions",
        action="store_true",
        help="also route every call by the policy directly and fail (exit 1) on the first "
        "call whose kept decision differs",
    )
    add_network_option(run)
    run.add_argument(
        "--staffing",
        type=Path,
        metavar="PLAN.yaml",
        help="replace the scenario's agents with this plan's (lotse sim staff --out)",
    )
    run.set_defaults(func=run_command)
    add_staff(sim_sub)
    add_load(sim_sub)
    nat = sim_sub.add_parser(
        "national",
        help="print the generated national network as config.yaml",
        description="Print the national network of about 100 centers that scenarios get with "
        "network: {national: {seed: N}} (the same seed gives the same network).",
    )
    nat.add_argument("--seed", type=int, default=115, metavar="N", help="generator seed")
    nat.set_defaults(func=national_command)

    erl = sub.add_parser(
        "erlang",
        help="Erlang C / Erlang A: service level of a staffing, or the agents needed",
        description="Erlang C (M/M/n) or, with --patience, Erlang A (M/M/n+M): the probability "
        "of waiting, the service level (answered within the threshold among all calls), the "
        "average speed of answer of answered calls and the abandonment rate. With --target "
        "instead of --agents: the fewest agents reaching that service level.",
    )
    erl.add_argument("--rate", type=float, required=True, metavar="R", help="calls per hour")
    erl.add_argument("--aht", type=float, required=True, metavar="S", help="mean handle time, s")
    group = erl.add_mutually_exclusive_group(required=True)
    group.add_argument("--agents", type=int, metavar="N", help="agents logged in")
    group.add_argument("--target", type=float, metavar="X", help="service level to reach (0.75)")
    erl.add_argument(
        "--threshold",
        type=float,
        default=30.0,
        metavar="T",
        help="service-level threshold in seconds (default 30)",
    )
    erl.add_argument(
        "--patience", type=float, metavar="P", help="mean caller patience in seconds: Erlang A"
    )
    erl.add_argument("--json", action="store_true", help="print one JSON object")
    erl.set_defaults(func=erlang_command)


# --- lotse sim run ------------------------------------------------------------------


def add_network_option(parser: argparse.ArgumentParser) -> None:
    """``--config``: the network for a scenario that names none."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="network for a scenario that names none (default: the lotse configuration)",
    )


def load_or_report(path: Path, load: Callable[[], T]) -> T | None:
    """``load()`` of the file at ``path``; ``None`` after printing its problems or why not read."""
    try:
        return load()
    except ConfigError as problem:
        for line in problem.lines():
            print(line, file=sys.stderr)
    except OSError as failure:
        name = failure.filename or path
        print(f"{name}: cannot read: {failure.strerror or failure}", file=sys.stderr)
    return None


def load_scenario_arg(path: Path, config: Path | None) -> Scenario | None:
    """Load a scenario named on the command line; ``None`` after printing its problems.

    ``-`` reads it from standard input (relative paths in it from the working
    directory); a name that is no file but a shipped sample's (``normal-day``)
    is that sample, so an installed lotse runs them from any directory.
    """
    table = OrtsnetzTable.load()
    config_path: Path = config or default_config_path()

    def network() -> Config:
        return read_config(config_path, table)

    if str(path) == STDIN:
        return load_or_report(
            path,
            lambda: load_scenario_text(
                decode_text(sys.stdin.buffer.read(), STDIN_NAME),
                STDIN_NAME,
                base_dir=Path.cwd(),
                table=table,
                config=network,
            ),
        )
    if not path.exists():
        sample = sample_path(str(path))
        if sample is None:
            print(
                f"{path}: cannot read: no such file (shipped scenarios: "
                f"{', '.join(sample_names())})",
                file=sys.stderr,
            )
            return None
        path = sample
    return load_or_report(path, lambda: load_scenario(path, table=table, config=network))


def report_console() -> Console:
    """Standard output for a report's tables (fitted to a terminal by :func:`fit_table`)."""
    out = Console()
    # Pipes and files get the whole table, not 80 columns of wrapped names.
    return out if out.is_terminal else Console(width=UNLIMITED)


def plot_extra_missing(plot: Path | None) -> bool:
    """``--plot`` without matplotlib: say which extra brings it (before any work is done)."""
    if plot is None or importlib.util.find_spec("matplotlib") is not None:
        return False
    print(
        "--plot needs matplotlib, which this installation lacks: pip install 'lotse[plot]'",
        file=sys.stderr,
    )
    return True


def write_charts(directory: Path, write: Callable[[Path], list[Path]], err: Console) -> int:
    """``--plot DIR``: write the charts, name each file on ``err``; exit code 1 if it cannot."""
    try:
        files = write(directory)
    except OSError as failure:
        print(f"{directory}: cannot write charts: {failure.strerror or failure}", file=sys.stderr)
        return EXIT_FAILURE
    for path in files:
        err.print(f"wrote {path}", style="dim")
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    """``lotse sim run``."""
    err = Console(stderr=True)
    if plot_extra_missing(args.plot):
        return EXIT_FAILURE
    scenario = load_scenario_arg(args.scenario, args.config)
    if scenario is None:
        return EXIT_BAD_INPUT
    if args.staffing is not None:
        from sim.staffing.evaluate import with_staffing
        from sim.staffing.planfile import load_plan, load_plan_text

        network = scenario.config
        plan = load_or_report(
            args.staffing,
            lambda: (
                load_plan_text(
                    decode_text(sys.stdin.buffer.read(), STDIN_NAME), network, STDIN_NAME
                )
                if str(args.staffing) == STDIN
                else load_plan(args.staffing, network)
            ),
        )
        if plan is None:
            return EXIT_BAD_INPUT
        scenario = with_staffing(scenario, plan)
    started = time.perf_counter()
    try:
        report = _run(scenario, args.seed, err, verify=args.verify_decisions)
    except DecisionMismatch as mismatch:
        print(f"{args.scenario}: seed {args.seed}: {mismatch}", file=sys.stderr)
        return EXIT_FAILURE
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(_finite(report.to_json()), ensure_ascii=False, allow_nan=False))
    else:
        out = report_console()
        print_report(report, out, terminal_width(out))
        err.print(
            f"{report.calls} calls, {report.routings} routing decisions in {elapsed:.1f} s "
            f"({report.calls / elapsed if elapsed > 0 else 0:,.0f} calls/s)",
            style="dim",
        )
    if args.plot is not None:
        from sim.engine.plots import write_plots

        return write_charts(args.plot, lambda directory: write_plots(report, directory), err)
    return EXIT_OK


def _run(scenario: Scenario, seed: int, err: Console, *, verify: bool = False) -> SimReport:
    if not err.is_terminal:
        return simulate(scenario, seed=seed, verify_decisions=verify)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f} % of the period"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(scenario.name, total=1.0)
        return simulate(
            scenario,
            seed=seed,
            progress=lambda done: progress.update(task, completed=done),
            verify_decisions=verify,
        )


def print_report(report: SimReport, console: Console, width: int | None = None) -> None:
    """The report as tables: centers and national, then the flows between centers."""
    title = (
        f"{report.scenario} ({report.start}, {report.days} day"
        f"{'' if report.days == 1 else 's'}, seed {report.seed}), {PER_HOME_VIEW}"
    )
    # Left out on a narrow terminal, the highest number first (0 never).
    columns = [
        Column("center", "left", 0),
        Column("calls", priority=2),
        Column("offered", priority=0),
        Column("off-hours", priority=2),
        Column("answered", priority=1),
        Column(f"SL {report.threshold_s:g} s", priority=0),
        Column("ASA s", priority=1),
        Column("abandoned", priority=1),
        Column("occupancy", priority=2),
        Column("agent h", priority=3),
    ]
    rows: list[list[str]] = []
    for c in (*report.centers, report.national):
        if c.calls == 0 and c.answered_here == 0 and c is not report.national:
            continue
        level = "-" if c.service_level is None else f"{c.service_level:.1%}"
        style = "" if c.meets_target is None else ("green" if c.meets_target else "bold red")
        rows.append(
            [
                c.id,
                str(c.calls),
                str(c.offered),
                str(c.off_hours),
                str(c.answered),
                f"[{style}]{level}[/]" if style else level,
                "-" if c.asa_s is None else f"{c.asa_s:.1f}",
                "-" if c.abandon_rate is None else f"{c.abandon_rate:.1%}",
                "-" if c.occupancy is None else f"{c.occupancy:.0%}",
                f"{c.agent_hours:.0f}",
            ]
        )
    print_fitted(
        console, fit_table(columns, rows, width, sections=frozenset({len(rows) - 2})), title
    )
    for title, flows in (
        ("overflow and spills", report.overflow),
        ("off-hours calls to partners", report.offhours_flows),
    ):
        if not flows:
            continue
        flow_rows = [[f.source, f.target, str(f.calls)] for f in flows[:_SHOWN_FLOWS]]
        if len(flows) > _SHOWN_FLOWS:
            flow_rows.append(["...", f"{len(flows) - _SHOWN_FLOWS} more", ""])
        print_fitted(console, fit_table(_FLOW_COLUMNS, flow_rows, width), f"{title} (from -> to)")
    cb = report.callbacks
    if cb.modelled:
        console.print(
            f"callbacks: {cb.offered} offered, {cb.requested} requested, {cb.completed} "
            f"completed, {cb.no_answer} not reached, {cb.expired} expired, {cb.pending} "
            f"still pending at the end; {cb.overtakes} overtook a live caller; "
            f"{report.national.callbacks_kept} kept by their deadline for callers who had "
            "queued (out of the service level, docs/service-level.md)",
            style="bold red" if cb.overtakes or cb.duplicates else None,
        )
    hourly = [v for v in report.hourly_service_level[NATIONAL] if v is not None]
    weak = sum(1 for v in hourly if v < report.target)
    if weak:
        console.print(
            f"national: {weak} of {len(hourly)} hours with calls below "
            f"{report.target:.0%} (see --plot for the hours)",
            style="yellow",
        )
    missed = [c.id for c in report.centers if c.meets_target is False]
    verdict = (
        f"every center keeps the promise ({report.target:.0%} within {report.threshold_s:g} s)"
        if not missed
        else f"{len(missed)} center(s) miss {report.target:.0%} within {report.threshold_s:g} s: "
        + ", ".join(missed[:12])
        + (" ..." if len(missed) > 12 else "")
    )
    console.print(verdict, style="green" if not missed else "bold red")


def national_command(args: argparse.Namespace) -> int:
    """``lotse sim national``."""
    network = national_network(OrtsnetzTable.load(), seed=args.seed)
    sys.stdout.write(render_config(network.config))
    return EXIT_OK


# --- lotse erlang -------------------------------------------------------------------


def erlang_command(args: argparse.Namespace) -> int:
    """``lotse erlang``."""
    try:
        if args.agents is not None:
            result = erlang(args.rate, args.aht, args.agents, args.threshold, args.patience)
        else:
            result = agents_for(args.rate, args.aht, args.target, args.threshold, args.patience)
    except ValueError as problem:
        print(f"lotse erlang: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(erlang_json(result, args.target), allow_nan=False))
    else:
        print_erlang(result, args.target, Console())
    return EXIT_OK


def erlang_json(result: ErlangResult, target: float | None = None) -> dict[str, Any]:
    """The JSON object of ``lotse erlang --json`` (``asa_s`` null when unbounded)."""
    data: dict[str, Any] = {
        "model": "erlang_a" if result.patience_s is not None else "erlang_c",
        "agents": result.agents,
        "offered_load_erl": result.offered_load_erl,
        "threshold_s": result.threshold_s,
        "p_wait": result.p_wait,
        "service_level": result.service_level,
        "asa_s": result.asa_s if math.isfinite(result.asa_s) else None,
        "occupancy": result.occupancy,
    }
    if result.patience_s is not None:
        data["patience_s"] = result.patience_s
        data["abandon_rate"] = result.abandon_rate
    if target is not None:
        data["target"] = target
        data["agents_needed"] = result.agents
    return data


def print_erlang(result: ErlangResult, target: float | None, console: Console) -> None:
    """The figures as a small table."""
    model = "Erlang A" if result.patience_s is not None else "Erlang C"
    rows = [
        [f"agents needed for {target:.0%}" if target is not None else "agents", str(result.agents)],
        ["offered load", f"{result.offered_load_erl:.2f} Erl"],
        ["probability of waiting", f"{result.p_wait:.1%}"],
        [f"service level ({result.threshold_s:g} s)", f"{result.service_level:.1%}"],
        [
            "average speed of answer",
            f"{result.asa_s:.1f} s" if math.isfinite(result.asa_s) else "unbounded (overload)",
        ],
    ]
    if result.patience_s is not None:
        rows.append(["abandonment", f"{result.abandon_rate:.1%}"])
    rows.append(["occupancy", f"{result.occupancy:.1%}"])
    columns = (Column(model, "left", 0), Column("", priority=0))
    print_fitted(console, fit_table(columns, rows, terminal_width(console)))


def _finite(value: Any) -> Any:
    """``value`` with infinities and NaN replaced by ``None`` (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
