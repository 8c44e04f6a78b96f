"""Prometheus recording and alerting rules for lotse, generated from the formulas.

``metrics/prometheus/lotse.rules.yml`` is this module's output for the
repository's config.yaml (``python -m metrics.grafana.build`` writes it, a test
checks it is current). The service-level target in the burn-rate alerts comes
from the config's ``service_level.target``.

Windows: 5m, 30m and 6h exist for the burn-rate alerts; 15m, 1h and 1d are
the operator views. ``1d`` is the rolling last 24 hours, not the calendar day:
Prometheus has no notion of local midnight. "Today" as a calendar day is the
dashboards' job (Grafana's ``now/d`` range with ``$__range``, in the
dashboard's time zone Europe/Berlin); at 18:00 the rolling 1d also covers
yesterday evening's calls, which for centers closed at night are few.
"""

from __future__ import annotations

from typing import Any

import yaml

from metrics.prometheus import promql

WINDOWS = ("5m", "15m", "30m", "1h", "6h", "1d")

# Burn-rate pairs (long window, short window, burn-rate factor, minimum calls
# offered in the long window, for, severity). With a 75 % target the error
# budget is 25 % of calls and the largest possible burn rate is 4; a factor 2
# means fewer than half the calls answered in time over the last hour (and
# still so over the last 5 minutes), a factor 1 that the promise is being
# missed over the last six hours and the last half hour.
BURN_ALERTS = (
    ("LotseServiceLevelFastBurn", "1h", "5m", 2.0, 10, "2m", "critical"),
    ("LotseServiceLevelSlowBurn", "6h", "30m", 1.0, 30, "15m", "warning"),
)

# Abandonment spike: over 15 minutes, more than this share of counted calls
# abandoned, and more than this factor times the rolling-day share, with at
# least this many calls offered (a quiet quarter hour proves nothing).
ABANDON_SPIKE_RATIO = 0.2
ABANDON_SPIKE_FACTOR = 2.0
ABANDON_SPIKE_MIN_OFFERED = 10

# The journal's promise is a lag under a second (p99 at 100 calls/s, see
# README "What a crash can lose"); five seconds for two minutes is no burst
# but a journal that has stopped keeping up, or cannot write at all (the lag
# then counts the records waiting in the spool).
JOURNAL_LAG_LIMIT_S = 5
# A callback request this close to its deadline (24 service hours) is about to
# break the promise: two hours leave a shift to call it back.
CALLBACK_DEADLINE_WARN_S = 7200


def recording_group(window: str) -> dict[str, Any]:
    """Per-center counts and ratios over one window, per queue and per home (the headline);
    ratios read this group's counts."""
    rules: list[dict[str, Any]] = []
    for view, ratios in ((promql.QUEUE, promql.RATIOS), (promql.HOME, promql.HOME_RATIOS)):
        raw = promql.raw_counts(window, view=view)
        for name in promql.RECORDED_COUNT_NAMES:
            record = promql.recorded_name(name, window, view)
            rules.append({"record": record, "expr": getattr(raw, name)})
        counts = promql.recorded_counts(window, view=view)
        for ratio, formula in ratios.items():
            rules.append({"record": promql.recorded_ratio(ratio, window), "expr": formula(counts)})
    return {"name": f"lotse_center_{window}", "rules": rules}


def _num(x: float) -> str:
    return f"{x:g}"


def burn_rate(window: str, target: float) -> str:
    """How fast the error budget (calls not answered in time) is spent over ``window``."""
    sl = promql.recorded_ratio("lotse_home_service_level:ratio", window)
    return f"(1 - {sl}) / {_num(round(1 - target, 6))}"


def _alert(
    name: str, expr: str, for_: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def alert_group(target: float) -> dict[str, Any]:
    """The alerts operators act on."""
    pct = f"{target:.0%}"
    # The promise is per home: each call once, for its municipality (docs/service-level.md).
    abandon_15m = promql.recorded_ratio("lotse_home_abandon:ratio", "15m")
    abandon_1d = promql.recorded_ratio("lotse_home_abandon:ratio", "1d")
    alerts = []
    for name, long, short, factor, min_offered, for_, severity in BURN_ALERTS:
        offered = promql.recorded_name("offered", long, promql.HOME)
        expr = (
            f"{burn_rate(long, target)} > {_num(factor)}"
            f" and {burn_rate(short, target)} > {_num(factor)}"
            f" and {offered} >= {min_offered}"
        )
        alerts.append(
            _alert(
                name,
                expr,
                for_,
                severity,
                f"{{{{ $labels.center }}}}: service level burning below the {pct} promise",
                f"Over the last {long} and {short} the center answered so few calls within "
                f"the threshold that it spends its error budget {_num(factor)}x faster than "
                f'the {pct} promise allows (burn rate {{{{ $value | printf "%.2f" }}}}).',
            )
        )
    alerts += [
        _alert(
            "LotseAmiDisconnected",
            "lotse_ami_connected == 0",
            "1m",
            "critical",
            "lotse has lost its AMI session to Asterisk",
            "Routing continues on the last known queue state; queue events and the call "
            "journal are missing until the session is back.",
        ),
        _alert(
            "LotseAmiLoginRefused",
            "increase(lotse_ami_login_failures_total[5m]) > 0",
            "0m",
            "critical",
            "Asterisk refuses lotse's AMI login",
            "The secret lotse has no longer matches Asterisk's manager.conf (rotated on one "
            "side only; the controller's ami.login_refused log line names the user). lotse "
            "keeps retrying and routes on the last known queue state; queue "
            "events and the call journal are missing until both sides have the same secret.",
        ),
        _alert(
            "LotseControllerAbsent",
            "absent(lotse_ami_connected)",
            "5m",
            "critical",
            "Prometheus scrapes no lotse controller",
            "The controller is down or unreachable; calls take the dialplan's static fallback.",
        ),
        _alert(
            "LotseNoAgentLoggedIn",
            "lotse_center_open == 1 and lotse_agents_logged_in == 0"
            " unless on(instance, job) lotse_state_stale == 1",
            "5m",
            "warning",
            "{{ $labels.center }} is open but no agent is logged in",
            "The center is open by its hours and holidays, yet its queue has no member; "
            "its calls overflow to partners.",
        ),
        _alert(
            "LotseFallbackRouting",
            "sum by (center) (increase(lotse_fallback_routes_total[5m])) > 0",
            "0m",
            "warning",
            "Calls for {{ $labels.center }} took the static dialplan fallback",
            "The dialplan routed calls without the controller (FastAGI unreachable, too slow "
            "or failing): no overflow, no off-hours logic for them.",
        ),
        _alert(
            "LotseDialplanConfigMismatch",
            "lotse_dialplan_config_mismatch == 1",
            "15m",
            "warning",
            "Asterisk runs a dialplan built from another lotse configuration",
            "The dialplan's static fallback and queues follow another configuration than the "
            "controller's (a reload without rebuilding the dialplan): run lotse dialplan "
            "build, then dialplan reload and queue reload all in Asterisk.",
        ),
        _alert(
            "LotseRoutingOnStaleState",
            "lotse_state_stale == 1",
            "2m",
            "warning",
            "lotse routes on stale queue state",
            "Decisions use the last known queue state since the AMI session was lost or "
            "before the first resync.",
        ),
        _alert(
            "LotseAbandonmentSpike",
            f"{abandon_15m} > {_num(ABANDON_SPIKE_RATIO)}"
            f" and {abandon_15m} > {_num(ABANDON_SPIKE_FACTOR)} * {abandon_1d}"
            f" and {promql.recorded_name('offered', '15m', promql.HOME)}"
            f" >= {ABANDON_SPIKE_MIN_OFFERED}",
            "5m",
            "warning",
            "{{ $labels.center }}: abandonment spike",
            "{{ $value | humanizePercentage }} of the calls counted in the last 15 minutes were "
            "abandoned, more than twice the rolling day's share.",
        ),
        _alert(
            "LotseJournalLagging",
            f"lotse_journal_lag_seconds > {JOURNAL_LAG_LIMIT_S}",
            "2m",
            "warning",
            "The call journal is falling behind",
            "The oldest journal record not yet in the journal file is "
            "{{ $value | humanizeDuration }} old; a crash now loses no more than the records "
            "not yet spooled, but reports miss the newest calls.",
        ),
        _alert(
            "LotseJournalUnwritable",
            "lotse_journal_healthy == 0",
            "1m",
            "critical",
            "The call journal file cannot be written",
            "Writes to the journal file fail (see lotse_journal_write_failures_total and the "
            "log); records go to the spool beside it and are replayed when the file takes "
            "writes again. Free disk space or fix the file's permissions before the spool "
            "is full.",
        ),
        _alert(
            "LotseJournalDroppingRecords",
            "increase(lotse_journal_dropped_total[10m]) > 0",
            "0m",
            "critical",
            "The call journal is losing records",
            "{{ $value | humanize }} journal records were dropped in the last 10 minutes (queue "
            "and spool full). Import Asterisk's queue_log (lotse journal import-queue-log) "
            "to restore those calls once the journal writes again.",
        ),
        _alert(
            "LotseCallbackNearDeadline",
            f"lotse_callbacks_deadline_left_seconds < {CALLBACK_DEADLINE_WARN_S}",
            "5m",
            "warning",
            "{{ $labels.center }}: a callback is near its deadline",
            "An open callback request reaches its deadline (24 hours of service time) in "
            "{{ $value | humanizeDuration }}; call it back now or the promise is missed.",
        ),
        _alert(
            "LotseCallbackLocked",
            "lotse_callbacks_locked > 0",
            "10m",
            "warning",
            "{{ $labels.center }}: callback requests no key opens",
            "{{ $value }} open callback request(s) cannot be dialled: no callback key of this "
            "controller opens their numbers. Restart lotse run with the key that sealed them "
            "in $LOTSE_CALLBACK_KEYS, or cancel them (lotse ctl callbacks).",
        ),
        _alert(
            "LotseEventErrors",
            "increase(lotse_event_errors_total[5m]) > 0",
            "0m",
            "warning",
            "lotse failed to apply AMI events",
            '{{ $value | printf "%.0f" }} AMI events in the last 5 minutes could not be applied '
            "to the queue state or the call journal and were skipped (a bug, see the "
            "state.event_failed log lines of the controller); the state may be off until the next "
            "resync.",
        ),
    ]
    return {"name": "lotse_alerts", "rules": alerts}


def rules(target: float) -> dict[str, Any]:
    """The whole rules file as a dict; ``target`` is the service-level promise (0.75)."""
    if not 0 < target < 1:
        # A target of 1 leaves no error budget, so no burn rate exists.
        raise ValueError(f"service-level target must be between 0 and 1 (exclusive): {target}")
    return {"groups": [recording_group(w) for w in WINDOWS] + [alert_group(target)]}


def render(target: float) -> str:
    """The rules file text."""
    header = (
        "# Generated by `python -m metrics.grafana.build` (or `lotse dashboards build`) from\n"
        "# metrics/prometheus/rules.py: do not edit. Formulas: docs/service-level.md.\n"
    )
    body = yaml.safe_dump(rules(target), sort_keys=False, width=1000, allow_unicode=True)
    return header + body
