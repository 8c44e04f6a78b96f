"""Controller health: the AMI session, FastAGI decisions, fallbacks, bad input, the journal."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from metrics.grafana.base import Settings, new_dashboard
from metrics.grafana.panels import Query, big_number, thresholds, timeseries, value_map
from metrics.grafana.panels import row as section

UID = "lotse-controller"
TODAY = "$__range"
RATE = "$__rate_interval"


def _latency(q: float) -> str:
    return (
        f"histogram_quantile({q:g}, sum by (le) "
        f"(rate(lotse_decision_latency_seconds_bucket[{RATE}])))"
    )


def build(settings: Settings) -> dashboard.Dashboard:
    """The controller health dashboard."""
    d = new_dashboard(
        UID,
        "lotse: controller health",
        "Whether the lotse controller can do its job: AMI session to Asterisk, FastAGI routing "
        "decisions and their latency, calls routed by the dialplan's static fallback, "
        "malformed input, call journal.",
        settings,
    )
    d = d.with_row(section("Now"))
    d = d.with_panel(
        big_number(
            "AMI session",
            "Whether lotse is logged in to Asterisk's manager interface.",
            [Query("min(lotse_ami_connected)")],
            steps=thresholds((None, "red"), (1, "green")),
            mappings=value_map({"0": ("Disconnected", "red"), "1": ("Connected", "green")}),
        )
    )
    d = d.with_panel(
        big_number(
            "Queue state",
            "Stale: routing uses the last known queue state (AMI lost, or before the first "
            "resync).",
            [Query("max(lotse_state_stale)")],
            steps=thresholds((None, "green"), (1, "orange")),
            mappings=value_map({"0": ("Current", "green"), "1": ("Stale", "orange")}),
        )
    )
    d = d.with_panel(
        big_number(
            "Resyncs today",
            "Queue state rebuilt from QueueStatus, once per (re)connect.",
            [Query(f"sum(increase(lotse_ami_resyncs_total[{TODAY}]))", instant=True)],
            decimals=0,
        )
    )
    d = d.with_panel(
        big_number(
            "Static fallback routes today",
            "Calls the dialplan routed without lotse (FastAGI unreachable, too slow or failed).",
            [Query(f"sum(increase(lotse_fallback_routes_total[{TODAY}]))", instant=True)],
            steps=thresholds((None, "green"), (1, "orange")),
            decimals=0,
        )
    )
    d = d.with_panel(
        big_number(
            "Journal lag",
            "Age of the oldest call-journal record not yet committed to the journal file "
            "(waiting in memory or in the spool). Normally well under a second.",
            [Query("max(lotse_journal_lag_seconds)")],
            unit="s",
            steps=thresholds((None, "green"), (1, "orange"), (10, "red")),
        )
    )
    d = d.with_panel(
        big_number(
            "Journal records dropped today",
            "Records lost because the journal's queue and its spool were full; "
            "recover the calls from Asterisk's queue_log (lotse journal import-queue-log).",
            [Query(f"sum(increase(lotse_journal_dropped_total[{TODAY}]))", instant=True)],
            steps=thresholds((None, "green"), (1, "red")),
            decimals=0,
        )
    )
    d = d.with_row(section("Routing decisions"))
    d = d.with_panel(
        timeseries(
            "FastAGI requests by result",
            "ok: answered in time; deadline: too slow, the dialplan fell back; malformed, "
            "peer_closed, hangup, handler_error, rejected: the request could not be served.",
            [
                Query(
                    f"sum by (result) (rate(lotse_agi_requests_total[{RATE}]))",
                    "{{result}}",
                )
            ],
            unit="reqps",
        )
    )
    d = d.with_panel(
        timeseries(
            "Decision latency",
            "From a complete FastAGI request to the routing decision, estimated from the "
            "histogram.",
            [
                Query(_latency(0.5), "median"),
                Query(_latency(0.99), "99th percentile"),
            ],
            unit="s",
        )
    )
    d = d.with_panel(
        timeseries(
            "Static fallback routes by center",
            "Calls per second the dialplan routed by its static fallback, by the center it chose.",
            [
                Query(
                    f"sum by (center) (rate(lotse_fallback_routes_total[{RATE}]))",
                    "{{center}}",
                )
            ],
            unit="reqps",
        )
    )
    d = d.with_panel(
        timeseries(
            "Malformed input by source",
            "Garbage rejected from the AMI stream or FastAGI requests, per second.",
            [
                Query(
                    f"sum by (source) (rate(lotse_malformed_input_total[{RATE}]))",
                    "{{source}}",
                )
            ],
            unit="reqps",
        )
    )
    d = d.with_row(section("Session and journal"))
    d = d.with_panel(
        timeseries(
            "AMI session and queue state",
            "1 = connected / stale.",
            [
                Query("min(lotse_ami_connected)", "connected"),
                Query("max(lotse_state_stale)", "stale"),
            ],
            minimum=0,
            maximum=1,
        )
    )
    d = d.with_panel(
        timeseries(
            "Journal lag",
            "Age of the oldest journal record not yet in the journal file.",
            [Query("max(lotse_journal_lag_seconds)", "lag")],
            unit="s",
        )
    )
    d = d.with_panel(
        timeseries(
            "Journal file and spool",
            "healthy: 1 while the journal file takes writes; spooled: records waiting in the "
            "spool beside it, replayed in order once it does; write failures by reason "
            "(full, readonly, io, corrupt, locked, removed, record, other).",
            [
                Query("min(lotse_journal_healthy)", "healthy"),
                Query("sum(lotse_journal_spool_records)", "spooled"),
                Query(
                    f"sum by (reason) (increase(lotse_journal_write_failures_total[{RATE}]))",
                    "{{reason}}",
                ),
            ],
            minimum=0,
        )
    )
    return d
