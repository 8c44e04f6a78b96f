"""The controller's callback side: recording requests (FastAGI) and dialling them (AMI).

**Recording.** The dialplan's callback dialogue ends in
``AGI(agi://…/callback,CALLID,CENTER,NUMBER,KIND)``: ``NUMBER`` is what the
caller keyed in (empty: call back the number they call from), ``KIND``
``queue`` (they left a queue with a key press) or ``closed`` (every center was
closed). The request keeps the time the caller joined the queue they left, as
the live state saw it (``LiveState.queue_entry``), turned into wall-clock
epoch seconds so it outlives the process; its deadline is the center's
service time (:func:`router.callback.service_deadline`). The reply sets
``LOTSE_CB_RESULT``: ``ok``, ``refused`` (not a number lotse calls back: the
dialogue asks again) or ``unavailable`` (the caller goes back to the queue).

**Dialling.** Every second the dialer asks :func:`router.callback.startable`
which open requests may start, with each center's free agents and its live
callers' entry times. For each it first *marks* the attempt in the journal
(``CallbackStore.mark_attempt``: refused if one is in flight, so nothing is
ever dialled twice at once, across reconnects and restarts) and only then
originates, on its own AMI user (``[lotse-callback]``, originate only):
``Local/s@lotse-callback-agent`` waits at the head of the center's queue for
an agent; once an agent answers, the other half dials the caller
(``lotse-callback-dial``). Each attempt gets exactly one outcome
(:mod:`lotse.callbackattempt`): answered keeps the request (completed, never
dialled again); any other is an unanswered attempt. An attempt in flight at a
restart is resolved from Asterisk at the controller's reconcile: followed if
its leg is still up, else counted as unanswered and retried after the
interval, never re-dialled at once.

**Locked.** A request whose number no callback key at hand opens (the
controller restarted with another key, or none) is neither dialled nor
expired: it stays open, listed and counted (``lotse_callbacks_locked``, and
in ``lotse_callbacks_pending`` and the deadline gauges, so the deadline alert
still fires), logged once with its id, until an operator cancels it or the
key that sealed it returns (``$LOTSE_CALLBACK_KEYS``). Without a current key
no new request is taken (``unavailable``: the caller stays in the queue).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from ami import contract
from ami.agi_protocol import AgiReply, AgiRequest
from dialplans.callback import AGENT_WAIT_S
from lotse.callbackattempt import AttemptOutcome
from lotse.journal.callbackkeys import CallbackKeyError
from lotse.journal.callbackstore import CallbackStore, StoredRequest
from router.callback import (
    CenterNow,
    Outcome,
    Request,
    after_unanswered,
    expired,
    service_deadline,
    startable,
)
from router.callbacknumber import CallbackNumber, NumberRefused, callback_number
from router.config import Config
from router.numbering import OrtsnetzTable
from router.policy import Router, closed_at
from router.state import Snapshot

_log = structlog.get_logger("lotse.callbacks")

SCRIPT = "callback"
VAR_RESULT = "LOTSE_CB_RESULT"
KIND_QUEUE, KIND_CLOSED = "queue", "closed"
# Dialplan contexts of the callback legs (dialplans.callback generates them).
AGENT_CONTEXT = "lotse-callback-agent"
DIAL_CONTEXT = "lotse-callback-dial"
#: Channel variables of the legs: the request and attempt (no number), and the
#: number to dial, named without the LOTSE_ prefix so AMI's VarSet filters drop it.
VAR_ID, VAR_ATTEMPT, VAR_QUEUE, VAR_DIAL = (
    "LOTSE_CB_ID",
    "LOTSE_CB_ATTEMPT",
    "LOTSE_CB_QUEUE",
    "CB_DIAL",
)
USER_EVENT = "LotseCallback"
ORIGINATE_MARGIN_S = 5


@dataclass(frozen=True)
class Originate:
    """One callback leg pair to originate (the number only in memory, for the action)."""

    request_id: str
    attempt_id: str
    queue: str
    number: CallbackNumber
    ring_timeout_s: int

    def action(self) -> dict[str, str]:
        """The AMI ``Originate`` action's headers (Async; ChannelId is the attempt id)."""
        return {
            "Action": "Originate",
            "Channel": f"Local/s@{AGENT_CONTEXT}",
            "Context": DIAL_CONTEXT,
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
            "ChannelId": self.attempt_id,
            # Originate gives up on an unanswered channel after its Timeout
            # (30 s when absent: the agent leg's Queue() wait was cut to 30 s
            # on Asterisk 22.10.1); a little over that wait, so the Queue()
            # timeout ends an attempt no agent took, as the dialplan says.
            "Timeout": str((AGENT_WAIT_S + ORIGINATE_MARGIN_S) * 1000),
            "CallerID": '"115" <115>',
            "Variable": ",".join(
                (
                    f"{contract.VAR_CB_ID}={self.request_id}",
                    f"{contract.VAR_CB_ATTEMPT}={self.attempt_id}",
                    f"{contract.VAR_CB_QUEUE}={self.queue}",
                    f"{contract.VAR_CB_DIAL}={self.number.national}",
                    f"{contract.VAR_CB_RING}={self.ring_timeout_s}",
                )
            ),
        }


class QueueView(Protocol):
    """What the desk reads of the live state (``lotse.livestate.LiveState``)."""

    @property
    def stale(self) -> bool:
        """True while the state may be out of date (AMI down, before a resync)."""
        ...

    def queue_entry(self, uniqueid: str) -> tuple[str, float] | None:
        """(center, clock time joined) of the queue the caller is in or last left."""
        ...

    def waiting_and_free(self) -> dict[str, tuple[int, tuple[float, ...]]]:
        """Per center: free agents and the live callers' join times."""
        ...

    def snapshot(self) -> Snapshot:
        """The centers' state as the policy sees it (with supervisor overrides)."""
        ...


OriginateFn = Callable[[Originate], Awaitable[bool]]
OnOutcome = Callable[[str, str], None]  # (center, outcome)
OnAttempt = Callable[[str, AttemptOutcome], None]  # (center, attempt outcome)
OnEnded = Callable[[StoredRequest, str, datetime], None]  # (request, outcome, when)


class CallbackDesk:
    """Records requests (FastAGI) and dials them (AMI) for one controller."""

    def __init__(
        self,
        config: Config,
        store: CallbackStore,
        live: QueueView,
        *,
        wall_clock: Callable[[], datetime],
        state_clock: Callable[[], float],
        table: OrtsnetzTable,
        originate: OriginateFn,
        on_outcome: OnOutcome | None = None,
        ready: Callable[[], bool] = lambda: True,
        on_attempt: OnAttempt | None = None,
        router: Router | None = None,
        on_ended: OnEnded | None = None,
        home_of: Callable[[str], str | None] = lambda _call_id: None,
    ) -> None:
        self.config = config
        self._home_of = home_of
        self.store = store
        self.live = live
        self._wall = wall_clock
        self._state_clock = state_clock
        self._table = table
        self._originate = originate
        self._on_outcome = on_outcome
        self._on_attempt = on_attempt
        # The ended request itself (the service level asks whether it was kept).
        self._on_ended = on_ended
        self._ready = ready
        # The policy's compiled configuration: its hours, calendar and opening rule.
        self.router = router if router is not None else Router(config, table)
        # attempt id -> (request id, center): the attempts this process originated.
        self.attempts: dict[str, tuple[str, str]] = {}
        # Attempts in flight when the callback AMI session dropped.
        self._unsure: set[str] = set()
        self._lock = asyncio.Lock()
        # Locked requests already logged (once each, not every tick).
        self._locked_seen: set[str] = set()

    # --- recording ---------------------------------------------------------------

    def _to_wall(self, clock_s: float) -> float:
        """A state-clock time as wall-clock epoch seconds."""
        return self._wall().timestamp() - (self._state_clock() - clock_s)

    async def request(self, req: AgiRequest) -> AgiReply:
        """The FastAGI ``callback`` script: validate, store, answer ``LOTSE_CB_RESULT``."""
        args = req.args
        call_id = args[0] if args else req.uniqueid
        center_id = args[1] if len(args) > 1 else ""
        keyed = args[2] if len(args) > 2 else ""
        kind = args[3] if len(args) > 3 else KIND_QUEUE
        entry = self.live.queue_entry(req.uniqueid) if kind == KIND_QUEUE else None
        if entry is not None:
            center_id = entry[0]
        elif not center_id and kind == KIND_CLOSED:
            # A dialplan built before the home center was passed (the drift
            # alarm names it): the home the controller decided for the call.
            center_id = self._home_of(call_id) or ""
        center = self.config.centers.get(center_id)
        if center is None or center.callback is None:
            _log.warning("callback.unavailable", center=center_id)
            return AgiReply(((VAR_RESULT, "unavailable"),))
        if not self.store.can_seal:
            _log.warning("callback.unavailable", center=center_id, reason="no current key")
            return AgiReply(((VAR_RESULT, "unavailable"),))
        try:
            number = callback_number(keyed or req.callerid)
        except NumberRefused as err:
            _log.info("callback.refused", center=center_id, reason=str(err), keyed=bool(keyed))
            return AgiReply(((VAR_RESULT, "refused"),))
        now = self._wall()
        entered = self._to_wall(entry[1]) if entry is not None else now.timestamp()
        deadline = service_deadline(
            center,
            self.router.hours[center_id],
            self.router.calendar,
            now.astimezone(self.router.tz),
            center.callback.deadline_service_h,
        )
        rid = secrets.token_hex(8)
        net = None if number.mobile else self._table.longest_prefix(number.national[1:])
        prefix = None if net is None else "0" + net.code
        await self.store.add(
            rid,
            center_id,
            number,
            entered_s=entered,
            deadline_s=deadline.timestamp(),
            at=now,
            call_id=call_id,
            ortsnetz_prefix=prefix,
        )
        _log.info("callback.requested", center=center_id, request=rid, kind=kind)
        # The request id (no number) on the caller's channel: its legs carry it too.
        return AgiReply(((VAR_RESULT, "ok"), (contract.VAR_CB_ID, rid)))

    # --- dialling ------------------------------------------------------------------

    def reconfigure(self, config: Config, router: Router) -> None:
        """A reloaded configuration: attempts, retry interval, ring timeout and the
        opening rule apply from the next tick; stored deadlines stay as promised."""
        self.config = config
        self.router = router

    def _serving(self, center_id: str, now: datetime, snapshot: Snapshot) -> bool:
        """Whether the center serves at ``now``: the routing policy's own rule."""
        plan = self.router.plans.get(center_id)
        return plan is not None and closed_at(plan, self.router.instant(now), snapshot) is None

    def _centers_now(self, now: datetime) -> dict[str, CenterNow]:
        snapshot = self.live.snapshot()
        return {
            cid: CenterNow(
                free,
                tuple(self._to_wall(t) for t in since),
                serving=self._serving(cid, now, snapshot),
            )
            for cid, (free, since) in self.live.waiting_and_free().items()
        }

    async def tick(self) -> list[str]:
        """Expire what is due, start what may start; the request ids dialled."""
        async with self._lock:
            now = self._wall()
            now_s = now.timestamp()
            open_ = await self.store.open_requests()
            self._note_locked(open_)
            by_id = {r.id: r for r in open_}
            # A locked request is neither started nor expired: only a key or
            # an operator ends it.
            plan = [r.for_scheduler() for r in open_ if not r.locked]
            for req in expired(plan, now_s):
                await self._end(by_id[req.id], Outcome.EXPIRED, now)
            if self.live.stale or not self._ready():
                # Free agents unknown, or no way to originate: nothing is marked.
                return []
            dialled = []
            for req in startable(plan, self._centers_now(now), now_s):
                if await self._start(by_id[req.id], req):
                    dialled.append(req.id)
            return dialled

    def _note_locked(self, open_: list[StoredRequest]) -> None:
        locked = {r.id: r for r in open_ if r.locked}
        for rid in locked.keys() - self._locked_seen:
            _log.warning(
                "callback.locked",
                request=rid,
                center=locked[rid].center,
                hint="no callback key opens its number: not dialled; cancel it or give the "
                "key that sealed it in $LOTSE_CALLBACK_KEYS",
            )
        self._locked_seen = set(locked)

    async def _start(self, stored: StoredRequest, req: Request) -> bool:
        center = self.config.centers.get(stored.center)
        if center is None or center.callback is None:
            return False
        # Opened before the attempt is marked: a number no key opens must not
        # leave an attempt in flight that nobody dials.
        try:
            number = await self.store.number(stored.id)
        except CallbackKeyError:
            _log.warning("callback.locked", request=stored.id, center=stored.center)
            return False
        except KeyError:
            return False
        attempt = f"{contract.CALLBACK_ATTEMPT_PREFIX}{secrets.token_hex(6)}"
        # Marked (and committed) before anything is dialled.
        if not await self.store.mark_attempt(stored.id, attempt):
            return False
        self.attempts[attempt] = (stored.id, stored.center)
        leg = Originate(stored.id, attempt, center.queue, number, center.callback.ring_timeout_s)
        try:
            sent = await self._originate(leg)
        except (TimeoutError, ConnectionError, OSError) as err:
            # Unknown whether it went out: the attempt stays in flight until
            # its events or the next restart's reconciliation tell.
            _log.warning("callback.originate_unknown", request=stored.id, error=str(err))
            return True
        if not sent:
            await self.attempt_ended(attempt, AttemptOutcome.FAILED)
        _log.info("callback.dialling", request=stored.id, center=stored.center, attempt=attempt)
        return True

    async def attempt_ended(self, attempt_id: str, outcome: AttemptOutcome) -> None:
        """An attempt's one outcome (:func:`lotse.callbackattempt.concluded`, or a
        refused Originate); later news of the same attempt is ignored."""
        async with self._lock:
            found = self.attempts.pop(attempt_id, None)
            if found is None:
                return
            rid, center = found
            _log.info("callback.attempt_ended", request=rid, center=center, outcome=outcome)
            if self._on_attempt is not None:
                self._on_attempt(center, outcome)
            now = self._wall()
            stored = {r.id: r for r in await self.store.open_requests()}.get(rid)
            if stored is None:
                return
            if outcome is AttemptOutcome.ANSWERED:
                await self._end(stored, Outcome.COMPLETED, now)
                return
            await self._unanswered(stored, attempt_id, now)

    async def _unanswered(self, stored: StoredRequest, attempt_id: str, now: datetime) -> None:
        center = self.config.centers.get(stored.center)
        settings = center.callback if center is not None else None
        again = (
            after_unanswered(stored.for_scheduler(), settings, now.timestamp())
            if settings
            else None
        )
        if again is None or now.timestamp() >= stored.deadline_s:
            outcome = Outcome.NO_ANSWER if again is None else Outcome.EXPIRED
            await self._end(stored, outcome, now)
        else:
            await self.store.unanswered(stored.id, attempt_id, again.not_before_s)

    def connection_lost(self) -> None:
        """The callback AMI session dropped: the attempts in flight may have ended
        unseen (Asterisk restarted, or their events went while the link was
        down). The next :meth:`recover` asks Asterisk about them too."""
        self._unsure |= set(self.attempts)

    async def recover(self, alive: Callable[[str], Awaitable[bool]]) -> int:
        """At a reconcile: attempts in flight that this process did not start (a
        restart) or whose events may have been lost (:meth:`connection_lost`)
        and that Asterisk no longer has count as unanswered (retried after the
        interval); live ones are followed. Returns how many were released."""
        released = 0
        now = self._wall()
        unsure, self._unsure = self._unsure, set()
        for stored in await self.store.open_requests():
            attempt = stored.in_flight
            if attempt is None or (attempt in self.attempts and attempt not in unsure):
                continue
            if await alive(attempt):
                self.attempts[attempt] = (stored.id, stored.center)
                continue
            # Nothing more will come of it: never booked twice.
            self.attempts.pop(attempt, None)
            if stored.locked:
                # Released, but not ended: only a key or an operator ends it.
                await self.store.unanswered(stored.id, attempt, now.timestamp())
            else:
                await self._unanswered(stored, attempt, now)
            released += 1
        return released

    async def _end(self, stored: StoredRequest, outcome: str, now: datetime) -> None:
        if await self.store.end(stored.id, outcome, now):
            _log.info("callback.ended", request=stored.id, center=stored.center, outcome=outcome)
            if self._on_outcome is not None:
                self._on_outcome(stored.center, outcome)
            if self._on_ended is not None:
                self._on_ended(stored, outcome, now)

    async def cancel(self, request_id: str) -> StoredRequest | None:
        """End an open request as ``cancelled`` (an operator's decision: the caller
        was reached another way). ``None`` if there is no such open request; an
        attempt being dialled is not cut short (raises ``ValueError``)."""
        async with self._lock:
            stored = {r.id: r for r in await self.store.open_requests()}.get(request_id)
            if stored is None:
                return None
            # A locked request's attempt of an earlier process is followed by
            # nobody here: it does not hold the cancel up.
            followed = stored.in_flight is not None and (
                not stored.locked or stored.in_flight in self.attempts
            )
            if followed:
                raise ValueError("an attempt is being dialled; cancel it after that attempt")
            await self._end(stored, Outcome.CANCELLED, self._wall())
            return stored

    async def pending(self) -> list[StoredRequest]:
        """The open requests (no numbers), for ``lotse ctl callbacks`` and the metrics."""
        return await self.store.open_requests()


class CallbackMetrics:
    """Pending callbacks and their oldest age per center, outcomes, deadline compliance."""

    def __init__(self, registry: CollectorRegistry, centers: list[str]) -> None:
        self.pending = Gauge(
            "lotse_callbacks_pending", "Open callback requests", ["center"], registry=registry
        )
        self.oldest = Gauge(
            "lotse_callbacks_oldest_pending_seconds",
            "Age of the oldest open callback request (since its queue entry)",
            ["center"],
            registry=registry,
        )
        self.deadline_left = Gauge(
            "lotse_callbacks_deadline_left_seconds",
            "Time left until the nearest deadline of an open request (absent: none open)",
            ["center"],
            registry=registry,
        )
        self.locked = Gauge(
            "lotse_callbacks_locked",
            "Open callback requests whose number no callback key opens (never dialled)",
            ["center"],
            registry=registry,
        )
        self.outcomes = Counter(
            "lotse_callback_outcomes_total",
            "Ended callback requests by outcome (completed, no_answer, expired, cancelled)",
            ["center", "outcome"],
            registry=registry,
        )
        self.attempts = Counter(
            "lotse_callback_attempts_total",
            "Ended callback attempts by outcome (answered, no_answer, busy, congestion, failed)",
            ["center", "outcome"],
            registry=registry,
        )
        for cid in centers:
            self.pending.labels(cid).set(0)
            self.oldest.labels(cid).set(0)
            self.locked.labels(cid).set(0)
            for outcome in Outcome.ALL:
                self.outcomes.labels(cid, outcome)
            for attempt in AttemptOutcome:
                self.attempts.labels(cid, attempt.value)
        self._centers = centers

    def follow_centers(self, centers: list[str]) -> None:
        """The centers of a reloaded configuration (new ones start at zero)."""
        for cid in set(centers) - set(self._centers):
            self.pending.labels(cid).set(0)
            self.oldest.labels(cid).set(0)
            for outcome in Outcome.ALL:
                self.outcomes.labels(cid, outcome)
            for attempt in AttemptOutcome:
                self.attempts.labels(cid, attempt.value)
        self._centers = centers

    def outcome(self, center: str, outcome: str) -> None:
        """Count an ended request."""
        self.outcomes.labels(center, outcome).inc()

    def attempt(self, center: str, outcome: AttemptOutcome) -> None:
        """Count an ended attempt."""
        self.attempts.labels(center, outcome.value).inc()

    def show(self, open_requests: list[StoredRequest], now: datetime) -> None:
        """Set the gauges from the open requests (no numbers in them)."""
        now_s = now.timestamp()
        self.deadline_left.clear()
        for cid in self._centers:
            mine = [r for r in open_requests if r.center == cid]
            self.pending.labels(cid).set(len(mine))
            self.locked.labels(cid).set(sum(1 for r in mine if r.locked))
            self.oldest.labels(cid).set(max((now_s - r.entered_s for r in mine), default=0.0))
            if mine:
                self.deadline_left.labels(cid).set(min(r.deadline_s for r in mine) - now_s)
