"""Small networks for the staffing planner's tests."""

from __future__ import annotations

from typing import Any

from sim.scenario import CenterPlan, Dist, DistKind, constant_agents


def day_rates(rates: list[float]) -> tuple[tuple[float, ...], ...]:
    """The same 24 hourly rates on every day of the week."""
    assert len(rates) == 24
    return (tuple(rates),) * 7


def erlang_plan(rates: list[float], **kw: Any) -> CenterPlan:
    """Poisson calls, exponential handle (180 s) and patience (120 s), no ring: Erlang A."""
    defaults: dict[str, Any] = {
        "handle": Dist(DistKind.EXPONENTIAL, 180.0),
        "patience": Dist(DistKind.EXPONENTIAL, 120.0),
        "ring": Dist(DistKind.FIXED, 0.0),
        "agents": constant_agents(1),
    }
    return CenterPlan(calls_per_hour=day_rates(rates), **{**defaults, **kw})
