"""The per-center drill-down: the queue now, agents, waiting times, service level by 15 min."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from metrics.grafana.base import Settings, center_variable, new_dashboard
from metrics.grafana.panels import (
    Query,
    bars,
    big_number,
    target_thresholds,
    thresholds,
    timeseries,
    value_map,
)
from metrics.grafana.panels import row as section
from metrics.prometheus import promql

UID = "lotse-center"
TODAY = "$__range"
C = 'center="$center"'


def _now(metric: str, agg: str = "sum") -> str:
    return f"{agg}({metric}{{{C}}})"


def _wait_buckets(outcome: str) -> str:
    return f'sum by (le) (increase(lotse_wait_seconds_bucket{{{C},outcome="{outcome}"}}[{TODAY}]))'


def _wait_quantile(q: float) -> str:
    return (
        f"histogram_quantile({q:g}, sum by (le) "
        f'(rate(lotse_wait_seconds_bucket{{{C},outcome="answered"}}[15m])))'
    )


def build(settings: Settings) -> dashboard.Dashboard:
    """The per-center dashboard, one center at a time (variable ``center``)."""
    today = promql.raw_counts(TODAY, match=C)
    home = promql.raw_counts(TODAY, match=C, view=promql.HOME)
    d = new_dashboard(
        UID,
        "lotse: center",
        "One 115 service center: its queue and agents now, service level by quarter hour, "
        "waiting and talk times, calls passed to and from partners.",
        settings,
    ).with_variable(center_variable())
    wait_steps = thresholds(
        (None, "green"), (settings.threshold_s * 2 / 3, "orange"), (settings.threshold_s, "red")
    )
    d = d.with_row(section("Queue now"))
    d = d.with_panel(
        big_number(
            "Open now",
            "Whether the center is open by its hours, closure days, state holidays and "
            "supervisor override, as lotse routes.",
            [Query(_now("lotse_center_open", "max"))],
            steps=thresholds((None, "text")),
            mappings=value_map({"0": ("Closed", "orange"), "1": ("Open", "green")}),
            w=3,
        )
    )
    d = d.with_panel(
        big_number(
            "Supervisor override",
            "An override set with `lotse ctl override`: closed now, kept open outside its "
            "hours, or auto (its hours, holidays and closure days decide). The static "
            "fallback in the dialplan does not know overrides.",
            [
                Query(
                    f'max(lotse_center_override{{{C},mode="closed"}}) '
                    f'+ 2 * max(lotse_center_override{{{C},mode="open"}})'
                )
            ],
            steps=thresholds((None, "text")),
            mappings=value_map(
                {
                    "0": ("Auto (calendar)", "text"),
                    "1": ("Closed by override", "red"),
                    "2": ("Open by override", "blue"),
                }
            ),
            w=6,
        )
    )
    d = d.with_panel(
        big_number(
            "Callers waiting",
            "Callers in the center's queue now.",
            [Query(_now("lotse_queue_callers_waiting"))],
            w=3,
        )
    )
    d = d.with_panel(
        big_number(
            "Longest wait now",
            f"Wait of the caller waiting longest; red from the {settings.threshold_s:g} s "
            "threshold.",
            [Query(_now("lotse_queue_longest_wait_seconds", "max"))],
            unit="s",
            steps=wait_steps,
            w=3,
        )
    )
    for title, metric, text in (
        ("Agents logged in", "lotse_agents_logged_in", "Members of the center's queue."),
        ("Agents available", "lotse_agents_available", "Logged in, not paused, not on a call."),
        ("Agents busy", "lotse_agents_busy", "On a call."),
    ):
        d = d.with_panel(big_number(title, text, [Query(_now(metric))], w=3))
    d = d.with_panel(
        timeseries(
            "Queue",
            "Callers waiting and the longest wait, as lotse sees the queue.",
            [
                Query(_now("lotse_queue_callers_waiting"), "callers waiting"),
                Query(_now("lotse_queue_longest_wait_seconds", "max"), "longest wait (s)"),
            ],
        )
    )
    d = d.with_panel(
        timeseries(
            "Agents",
            "Queue members logged in, available and on a call.",
            [
                Query(_now("lotse_agents_logged_in"), "logged in"),
                Query(_now("lotse_agents_available"), "available"),
                Query(_now("lotse_agents_busy"), "busy"),
            ],
        )
    )
    d = d.with_row(section("Service level"))
    q15 = [
        ("lotse_home_service_level:ratio", "115 promise (per home)"),
        ("lotse_service_level:ratio", "115 formula per queue"),
        ("lotse_service_level_asterisk_sl:ratio", "Asterisk SL"),
        ("lotse_service_level_asterisk_sl2:ratio", "Asterisk SL2"),
    ]
    d = d.with_panel(
        timeseries(
            "Service level by quarter hour",
            "Each bar covers the 15 minutes before it. The 115 promise (per home, as "
            "`lotse report`): the calls of this center's region, each once wherever answered, "
            f"wait summed over spills, all offered except callers gone within "
            f"{settings.short_abandon_s:g} s. Per queue (Asterisk's view, as `queue show`): "
            "the queue entries at this center with the wait in this queue; the same formula, "
            "Asterisk's SL (answered calls only) and SL2 (answered and abandoned calls). See "
            "docs/service-level.md.",
            [Query(f"{promql.recorded_ratio(n, '15m')}{{{C}}}", legend) for n, legend in q15],
            unit="percentunit",
            w=16,
            minimum=0,
            maximum=1,
            target=settings.target,
            bars=True,
            interval="15m",
        )
    )
    d = d.with_panel(
        big_number(
            "Service level today",
            "The 115 promise per home (the headline, as `lotse report`) and the per-queue "
            "definitions (Asterisk's view) over the dashboard's range.",
            [
                Query(promql.service_level(home), "115 promise (per home)", instant=True),
                Query(promql.service_level(today), "per queue", instant=True),
                Query(promql.service_level_asterisk(today), "Asterisk SL", instant=True),
                Query(promql.service_level2_asterisk(today), "Asterisk SL2", instant=True),
            ],
            unit="percentunit",
            w=8,
            h=8,
            steps=target_thresholds(settings.target),
            decimals=1,
        )
    )
    d = d.with_panel(
        big_number(
            "Calls today",
            "Per home: calls of this center's region offered (entered a queue anywhere) and "
            "answered anywhere. Per queue: queue entries at this center (own region and "
            "partners' overflow), answered, abandoned, and of those abandoned within the "
            "short-abandon limit.",
            [
                Query(home.offered, "offered (per home)", instant=True),
                Query(home.answered, "answered (per home)", instant=True),
                Query(today.offered, "queue: offered", instant=True),
                Query(today.answered, "queue: answered", instant=True),
                Query(today.abandoned, "queue: abandoned", instant=True),
                Query(today.short_abandoned, "queue: short abandons", instant=True),
            ],
            w=12,
            decimals=0,
        )
    )
    d = d.with_panel(
        big_number(
            "ASA today",
            "Average speed of answer: mean wait of answered calls.",
            [Query(promql.average_speed_of_answer(today), "ASA", instant=True)],
            unit="s",
            w=6,
            steps=wait_steps,
        )
    )
    d = d.with_panel(
        big_number(
            "Abandonment today",
            "(abandoned - short abandons) / (offered - short abandons).",
            [Query(promql.abandon_rate(today), "abandoned", instant=True)],
            unit="percentunit",
            w=6,
            decimals=1,
        )
    )
    d = d.with_row(section("Waiting and talk time"))
    for outcome, title in (("answered", "until answer"), ("abandoned", "until hang-up")):
        d = d.with_panel(
            bars(
                f"Waiting time {title} today",
                f"Calls by wait, in the histogram's buckets (one at {settings.threshold_s:g} s).",
                [Query(_wait_buckets(outcome), "{{le}}", instant=True, heatmap=True)],
                w=12,
            )
        )
    d = d.with_panel(
        timeseries(
            "Wait of answered calls, last 15 minutes (rolling)",
            "Median and 90th percentile estimated from the histogram, and the mean (ASA).",
            [
                Query(_wait_quantile(0.5), "median"),
                Query(_wait_quantile(0.9), "90th percentile"),
                Query(
                    f"{promql.recorded_ratio('lotse_answer_speed_seconds:mean', '15m')}{{{C}}}",
                    "ASA",
                ),
            ],
            unit="s",
        )
    )
    d = d.with_panel(
        timeseries(
            "Talk time, last hour (rolling)",
            "Mean talk time of answered calls that ended in the hour before each point.",
            [
                Query(
                    f"sum(increase(lotse_talk_seconds_sum{{{C}}}[1h])) / "
                    f"(sum(increase(lotse_talk_seconds_count{{{C}}}[1h])) > 0)",
                    "mean talk time",
                )
            ],
            unit="s",
        )
    )
    d = d.with_row(section("Partners"))
    d = d.with_panel(
        timeseries(
            "Offered per quarter hour: own region vs. partners' overflow",
            "Calls queued at this center in the 15 minutes before each point.",
            [
                Query(
                    f"sum by (type) (increase(lotse_calls_offered_total{{{C}}}[15m]))",
                    "{{type}}",
                )
            ],
            w=8,
        )
    )
    for direction, label, title in (
        ("from_center", "{{to_center}} ({{reason}})", "Passed to partners today"),
        ("to_center", "{{from_center}} ({{reason}})", "Taken from partners today"),
    ):
        d = d.with_panel(
            bars(
                title,
                "Calls by partner and reason: overload, offhours, timeout (spilled after the "
                "queue timeout; not an abandon).",
                [
                    Query(
                        "sum by (from_center, to_center, reason) (increase("
                        f'lotse_calls_overflowed_total{{{direction}="$center"}}[{TODAY}])) > 0',
                        label,
                        instant=True,
                    )
                ],
                w=8,
            )
        )
    d = d.with_panel(
        big_number(
            "Off-hours share today",
            "Calls from this center's region that arrived while it was closed.",
            [
                Query(
                    f"sum(increase(lotse_calls_offhours_total{{{C}}}[{TODAY}])) / "
                    f"(sum(increase(lotse_calls_arrived_total{{{C}}}[{TODAY}])) > 0)",
                    "off-hours",
                    instant=True,
                )
            ],
            unit="percentunit",
            w=24,
            decimals=1,
        )
    )
    d = d.with_row(section("Callbacks"))
    d = d.with_panel(
        timeseries(
            "Callbacks pending and the oldest one's age",
            "Open callback requests of this center and how long the oldest has kept its "
            "place in line (since its caller entered the queue).",
            [
                Query(_now("lotse_callbacks_pending"), "pending"),
                Query(
                    _now("lotse_callbacks_oldest_pending_seconds", "max") + " / 3600", "oldest (h)"
                ),
            ],
            w=12,
        )
    )
    d = d.with_panel(
        bars(
            "Callback outcomes today",
            "Ended requests: completed, no_answer (all attempts unanswered), expired (the 24 h "
            "service-time deadline passed), cancelled.",
            [
                Query(
                    f"sum by (outcome) (increase(lotse_callback_outcomes_total{{{C}}}[{TODAY}]))",
                    "{{outcome}}",
                    instant=True,
                )
            ],
            w=12,
        )
    )
    return d
