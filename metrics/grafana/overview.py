"""The national overview: every center's service level against the promise, calls, flows."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from metrics.grafana.base import Settings, new_dashboard
from metrics.grafana.panels import (
    Query,
    bars,
    big_number,
    merged_table,
    row,
    target_thresholds,
    thresholds,
    timeseries,
)
from metrics.prometheus import promql

UID = "lotse-overview"
TODAY = "$__range"  # the dashboard's range, "today so far" by default


def _offhours_share(by: tuple[str, ...]) -> str:
    off = promql.aggregate(f"increase(lotse_calls_offhours_total[{TODAY}])", by)
    arrived = promql.aggregate(f"increase(lotse_calls_arrived_total[{TODAY}])", by)
    return f"{off} / ({arrived} > 0)"


def build(settings: Settings) -> dashboard.Dashboard:
    """The national overview dashboard."""
    today = promql.raw_counts(TODAY)
    home = promql.raw_counts(TODAY, view=promql.HOME)
    national = promql.raw_counts(TODAY, by=(), view=promql.HOME)
    all_15m = promql.recorded_counts("15m", national=True, view=promql.HOME)
    sl_help = (
        f"115 promise, per home center: calls answered within {settings.threshold_s:g} s / "
        f"(calls offered - callers who hung up within {settings.short_abandon_s:g} s). Target "
        f"{settings.target:.0%}. Each call counts once, for its home center (the caller's "
        "municipality), wherever it was answered; its wait is summed over every queue it "
        "went through, so a call that spilled to a partner after 30 s is late. The same "
        "figures as `lotse report`. See docs/service-level.md."
    )
    d = new_dashboard(
        UID,
        "lotse: national overview",
        f"Service level of every 115 center against the promise ({settings.promise}), "
        "calls offered, answered and abandoned, overflow between centers, off-hours calls.",
        settings,
    )
    d = d.with_row(row("Service level"))
    d = d.with_panel(
        big_number(
            "Service level today, all centers",
            sl_help + " All centers together: every call counts once.",
            [Query(promql.service_level(national), "115 promise", instant=True)],
            unit="percentunit",
            w=6,
            h=7,
            steps=target_thresholds(settings.target),
            decimals=1,
        )
    )
    d = d.with_panel(
        bars(
            "Service level today per center",
            sl_help,
            [Query(promql.service_level(today), "{{center}}", instant=True)],
            unit="percentunit",
            w=18,
            h=7,
            steps=target_thresholds(settings.target),
            minimum=0,
            maximum=1,
        )
    )
    d = d.with_panel(
        timeseries(
            "Service level per center, last hour (rolling)",
            sl_help + " Each point covers the hour before it; the dashed line is the target.",
            [
                Query(
                    promql.recorded_ratio("lotse_home_service_level:ratio", "1h"),
                    "{{center}}",
                )
            ],
            unit="percentunit",
            w=24,
            minimum=0,
            maximum=1,
            target=settings.target,
        )
    )
    d = d.with_row(row("Calls"))
    d = d.with_panel(
        timeseries(
            "Calls per quarter hour, all centers",
            "Calls offered (entered a queue), answered and abandoned in the 15 minutes before "
            "each point, all centers, per home: each call once, however often it spilled.",
            [
                Query(all_15m.offered, "offered"),
                Query(all_15m.answered, "answered"),
                Query(all_15m.abandoned, "abandoned"),
                Query(all_15m.short_abandoned, f"abandoned within {settings.short_abandon_s:g} s"),
            ],
            w=12,
        )
    )
    d = d.with_panel(
        merged_table(
            "Calls today per center",
            "Two views (docs/service-level.md). Per home (the 115 promise, as `lotse report`): "
            "the center's own region's calls, each once, wherever answered, wait summed over "
            "spills. Per queue (Asterisk's view, as `queue show`): queue entries at the "
            "center, its own region's (home) or a partner's (overflow in), with the wait in "
            "that queue; Asterisk's SL and SL2. ASA: average speed of answer.",
            [
                ("Offered (per home)", Query(home.offered), "none"),
                ("Answered (per home)", Query(home.answered), "none"),
                ("115 promise (per home)", Query(promql.service_level(home)), "percentunit"),
                ("ASA (per home)", Query(promql.average_speed_of_answer(home)), "s"),
                (
                    "Queue: offered (home)",
                    Query(
                        'sum by (center) (increase(lotse_calls_offered_total{type="home"}'
                        f"[{TODAY}]))",
                    ),
                    "none",
                ),
                (
                    "Queue: offered (overflow in)",
                    Query(
                        'sum by (center) (increase(lotse_calls_offered_total{type="overflow_in"}'
                        f"[{TODAY}]))",
                    ),
                    "none",
                ),
                ("Queue: answered", Query(today.answered), "none"),
                ("Queue: abandoned", Query(today.abandoned), "none"),
                ("Queue: short abandons", Query(today.short_abandoned), "none"),
                ("Queue: 115 formula", Query(promql.service_level(today)), "percentunit"),
                (
                    "Asterisk SL",
                    Query(promql.service_level_asterisk(today)),
                    "percentunit",
                ),
                (
                    "Asterisk SL2",
                    Query(promql.service_level2_asterisk(today)),
                    "percentunit",
                ),
                ("Queue: ASA", Query(promql.average_speed_of_answer(today)), "s"),
            ],
            w=12,
        )
    )
    d = d.with_row(row("Overflow and off-hours"))
    d = d.with_panel(
        merged_table(
            "Overflow between centers today",
            "Calls passed from one center to another: overload (the home center over its "
            "thresholds), offhours (home closed), timeout (the queue timeout expired and the "
            "call spilled to the next partner; not an abandon).",
            [
                (
                    "Calls",
                    Query(
                        "sum by (from_center, to_center, reason) "
                        f"(increase(lotse_calls_overflowed_total[{TODAY}])) > 0",
                    ),
                    "none",
                )
            ],
            w=12,
        )
    )
    d = d.with_panel(
        timeseries(
            "Overflow by reason, per quarter hour",
            "Calls passed to a partner center in the 15 minutes before each point.",
            [
                Query(
                    "sum by (reason) (increase(lotse_calls_overflowed_total[15m]))",
                    "{{reason}}",
                )
            ],
            w=12,
        )
    )
    d = d.with_panel(
        big_number(
            "Off-hours share today, all centers",
            "Calls that arrived while their home center was closed (hours, holiday, closure "
            "day, supervisor override) / all calls lotse routed.",
            [Query(_offhours_share(()), "off-hours", instant=True)],
            unit="percentunit",
            w=6,
            h=7,
            decimals=1,
        )
    )
    d = d.with_panel(
        bars(
            "Off-hours share today per home center",
            "Of the calls from a center's region, the share that arrived while it was closed.",
            [Query(_offhours_share(("center",)), "{{center}}", instant=True)],
            unit="percentunit",
            w=18,
            h=7,
            steps=thresholds((None, "blue")),
            minimum=0,
            maximum=1,
        )
    )
    d = d.with_row(row("Callbacks"))
    d = d.with_panel(
        bars(
            "Callbacks pending per center",
            "Open callback requests; each keeps its caller's place in line until an agent "
            "of its center is free.",
            [Query("sum by (center) (lotse_callbacks_pending)", "{{center}}", instant=True)],
            w=12,
            h=7,
            steps=thresholds((None, "blue")),
        )
    )
    d = d.with_panel(
        bars(
            "Callback outcomes today, all centers",
            "Ended requests by outcome; completed against expired is the second half of the "
            "115 promise (feedback within 24 hours of service time).",
            [
                Query(
                    "sum by (outcome) (increase(lotse_callback_outcomes_total[$__range]))",
                    "{{outcome}}",
                    instant=True,
                )
            ],
            w=12,
            h=7,
        )
    )
    return d
