"""Small networks for the what-if engine's and the staffing planner's tests."""

from __future__ import annotations

import argparse
from datetime import date
from datetime import time as dtime
from pathlib import Path
from typing import Any

from router.config import Center, Config, Thresholds, TimeRange, WeeklyHours
from router.numbering import OrtsnetzTable
from sim.cli import add_parser
from sim.scenario import CallerMix, CenterPlan, Scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
ALWAYS = WeeklyHours(((TimeRange(dtime(0), dtime(0)),),) * 7)
NO_LIMITS = Thresholds(no_agents=False)
LANDLINE_ONLY = CallerMix(mobile=0.0, anonymous=0.0)


def center(cid: str, **kw: Any) -> Center:
    """A center open around the clock, without overload limits; ``kw`` overrides."""
    base: dict[str, Any] = {
        "name": cid,
        "state": "BE",
        "queue": f"115-{cid}",
        "greeting": f"lotse/greeting-{cid}",
        "offhours_announcement": f"lotse/offhours-{cid}",
        "hours": ALWAYS,
        "thresholds": NO_LIMITS,
    }
    return Center(id=cid, **{**base, **kw})


def scenario(
    table: OrtsnetzTable,
    centers: list[Center],
    plans: dict[str, CenterPlan],
    *,
    days: int = 1,
    start: date = date(2026, 11, 24),
    callers: CallerMix = LANDLINE_ONLY,
    **kw: Any,
) -> Scenario:
    """A scenario over ``centers`` (the last one the fallback), landline callers by default."""
    config = Config(centers={c.id: c for c in centers}, fallback_center=centers[-1].id)
    return Scenario(
        name="test",
        config=config,
        table=table,
        start=start,
        days=days,
        plans=plans,
        callers=callers,
        **kw,
    )


def run_cli(argv: list[str]) -> int:
    """``lotse ARGV`` for the commands :mod:`sim.cli` registers; the exit code."""
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code
