"""Panel helpers over grafana-foundation-sdk: lotse's few panel shapes, one call each.

Every panel queries the dashboard's ``$datasource`` variable (a Prometheus
data source chosen on import) and carries a description for the operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from grafana_foundation_sdk.builders import bargauge, common, dashboard, prometheus, stat, table
from grafana_foundation_sdk.builders import timeseries as ts
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")

Targets = list[cogbuilder.Builder[cogvariants.Dataquery]]


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False  # one value at the end of the range, e.g. for "today"
    table: bool = False  # labels as columns, for merged tables
    heatmap: bool = False  # histogram buckets shown as a distribution
    interval: str = ""  # minimum step, e.g. "15m" for one value per quarter hour


def _target(q: Query, ref: str) -> prometheus.Dataquery:
    t = prometheus.Dataquery().expr(q.expr).ref_id(ref).datasource(DATASOURCE)
    t = t.legend_format(q.legend or "__auto")
    t = t.instant() if q.instant else t.range()
    if q.table:
        t = t.format(pm.PromQueryFormat.TABLE)
    if q.heatmap:
        t = t.format(pm.PromQueryFormat.HEATMAP)
    if q.interval:
        t = t.interval(q.interval)
    return t


def _ref(i: int) -> str:
    return chr(ord("A") + i)


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds; the first step's value is ``None`` (from minus infinity)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


def target_thresholds(target: float) -> dashboard.ThresholdsConfig:
    """Red below the service-level promise, green from it on."""
    return thresholds((None, "red"), (target, "green"))


def value_map(mapping: dict[str, tuple[str, str]]) -> list[dm.ValueMapping]:
    """Value → (text, color), e.g. ``{"1": ("Open", "green")}``."""
    options = {
        k: dm.ValueMappingResult(text=text, color=color, index=i)
        for i, (k, (text, color)) in enumerate(mapping.items())
    }
    return [dm.ValueMap(options=options)]


def _targets(queries: Sequence[Query]) -> Targets:
    targets: Targets = [_target(q, _ref(i)) for i, q in enumerate(queries)]
    return targets


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    minimum: float | None = None,
    maximum: float | None = None,
    target: float | None = None,
    bars: bool = False,
    interval: str = "",
) -> ts.Panel:
    """A time series; ``target`` draws the promise as a dashed line."""
    p = (
        ts.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(w)
        .height(h)
        .legend(
            common.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(common.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI))
        .fill_opacity(10)
        .span_nulls(False)
    )
    if bars:
        p = p.draw_style(cm.GraphDrawStyle.BARS).fill_opacity(60)
    if minimum is not None:
        p = p.min(minimum)
    if maximum is not None:
        p = p.max(maximum)
    if interval:
        p = p.interval(interval)
    if target is not None:
        p = p.thresholds(target_thresholds(target)).thresholds_style(
            common.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED)
        )
    return p.targets(_targets(queries))


def big_number(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    w: int = 4,
    h: int = 4,
    steps: dashboard.ThresholdsConfig | None = None,
    mappings: list[dm.ValueMapping] | None = None,
    decimals: float | None = None,
) -> stat.Panel:
    """A stat panel showing each query's last value."""
    p = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(w)
        .height(h)
        .color_mode(cm.BigValueColorMode.BACKGROUND if steps else cm.BigValueColorMode.NONE)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(steps or thresholds((None, "text")))
    )
    if mappings:
        p = p.mappings(mappings)
    if decimals is not None:
        p = p.decimals(decimals)
    return p.targets(_targets(queries))


def bars(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    steps: dashboard.ThresholdsConfig | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> bargauge.Panel:
    """Horizontal bars, one per series (or per histogram bucket)."""
    p = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(w)
        .height(h)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(steps or thresholds((None, "blue")))
    )
    if minimum is not None:
        p = p.min(minimum)
    if maximum is not None:
        p = p.max(maximum)
    return p.targets(_targets(queries))


def merged_table(
    title: str,
    description: str,
    columns: Sequence[tuple[str, Query, str]],
    *,
    w: int = 12,
    h: int = 8,
) -> table.Panel:
    """One row per label set, one column per instant query: (header, query, unit)."""
    rename = {f"Value #{_ref(i)}": header for i, (header, _, _) in enumerate(columns)}
    p = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .span(w)
        .height(h)
        .with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True}, "renameByName": rename},
            )
        )
    )
    for header, _, unit in columns:
        if unit:
            p = p.override_by_name(header, [dm.DynamicConfigValue(id_val="unit", value=unit)])
    return p.targets(_targets([replace(q, instant=True, table=True) for _, q, _ in columns]))


def row(title: str) -> dashboard.Row:
    """A section header; the panels after it belong to it."""
    return dashboard.Row(title)
