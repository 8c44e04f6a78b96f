"""``lotse demo``: the live demo, or the routing of sample calls (``--routes``).

The live demo (``make run``) runs the Asterisk stand-in, a real controller and
a simulated working day compressed to a few minutes (see ``lotse.livedemo``).
``--routes`` instead shows, for callers from the demo network's Ortsnetze and
for mobile and anonymous callers, where the call goes on a normal weekday, in
the evening, on a state holiday and at night, and with an overloaded center.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape

from cliutil import (
    EXIT_FAILURE,
    BadInput,
    add_config_option,
    load,
    report_bad_input,
)
from cliutil.tables import Column, fit_table, print_fitted, terminal_width
from dialplans.engine import DialplanFileError, load_dialplan
from lotse.commands.run import endpoint_any_port
from lotse.controller import StartupError, check_listen
from lotse.journal.privacy import JournalKeyError
from lotse.journal.schema import JournalError
from lotse.livedemo import DemoOptions, default_start, run_demo
from lotse.logging import add_log_format_option, configure_logging
from router.config import Endpoint
from router.numbering import OrtsnetzTable
from router.policy import Action, Call, Decision, Router, decide
from router.state import CenterState, Snapshot

SAMPLE_CALLERS = (
    ("04211234567", "115", None),
    ("+49 471 987654", "115", None),
    ("034911234567", "115", None),
    ("03941 55555", "115", None),
    ("05251 123456", "115", None),
    ("0171 2345678", "115", "33098"),
    ("anonymous", "115", None),
    ("030 1234567", "05251115", None),
)
MOMENTS = (
    ("Tue 10:00", "2026-11-24T10:00"),
    ("Tue 19:00", "2026-11-24T19:00"),
    ("Fronleichnam 2027", "2027-05-27T10:00"),
    ("Reformationstag 2028", "2028-10-31T10:00"),
    ("Sun 03:00", "2026-11-29T03:00"),
)


def add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse demo``."""
    parser = sub.add_parser(
        "demo",
        help="live demo: stand-in Asterisk, controller and a simulated day",
        description="Start the Asterisk stand-in and a controller on loopback, place a "
        "simulated working day of 115 calls (compressed), show a live status, serve metrics "
        "and print the day's report. With --routes, print where sample calls go instead.",
    )
    add_config_option(parser)
    parser.add_argument("--routes", action="store_true", help="only print sample routings")
    parser.add_argument(
        "--speed",
        type=float,
        default=240.0,
        help="virtual seconds per real second (default 240: a day in ~3 min)",
    )
    parser.add_argument(
        "--hours",
        type=float,
        default=12.5,
        help="virtual hours to simulate from the start (default 12.5)",
    )
    parser.add_argument(
        "--start", help="virtual start, local ISO time (default Mon 2026-11-23 06:30)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the traffic")
    add_log_format_option(parser)
    parser.add_argument(
        "--agi-listen",
        type=endpoint_any_port,
        default=None,
        help="the controller's FastAGI HOST:PORT; port 0: a free one, kept (default: "
        "controller.agi_listen of the config)",
    )
    parser.add_argument(
        "--metrics-listen",
        type=endpoint_any_port,
        default=Endpoint("127.0.0.1", 9115),
        help="serve Prometheus metrics here (default 127.0.0.1:9115)",
    )
    parser.add_argument("--no-metrics", action="store_true", help="serve no metrics")
    parser.add_argument(
        "--dialplan",
        type=Path,
        metavar="DIR",
        help="the stand-in runs the dialplan files in DIR (default: generated from the "
        "configuration, as `lotse dialplan build` writes them)",
    )
    parser.add_argument(
        "--journal",
        type=Path,
        default=Path("run/demo-journal.sqlite"),
        help="call journal file (default run/demo-journal.sqlite)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if not args.routes:
        return _live(args)
    return _routes(args)


def _live(args: argparse.Namespace) -> int:
    try:
        table = OrtsnetzTable.load()
        config = load(args, table)
        dialplan = load_dialplan(args.dialplan) if args.dialplan else None
    except DialplanFileError as err:
        return report_bad_input(BadInput(str(err)))
    except BadInput as err:
        return report_bad_input(err)
    tz = ZoneInfo(config.timezone)
    try:
        start = default_start(tz) if args.start is None else datetime.fromisoformat(args.start)
    except ValueError:
        return report_bad_input(BadInput(f"--start: {args.start!r} is not an ISO time"))
    if start.tzinfo is None:
        start = start.replace(tzinfo=tz)
    if not args.speed > 0 or not args.hours > 0:
        return report_bad_input(BadInput("--speed and --hours must be positive"))
    # On a terminal the console form: its lines print above the live status
    # (rich takes stderr while it draws) instead of tearing it.
    configure_logging("warning", log_format=args.log_format or config.controller.log_format)
    options = DemoOptions(
        start,
        args.hours,
        args.speed,
        args.seed,
        None if args.no_metrics else args.metrics_listen,
        args.journal,
        args.agi_listen or config.controller.agi_listen,
        dialplan,
    )
    try:
        check_listen("FastAGI", options.agi)
        if options.metrics is not None:
            check_listen("metrics", options.metrics)
        return asyncio.run(run_demo(config, options, Console()))
    except JournalKeyError as err:
        return report_bad_input(BadInput(f"lotse demo: {err}"))
    except (StartupError, JournalError, OSError) as err:
        # One line, and nothing left running (see lotse run).
        print(f"lotse demo: {err}", file=sys.stderr, flush=True)
        return EXIT_FAILURE


def _routes(args: argparse.Namespace) -> int:
    try:
        table = OrtsnetzTable.load()
        router = Router(load(args, table), table)
    except BadInput as err:
        return report_bad_input(err)
    console = Console()
    staffed = CenterState(agents_logged_in=4, agents_available=1, agents_busy=3, avg_handle_s=180)
    normal = Snapshot(centers={cid: staffed for cid in router.config.centers})
    overloaded = Snapshot(
        centers={
            **normal.centers,
            "wittenberg": CenterState(
                waiting=14, agents_logged_in=3, agents_busy=3, avg_handle_s=240
            ),
        }
    )
    scenes = [
        (label, datetime.fromisoformat(at).replace(tzinfo=router.tz), normal)
        for label, at in MOMENTS
    ]
    scenes.insert(
        1,
        (
            "Tue 10:00, Wittenberg overloaded",
            datetime.fromisoformat(MOMENTS[0][1]).replace(tzinfo=router.tz),
            overloaded,
        ),
    )
    columns = (
        Column("caller", "left", 0),
        Column("origin", "left", 1),
        Column("home", "left", 0),
        Column("destination", "left", 0),
        Column("why", "left", 0, wrap=True),
    )
    for label, now, snapshot in scenes:
        rows: list[list[str]] = []
        for caller, dialed, plz in SAMPLE_CALLERS:
            d = decide(Call(caller, dialed=dialed), now, snapshot, router)
            if d.action is Action.ASK_POSTAL_CODE and plz:
                d = decide(Call(caller, dialed=dialed, postal_code=plz), now, snapshot, router)
            origin = d.origin.kind + (f" 0{d.origin.ortsnetz.code}" if d.origin.ortsnetz else "")
            rows.append([d.origin.masked, origin, d.home or "-", _where(d), escape(d.reasons[-1])])
        print_fitted(console, fit_table(columns, rows, terminal_width(console)), label)
    return 0


def _where(d: Decision) -> str:
    if d.action is Action.QUEUE:
        return f"{d.queue} ({d.queue_timeout_s} s)" if d.queue_timeout_s else f"{d.queue} (final)"
    if d.action is Action.ANNOUNCE:
        return f"announce {d.announcement}"
    return "ask postal code"
