"""Charts of a run: service level by hour, waiting times, overflow flows (PNG files).

matplotlib with the Agg backend: no display needed, safe in CI and on servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from metrics.servicelevel import NATIONAL
from sim.engine.report import SimReport

# Lines in the service-level chart besides the national one: the weakest centers.
_MAX_LINES = 8
# Centers in the flow matrix: those moving or taking the most calls.
_MAX_FLOW_CENTERS = 20


def write_plots(report: SimReport, directory: Path) -> list[Path]:
    """Write the charts of ``report`` into ``directory`` (created); returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [
        _service_level(report, directory / "service_level_by_hour.png"),
        _waits(report, directory / "wait_distribution.png"),
        _flows(report, directory / "overflow_flows.png"),
    ]
    return written


def _service_level(report: SimReport, path: Path) -> Path:
    """Per hour of arrival, the share answered in time, against the promise."""
    fig, ax = plt.subplots(figsize=(12, 5))
    hours = list(range(len(report.hour_labels)))
    shown = [c for c in report.centers if c.service_level is not None]
    shown.sort(key=lambda c: (c.service_level or 0.0, c.id))
    for c in shown[:_MAX_LINES]:
        levels = report.hourly_service_level[c.id]
        ax.plot(hours, percent(levels), marker=".", linewidth=1, label=c.id)
    national = report.hourly_service_level[NATIONAL]
    ax.plot(hours, percent(national), color="black", linewidth=2.5, label="national")
    ax.axhline(
        report.target * 100, color="red", linestyle="--", label=f"{report.target:.0%} promise"
    )
    ax.set_title(f"{report.scenario}: service level by hour (weakest centers and national)")
    service_level_axes(ax, report.hour_labels, report.threshold_s)
    ax.legend(fontsize="small", ncol=2)
    return save(fig, path)


def _waits(report: SimReport, path: Path) -> Path:
    """How long answered callers waited, nationally."""
    hist = report.wait_histogram[NATIONAL]
    step = report.hist_step_s
    fig, ax = plt.subplots(figsize=(10, 4.5))
    lefts = [i * step for i in range(len(hist))]
    ax.bar(lefts, hist, width=step, align="edge", color="steelblue")
    ax.axvline(report.threshold_s, color="red", linestyle="--", label=f"{report.threshold_s:g} s")
    ax.set_xlabel(f"wait until answered (s; last bar: {lefts[-1]:g} s and more)")
    ax.set_ylabel("answered calls")
    ax.set_yscale("symlog")
    ax.set_title(f"{report.scenario}: waiting time of answered calls")
    ax.legend()
    return save(fig, path)


def _flows(report: SimReport, path: Path) -> Path:
    """Calls moved from center to center (overflow and spills; off-hours moves hatched apart)."""
    totals: dict[str, int] = {}
    for flow in (*report.overflow, *report.offhours_flows):
        totals[flow.source] = totals.get(flow.source, 0) + flow.calls
        totals[flow.target] = totals.get(flow.target, 0) + flow.calls
    ids = sorted(totals, key=lambda cid: (-totals[cid], cid))[:_MAX_FLOW_CENTERS]
    index = {cid: i for i, cid in enumerate(ids)}
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.5))
    for ax, flows, title in (
        (axes[0], report.overflow, "overflow and spills"),
        (axes[1], report.offhours_flows, "off hours"),
    ):
        grid = [[0] * len(ids) for _ in ids]
        for flow in flows:
            if flow.source in index and flow.target in index:
                grid[index[flow.source]][index[flow.target]] += flow.calls
        ax.imshow(grid if ids else [[0]], cmap="Blues")
        for i, row in enumerate(grid):
            for j, calls in enumerate(row):
                if calls:
                    ax.text(j, i, str(calls), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(ids)), ids, rotation=70, fontsize=7)
        ax.set_yticks(range(len(ids)), ids, fontsize=7)
        ax.set_xlabel("to")
        ax.set_ylabel("from")
        ax.set_title(f"{report.scenario}: {title}")
    return save(fig, path)


def percent(levels: Sequence[float | None]) -> list[float]:
    """Service levels in percent; an hour without calls is a gap (NaN), not 0 %."""
    return [float("nan") if v is None else v * 100.0 for v in levels]


def service_level_axes(ax: Axes, hour_labels: Sequence[str], threshold_s: float) -> None:
    """0 to 105 % up, the hours across (at most some 24 labels), a light grid."""
    hours = list(range(len(hour_labels)))
    ax.set_ylim(0, 105)
    ax.set_ylabel(f"answered within {threshold_s:g} s (%)")
    step = max(1, len(hours) // 24)
    ax.set_xticks(hours[::step], [hour_labels[h] for h in hours[::step]], rotation=60)
    ax.grid(alpha=0.3)


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` (PNG) and free it."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
