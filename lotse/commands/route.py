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
    add_call_arguments(parser)
    parser.add_argument("--state", type=Path, help="center state snapshot (YAML or JSON)")
    parser.add_argument("--json", action="store_true", help="one JSON object per number")
    add_config_option(parser)
    parser.set_defaults(func=_run)


def add_call_arguments(parser: argparse.ArgumentParser) -> None:
    """The call to decide: ``NUMBER...``, ``--at``, ``--dialed``, ``--postal-code``, ``--visited``.

    Shared by ``lotse route`` and ``lotse ctl route``, which ask the same question.
    """
    parser.add_argument("numbers", nargs="+", metavar="NUMBER", help="caller number(s), or -")
    parser.add_argument(
        "--at", help="local time (ISO 8601, config time zone if none given; default: now)"
    )
    parser.add_argument("--dialed", default="115", help="dialed number (default 115)")
    parser.add_argument("--postal-code", help="postal code the caller entered")
    parser.add_argument("--visited", default="", help="centers already visited, comma-separated")


def _run(args: argparse.Namespace) -> int:
    try:
        table = OrtsnetzTable.load()
        router = Router(load(args, table), table)
        now = parse_at(args.at, router.tz)
        snapshot = load_snapshot(args.state) if args.state else Snapshot()
        visited = _parse_visited(args.visited, router)
        numbers = numbers_from(args.numbers)
    except StateFileError as err:
        return report_bad_input(BadInput(str(err)))
    except BadInput as err:
        return report_bad_input(err)
    for number in numbers:
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
    return render_json(decision_json(decision, now), now.strftime("%a %Y-%m-%d %H:%M %Z"))


def render_json(d: dict[str, Any], at: str | None = None) -> str:
    """A human-readable account of a decision in its JSON form (:func:`decision_json`).

    ``at`` is how to show the moment, by default the form's ISO 8601 time.
    """
    net = f", Ortsnetz 0{d['ortsnetz']} {d['ortsnetz_name']}" if d.get("ortsnetz") else ""
    head = f"{d['caller']} ({d['number_kind']}{net}) at {d['at'] if at is None else at}"
    if d["action"] == Action.QUEUE:
        spill = (
            f"spill after {d['queue_timeout_s']} s"
            if d["queue_timeout_s"]
            else "final, no further spill"
        )
        what = (
            f"queue {d['queue']} at {d['target']} for home {d['home']}; "
            f"greeting {d['greeting']}; {spill}"
        )
    elif d["action"] == Action.ANNOUNCE:
        what = f"announcement {d['announcement']}"
    else:
        what = f"ask for the postal code (prompt {d['prompt']})"
    return "\n".join([head, f"  -> {what}", *(f"     - {r}" for r in d["reasons"])])
