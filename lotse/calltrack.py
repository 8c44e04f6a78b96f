"""Follows each 115 call from its routing decisions through the queues to its end.

Turns decisions and typed AMI events into journal records and service-level
metrics. The call id is the Uniqueid of the caller's channel (the dialplan
passes it as ``LOTSE_CALLID``), so queue events, which carry that channel's
Uniqueid, find their call without any lookup table of numbers.

How Asterisk 22 tells the outcomes apart (see the captures in shared/):

* answered: ``QueueCallerLeave`` then ``AgentConnect`` (its ``HoldTime`` is the
  wait); ``AgentComplete`` (``TalkTime``) may come before or after the
  caller's ``Hangup``;
* abandoned: ``QueueCallerAbandon`` then the caller's ``Hangup``;
* queue timeout (a spill, not an abandon): ``QueueCallerAbandon`` too, then
  ``QueueCallerLeave`` and ``VarSet QUEUESTATUS=TIMEOUT``, and the call asks
  the controller again.

Reconcile: after every (re)connect the controller hands the tracker the
journal's open rows (:meth:`CallTracker.begin_reconcile`) and asks Asterisk
for every live channel (``CoreShowChannels``). The rows become tracks at once,
so events arriving meanwhile continue them; at ``CoreShowChannelsComplete``
each call is looked up by its Uniqueid among the live channels. Alive: it is
followed on (a caller found bridged in its queue was answered unseen: the
controller asks ``Status`` for its ``QEHOLDTIME`` and ``MEMBERNAME``, which
app_queue set on the caller's channel, and journals the answer with that
wait, or without one if Status cannot tell). Gone: it
is closed (:class:`~lotse.journal.records.Closed`), with the outcome
``unknown`` unless an answer, an abandon or an announcement was journaled. A
caller alive in a lotse queue whom the journal does not know (the static
fallback routed it while the controller was down) gets a row.

The static fallback's calls are counted once in ``lotse_fallback_calls_total``
(:mod:`lotse.fallbackbook`): heard live (``UserEvent(LotseFallback)``), adopted
at a reconcile, or imported from its queue_log lines, whichever comes first.

Service-level metrics are counted in both views of docs/service-level.md:
per queue (``lotse_calls_*``, each queue entry with its own wait, as Asterisk
counts) and per home (``lotse_home_calls_*``, each call once for its home with
the wait summed over its spills), the latter by the definitions of
:mod:`metrics.servicelevel`, which the journal report shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from ami.contract import CALLBACK_AGENT_CONTEXT, CALLBACK_ATTEMPT_PREFIX
from ami.events import (
    AgentComplete,
    AgentConnect,
    ChannelStatus,
    CoreShowChannel,
    CoreShowChannelsComplete,
    Hangup,
    LotseFallback,
    QueueCallerAbandon,
    QueueCallerJoin,
    StatusComplete,
    VarSet,
)
from ami.fastagi import log_call_id
from lotse.fallbackbook import FallbackBook
from lotse.journal.records import (
    Abandoned,
    Answered,
    CallArrived,
    Closed,
    Decided,
    Ended,
    FallbackUsed,
    Outcome,
    QueueJoined,
    Record,
    Spilled,
    SpillReason,
)
from lotse.journal.store import OpenCall
from lotse.routing_service import RoutingRequest
from metrics.registry import LotseMetrics
from metrics.servicelevel import short_abandon, within_threshold
from router.config import Config
from router.numbering import NumberKind, Origin
from router.policy import Action, Decision
from router.state import Snapshot

_log = structlog.get_logger("lotse.calls")

# How long an ended, answered call waits for its AgentComplete (talk time).
TALK_GRACE_S = 60.0
# Why a reconcile closed a call or adopted one (journal ``ended_cause`` / fallback reason).
CLOSED_REASON = "gone at reconcile"
ADOPTED_REASON = "found at reconcile"
# The agent of an answer only a reconcile saw (the member is not in CoreShowChannel).
UNSEEN_AGENT = "unknown"


@dataclass
class _Reconcile:
    action_id: str
    rows: dict[str, OpenCall]
    alive: dict[str, CoreShowChannel] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What one reconcile did: calls followed on, closed (of them unknown), adopted.

    ``unseen_answers`` are (call id, channel) of callers found bridged in
    their queue without an answer seen: ask Asterisk's ``Status`` for their
    wait (:meth:`CallTracker.expect_status`).
    """

    alive: int
    closed: int
    unknown: int
    adopted: int
    unseen_answers: tuple[tuple[str, str], ...] = ()
    # Every channel Asterisk had (Uniqueid), calls or not: the callback dialer
    # resolves its attempts in flight from it.
    channels: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass
class _Track:
    home: str | None
    center: str | None = None  # the center whose queue the call is in or was last in
    queues: list[str] = field(default_factory=list)  # centers whose queue it entered
    spilled_wait_s: float = 0.0  # waited in the queues it spilled from
    answered: bool = False
    abandoned: bool = False
    announced: bool = False
    talk_s: float | None = None
    pending_leave: QueueCallerAbandon | None = None
    ended_at: datetime | None = None
    ended_cause: str = ""


_CALLBACK_LEG_PREFIX = f"Local/s@{CALLBACK_AGENT_CONTEXT}-"


def is_callback_leg(channel: str, uniqueid: str = "") -> bool:
    """Whether a channel is the callback dialer's Local channel (no caller of its own):
    by its name, or by the Uniqueid the dialer gave it."""
    return channel.startswith(_CALLBACK_LEG_PREFIX) or uniqueid.startswith(CALLBACK_ATTEMPT_PREFIX)


class CallTracker:
    """Per-call bookkeeping; every input is one method call from the ordered consumer."""

    def __init__(
        self,
        config: Config,
        record: Callable[[Record], None],
        metrics: LotseMetrics,
        wall_clock: Callable[[], datetime],
        caller_hash: Callable[[str], str | None],
        classify: Callable[[str], Origin] | None = None,
        on_reconciled: Callable[[ReconcileResult], None] | None = None,
        fallback_book: FallbackBook | None = None,
    ) -> None:
        self._config = config
        # The static fallback's calls, counted once (shared with the queue_log follower).
        self._book = fallback_book or FallbackBook(metrics.fallback_calls)
        self._classify = classify
        self._on_reconciled = on_reconciled
        self._reconcile: _Reconcile | None = None
        # Answers a reconcile found (call id -> center) until Status tells the
        # wait, and which Status action asks for which call.
        self._unseen: dict[str, str] = {}
        self._status_for: dict[str, str] = {}
        self._record = record
        self._metrics = metrics
        self._now = wall_clock
        self._hash = caller_hash
        self._calls: dict[str, _Track] = {}
        # Ended, answered calls waiting for their AgentComplete, oldest first.
        self._ending: dict[str, datetime] = {}
        self._level = config.service_level
        self._by_queue = dict(config.center_by_queue)
        self._handlers: dict[type, Callable[[object], None]] = {
            QueueCallerJoin: self._join,  # type: ignore[dict-item]
            AgentConnect: self._connect,  # type: ignore[dict-item]
            AgentComplete: self._complete,  # type: ignore[dict-item]
            QueueCallerAbandon: self._abandon,  # type: ignore[dict-item]
            VarSet: self._varset,  # type: ignore[dict-item]
            Hangup: self._hangup,  # type: ignore[dict-item]
            LotseFallback: self._fallback,  # type: ignore[dict-item]
            CoreShowChannel: self._live_channel,  # type: ignore[dict-item]
            CoreShowChannelsComplete: self._reconciled,  # type: ignore[dict-item]
            ChannelStatus: self._status,  # type: ignore[dict-item]
            StatusComplete: self._status_complete,  # type: ignore[dict-item]
        }

    def home_of(self, call_id: str) -> str | None:
        """The home center the controller decided for a call it follows, if any."""
        track = self._calls.get(call_id)
        return track.home if track is not None else None

    def reconfigure(self, config: Config) -> None:
        """Follow a reloaded configuration; calls in flight are kept.

        A queue that is no longer configured still maps to its old center, so
        a caller waiting there when the center was removed is followed to the end.
        """
        self._config = config
        self._level = config.service_level
        self._by_queue = {**self._by_queue, **config.center_by_queue}

    @property
    def active_calls(self) -> int:
        """Calls being followed now."""
        return len(self._calls)

    # --- decisions (from the FastAGI service) ---------------------------------

    def on_decision(
        self, req: RoutingRequest, decision: Decision, now: datetime, snapshot: Snapshot
    ) -> None:
        """Journal and count one routing decision."""
        track = self._calls.get(req.call_id)
        hop = len(req.call.visited)
        if track is None:
            track = self._calls[req.call_id] = _Track(home=decision.home)
            origin = decision.origin
            caller_hash = (
                self._hash(req.call.caller) if origin.kind is not NumberKind.ANONYMOUS else None
            )
            self._record(
                CallArrived.of(req.call_id, now, origin, caller_hash, decision.dialed_ortsnetz)
            )
        elif track.home is None:
            track.home = decision.home
        if track.pending_leave is not None:
            # Asked again after leaving a queue alive: that was a spill.
            self._spill(req.call_id, track, SpillReason.TIMEOUT, now)
        record = Decided.of(
            req.call_id, now, decision, hop=hop, stale=snapshot.stale, offhours=decision.offhours
        )
        self._record(record)
        if decision.action is Action.ANNOUNCE:
            track.announced = True
        if hop == 0 and decision.home:
            self._metrics.arrived.labels(decision.home).inc()
            if record.offhours:
                self._metrics.offhours.labels(decision.home).inc()
        if decision.action is Action.QUEUE and decision.target and decision.home:
            if decision.target != decision.home or hop:
                source = req.call.visited[-1] if req.call.visited else decision.home
                reason = "timeout" if hop else ("offhours" if record.offhours else "overload")
                self._metrics.overflowed.labels(source, decision.target, reason).inc()
        elif decision.action is Action.ANNOUNCE and decision.announcement:
            self._metrics.announced.labels(decision.announcement).inc()

    # --- AMI events (from the ordered consumer) --------------------------------

    def apply(self, event: object) -> None:
        """Fold one typed AMI event into the calls it concerns."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _center(self, queue: str) -> str | None:
        return self._by_queue.get(queue)

    def _join(self, e: QueueCallerJoin) -> None:
        center = self._center(e.queue)
        if center is None or is_callback_leg(e.channel, e.uniqueid):
            # The callback dialer's own leg waits for an agent: not a call.
            return
        track = self._calls.setdefault(e.uniqueid, _Track(home=None))
        self._count_join(center, track)
        self._record(QueueJoined(e.uniqueid, self._now(), center, e.queue, e.position))
        _log.debug(
            "call.queued", call_id=log_call_id(e.uniqueid), center=center, position=e.position
        )

    def _count_join(self, center: str, track: _Track) -> None:
        """The offer's metrics of a call's entry into ``center``'s queue."""
        track.center = center
        kind = "home" if track.home in (None, center) else "overflow_in"
        m = self._metrics
        m.offered.labels(center, kind).inc()
        # A call the controller never routed is credited to its first queue's center.
        home = track.home = track.home or center
        if not track.queues:
            m.home_offered.labels(home).inc()
        if center != home and center not in track.queues:
            m.home_overflow.labels(home, center).inc()
        if center not in track.queues:
            track.queues.append(center)

    def _count_missed_join(self, center: str, track: _Track) -> None:
        """A call answered or abandoned in a queue whose join AMI never delivered
        (the link was down): it was offered there all the same, so an answer or
        an abandon never counts without its offer (a service level above 100 %)."""
        if center not in track.queues:
            self._count_join(center, track)

    def _connect(self, e: AgentConnect) -> None:
        center = self._center(e.queue)
        track = self._calls.get(e.uniqueid)
        if center is None or track is None:
            return
        track.answered = True
        track.pending_leave = None
        self._count_missed_join(center, track)
        self._count_answer(center, track, e.holdtime)
        self._record(Answered(e.uniqueid, self._now(), center, e.member_name, e.holdtime))
        _log.debug(
            "call.answered", call_id=log_call_id(e.uniqueid), center=center, wait_s=e.holdtime
        )

    def _count_answer(self, center: str, track: _Track, holdtime: float | None) -> None:
        """The answer's metrics; without a known wait only the answer itself counts."""
        m = self._metrics
        home = track.home or center
        m.answered.labels(center).inc()
        m.home_answered.labels(home).inc()
        if holdtime is None:
            return
        if within_threshold(holdtime, self._level):
            m.answered_in_sl.labels(center).inc()
        m.wait.labels(center, "answered").observe(holdtime)
        wait = track.spilled_wait_s + holdtime
        if within_threshold(wait, self._level):
            m.home_answered_in_sl.labels(home).inc()
        m.home_wait.labels(home, "answered").observe(wait)

    def _complete(self, e: AgentComplete) -> None:
        center = self._center(e.queue)
        if center is None:
            return
        self._metrics.talk.labels(center).observe(e.talktime)
        track = self._calls.get(e.uniqueid)
        if track is None:
            return
        track.talk_s = e.talktime
        if track.ended_at is not None:
            self._end(e.uniqueid, track)

    def _fallback(self, e: LotseFallback) -> None:
        # The dialplan routed without the controller; follow the call from here.
        if e.center not in self._config.centers:
            return
        self._metrics.fallback_routes.labels(e.center).inc()
        self._calls.setdefault(e.uniqueid, _Track(home=e.center))
        self._record(FallbackUsed(e.uniqueid, self._now(), e.center, e.reason or "unknown"))
        self._book.count(e.uniqueid, e.center)
        # Not an error of this call, but the controller was not there for it.
        _log.warning(
            "call.fallback_route",
            call_id=log_call_id(e.uniqueid),
            center=e.center,
            reason=e.reason or "unknown",
        )

    def _abandon(self, e: QueueCallerAbandon) -> None:
        # Sent for a hang-up *and* for a queue timeout: decided by what follows.
        track = self._calls.get(e.uniqueid)
        if track is not None and self._center(e.queue) is not None:
            track.pending_leave = e

    def _varset(self, e: VarSet) -> None:
        if e.variable != "QUEUESTATUS":
            return
        track = self._calls.get(e.uniqueid)
        if track is None or track.pending_leave is None:
            return
        try:
            reason = SpillReason(e.value.lower())
        except ValueError:
            return
        self._spill(e.uniqueid, track, reason, self._now())

    def _spill(self, call_id: str, track: _Track, reason: SpillReason, now: datetime) -> None:
        leave = track.pending_leave
        track.pending_leave = None
        if leave is None:
            return
        center = self._center(leave.queue)
        if center is not None:
            track.spilled_wait_s += leave.holdtime
            self._record(Spilled(call_id, now, center, None, reason, leave.holdtime))
            _log.debug(
                "call.spilled",
                call_id=log_call_id(call_id),
                center=center,
                reason=reason.value,
                wait_s=leave.holdtime,
            )

    def _hangup(self, e: Hangup) -> None:
        track = self._calls.get(e.uniqueid)
        if track is None:
            return
        now = self._now()
        self._answer_unseen(e.uniqueid, None, None)
        leave = track.pending_leave
        if leave is not None and not track.answered:
            center = self._center(leave.queue)
            if center is not None:
                self._count_missed_join(center, track)
                self._count_abandon(center, leave.holdtime)
                self._count_home_abandon(
                    track.home or center, track.spilled_wait_s + leave.holdtime
                )
                self._record(Abandoned(e.uniqueid, now, center, leave.holdtime, leave.position))
                _log.debug(
                    "call.abandoned",
                    call_id=log_call_id(e.uniqueid),
                    center=center,
                    wait_s=leave.holdtime,
                )
            track.pending_leave = None
            track.abandoned = True
        track.ended_at = now
        track.ended_cause = e.cause_txt or str(e.cause)
        self._sweep(now)
        if track.answered and track.talk_s is None:
            self._ending[e.uniqueid] = now  # AgentComplete, with the talk time, is to come
            return
        self._end(e.uniqueid, track)

    def _count_abandon(self, center: str, wait_s: float) -> None:
        m = self._metrics
        m.abandoned.labels(center).inc()
        if within_threshold(wait_s, self._level):
            m.abandoned_in_sl.labels(center).inc()
        if short_abandon(wait_s, self._level):
            m.short_abandoned.labels(center).inc()
        m.wait.labels(center, "abandoned").observe(wait_s)

    def _count_home_abandon(self, home: str, wait_s: float) -> None:
        m = self._metrics
        m.home_abandoned.labels(home).inc()
        if within_threshold(wait_s, self._level):
            m.home_abandoned_in_sl.labels(home).inc()
        if short_abandon(wait_s, self._level):
            m.home_short_abandoned.labels(home).inc()
        m.home_wait.labels(home, "abandoned").observe(wait_s)

    def _end(self, call_id: str, track: _Track) -> None:
        assert track.ended_at is not None
        self._record(Ended(call_id, track.ended_at, track.talk_s, track.ended_cause))
        _log.debug(
            "call.ended",
            call_id=log_call_id(call_id),
            answered=track.answered,
            talk_s=track.talk_s,
            cause=track.ended_cause,
        )
        self._calls.pop(call_id, None)
        self._ending.pop(call_id, None)
        if self._reconcile is not None:
            self._reconcile.ended.add(call_id)

    def end_pending(self) -> None:
        """End every hung-up call still waiting for its AgentComplete (at shutdown)."""
        for call_id in list(self._ending):
            track = self._calls.get(call_id)
            if track is None:
                self._ending.pop(call_id, None)
            else:
                self._end(call_id, track)

    def _sweep(self, now: datetime) -> None:
        # Answered calls whose AgentComplete never came (e.g. missed while
        # disconnected) end without a talk time after a grace period.
        while self._ending:
            call_id, ended = next(iter(self._ending.items()))
            if (now - ended).total_seconds() <= TALK_GRACE_S:
                return
            track = self._calls.get(call_id)
            if track is None:
                self._ending.pop(call_id)
            else:
                self._end(call_id, track)

    # --- reconcile after a (re)connect or a restart ------------------------------

    def begin_reconcile(self, action_id: str, open_calls: list[OpenCall]) -> None:
        """Follow the journal's open calls from now; a ``CoreShowChannels`` answer
        with ``action_id`` will tell which are alive (see the module docstring)."""
        rows = {c.call_id: c for c in open_calls}
        for call_id, row in rows.items():
            if call_id not in self._calls:
                self._calls[call_id] = _Track(
                    home=row.home,
                    center=row.center if row.queued else None,
                    queues=[row.center] if row.queued and row.center else [],
                    answered=row.answered,
                    abandoned=row.abandoned,
                    announced=row.announced,
                )
        self._reconcile = _Reconcile(action_id, rows)

    def abort_reconcile(self) -> None:
        """The answer will not come (AMI lost, action failed): forget the reconcile."""
        self._reconcile = None

    @property
    def reconciling(self) -> bool:
        """A reconcile waits for its ``CoreShowChannels`` answer."""
        return self._reconcile is not None

    def _live_channel(self, e: CoreShowChannel) -> None:
        rec = self._reconcile
        if rec is not None and e.action_id == rec.action_id:
            rec.alive[e.uniqueid] = e

    def _reconciled(self, e: CoreShowChannelsComplete) -> None:
        rec = self._reconcile
        if rec is None or e.action_id != rec.action_id:
            return
        self._reconcile = None
        now = self._now()
        closed = unknown = alive = 0
        for call_id in [*self._calls]:
            track = self._calls[call_id]
            if call_id in rec.ended or track.ended_at is not None:
                continue  # ended while the answer came, or waiting for its talk time
            channel = rec.alive.get(call_id)
            if channel is not None:
                alive += 1
                self._continue(call_id, track, channel, now)
                continue
            closed += 1
            known = track.answered or track.abandoned or track.announced
            unknown += not known
            self._record(Closed(call_id, now, None if known else Outcome.UNKNOWN, CLOSED_REASON))
            self._calls.pop(call_id, None)
            self._ending.pop(call_id, None)
            _log.info("call.closed", call_id=log_call_id(call_id), known=known)
        adopted = 0
        for channel in rec.alive.values():
            if channel.uniqueid not in self._calls and self._adopt(channel, now):
                adopted += 1
        unseen = tuple(
            (ch.uniqueid, ch.channel) for ch in rec.alive.values() if ch.uniqueid in self._unseen
        )
        result = ReconcileResult(alive, closed, unknown, adopted, unseen, frozenset(rec.alive))
        if self._on_reconciled is not None:
            self._on_reconciled(result)

    def _queue_of(self, channel: CoreShowChannel) -> tuple[str, str] | None:
        """(queue, center) of a caller channel in a lotse queue's Queue(), else None."""
        if channel.application.lower() != "queue":
            return None
        queue = channel.application_data.split(",", 1)[0]
        center = self._center(queue)
        return None if center is None else (queue, center)

    def _continue(
        self, call_id: str, track: _Track, channel: CoreShowChannel, now: datetime
    ) -> None:
        found = self._queue_of(channel)
        if found is None:
            return
        _queue, center = found
        track.center = center
        if channel.bridge_id and not track.answered:
            # Bridged inside Queue(): an agent took the call while nobody watched.
            track.answered = True
            track.pending_leave = None
            self._unseen[call_id] = center

    def _adopt(self, channel: CoreShowChannel, now: datetime) -> bool:
        """Journal a caller found in a lotse queue that the journal does not know."""
        found = self._queue_of(channel)
        if (
            found is None
            or self._classify is None
            or is_callback_leg(channel.channel, channel.uniqueid)
        ):
            return False
        queue, center = found
        call_id = channel.uniqueid
        if call_id in self._book:
            # Journaled meanwhile from the queue_log (after the journal's open
            # rows were read): followed on its row, not journaled twice.
            track = self._calls[call_id] = _Track(home=center, center=center, queues=[center])
            if channel.bridge_id:
                track.answered = True
                self._unseen[call_id] = center
            return False
        arrived = now - timedelta(seconds=max(channel.duration, 0.0))
        origin = self._classify(channel.caller_id_num)
        caller_hash = (
            self._hash(channel.caller_id_num) if origin.kind is not NumberKind.ANONYMOUS else None
        )
        track = self._calls[call_id] = _Track(home=center, center=center, queues=[center])
        # Offered per home as the journal counts it (the QueueJoined below).
        self._metrics.home_offered.labels(center).inc()
        self._record(CallArrived.of(call_id, arrived, origin, caller_hash))
        self._record(FallbackUsed(call_id, arrived, center, ADOPTED_REASON))
        self._record(QueueJoined(call_id, arrived, center, queue, 0))
        self._book.count(call_id, center)
        if channel.bridge_id:
            track.answered = True
            self._unseen[call_id] = center
        _log.info("call.adopted", call_id=log_call_id(call_id), center=center)
        return True

    # --- the wait of an answer only a reconcile saw -------------------------------

    def expect_status(self, action_id: str, call_id: str) -> None:
        """A ``Status`` action with ``action_id`` asks for ``call_id``'s wait."""
        self._status_for[action_id] = call_id

    def status_failed(self, action_id: str) -> None:
        """That ``Status`` will not answer (no such channel, AMI lost): journal the
        answer without its wait."""
        call_id = self._status_for.pop(action_id, None)
        if call_id is not None:
            self._answer_unseen(call_id, None, None)

    def _status(self, e: ChannelStatus) -> None:
        if e.action_id is None or self._status_for.get(e.action_id) != e.uniqueid:
            return
        wait: float | None = None
        held = e.variable("QEHOLDTIME")
        if held is not None and held.isdigit():
            wait = float(held)
        self._answer_unseen(e.uniqueid, wait, e.variable("MEMBERNAME"))

    def _status_complete(self, e: StatusComplete) -> None:
        if e.action_id is not None:
            self.status_failed(e.action_id)  # answered by _status if its item came

    def _answer_unseen(self, call_id: str, wait: float | None, agent: str | None) -> None:
        center = self._unseen.pop(call_id, None)
        track = self._calls.get(call_id)
        if center is None or track is None:
            return
        self._count_answer(center, track, wait)
        self._record(Answered(call_id, self._now(), center, agent or UNSEEN_AGENT, wait))
