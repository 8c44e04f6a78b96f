"""Small networks for the staffing planner's tests."""

from __future__ import annotations

from datetime import date
from datetime import time as dtime
from typing import Any

import pytest

from router.config import Center, Config, Thresholds, TimeRange, WeeklyHours
from router.numbering import OrtsnetzTable
from sim.scenario import CallerMix, CenterPlan, Dist, DistKind, Scenario, constant_agents

ALWAYS = WeeklyHours(((TimeRange(dtime(0), dtime(0)),),) * 7)
LANDLINE_ONLY = CallerMix(mobile=0.0, anonymous=0.0)


@pytest.fixture(scope="session")
def table() -> OrtsnetzTable:
    return OrtsnetzTable.load()


def center(cid: str, **kw: Any) -> Center:
    base: dict[str, Any] = {
        "name": cid,
        "state": "BE",
        "queue": f"115-{cid}",
        "greeting": f"lotse/greeting-{cid}",
        "offhours_announcement": f"lotse/offhours-{cid}",
        "hours": ALWAYS,
        "thresholds": Thresholds(no_agents=False),
    }
    return Center(id=cid, **{**base, **kw})


def day_rates(rates: list[float]) -> tuple[tuple[float, ...], ...]:
    """The same 24 hourly rates on every day of the week."""
    assert len(rates) == 24
    return (tuple(rates),) * 7


def scenario(
    table: OrtsnetzTable, centers: list[Center], plans: dict[str, CenterPlan], **kw: Any
) -> Scenario:
    config = Config(centers={c.id: c for c in centers}, fallback_center=centers[-1].id)
    base: dict[str, Any] = {
        "name": "test",
        "config": config,
        "table": table,
        "start": date(2026, 11, 24),
        "days": 1,
        "plans": plans,
        "callers": LANDLINE_ONLY,
    }
    return Scenario(**{**base, **kw})


def erlang_plan(rates: list[float], **kw: Any) -> CenterPlan:
    """Poisson calls, exponential handle (180 s) and patience (120 s), no ring: Erlang A."""
    defaults: dict[str, Any] = {
        "handle": Dist(DistKind.EXPONENTIAL, 180.0),
        "patience": Dist(DistKind.EXPONENTIAL, 120.0),
        "ring": Dist(DistKind.FIXED, 0.0),
        "agents": constant_agents(1),
    }
    return CenterPlan(calls_per_hour=day_rates(rates), **{**defaults, **kw})
