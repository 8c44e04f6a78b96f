"""Callbacks in the what-if engine: offers, requests and attempts, scheduled as lotse does.

Offers follow each center's ``callback:`` configuration; a scenario's
``callbacks: {accept, answer}`` says how callers respond. A request keeps the
time its caller entered the queue it left (or the time of the call, when it
was made because every center was closed), and is started by the
controller's own scheduler, :func:`router.callback.startable`: only with a
free agent of its center and no live caller waiting there who entered
earlier. An attempt reaches the agent first (the agent's ring time), then the
caller: ``answer`` of the attempts connect, the others ring
``ring_timeout_s`` and are retried ``retry_interval_s`` later, up to
``attempts``; the deadline (service hours of the center's calendar) ends a
request as expired.

``overtakes`` is measured, not assumed: at every connection the center's
queue is looked at for a live caller who entered earlier than the request.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from metrics.servicelevel import callback_kept
from router.callback import (
    CenterNow,
    Outcome,
    Request,
    after_unanswered,
    service_deadline,
    startable,
    started,
)
from router.config import CallbackSettings
from router.opening import HolidayCalendar, OpeningHours
from sim.engine.model import DONE, WAITING, SimCall, SimCenter
from sim.scenario import CallbackMix

if TYPE_CHECKING:
    from sim.engine.core import Engine

# Event kinds of the engine's heap owned by this module (after the core's).
OFFER, CONNECT, RING_OUT, RETRY, EXPIRE = range(10, 15)
KINDS = frozenset({OFFER, CONNECT, RING_OUT, RETRY, EXPIRE})
# How long the caller's phone rings before they pick up an attempt they answer.
_PICKUP_S = (3.0, 15.0)


@dataclass(frozen=True)
class CallbackReport:
    """The callbacks of a run (all zero when the scenario does not model them)."""

    modelled: bool = False
    offered: int = 0
    requested: int = 0
    attempts: int = 0
    completed: int = 0
    no_answer: int = 0
    expired: int = 0
    cancelled: int = 0
    pending: int = 0  # still open when the period ended
    # Completed after the request's deadline (an attempt under way at the deadline).
    late: int = 0
    overtakes: int = 0
    duplicates: int = 0


class Callbacks:
    """The callback side of one :class:`sim.engine.core.Engine` run."""

    def __init__(self, engine: Engine, mix: CallbackMix) -> None:
        self.engine = engine
        self.mix = mix
        self.rng = engine.rng
        self.ids = itertools.count(1)
        self.settings: list[CallbackSettings | None] = [c.center.callback for c in engine.centers]
        self.pending: list[dict[str, Request]] = [{} for _ in engine.centers]
        self.hours = [OpeningHours.compile(c.center) for c in engine.centers]
        self.calendar = HolidayCalendar()
        self.closed = False
        self.offered = self.requested = self.attempts = 0
        self.outcomes = dict.fromkeys(Outcome.ALL, 0)
        self.late = self.overtakes = self.duplicates = 0
        self.dialling: set[str] = set()
        # Request id -> (home, report hour) of an offered call (it had joined a
        # queue): kept, it leaves the home's service level (metrics.servicelevel).
        self.origin: dict[str, tuple[SimCenter, int]] = {}

    # --- offers -------------------------------------------------------------------

    def before_queue(self, t: float, call: SimCall, target: SimCenter, timeout: float) -> bool:
        """Offered before joining a final queue whose expected wait is over the limit;
        True if the caller took it (and does not queue)."""
        cfg = self.settings[target.index]
        if cfg is None or cfg.offer_expected_wait_s is None or timeout > 0 or self.closed:
            return False
        wait = target.state(t).expected_wait_s()
        if wait is None or wait <= cfg.offer_expected_wait_s:
            return False
        if not self._offer(t, target, t, call):
            return False
        assert call.home is not None
        call.home.left_for_callback += 1
        self.take(t, target)
        return True

    def waiting(self, t: float, call: SimCall, center: SimCenter, timeout: float) -> None:
        """The caller waits in ``center``'s queue: offer after the configured wait
        if it is the final queue and the caller is still there then."""
        cfg = self.settings[center.index]
        if cfg is None or cfg.offer_after_wait_s is None or timeout > 0:
            return
        at = t + cfg.offer_after_wait_s
        if at < call.deadline:
            self._push(at, OFFER, call, center)

    def closed_everywhere(self, t: float, home: SimCenter) -> bool:
        """Every center is closed: offered instead of only the announcement."""
        cfg = self.settings[home.index]
        if cfg is None or not cfg.offer_when_closed or self.closed:
            return False
        if not self._offer(t, home, t):
            return False
        self.take(t, home)
        return True

    def _offer(
        self, t: float, center: SimCenter, entered: float, call: SimCall | None = None
    ) -> bool:
        self.offered += 1
        if self.rng.random() >= self.mix.accept:
            return False
        cfg = self.settings[center.index]
        assert cfg is not None
        self.requested += 1
        engine = self.engine
        local = engine.timeline.epoch + timedelta(seconds=t)
        end = service_deadline(
            center.center, self.hours[center.index], self.calendar, local, cfg.deadline_service_h
        )
        deadline = (end - engine.timeline.epoch).total_seconds()
        rid = f"cb{next(self.ids)}"
        self.pending[center.index][rid] = Request(rid, center.id, entered, deadline)
        if call is not None and call.home is not None and call.first_queue >= 0.0:
            self.origin[rid] = (call.home, call.hour)
        self._push(deadline, EXPIRE, rid, center)
        return True

    # --- events -------------------------------------------------------------------

    def event(self, t: float, kind: int, payload: object, extra: object) -> None:
        """Handle one of this module's events."""
        assert isinstance(extra, SimCenter)
        center = extra
        if kind == OFFER:
            assert isinstance(payload, SimCall)
            self._offer_waiting(t, payload, center)
        elif kind == CONNECT:
            assert isinstance(payload, Request)
            self._connect(t, payload, center)
        elif kind == RING_OUT:
            assert isinstance(payload, Request)
            self._ring_out(t, payload, center)
        elif kind == RETRY:
            self.take(t, center)
        elif kind == EXPIRE:
            assert isinstance(payload, str)
            req = self.pending[center.index].get(payload)
            # After the period a request stays pending: nobody was there to call.
            if req is not None and not req.in_progress and not self.closed:
                del self.pending[center.index][payload]
                self.outcomes[Outcome.EXPIRED] += 1

    def _offer_waiting(self, t: float, call: SimCall, center: SimCenter) -> None:
        if call.state != WAITING or call.at is not center or self.closed:
            return
        if not self._offer(t, center, call.joined, call):
            return
        # The key press: the caller leaves the queue; the deque entry goes stale.
        call.state = DONE
        center.waiting -= 1
        assert call.home is not None
        call.home.left_for_callback += 1
        self.take(t, center)

    # --- attempts -----------------------------------------------------------------

    def take(self, t: float, center: SimCenter) -> bool:
        """Start what the scheduler allows at ``center`` now; True if an agent was taken."""
        pending = self.pending[center.index]
        if not pending or self.closed:
            return False
        free = center.logged_in - center.busy
        if free <= 0:
            return False
        head = _earliest_waiting(center)
        now = CenterNow(free, () if head is None else (head,))
        chosen = startable(pending.values(), {center.id: now}, t)
        for req in chosen:
            self._start(t, started(req), center)
        return bool(chosen)

    def _start(self, t: float, req: Request, center: SimCenter) -> None:
        """Mark the attempt (before dialling), reach the agent, then dial the caller."""
        if req.id in self.dialling:
            self.duplicates += 1
        self.dialling.add(req.id)
        self.pending[center.index][req.id] = req
        self.attempts += 1
        center.busy += 1
        cfg = self.settings[center.index]
        assert cfg is not None
        ring = center.ring_s if center.ring_s is not None else center.ring()
        if self.rng.random() < self.mix.answer:
            busy = ring + self.rng.uniform(*_PICKUP_S)
            self._push(t + busy, CONNECT, req, center)
        else:
            busy = ring + cfg.ring_timeout_s
            self._push(t + busy, RING_OUT, req, center)
        self._busy(center, t, busy)

    def _busy(self, center: SimCenter, t: float, busy: float) -> None:
        """Count an agent's time from ``t`` within the period, as the core does."""
        end = self.engine.timeline.end_s
        if t < end:
            center.busy_s += busy if t + busy <= end else end - t

    def _connect(self, t: float, req: Request, center: SimCenter) -> None:
        self.dialling.discard(req.id)
        head = _earliest_waiting(center)
        if head is not None and head < req.entered_s:
            self.overtakes += 1
        del self.pending[center.index][req.id]
        self.outcomes[Outcome.COMPLETED] += 1
        if t > req.deadline_s:
            self.late += 1
        origin = self.origin.pop(req.id, None)
        if origin is not None and callback_kept(Outcome.COMPLETED, t, req.deadline_s):
            home, hour = origin
            home.callbacks_kept += 1
            home.hour_excluded[hour] += 1
        handle = center.handle()
        self._busy(center, t, handle)
        self.engine.depart_at(t + handle, center, handle)

    def _ring_out(self, t: float, req: Request, center: SimCenter) -> None:
        self.dialling.discard(req.id)
        cfg = self.settings[center.index]
        assert cfg is not None
        again = after_unanswered(req, cfg, t)
        pending = self.pending[center.index]
        if again is None:
            del pending[req.id]
            self.outcomes[Outcome.NO_ANSWER] += 1
        elif t >= again.deadline_s:
            del pending[req.id]
            self.outcomes[Outcome.EXPIRED] += 1
        else:
            pending[req.id] = again
            self._push(again.not_before_s, RETRY, req.id, center)
        self.engine.agent_freed(t, center)

    # --- the end ------------------------------------------------------------------

    def close(self) -> None:
        """The period is over: no further offers or attempts (those under way finish)."""
        self.closed = True

    def report(self) -> CallbackReport:
        """The tallies; requests not yet ended count as pending."""
        return CallbackReport(
            modelled=True,
            offered=self.offered,
            requested=self.requested,
            attempts=self.attempts,
            completed=self.outcomes[Outcome.COMPLETED],
            no_answer=self.outcomes[Outcome.NO_ANSWER],
            expired=self.outcomes[Outcome.EXPIRED],
            cancelled=self.outcomes[Outcome.CANCELLED],
            pending=sum(len(p) for p in self.pending),
            late=self.late,
            overtakes=self.overtakes,
            duplicates=self.duplicates,
        )

    def _push(self, t: float, kind: int, payload: object, center: SimCenter) -> None:
        engine = self.engine
        heapq.heappush(engine.heap, (t, next(engine.seq), kind, payload, center))


def _earliest_waiting(center: SimCenter) -> float | None:
    """When the longest-waiting live caller still in ``center``'s queue joined it."""
    if not center.waiting:
        return None
    queue = center.queue
    while queue[0].state != WAITING or queue[0].at is not center:
        queue.popleft()
    return queue[0].joined
