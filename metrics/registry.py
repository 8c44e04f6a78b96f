"""The Prometheus metrics lotse exports, on an injected registry.

Label values are center ids, reasons and results — never caller numbers.

The service level is counted in two views (docs/service-level.md):

* **per home** (``lotse_home_calls_*``, the 115 promise and the headline):
  each call once, for its home center, with the wait summed over its spills —
  the definitions of :mod:`metrics.servicelevel`, the same the journal report
  uses;
* **per queue** (``lotse_calls_*``, Asterisk's view, for comparison with
  ``queue show``): each queue entry at the queue's center with the wait in that
  queue.

Every service-level definition in use can be computed per queue from the
per-queue counters:

* the 115 promise (headline): ``answered_within_threshold / (offered - short_abandoned)``
* Asterisk's ``SL``: ``answered_within_threshold / answered``
* Asterisk's ``SL2``: ``(answered_within_threshold + abandoned_within_threshold)
  / (answered + abandoned)``

A call that leaves a queue after its timeout to spill to a partner is not an
abandon: it is counted in ``lotse_calls_overflowed_total`` and stays in the
offered count of the center it left, which did not answer it in time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from router.opening import Moment
from router.policy import Router
from router.state import Snapshot

# Buckets resolve the 30 s threshold exactly and the usual 20/60 s variants.
WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
TALK_BUCKETS = (30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0, 1800.0)
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3)

AGI_RESULTS = ("ok", "deadline", "malformed", "peer_closed", "hangup", "handler_error", "rejected")
OVERFLOW_REASONS = ("overload", "offhours", "timeout")
DECISION_STATES = ("fresh", "stale")
QUEUE_LOG_LINES = ("read", "bad", "unknown")
RECONCILE_RESULTS = ("alive", "closed_known", "closed_unknown", "adopted")


class LotseMetrics:
    """Every metric lotse exports, created on ``registry`` with labels pre-initialised."""

    def __init__(self, registry: CollectorRegistry, centers: Iterable[str]) -> None:
        self.registry = registry
        self.centers = tuple(centers)
        r = registry
        self.offered = Counter(
            "lotse_calls_offered_total",
            "Per queue (Asterisk's view): queue entries at the center, its own municipality's "
            "(home) or a partner's (overflow_in)",
            ["center", "type"],
            registry=r,
        )
        self.answered = Counter(
            "lotse_calls_answered_total",
            "Per queue (Asterisk's view): calls answered by an agent of the center",
            ["center"],
            registry=r,
        )
        self.answered_in_sl = Counter(
            "lotse_calls_answered_within_threshold_total",
            "Per queue (Asterisk's view): calls answered within the service-level threshold "
            "(30 s) of waiting in this queue",
            ["center"],
            registry=r,
        )
        self.abandoned = Counter(
            "lotse_calls_abandoned_total",
            "Per queue (Asterisk's view): callers who hung up while waiting in the queue",
            ["center"],
            registry=r,
        )
        self.abandoned_in_sl = Counter(
            "lotse_calls_abandoned_within_threshold_total",
            "Per queue (Asterisk's view): callers who hung up within the service-level threshold",
            ["center"],
            registry=r,
        )
        self.short_abandoned = Counter(
            "lotse_calls_short_abandoned_total",
            "Per queue (Asterisk's view): callers who hung up within the short-abandon limit (5 s)",
            ["center"],
            registry=r,
        )
        self.callbacks_kept = Counter(
            "lotse_calls_callbacks_kept_total",
            "Per queue (Asterisk's view): offered callers who left the center's queue for a "
            "callback that was kept (completed by its deadline); out of the service level",
            ["center"],
            registry=r,
        )
        # Per home center: the 115 promise (metrics.servicelevel), each call once.
        self.home_offered = Counter(
            "lotse_home_calls_offered_total",
            "Per home: calls of the center's region that entered a queue, here or at a "
            "partner, each call once (the 115 promise's offered)",
            ["center"],
            registry=r,
        )
        self.home_answered = Counter(
            "lotse_home_calls_answered_total",
            "Per home: calls of the center's region answered, here or at a partner",
            ["center"],
            registry=r,
        )
        self.home_answered_in_sl = Counter(
            "lotse_home_calls_answered_within_threshold_total",
            "Per home: calls answered with a wait summed over all their queues within the "
            "service-level threshold (30 s)",
            ["center"],
            registry=r,
        )
        self.home_abandoned = Counter(
            "lotse_home_calls_abandoned_total",
            "Per home: callers of the center's region who hung up while waiting in a queue",
            ["center"],
            registry=r,
        )
        self.home_abandoned_in_sl = Counter(
            "lotse_home_calls_abandoned_within_threshold_total",
            "Per home: callers who hung up after waiting at most the service-level threshold "
            "in all",
            ["center"],
            registry=r,
        )
        self.home_short_abandoned = Counter(
            "lotse_home_calls_short_abandoned_total",
            "Per home: callers who hung up after waiting less than the short-abandon limit "
            "(5 s) in all; not counted as offered by the 115 promise",
            ["center"],
            registry=r,
        )
        self.home_callbacks_kept = Counter(
            "lotse_home_calls_callbacks_kept_total",
            "Per home: offered calls nobody answered whose callback was kept (completed by "
            "its deadline): served by the promise's feedback within 24 h, out of the 30-s "
            "service level",
            ["center"],
            registry=r,
        )
        self.home_overflow = Counter(
            "lotse_home_calls_overflow_total",
            "Per home: calls of the center's region that entered a partner's queue, once per "
            "call and partner (overflow out of center, into to_center)",
            ["center", "to_center"],
            registry=r,
        )
        self.home_wait = Histogram(
            "lotse_home_wait_seconds",
            "Per home: the caller's wait summed over all queues until answer or abandon",
            ["center", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.overflowed = Counter(
            "lotse_calls_overflowed_total",
            "Calls passed from one center to another, by reason (overload, offhours, timeout)",
            ["from_center", "to_center", "reason"],
            registry=r,
        )
        self.arrived = Counter(
            "lotse_calls_arrived_total",
            "Calls routed by lotse, by home center (the one responsible for the caller's "
            "region), counted once per call at its first decision",
            ["center"],
            registry=r,
        )
        self.offhours = Counter(
            "lotse_calls_offhours_total",
            "Calls arriving while their home center was closed",
            ["center"],
            registry=r,
        )
        self.announced = Counter(
            "lotse_calls_announced_total",
            "Calls ended with an announcement instead of a queue",
            ["announcement"],
            registry=r,
        )
        self.wait = Histogram(
            "lotse_wait_seconds",
            "Per queue (Asterisk's view): time callers waited in this queue until answer or "
            "abandon",
            ["center", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.talk = Histogram(
            "lotse_talk_seconds",
            "Talk time of answered calls",
            ["center"],
            buckets=TALK_BUCKETS,
            registry=r,
        )
        self.ami_connected = Gauge(
            "lotse_ami_connected", "1 while the AMI session is logged in", registry=r
        )
        self.state_stale = Gauge(
            "lotse_state_stale",
            "1 while decisions use the last known (stale) center state",
            registry=r,
        )
        self.ami_login_failures = Counter(
            "lotse_ami_login_failures_total",
            "AMI logins Asterisk refused (a wrong user or secret; the controller's and the "
            "callback dialer's users, the log line names which)",
            registry=r,
        )
        self.resyncs = Counter(
            "lotse_ami_resyncs_total", "State resynchronisations from QueueStatus", registry=r
        )
        self.agi_requests = Counter(
            "lotse_agi_requests_total", "FastAGI requests by result", ["result"], registry=r
        )
        self.decision_latency = Histogram(
            "lotse_decision_latency_seconds",
            "Time from a complete FastAGI request to the routing decision",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "lotse_decisions_total",
            "Routing decisions, by the state they were made on: fresh, or stale (AMI down "
            "or not yet resynced)",
            ["state"],
            registry=r,
        )
        self.reconciles = Counter(
            "lotse_reconciles_total",
            "Reconciles of the journal's open calls with Asterisk's live channels completed",
            registry=r,
        )
        self.reconciled = Counter(
            "lotse_calls_reconciled_total",
            "Calls a reconcile with Asterisk (after a (re)connect or a restart) found alive, "
            "closed with a known outcome, closed as unknown, or adopted (alive in a lotse "
            "queue but not in the journal)",
            ["result"],
            registry=r,
        )
        self.fallback_routes = Counter(
            "lotse_fallback_routes_total",
            "Calls the dialplan routed by its static fallback (controller unreachable)",
            ["center"],
            registry=r,
        )
        self.fallback_calls = Counter(
            "lotse_fallback_calls_total",
            "Calls the static fallback routed, each once by home center (none: a region no "
            "center serves), whether the controller heard its UserEvent, adopted it alive at a "
            "reconcile or imported its line from Asterisk's queue_log after being down",
            ["center"],
            registry=r,
        )
        self.queue_log_lines = Counter(
            "lotse_queue_log_lines_total",
            "Lines read from Asterisk's queue_log: read (parsed), bad (not a queue_log line, "
            "skipped), unknown (an event lotse does not know, skipped)",
            ["result"],
            registry=r,
        )
        self.queue_log_calls = Counter(
            "lotse_queue_log_calls_total",
            "Calls of the queue_log imported into the journal (new, or completed) or skipped "
            "(nothing the journal lacked)",
            ["result"],
            registry=r,
        )
        self.malformed = Counter(
            "lotse_malformed_input_total",
            "Malformed input rejected, by source",
            ["source"],
            registry=r,
        )
        self.unknown_queue_events = Counter(
            "lotse_ami_unknown_queue_events_total",
            "AMI events of queues no center of the configuration owns (ignored; each such "
            "queue is logged once: another service's queue, or queues out of step with the "
            "config)",
            registry=r,
        )
        self.event_errors = Counter(
            "lotse_event_errors_total",
            "AMI events the live state or the call tracker failed to apply (skipped; a bug)",
            registry=r,
        )
        self._init_labels()

    def follow_centers(self, centers: Iterable[str]) -> None:
        """A reload added centers: their series exist from the next scrape on.

        Series of removed centers stay (their counters keep their totals).
        """
        added = [c for c in centers if c not in self.centers]
        if added:
            self.centers = (*self.centers, *added)
            self._init_labels()

    def _init_labels(self) -> None:
        # Series exist from the first scrape, so rate() and absent() work at once.
        for state in DECISION_STATES:
            self.decisions.labels(state)
        for result in RECONCILE_RESULTS:
            self.reconciled.labels(result)
        for c in self.centers:
            for kind in ("home", "overflow_in"):
                self.offered.labels(c, kind)
            for metric in (
                self.answered,
                self.answered_in_sl,
                self.abandoned,
                self.abandoned_in_sl,
                self.short_abandoned,
                self.arrived,
                self.offhours,
                self.fallback_routes,
                self.home_offered,
                self.home_answered,
                self.home_answered_in_sl,
                self.home_abandoned,
                self.home_abandoned_in_sl,
                self.home_short_abandoned,
                self.fallback_calls,
                self.callbacks_kept,
                self.home_callbacks_kept,
            ):
                metric.labels(c)
            self.talk.labels(c)
            for outcome in ("answered", "abandoned"):
                self.wait.labels(c, outcome)
                self.home_wait.labels(c, outcome)
            # Every flow a call can take, so the first overflow after a restart
            # shows in increase() instead of starting a series at 1.
            for to in self.centers:
                if to != c:
                    self.home_overflow.labels(c, to)
                    for reason in OVERFLOW_REASONS:
                        self.overflowed.labels(c, to, reason)
        for result in AGI_RESULTS:
            self.agi_requests.labels(result)
        for result in QUEUE_LOG_LINES:
            self.queue_log_lines.labels(result)
        for result in ("imported", "skipped"):
            self.queue_log_calls.labels(result)
        for source in ("ami", "agi"):
            self.malformed.labels(source)


class QueueStateCollector(Collector):
    """Reads the live center state at scrape time: callers waiting, agents, longest wait."""

    def __init__(self, snapshot: Callable[[], Snapshot], centers: Iterable[str]) -> None:
        self._snapshot = snapshot
        self._centers = tuple(centers)

    def use_centers(self, centers: Iterable[str]) -> None:
        """Report these centers from the next scrape on (a configuration reload)."""
        self._centers = tuple(centers)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._snapshot()
        families = {
            "waiting": GaugeMetricFamily(
                "lotse_queue_callers_waiting",
                "Callers waiting in the center's queue now",
                labels=["center"],
            ),
            "longest": GaugeMetricFamily(
                "lotse_queue_longest_wait_seconds",
                "Wait of the longest-waiting caller now",
                labels=["center"],
            ),
            "logged_in": GaugeMetricFamily(
                "lotse_agents_logged_in",
                "Agents logged in to the center's queue",
                labels=["center"],
            ),
            "available": GaugeMetricFamily(
                "lotse_agents_available", "Agents free to take a call", labels=["center"]
            ),
            "busy": GaugeMetricFamily("lotse_agents_busy", "Agents on a call", labels=["center"]),
        }
        for cid in self._centers:
            s = snap.of(cid)
            families["waiting"].add_metric([cid], s.waiting)
            families["longest"].add_metric([cid], s.longest_wait_s)
            families["logged_in"].add_metric([cid], s.agents_logged_in or 0)
            families["available"].add_metric([cid], s.agents_available)
            families["busy"].add_metric([cid], s.agents_busy)
        yield from families.values()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Nothing up front: the families are built from state at scrape time."""
        return iter(())


class CenterOpenCollector(Collector):
    """Whether each center is open now, as the routing policy sees it, read at scrape time.

    Prometheus does not know the opening hours, state holidays, closure days
    or supervisor overrides; this gauge carries the controller's view so that
    alerts such as "nobody logged in while open" need no copy of the calendar.
    """

    def __init__(
        self,
        router: Router,
        wall_clock: Callable[[], datetime],
        snapshot: Callable[[], Snapshot],
    ) -> None:
        self._router = router
        self._now = wall_clock
        self._snapshot = snapshot

    def use_router(self, router: Router) -> None:
        """Judge with this configuration from the next scrape on (a configuration reload)."""
        self._router = router

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge per configured center, for the wall-clock time of the scrape."""
        family = GaugeMetricFamily(
            "lotse_center_open",
            "1 while the center is open by its hours, closure days, state holidays and "
            "supervisor override; 0 while closed",
            labels=["center"],
        )
        moment = Moment.of(self._now().astimezone(self._router.tz))
        snap = self._snapshot()
        for cid in self._router.config.centers:
            closed = self._router.closed_reason(cid, moment, snap)
            family.add_metric([cid], 0.0 if closed else 1.0)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Nothing up front: the value depends on the clock at scrape time."""
        return iter(())
