"""``lotse demo``: the routing of sample calls through the configured network.

Shows, for a handful of callers from the demo network's Ortsnetze and for
mobile and anonymous callers, where the call goes on a normal weekday, in the
evening, on a state holiday and at night, and with an overloaded center.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from rich.console import Console
from rich.table import Table

from lotse.commands.common import BadInput, add_config_option, load, report_bad_input
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
        help="route sample calls through the configured network",
        description="Print where sample 115 calls go at several moments, and why.",
    )
    add_config_option(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
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
    for label, now, snapshot in scenes:
        table_out = Table(title=label, title_justify="left")
        for col in ("caller", "origin", "home", "destination", "why"):
            table_out.add_column(col)
        for caller, dialed, plz in SAMPLE_CALLERS:
            d = decide(Call(caller, dialed=dialed), now, snapshot, router)
            if d.action is Action.ASK_POSTAL_CODE and plz:
                d = decide(Call(caller, dialed=dialed, postal_code=plz), now, snapshot, router)
            origin = d.origin.kind + (f" 0{d.origin.ortsnetz.code}" if d.origin.ortsnetz else "")
            table_out.add_row(d.origin.masked, origin, d.home or "-", _where(d), d.reasons[-1])
        console.print(table_out)
    return 0


def _where(d: Decision) -> str:
    if d.action is Action.QUEUE:
        return f"{d.queue} ({d.queue_timeout_s} s)" if d.queue_timeout_s else f"{d.queue} (final)"
    if d.action is Action.ANNOUNCE:
        return f"announce {d.announcement}"
    return "ask postal code"
