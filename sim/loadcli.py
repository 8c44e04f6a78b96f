"""``lotse sim load``: a scenario's calls, live over AMI, against a PBX running lotse.

Either against a running PBX (``--pbx HOST:PORT``: the stand-in started with
``lotse pbx``, or a real Asterisk with the generated dialplan, see the README),
or ``--spawn``: the stand-in and the controller are started here on free
loopback ports, the stand-in staffed from the scenario, its clock compressed
by ``--speed`` and set to the scenario's window so the controller routes at
the scenario's hours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from rich.console import Console

from ami.session import AmiSession
from cliutil import default_config_path
from cliutil.tables import UNLIMITED, Column, fit_table, print_fitted, terminal_width
from dialplans.engine import DialplanFileError, load_dialplan
from dialplans.manager import load_username
from dialplans.route import ENTRY_CONTEXT
from lotse.controller import CALLBACK_KEY_ENV
from lotse.journal.report import report
from lotse.logging import configure_logging
from lotse.rig import AGI_DEADLINE_MS
from lotse.simclock import SimClock
from metrics.servicelevel import PER_HOME_VIEW, Tally
from router.config import Config, Endpoint
from router.configload import load_config
from router.confignodes import ConfigError
from router.data import demo_network_path
from router.numbering import OrtsnetzTable
from router.policy import Router
from sim.chaos import (
    AGI_REQUESTS_METRIC,
    DECISIONS_METRIC,
    HOME_COUNTERS,
    JOURNAL_LAG_METRICS,
    LATENCY_METRIC,
    AmiProxy,
    Chaos,
    ChaosKind,
    ControllerProcess,
    RestartProofCounters,
    Sampler,
    child_env,
    lotse_run_argv,
    run_chaos,
    scrape,
)
from sim.load import (
    Arrival,
    CallbackWatch,
    Latency,
    LoadRun,
    arrivals,
    caller_uniqueid,
    connected,
    drive,
    flat_arrivals,
    latency_between,
    service_figures,
    window_start,
)
from sim.loadjournal import callback_outcomes, journal_figures
from sim.scenario import Dist, Scenario
from sim.scenarioload import DEMO, load_scenario, sample_path
from sim.spawn import Child, ChildFailed, MemoryWatch, entry_argv, listening_socket
from standin.agents import AgentProfile, Duration
from standin.agents import DistKind as PbxDist
from standin.staffing import AgentSpec, Staffing

EXIT_OK, EXIT_LOST, EXIT_BAD_INPUT = 0, 1, 2


def add_load(sim_sub: Any) -> None:
    """Register ``lotse sim load``."""
    load = sim_sub.add_parser(
        "load",
        help="drive a scenario's calls live over AMI against a PBX with lotse run in the loop",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    load.add_argument(
        "scenario",
        type=Path,
        metavar="SCENARIO",
        help="scenario file (YAML), or a shipped one by name",
    )
    where = load.add_mutually_exclusive_group(required=True)
    where.add_argument("--pbx", metavar="HOST:PORT", help="AMI of the PBX to load")
    where.add_argument("--spawn", action="store_true", help="start the stand-in and lotse run here")
    load.add_argument(
        "--from",
        dest="start",
        default="09:00",
        metavar="HH:MM",
        help="window start, local time on the scenario's first day (default 09:00)",
    )
    load.add_argument("--hours", type=float, default=1.0, help="window length (default 1)")
    load.add_argument(
        "--rate",
        type=float,
        metavar="CALLS_PER_S",
        help="instead of the scenario's arrival curve: a flat rate of calls per real second "
        "(the scenario's caller mix at --from), for --minutes",
    )
    load.add_argument(
        "--minutes",
        type=float,
        metavar="M",
        help="with --rate: how long to originate, real minutes (default 10)",
    )
    load.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="virtual seconds per real second; 1 = wall clock (default 60)",
    )
    load.add_argument(
        "--user",
        help="AMI user (default: the generated load tester's, lotse-load; see manager_lotse.conf)",
    )
    load.add_argument(
        "--secret-env",
        default="LOTSE_AMI_SECRET",
        metavar="VAR",
        help="environment variable holding the AMI secret",
    )
    load.add_argument(
        "--context",
        default=ENTRY_CONTEXT,
        help=f"the 115 entry context calls are originated into (default {ENTRY_CONTEXT})",
    )
    load.add_argument(
        "--metrics",
        default="http://127.0.0.1:9115/metrics",
        metavar="URL",
        help="the controller's metrics, for its decision latency",
    )
    load.add_argument(
        "--chaos",
        action="append",
        default=[],
        type=_chaos,
        metavar="SPEC",
        help="with --spawn (repeatable): kill-controller:AT_S:RESTART_AFTER_S sends the "
        "controller SIGKILL AT_S seconds into the load and restarts it RESTART_AFTER_S later; "
        "ami-drop:EVERY_S cuts its AMI connection every EVERY_S seconds",
    )
    load.add_argument(
        "--dialplan",
        type=Path,
        metavar="DIR",
        help="with --spawn: the stand-in runs the dialplan files in DIR (default: generated "
        "from the scenario's configuration)",
    )
    load.add_argument(
        "--journal",
        type=Path,
        metavar="PATH",
        help="with --spawn: where the controller keeps its call journal (default: a "
        "temporary file, removed afterwards); read it with lotse report",
    )
    load.add_argument("--seed", type=int, default=0)
    load.add_argument("--config", type=Path, help="lotse config (default: config.yaml)")
    load.add_argument("--json", action="store_true", help="print the summary as JSON")
    load.set_defaults(func=load_command)


def _chaos(text: str) -> Chaos:
    try:
        return Chaos.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def load_command(args: argparse.Namespace) -> int:
    """``lotse sim load``; exit 0 when no call was lost, 1 otherwise, 2 for bad input."""
    # The controller spawned here logs like lotse run, but only what needs attention.
    configure_logging("warning")
    table = OrtsnetzTable.load()
    config_path: Path = args.config or default_config_path()
    if not args.scenario.exists() and (sample := sample_path(str(args.scenario))) is not None:
        # A shipped scenario by name (normal-day), as lotse sim run takes it.
        args.scenario = sample
    try:
        scenario = load_scenario(
            args.scenario, table=table, config=lambda: load_config(config_path, table=table)
        )
        start = window_start(scenario, args.start)
    except ConfigError as problem:
        for line in problem.lines():
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, ValueError) as failure:
        print(f"lotse sim load: {failure}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.speed <= 0 or args.hours <= 0:
        print("lotse sim load: --speed and --hours must be positive", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.minutes is not None and args.rate is None:
        print("lotse sim load: --minutes needs --rate", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.rate is not None:
        args.minutes = 10.0 if args.minutes is None else args.minutes
        if not (args.rate > 0 and args.minutes > 0):
            print("lotse sim load: --rate and --minutes must be positive", file=sys.stderr)
            return EXIT_BAD_INPUT
        # The window the flat stream covers on the simulated clock.
        args.hours = args.minutes * 60 * args.speed / 3600
    args.user = args.user or default_user(scenario.config)
    if (args.chaos or args.journal or args.dialplan) and not args.spawn:
        print("lotse sim load: --chaos, --journal and --dialplan need --spawn", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        args.dialplan_loaded = load_dialplan(args.dialplan) if args.dialplan else None
    except DialplanFileError as err:
        print(f"lotse sim load: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        # Drawn here, as the run's first use of its seed (a scenario without
        # calls at --from is bad input).
        _plan(args, scenario, table, random.Random(args.seed), start)
    except ValueError as failure:
        print(f"lotse sim load: {failure}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        summary = asyncio.run(_load(args, scenario, table, start))
    except ChildFailed as failure:
        # A spawned process that could not start: what it said, not where it
        # said it (its log lives in a directory removed by now).
        print(f"lotse sim load: {failure}", file=sys.stderr)
        return EXIT_LOST
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        out = Console()
        print_summary(summary, out if out.is_terminal else Console(width=UNLIMITED))
    return EXIT_OK if summary["lost"] == 0 else EXIT_LOST


@dataclass
class _Target:
    """The PBX the load drives and what is known of its controller."""

    ami: Endpoint
    secret: str
    sampler: Sampler
    controller: ControllerProcess | None = None
    proxy: AmiProxy | None = None
    journal: Path | None = None
    pbx: Child | None = None


def _plan(
    args: argparse.Namespace,
    scenario: Scenario,
    table: OrtsnetzTable,
    rng: random.Random,
    start: datetime,
) -> list[Arrival]:
    """The calls to originate: the scenario's window, or a flat rate (``--rate``)."""
    router = Router(scenario.config, table)
    if args.rate is not None:
        return flat_arrivals(
            scenario, router, rng, start, rate_per_s=args.rate, minutes=args.minutes,
            speed=args.speed,
        )  # fmt: skip
    return arrivals(scenario, router, rng, start, args.hours)


async def _load(
    args: argparse.Namespace, scenario: Scenario, table: OrtsnetzTable, start: datetime
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    plan = _plan(args, scenario, table, rng, start)
    err = Console(stderr=True)

    def note(text: str) -> None:
        if not args.json:
            err.print(text, highlight=False)

    async with _target(args, scenario, table, start) as target:
        events: asyncio.Queue[list[object]] = asyncio.Queue()
        session = AmiSession(
            target.ami.host, target.ami.port, args.user, target.secret,
            sink=events.put_nowait, rng=rng,
        )  # fmt: skip
        session.start()
        try:
            await connected(events, timeout=15)
            loop = asyncio.get_running_loop()
            run = LoadRun(dict(scenario.config.center_by_queue), args.speed, loop.time)
            # Ended calls are counted and let go as the run goes on (flat memory).
            run.level = scenario.config.service_level
            run.callbacks = CallbackWatch(
                {
                    center.queue: center.callback.offer_after_wait_s
                    for center in scenario.config.centers.values()
                    if center.callback is not None and center.callback.offer_after_wait_s
                }
            )
            if target.controller is None:
                first = await asyncio.to_thread(scrape, target.sampler.metrics_url)
                if first is not None:
                    target.sampler.counters.baseline(first)

            def progress(done: int, total: int) -> None:
                if done % 50 == 0 or done == total:
                    note(f"originated {done}/{total}")

            memory = MemoryWatch()

            async def watch_memory() -> None:
                while True:
                    memory.sample(_pids(target))
                    await asyncio.sleep(1.0)

            background = [
                asyncio.create_task(target.sampler.run()),
                asyncio.create_task(run_chaos(args.chaos, target.controller, target.proxy, note)),
                asyncio.create_task(watch_memory()),
            ]
            try:
                await drive(
                    session,
                    events,
                    plan,
                    run,
                    context=args.context,
                    # Unique per run: Asterisk refuses a ChannelId already in use.
                    id_prefix=f"load-{os.getpid()}-{int(time.time())}",
                    speed=args.speed,
                    drain_s=max(30.0, 3600 / args.speed),
                    progress=progress,
                    callbacks=scenario.callbacks,
                )
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
            journal: dict[str, Any] | None = None
            outcomes: dict[str, int] | None = None
            journal_view: dict[str, dict[str, Any]] | None = None
            controller = target.controller
            if controller is not None and target.journal is not None:
                # Back up (after a kill), caught up with Asterisk (after a cut),
                # then stopped so that its journal is complete on disk.
                if not controller.running:
                    await controller.start()
                else:
                    await controller.wait_ready()
                await controller.stop()
                ids = [caller_uniqueid(channel_id) for channel_id in run.channel_ids()]
                journal = journal_figures(target.journal, ids)
                journal.update(journal_lag(target.sampler))
                outcomes = callback_outcomes(target.journal)
                journal_view = await journal_truth(target.journal, scenario, start, args.hours)
            else:
                await target.sampler.sample()
        finally:
            await session.stop()
        counters = target.sampler.counters
        latency = latency_between({}, counters.histogram(LATENCY_METRIC))
        stale = counters.total(f"{DECISIONS_METRIC}_total", state="stale")
        decisions = stale + counters.total(f"{DECISIONS_METRIC}_total", state="fresh")
        chaos = {
            "kills": controller.kills if controller is not None else 0,
            "ami_cuts": target.proxy.cuts if target.proxy is not None else 0,
        }
    out = summary(run, scenario, plan, latency, args)
    out["rss_mb"] = memory.figures()
    out["callbacks"] = run.callback_figures(outcomes)
    out.update(
        decisions=int(decisions) if decisions else latency.decisions,
        stale_decisions=int(stale),
        agi_requests=agi_results(counters),
        journal=journal,
        chaos=chaos,
        truth=truth(
            run.truth(scenario.config.service_level),
            metrics_truth(counters, scenario.config),
            journal_view,
        ),
    )
    return out


def agi_results(counters: RestartProofCounters) -> dict[str, int]:
    """The controller's FastAGI requests by result over the run (summed over restarts)."""
    out: dict[str, int] = {}
    for (name, labels), value in counters.totals.items():
        if name == f"{AGI_REQUESTS_METRIC}_total" and value:
            result = dict(labels).get("result", "")
            out[result] = out.get(result, 0) + int(value)
    return dict(sorted(out.items()))


def _pids(target: _Target) -> dict[str, int | None]:
    """The processes of the run whose memory is watched."""
    pids: dict[str, int | None] = {"driver": os.getpid()}
    if target.controller is not None:
        pids["controller"] = target.controller.pid
    if target.pbx is not None:
        pids["pbx"] = target.pbx.pid
    return pids


def journal_lag(sampler: Sampler) -> dict[str, Any]:
    """``lag_p50_s``, ``lag_p99_s``, ``lag_max_s`` of the journal and where they come from.

    From the controller's ``lotse_journal_lag_seconds`` histogram (each
    record's time to disk; p50/p99 as bucket upper bounds, max the largest
    sample of its gauge if any), else from its lag gauge sampled every scrape
    (0.5 s): ``lotse_journal_lag_seconds``, or the age of the oldest record
    not yet written (``lotse_journal_write_lag_seconds``).
    """
    name = JOURNAL_LAG_METRICS[0]
    buckets = sampler.counters.histogram(name)
    if buckets.get("count"):
        count = buckets["count"]
        bounds = sorted((float(le), n) for le, n in buckets.items() if le not in ("count", "sum"))

        def quantile(q: float) -> float:
            return next((le for le, n in bounds if n >= q * count), math.inf)

        return {
            "lag_p50_s": quantile(0.5),
            "lag_p99_s": quantile(0.99),
            "lag_max_s": max(sampler.gauges.get(name, [math.nan])),
            "lag_source": f"{name} histogram",
        }
    for gauge in JOURNAL_LAG_METRICS:
        values = sorted(sampler.gauges.get(gauge, []))
        if values:
            return {
                "lag_p50_s": round(percentile(values, 0.5), 3),
                "lag_p99_s": round(percentile(values, 0.99), 3),
                "lag_max_s": round(values[-1], 3),
                "lag_source": f"{gauge} sampled every 0.5 s",
            }
    return {"lag_p50_s": None, "lag_p99_s": None, "lag_max_s": None, "lag_source": None}


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def metrics_truth(counters: RestartProofCounters, config: Config) -> dict[str, dict[str, Any]]:
    """Per home center, what the controller's ``lotse_home_calls_*`` counters say."""
    out = {}
    for cid in sorted(config.centers):
        offered, within, short = (
            int(counters.total(f"{name}_total", center=cid)) for name in HOME_COUNTERS
        )
        tally = Tally(offered=offered, answered_within=within, short_abandoned=short)
        out[cid] = service_figures(tally)
    return out


async def journal_truth(
    path: Path, scenario: Scenario, start: datetime, hours: float
) -> dict[str, dict[str, Any]]:
    """Per home center, what ``lotse report`` says of the journal, over the window's days."""
    tz = ZoneInfo(scenario.config.timezone)
    first = start.astimezone(tz).date()
    last = (start + timedelta(hours=hours)).astimezone(tz).date()
    totals: dict[str, Tally] = {}
    day = first
    while day <= last:
        for row in await report(path, day, tz, scenario.config.service_level):
            if row.national:
                continue
            t = totals.setdefault(row.center, Tally())
            t.offered += row.offered
            t.answered_within += row.answered_within
            t.short_abandoned += row.short_abandoned
        day += timedelta(days=1)
    return {cid: service_figures(t) for cid, t in sorted(totals.items())}


_NO_CALLS = {"offered": 0, "answered_within": 0, "service_level": None}


def truth(
    observed: dict[str, dict[str, Any]],
    metrics: dict[str, dict[str, Any]],
    journal: dict[str, dict[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """Per home center with offered calls in any view: ``{observed, metrics, journal}``,
    each ``{offered, answered_within, service_level}`` (``journal`` ``None`` without one)."""
    views = [observed, metrics, journal or {}]
    centers = sorted({cid for view in views for cid, f in view.items() if f["offered"]})
    return {
        cid: {
            "observed": observed.get(cid, _NO_CALLS),
            "metrics": metrics.get(cid, _NO_CALLS),
            "journal": None if journal is None else journal.get(cid, _NO_CALLS),
        }
        for cid in centers
    }


def summary(
    run: LoadRun, scenario: Scenario, plan: list[Any], latency: Latency, args: argparse.Namespace
) -> dict[str, Any]:
    """The run's figures as one JSON-ready object."""
    per, nation, lost = run.tallies(scenario)
    return {
        "scenario": scenario.name,
        "window_start": args.start,
        "hours": args.hours,
        "speed": args.speed,
        "planned": len(plan),
        "originated": run.originated,
        "originate_slip_s": round(run.slip_s, 3),
        "lost": lost,
        "centers": {cid: t.as_dict() for cid, t in sorted(per.items())},
        "national": nation.as_dict(),
        "decisions": latency.decisions,
        "decision_latency_mean_ms": latency.mean_ms,
        "decision_latency_p99_ms": latency.p99_ms,
    }


# Left out on a narrow terminal, the highest number first (0 never).
_SUMMARY_COLUMNS = (
    Column("center", "left", 0),
    Column("calls", priority=2),
    Column("offered", priority=0),
    Column("answered", priority=1),
    Column("SL 30 s", priority=0),
    Column("ASA s", priority=1),
    Column("abandoned", priority=1),
    Column("by partner", priority=2),
    Column("announced", priority=3),
    Column("fallback", priority=2),
)


def print_summary(s: dict[str, Any], console: Console) -> None:
    """The summary as a table, national last, fitted to a terminal (cliutil.tables)."""
    title = (
        f"{s['scenario']}: {s['hours']:g} h from {s['window_start']}, x{s['speed']:g}, "
        f"{PER_HOME_VIEW}"
    )
    cells = []
    for cid, c in [*s["centers"].items(), ("national", s["national"])]:
        cells.append(
            [
                cid,
                str(c["calls"]),
                str(c["offered"]),
                str(c["answered"]),
                "-" if c["service_level"] is None else f"{c['service_level']:.1%}",
                "-" if c["asa_s"] is None else f"{c['asa_s']:.1f}",
                str(c["abandoned"]),
                str(c["answered_by_partner"]),
                str(c["announced"]),
                str(c["fallback_routes"]),
            ]
        )
    total = frozenset({len(cells) - 2})
    fitted = fit_table(_SUMMARY_COLUMNS, cells, terminal_width(console), sections=total)
    print_fitted(console, fitted, title)
    if s["decisions"]:
        console.print(
            f"controller: {s['decisions']} decisions, mean "
            f"{s['decision_latency_mean_ms']:.2f} ms, p99 <= {s['decision_latency_p99_ms']:.1f} ms"
        )
    else:
        console.print("controller: decision latency not available (metrics not reachable)")
    console.print(f"calls lost: {s['lost']} of {s['originated']} originated")


@asynccontextmanager
async def _target(
    args: argparse.Namespace, scenario: Scenario, table: OrtsnetzTable, start: datetime
) -> AsyncIterator[_Target]:
    """The PBX to load, spawned here if asked: the stand-in and the controller each in a
    process of its own (``lotse pbx``, ``lotse run``), so the load, the stand-in and the
    controller do not share a core, and chaos can kill the controller."""
    if not args.spawn:
        host, _, port = args.pbx.rpartition(":")
        secret = os.environ.get(args.secret_env, "")
        yield _Target(Endpoint(host or "127.0.0.1", int(port)), secret, Sampler(args.metrics))
        return
    config = scenario.config
    # A secret of this run's own: no other process on the machine logs in.
    secret = secrets.token_urlsafe(18)
    # Both processes read the simulated day from one reference on the shared
    # monotonic clock.
    clock = SimClock(start.timestamp(), time.monotonic(), args.speed)
    proxy: AmiProxy | None = None
    with tempfile.TemporaryDirectory(prefix="lotse-sim-load-") as tmp_dir:
        tmp = Path(tmp_dir)
        # The stand-in's AMI socket, bound here and handed over: its port is
        # known before either process starts, and nobody else can take it.
        ami_sock = listening_socket()
        ami = Endpoint(*ami_sock.getsockname()[:2])
        controller_ami = ami
        if any(c.kind is ChaosKind.AMI_DROP for c in args.chaos):
            proxy = AmiProxy(ami)
            controller_ami = await proxy.start()
        journal = args.journal or tmp / "journal.sqlite"
        # The stand-in writes Asterisk's queue_log and the controller follows
        # it: calls handled while the controller was killed reach the journal.
        queue_log = tmp / "queue_log"
        c = config.controller
        env = {c.ami_secret_env or "LOTSE_AMI_SECRET": secret}
        # A key of this run's own: the journal is a test's.
        env[c.journal_key_env] = secrets.token_hex(32)
        # And one for the callback numbers (encrypted at rest).
        env[CALLBACK_KEY_ENV] = secrets.token_hex(32)
        controller = ControllerProcess(
            metrics_url="",
            # Port 0: lotse run binds free ports and reports them (ready file).
            argv=lotse_run_argv(
                config=_config_path(args),
                ami=controller_ami,
                agi=Endpoint("127.0.0.1", 0),
                metrics=Endpoint("127.0.0.1", 0),
                journal=journal,
                sim_clock=clock.render(),
                agi_deadline_ms=AGI_DEADLINE_MS,
                queue_log=queue_log,
                ready_file=tmp / "lotse-run.ready",
            ),
            env=child_env(env),
            log_path=tmp / "lotse-run.log",
            ready_file=tmp / "lotse-run.ready",
        )
        staffing = tmp / "staffing.yaml"
        staffing.write_text(staffing_yaml(scenario_staffing(scenario, config, start)))
        pbx: Child | None = None
        try:
            await controller.start(wait=False)
            assert controller.agi is not None
            pbx = Child(
                "lotse pbx",
                entry_argv(
                    "pbx",
                    "--config",
                    str(_config_path(args)),
                    "--ami-fd",
                    str(ami_sock.fileno()),
                    "--agi",
                    str(controller.agi),
                    "--staffing",
                    str(staffing),
                    "--sim-clock",
                    clock.render(),
                    "--seed",
                    str(args.seed),
                    "--queue-log",
                    str(queue_log),
                    *(["--dialplan", str(args.dialplan)] if args.dialplan else []),
                ),
                child_env({c.ami_secret_env or "LOTSE_AMI_SECRET": secret}),
                tmp / "lotse-pbx.log",
                pass_fds=(ami_sock.fileno(),),
            )
            await pbx.start()
            ami_sock.close()  # the stand-in has it now
            try:
                await controller.wait_ready()
            except ChildFailed:
                if not pbx.running:
                    raise pbx.failed("ended at start") from None
                raise
            target = _Target(ami, secret, controller, controller, proxy, journal)
            target.pbx = pbx
            yield target
        finally:
            ami_sock.close()
            await controller.stop()
            if pbx is not None:
                await pbx.stop()
            if proxy is not None:
                await proxy.close()


def staffing_yaml(staffing: Staffing) -> str:
    """A staffing file (``lotse pbx --staffing``) with each agent and profile as given."""
    queues: dict[str, list[dict[str, str | bool]]] = {}
    for queue, specs in staffing.queues.items():
        queues[queue] = [
            {
                "name": spec.name,
                "ring": spec.profile.ring.render(),
                "handle": spec.profile.handle.render(),
                "paused": spec.paused,
            }
            for spec in specs
        ]
    text: str = yaml.safe_dump({"queues": queues}, sort_keys=True)
    return text


def _config_path(args: argparse.Namespace) -> Path:
    """The network configuration file the scenario names (``network:``), else --config's."""
    try:
        doc = yaml.safe_load(args.scenario.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        doc = None
    network = doc.get("network") if isinstance(doc, dict) else None
    if network == DEMO:
        # As the scenario loader reads it: the demo network inside the package.
        return demo_network_path().resolve()
    if isinstance(network, str) and network:
        scenario: Path = args.scenario
        return (scenario.parent / network).resolve()
    fallback: Path = args.config or default_config_path()
    return fallback.resolve()


def default_user(config: Config) -> str:
    """The AMI user ``lotse dialplan build`` generates for the load tester."""
    return load_username(config)


def scenario_staffing(scenario: Scenario, config: Config, start: datetime) -> Staffing:
    """The stand-in's agents: each center's scenario staffing at the window's start."""
    weekday, half_hour = start.weekday(), start.hour * 2 + start.minute // 30
    queues = {}
    for cid, center in config.centers.items():
        plan = scenario.plan(cid)
        profile = AgentProfile(ring=_duration(plan.ring), handle=_duration(plan.handle))
        n = plan.agents[weekday][half_hour]
        queues[center.queue] = tuple(AgentSpec(f"{cid}-{i}", profile) for i in range(1, n + 1))
    return Staffing(queues)


def _duration(dist: Dist) -> Duration:
    return Duration(PbxDist(dist.kind.value), dist.mean_s, dist.spread_s, dist.min_s, dist.max_s)
