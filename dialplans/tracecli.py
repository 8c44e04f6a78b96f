"""``lotse dialplan trace NUMBER…``: what the dialplan files do for a caller at a moment.

Runs the files (``--dir``, default: generated from the configuration into a
temporary directory) through :mod:`dialplans.engine` with
:class:`dialplans.trace.TraceWorld`, and prints the path: each application
with its FILE:LINE, what the controller decided (or that it did not
answer, ``--agi-down``), the sounds played and the queue joined. The caller
number appears only masked. Exit codes: 0 ok, 1 runtime failure, 2 bad
input (configuration, state file, or dialplan files that cannot run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from cliutil import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    BadInput,
    add_config_option,
    load,
    numbers_from,
    parse_at,
    report_bad_input,
)
from cliutil.statefile import StateFileError, load_snapshot
from dialplans.build import AmiEvents, build, write
from dialplans.conf import DialplanError
from dialplans.engine import DialplanFileError, DialplanRunError, Interpreter, load_dialplan
from dialplans.trace import QUEUE_STATUSES, TraceResult, TraceWorld, mask_caller, trace
from router.numbering import OrtsnetzTable, classify_caller
from router.policy import Router


def add_trace_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse dialplan trace``."""
    parser = commands.add_parser(
        "trace",
        help="run the dialplan files for caller numbers and show the path",
        description="Execute the dialplan for calls from the given numbers at one moment and "
        "print the path: applications run (FILE:LINE), the controller's decision, sounds "
        "played, the queue joined. The controller answers with the real routing decision "
        "(every center staffed and idle unless --state), or not at all with --agi-down; "
        "an agent answers in every queue unless --queue-status says otherwise. "
        "Use '-' to read one number per line from standard input.",
    )
    parser.add_argument("numbers", nargs="+", metavar="NUMBER", help="caller number(s), or -")
    parser.add_argument("--at", help="local time (ISO 8601, config time zone if none given)")
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="directory with extensions*.conf (default: generate from the configuration)",
    )
    parser.add_argument(
        "--agi-down", action="store_true", help="the controller does not answer (AGISTATUS=FAILURE)"
    )
    parser.add_argument("--dialed", default="115", help="dialed number (default 115)")
    parser.add_argument("--postal-code", help="digits the caller keys in when asked")
    parser.add_argument("--state", type=Path, help="center state snapshot (YAML or JSON)")
    parser.add_argument(
        "--queue-status",
        action="append",
        default=[],
        metavar="QUEUE=STATUS",
        help="what Queue() returns for QUEUE instead of an agent answering "
        f"({', '.join(QUEUE_STATUSES)}); repeatable",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per number")
    add_config_option(parser)
    parser.set_defaults(func=run_trace)


def _queue_status(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        queue, sep, status = item.partition("=")
        status = status.strip().upper()
        if not sep or not queue.strip() or status not in QUEUE_STATUSES:
            raise BadInput(
                f"--queue-status {item!r}: write QUEUE=STATUS, STATUS one of "
                + ", ".join(QUEUE_STATUSES)
            )
        out[queue.strip()] = status
    return out


def run_trace(args: argparse.Namespace) -> int:
    """Load everything, trace each number, print; see the module docstring."""
    try:
        table = OrtsnetzTable.load()
        config = load(args, table)
        router = Router(config, table)
        at = parse_at(args.at, router.tz)
        snapshot = load_snapshot(args.state) if args.state else None
        statuses = _queue_status(args.queue_status)
    except StateFileError as err:
        return report_bad_input(BadInput(str(err)))
    except BadInput as err:
        return report_bad_input(err)
    try:
        with tempfile.TemporaryDirectory(prefix="lotse-dialplan-") as tmp:
            directory = args.dir
            if directory is None:
                directory = Path(tmp)
                years = sorted({at.year, at.year + 1, datetime.now(router.tz).year})
                write(build(config, years, AmiEvents.from_ami()), directory)
            plan = load_dialplan(directory)
    except (DialplanFileError, DialplanError, ValueError) as err:
        print(str(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"cannot write the dialplan: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILURE
    interpreter = Interpreter(plan, zone=config.timezone)
    for number in numbers_from(args.numbers):
        world = TraceWorld(
            router,
            at,
            snapshot=snapshot,
            agi_down=args.agi_down,
            postal_code=args.postal_code,
            queue_status=statuses,
        )
        try:
            result = asyncio.run(trace(interpreter, world, number, args.dialed))
        except DialplanRunError as err:
            print(f"{err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        masked = classify_caller(number, table).masked
        if args.json:
            print(json.dumps(trace_json(result, number, masked, args, at), ensure_ascii=False))
        else:
            print(render(result, number, masked, args, at))
    return EXIT_OK


def trace_json(
    result: TraceResult, caller: str, masked: str, args: argparse.Namespace, at: datetime
) -> dict[str, Any]:
    """The JSON form: ``queue``, ``greeting``, ``announcement`` as in ``lotse route``; ``path``."""
    return {
        "caller": masked,
        "dialed": args.dialed,
        "at": at.isoformat(),
        "agi": "down" if args.agi_down else "decide",
        "queue": result.queue,
        "answered": result.answered,
        "greeting": result.greeting,
        "announcement": result.announcement,
        "played": list(result.played),
        "fallback": result.fallback,
        "ended": result.ended,
        "path": [
            {
                "where": f"{Path(e.step.where.file).name}:{e.step.where.line}",
                "context": e.step.context,
                "exten": e.step.exten,
                "priority": e.step.priority,
                "app": e.step.app,
                "data": mask_caller(e.step.data, caller, masked),
                "events": [{"kind": ev.kind, "text": ev.text} for ev in e.events],
            }
            for e in result.path
        ],
    }


def render(
    result: TraceResult, caller: str, masked: str, args: argparse.Namespace, at: datetime
) -> str:
    """The path as text, one application per line."""
    agi = "controller down (AGI fails)" if args.agi_down else "controller answering"
    lines = [f"{masked} dials {args.dialed} at {at.strftime('%a %Y-%m-%d %H:%M %Z')}, {agi}"]
    for entry in result.path:
        step = entry.step
        where = f"{Path(step.where.file).name}:{step.where.line}"
        pos = f"{step.context},{step.exten},{step.priority}"
        data = mask_caller(step.data, caller, masked)
        lines.append(f"  {where:<28} {pos:<34} {step.app}({data})")
        lines += [f"  {'':<28} -> {ev.kind}: {ev.text}" for ev in entry.events]
    if result.queue and result.answered:
        outcome = f"queue {result.queue}, answered"
    elif result.announcement:
        outcome = f"announcement {result.announcement}"
    else:
        outcome = f"no agent, no announcement ({result.ended})"
    greeting = f"; greeting {result.greeting}" if result.greeting else ""
    via = "; static fallback" if result.fallback else ""
    lines.append(f"  => {outcome}{greeting}{via}")
    return "\n".join(lines)
