"""``lotse route``: show where calls would go, and why."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cliutil import BadInput, add_config_option, load, numbers_from, parse_at, report_bad_input
from cliutil.statefile import StateFileError, load_snapshot
from router.numbering import OrtsnetzTable
from router.policy import Action, Call, Decision, Router, decide
from router.state import Snapshot


def add_route(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse route NUMBER...``."""
    parser = sub.add_parser(
        "route",
        help="show the routing decision for caller numbers",
        description="Show where 115 calls from the given caller numbers go, and why. "
        "Use '-' to read one number per line from standard input.",
    )
    parser.add_argument("numbers", nargs="+", metavar="NUMBER", help="caller number(s), or -")
    parser.add_argument("--at", help="local time (ISO 8601, config time zone if none given)")
    parser.add_argument("--dialed", default="115", help="dialed number (default 115)")
    parser.add_argument("--postal-code", help="postal code the caller entered")
    parser.add_argument("--visited", default="", help="centers already visited, comma-separated")
    parser.add_argument("--state", type=Path, help="center state snapshot (YAML or JSON)")
    parser.add_argument("--json", action="store_true", help="one JSON object per number")
    add_config_option(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        table = OrtsnetzTable.load()
        router = Router(load(args, table), table)
        now = parse_at(args.at, router.tz)
        snapshot = load_snapshot(args.state) if args.state else Snapshot()
        visited = _parse_visited(args.visited, router)
    except StateFileError as err:
        return report_bad_input(BadInput(str(err)))
    except BadInput as err:
        return report_bad_input(err)
    for number in numbers_from(args.numbers):
        call = Call(number, args.dialed, args.postal_code, visited)
        decision = decide(call, now, snapshot, router)
        if args.json:
            print(json.dumps(decision_json(decision, now), ensure_ascii=False))
        else:
            print(render(decision, now))
    return 0


def _parse_visited(text: str, router: Router) -> tuple[str, ...]:
    visited = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in visited if v not in router.config.centers]
    if unknown:
        raise BadInput(f"--visited: unknown center(s): {', '.join(unknown)}")
    return visited


def decision_json(decision: Decision, now: datetime) -> dict[str, Any]:
    """The JSON form of a decision; the caller number appears only masked."""
    origin = decision.origin
    return {
        "caller": origin.masked,
        "number_kind": str(origin.kind),
        "ortsnetz": origin.ortsnetz.code if origin.ortsnetz else None,
        "ortsnetz_name": origin.ortsnetz.name if origin.ortsnetz else None,
        "at": now.isoformat(),
        "action": str(decision.action),
        "home": decision.home,
        "target": decision.target,
        "queue": decision.queue,
        "greeting": decision.greeting,
        "announcement": decision.announcement,
        "prompt": decision.prompt,
        "queue_timeout_s": decision.queue_timeout_s,
        "reasons": list(decision.reasons),
    }


def render(decision: Decision, now: datetime) -> str:
    """A human-readable account of one decision."""
    origin = decision.origin
    net = f", Ortsnetz 0{origin.ortsnetz.code} {origin.ortsnetz.name}" if origin.ortsnetz else ""
    head = f"{origin.masked} ({origin.kind}{net}) at {now.strftime('%a %Y-%m-%d %H:%M %Z')}"
    if decision.action is Action.QUEUE:
        spill = (
            f"spill after {decision.queue_timeout_s} s"
            if decision.queue_timeout_s
            else "final, no further spill"
        )
        what = (
            f"queue {decision.queue} at {decision.target} for home {decision.home}; "
            f"greeting {decision.greeting}; {spill}"
        )
    elif decision.action is Action.ANNOUNCE:
        what = f"announcement {decision.announcement}"
    else:
        what = f"ask for the postal code (prompt {decision.prompt})"
    lines = [head, f"  -> {what}"]
    lines += [f"     - {r}" for r in decision.reasons]
    return "\n".join(lines)
