"""Charts of a staffing plan: agents per center and half hour, service level per hour (PNG).

matplotlib with the Agg backend: no display needed, safe in CI and on servers.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from router.config import WEEKDAYS
from sim.engine.plots import percent, save, service_level_axes
from sim.scenario import DAYS, HALF_HOURS
from sim.staffing.search import StaffingPlan


def write_plots(plan: StaffingPlan, directory: Path) -> list[Path]:
    """Write the charts of ``plan`` into ``directory`` (created); returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        _heat_map(plan, directory / "staffing_heatmap.png"),
        _service_level(plan, directory / "staffing_service_level_by_hour.png"),
    ]


def _heat_map(plan: StaffingPlan, path: Path) -> Path:
    """Centers down, the week's half hours across, agents as colour."""
    ids = [cid for cid in plan.scenario.config.centers if any(map(any, plan.tables[cid]))]
    grid = [[n for day in plan.tables[cid] for n in day] for cid in ids]
    height = max(4.0, 0.12 * len(ids) + 2.0)
    fig, ax = plt.subplots(figsize=(16, height))
    image = ax.imshow(grid or [[0] * DAYS * HALF_HOURS], aspect="auto", cmap="viridis")
    fig.colorbar(image, ax=ax, label="agents", fraction=0.03)
    ticks = list(range(0, DAYS * HALF_HOURS, 12))
    ax.set_xticks(ticks, [f"{WEEKDAYS[t // HALF_HOURS]} {t % HALF_HOURS // 2:02d}h" for t in ticks])
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.set_yticks(range(len(ids)), ids, fontsize=max(3, min(8, 400 // max(len(ids), 1))))
    ax.set_title(
        f"{plan.scenario.name}: planned agents per center and half hour "
        f"({plan.agent_hours:,.0f} agent-hours; Erlang C without spill "
        f"{plan.erlang_c_agent_hours:,.0f})"
    )
    return save(fig, path)


def _service_level(plan: StaffingPlan, path: Path) -> Path:
    """National service level per hour of the final runs, against target and floor."""
    fig, ax = plt.subplots(figsize=(12, 5))
    hours = list(range(len(plan.hour_labels)))
    national = percent(plan.hourly_service_level)
    ax.plot(hours, national, color="black", marker=".", linewidth=1.5, label="national")
    r = plan.rules
    ax.axhline(r.target * 100, color="red", linestyle="--", label=f"{r.target:.0%} target")
    ax.axhline(r.floor_level * 100, color="orange", linestyle=":", label="floor per half hour")
    ax.set_title(f"{plan.scenario.name}: service level by hour under the plan")
    service_level_axes(ax, plan.hour_labels, r.threshold_s)
    ax.legend(fontsize="small")
    return save(fig, path)
