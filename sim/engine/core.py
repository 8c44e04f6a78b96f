"""The discrete-event loop: calls arrive, are routed, wait, are answered or give up.

Virtual time runs from local midnight of the scenario's first day; nothing
reads a clock, and all randomness comes from one ``random.Random(seed)``, so a
seed replays the same run exactly. Every call is routed by the controller's own
policy, :func:`router.policy.decide_at`, with a :class:`router.state.Snapshot`
of the engine's live centers; ``sim.engine.decisions`` keeps each decision with
the facts it rests on and asks the policy again only when one of them changed
(``verify_decisions=True`` asks it for every call as well and fails on any
difference). The engine plays the dialplan's answer (``dialplans/contract.py``):

* ``queue``: the caller joins the target's queue (FIFO); a free agent rings
  at once. If ``queue_timeout_s`` passes unanswered, the call is routed again
  with the target added to ``visited`` (a spill), as the dialplan does;
* ``postal``: the caller hears the prompt and keys in a postal code (or
  nothing), then the call is routed again with it;
* ``announce``: the caller hears the announcement and the call ends.

A caller's patience runs from first joining a queue, across spills; an agent
who picks up after the ring time keeps the line for the handle time. The
service level is counted per home center by :mod:`metrics.servicelevel`, as
the controller and its journal count it: the wait runs from first joining a
queue to the agent picking up (ring time included, as in Asterisk's
``HoldTime``), across spills; a call is offered once it joined a queue, so an
off-hours announcement is not an offered call. Staffing
changes on the half hour; an agent whose shift ends finishes the call first.

Most calls arrive, find their decision kept and an agent free, and are
answered at once: the loop handles that case inline, without a per-call
object. Everything else goes through :meth:`Engine._route` with a
:class:`SimCall`; with ``_route`` or ``_answer`` replaced on an instance (tests
that watch every call), every call takes that path. Either way every decision
is played by :meth:`Engine._act` or, for a call answered at once, ends in
:meth:`Engine._take`: a subclass may watch those two (``sim.staffing`` does).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Callable
from typing import Any

from metrics.servicelevel import short_abandon, within_threshold
from router.policy import Action, Router
from sim.engine.callbacks import KINDS as _CALLBACK_EVENTS
from sim.engine.callbacks import Callbacks
from sim.engine.callers import CallerSource
from sim.engine.decisions import Choice, Decider
from sim.engine.model import (
    DONE,
    HIST_BINS,
    HIST_STEP_S,
    ROUTING,
    WAITING,
    SimCall,
    SimCenter,
)
from sim.engine.report import SimReport, build_report
from sim.engine.timeline import SLOT_S, Timeline
from sim.scenario import Scenario

# Events in the heap, most frequent first (the loop tests them in this order).
# Arrivals are not among them: the next one is kept aside and compared.
DEPART, WAIT_END, PROMPT, STAFF, END = range(5)
_PROGRESS_EVERY = (1 << 14) - 1
_QUEUE, _POSTAL = Action.QUEUE, Action.ASK_POSTAL_CODE
_INF = math.inf
_heappush = heapq.heappush

Progress = Callable[[float], None]
# (time, sequence, kind, payload, extra): the sequence breaks ties in scheduling order.
_Event = tuple[float, int, int, Any, Any]


class Engine:
    """One run of a scenario. Build it, call :meth:`run` once."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int = 0,
        router: Router | None = None,
        progress: Progress | None = None,
        verify_decisions: bool = False,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.rng = random.Random(seed)
        self.router = router if router is not None else Router(scenario.config, scenario.table)
        self.timeline = Timeline.build(scenario, self.router)
        self.progress = progress
        config = scenario.config
        hours = self.timeline.hours
        self.centers = [
            SimCenter(i, config.centers[cid], scenario.plan(cid), self.rng, hours)
            for i, cid in enumerate(self.timeline.center_ids)
        ]
        self.by_id = {c.id: c for c in self.centers}
        # The policy gets the moment in its own time zone, so its conversion is free.
        self.epoch_ts = self.timeline.epoch.timestamp()
        self.decider = Decider(
            self.router, self.by_id, self.epoch_ts, seed=seed, verify=verify_decisions
        )
        self.sources: list[CallerSource | None] = []
        self.heap: list[_Event] = []
        self.seq = itertools.count()
        uo = config.unknown_origin
        self.prompt_ok = scenario.callers.prompt_s
        self.prompt_fail = uo.attempts * (scenario.callers.prompt_s + uo.digit_timeout_s)
        # Moves of calls between centers: (from, to) -> calls.
        self.overflow: dict[tuple[str, str], int] = {}
        self.offhours_flows: dict[tuple[str, str], int] = {}
        self.arrivals = 0
        self.events = 0
        self.unrouted = 0
        self.routings = 0
        self.callbacks = (
            Callbacks(self, scenario.callbacks) if scenario.callbacks is not None else None
        )
        self._ran = False

    # --- the loop ---------------------------------------------------------------

    def run(self) -> SimReport:
        """Simulate the period, let the last calls finish, and report."""
        if self._ran:
            raise RuntimeError("an Engine runs once; build a new one for another run")
        self._ran = True
        tl = self.timeline
        end = tl.end_s
        self._push(end, END, None)
        self._schedule_staffing()
        sources = self._sources()
        # A single region with callers needs no draw for where a call comes from.
        calling = [i for i, s in enumerate(sources) if s is not None]
        only = calling[0] if len(calling) == 1 else -1
        decider = self.decider
        # Watched runs (a spy on _route or _answer, or verifying) route every call alike.
        inline = not decider.verify and "_route" not in vars(self) and "_answer" not in vars(self)
        heap, pop = self.heap, heapq.heappop
        progress = self.progress
        rng_random, log = self.rng.random, math.log
        route, act, take, serve_next = self._route, self._act, self._take, self._serve_next
        bisect_right = bisect.bisect_right
        callbacks = self.callbacks
        cb_pending = callbacks.pending if callbacks is not None else None

        arrival_t, k = self._next_arrival(0.0, 0)
        cum, total, slot_end, hour = self._slot(k)
        arrivals = events = kept = 0
        while True:
            if heap and heap[0][0] <= arrival_t:
                t, seq, kind, payload, extra = pop(heap)
                events += 1
                if kind == DEPART:
                    # An agent of ``payload`` hangs up after a call of ``extra`` seconds.
                    payload.busy -= 1
                    payload.handle_times.append(extra)
                    if payload.pending_logout:
                        self._account(payload, t)
                        payload.pending_logout -= 1
                        payload.logged_in -= 1
                    elif cb_pending is not None and cb_pending[payload.index]:
                        self._freed_to(t, payload)
                    elif payload.waiting:
                        if inline:
                            # _serve_next and _answer, inline: the longest waiting caller.
                            queue = payload.queue
                            call = queue.popleft()
                            while call.state != WAITING or call.at is not payload:
                                call = queue.popleft()
                            payload.waiting -= 1
                            call.state = DONE
                            take(t, payload, call.home, call.hour, call.first_queue)
                        else:
                            serve_next(t, payload)
                elif kind == WAIT_END:
                    self._wait_end(t, payload, seq)
                elif kind == PROMPT:
                    route(t, payload)
                elif kind == STAFF:
                    self._staff(t, payload)
                elif kind in _CALLBACK_EVENTS:
                    assert callbacks is not None
                    callbacks.event(t, kind, payload, extra)
                else:
                    # The period is over: close the agents' books; no time counts after this.
                    if callbacks is not None:
                        callbacks.close()
                    for center in self.centers:
                        self._account(center, t)
                        center.acct_t = _INF
                continue
            if arrival_t == _INF:
                break

            # --- an arrival ---
            t = arrival_t
            events += 1
            arrivals += 1
            if progress is not None and not arrivals & _PROGRESS_EVERY:
                progress(min(t / end, 1.0) if end > 0 else 1.0)
            if only < 0:
                index = bisect_right(cum, rng_random() * total)
                if index >= len(cum):
                    index = len(cum) - 1
            else:
                index = only
            source = sources[index]
            assert source is not None
            cls = source.draw()
            call_hour = hour
            # rng.expovariate(total), without the call.
            arrival_t = t - log(1.0 - rng_random()) / total
            if arrival_t >= slot_end:
                arrival_t, k = self._next_arrival(slot_end, k + 1)
                cum, total, slot_end, hour = self._slot(k)
            if not inline:
                route(t, SimCall(cls, source, call_hour))
                continue
            choice = cls.first
            if choice is not None:
                # Kept while the home's opening facts and the centers' load are as then.
                home = choice.home
                stale = home is not None and (t >= home.sig_until or home.sig is not choice.sig)
                if stale or (choice.deps and not choice.holds(t)):
                    choice = None
            if choice is None:
                choice = decider.choose(t, cls, None, ())
            else:
                kept += 1
            target = choice.target
            if (
                choice.action is not _QUEUE
                or target is None
                or target.waiting
                or target.logged_in <= target.busy
            ):
                act(t, SimCall(cls, source, call_hour), choice)
                continue
            # Queued where an agent is free: answered at once, no call object needed.
            home = choice.home
            assert home is not None
            home.offered += 1
            home.hour_offered[call_hour] += 1
            if choice.offhours:
                home.off_hours += 1
            if target is not home:
                self._moved(home, target, choice.offhours)
            home.queued += 1
            take(t, target, home, call_hour, t)

        self.events = events
        self.arrivals = arrivals
        self.routings = kept + decider.routings
        for center in self.centers:
            for waiting in center.queue:
                if waiting.state == WAITING and waiting.at is center and waiting.home is not None:
                    waiting.state = DONE
                    waiting.home.unfinished += 1
        if progress is not None:
            progress(1.0)
        return build_report(self)

    def _push(self, t: float, kind: int, payload: Any) -> int:
        seq = next(self.seq)
        _heappush(self.heap, (t, seq, kind, payload, None))
        return seq

    # --- arrivals ---------------------------------------------------------------

    def _sources(self) -> list[CallerSource | None]:
        """A caller source for every center that has callers in this period."""
        tl, scenario = self.timeline, self.scenario
        calling = {i for row in tl.rates for i, rate in enumerate(row) if rate > 0.0}
        self.sources = [
            CallerSource(c.center, scenario.config, scenario.callers, self.rng, scenario.table)
            if c.index in calling
            else None
            for c in self.centers
        ]
        return self.sources

    def _next_arrival(self, t: float, k: int) -> tuple[float, int]:
        """The next arrival of the merged stream of all centers' callers after ``t``.

        Rates are constant within a half hour; an exponential gap that crosses
        the slot's end is redrawn from the end at the next slot's rate, which
        is exact for a Poisson process. Returns (time, its slot), or infinity
        when no call comes any more.
        """
        tl = self.timeline
        expo = self.rng.expovariate
        last = len(tl.slots) - 1
        while k <= last:
            slot_end = tl.end_s if k == last else (k + 1) * SLOT_S
            total = tl.cum_rates[k][-1]
            if total > 0.0:
                nxt = t + expo(total)
                if nxt < slot_end:
                    return nxt, k
            t, k = slot_end, k + 1
        return _INF, k

    def _slot(self, k: int) -> tuple[tuple[float, ...], float, float, int]:
        """Slot ``k``'s running rates, their total, its end and its hour of the report."""
        tl = self.timeline
        if k >= len(tl.slots):
            return (0.0,), 0.0, _INF, 0
        cum = tl.cum_rates[k]
        slot_end = tl.end_s if k == len(tl.slots) - 1 else (k + 1) * SLOT_S
        return cum, cum[-1], slot_end, tl.slots[k].hour_index

    # --- routing ----------------------------------------------------------------

    def _route(self, t: float, call: SimCall) -> None:
        """Decide where the call goes and do it."""
        # The policy never sends a call back to a center in ``visited`` and
        # ends it after ``max_hops`` queues, so this terminates.
        self._act(t, call, self.decider.choose(t, call.cls, call.postal, call.visited))

    def _act(self, t: float, call: SimCall, choice: Choice) -> None:
        """Play the decision: queue (or answer at once), ask for the postal code, announce."""
        home = call.home
        if home is None and choice.home is not None:
            home = choice.home
            call.home = home
            home.offered += 1
            if choice.offhours:
                home.off_hours += 1
        action = choice.action
        if action is _QUEUE:
            target = choice.target
            assert home is not None and target is not None
            origin = call.at if call.at is not None else home
            if target is not origin:
                self._moved(origin, target, choice.offhours)
            if call.first_queue < 0.0:
                call.first_queue = t
                home.queued += 1
                home.hour_offered[call.hour] += 1
            call.at = target
            call.joined = t
            if not target.waiting and target.logged_in > target.busy:
                self._answer(t, call, target)
                return
            timeout = choice.timeout
            cb = self.callbacks
            if cb is not None and cb.before_queue(t, call, target, timeout):
                call.state = DONE
                return
            if call.deadline < 0.0:
                call.deadline = call.first_queue + home.patience()
            target.queue.append(call)
            target.waiting += 1
            call.state = WAITING
            if cb is not None:
                cb.waiting(t, call, target, timeout)
            end = call.deadline
            if timeout > 0 and t + timeout < end:
                end = t + timeout
            if end != _INF:
                call.wait_seq = self._push(end, WAIT_END, call)
        elif action is _POSTAL:
            call.postal = call.source.postal_code()
            self._push(t + (self.prompt_ok if call.postal else self.prompt_fail), PROMPT, call)
        else:
            call.state = DONE
            if home is None:
                self.unrouted += 1
            elif choice.offhours and call.first_queue < 0.0:
                home.announced_offhours += 1
            else:
                home.announced_busy += 1

    def _moved(self, origin: SimCenter, target: SimCenter, offhours: bool) -> None:
        """Count a call sent from ``origin`` (its home or last queue) to another center."""
        key = (origin.id, target.id)
        flows = self.offhours_flows if offhours else self.overflow
        flows[key] = flows.get(key, 0) + 1

    def _wait_end(self, t: float, call: SimCall, seq: int) -> None:
        """The caller's patience or the queue timeout ran out, whichever came first."""
        if call.state != WAITING or call.wait_seq != seq:
            return
        center = call.at
        home = call.home
        assert center is not None and home is not None
        center.waiting -= 1
        if t >= call.deadline:
            call.state = DONE
            home.abandoned += 1
            if short_abandon(t - call.first_queue, self.scenario):
                home.short_abandoned += 1
                home.hour_excluded[call.hour] += 1
            return
        call.state = ROUTING
        call.visited = (*call.visited, center.id)
        self._route(t, call)

    # --- agents -----------------------------------------------------------------

    def _answer(self, t: float, call: SimCall, center: SimCenter) -> None:
        """An agent of ``center`` takes the call."""
        call.state = DONE
        home = call.home
        assert home is not None
        self._take(t, center, home, call.hour, call.first_queue)

    def _take(self, t: float, center: SimCenter, home: SimCenter, hour: int, since: float) -> None:
        """An agent of ``center`` takes a call of ``home`` (arrived in report hour
        ``hour``, waiting since ``since``): it rings, then they talk."""
        center.busy += 1
        ring = center.ring_s
        if ring is None:
            ring = center.ring()
        handle = center.handle()
        busy = ring + handle
        end = self.timeline.end_s
        if t < end:
            # Agents' time counts within the period only.
            center.busy_s += busy if t + busy <= end else end - t
        wait = t + ring - since
        home.answered += 1
        home.wait_sum += wait
        if within_threshold(wait, self.scenario):
            home.within += 1
            home.hour_within[hour] += 1
        home.hist[min(int(wait / HIST_STEP_S), HIST_BINS - 1)] += 1
        center.answered_here += 1
        _heappush(self.heap, (t + busy, next(self.seq), DEPART, center, handle))

    def depart_at(self, t: float, center: SimCenter, handle: float) -> None:
        """An agent of ``center`` hangs up at ``t`` after ``handle`` seconds of talk."""
        _heappush(self.heap, (t, next(self.seq), DEPART, center, handle))

    def agent_freed(self, t: float, center: SimCenter) -> None:
        """An agent of ``center`` is free again without a conversation (a callback rang out)."""
        center.busy -= 1
        if center.pending_logout:
            self._account(center, t)
            center.pending_logout -= 1
            center.logged_in -= 1
        else:
            self._freed_to(t, center)

    def _freed_to(self, t: float, center: SimCenter) -> None:
        """A free agent of a center with callback requests: the scheduler decides
        between them and the live callers (whoever entered first), then the
        queue takes what is left."""
        cb = self.callbacks
        if cb is not None:
            cb.take(t, center)
        while center.waiting and center.logged_in > center.busy:
            self._serve_next(t, center)

    def _serve_next(self, t: float, center: SimCenter) -> None:
        """The longest-waiting caller still in the queue goes to a free agent."""
        queue = center.queue
        while queue:
            call = queue.popleft()
            if call.state == WAITING and call.at is center:
                center.waiting -= 1
                self._answer(t, call, center)
                return

    def _schedule_staffing(self) -> None:
        tl = self.timeline
        previous = (0,) * len(self.centers)
        for slot, agents in zip(tl.slots, tl.agents, strict=True):
            changes = [
                (self.centers[i], n)
                for i, (n, before) in enumerate(zip(agents, previous, strict=True))
                if n != before
            ]
            if changes:
                self._push(slot.start_s, STAFF, changes)
            previous = agents

    def _staff(self, t: float, changes: list[tuple[SimCenter, int]]) -> None:
        """Shift change: agents log in, or log out (after their current call)."""
        for center, target in changes:
            self._account(center, t)
            current = center.logged_in - center.pending_logout
            if target > current:
                more = target - current
                kept = min(center.pending_logout, more)
                center.pending_logout -= kept
                center.logged_in += more - kept
                self._freed_to(t, center)
            elif target < current:
                fewer = current - target
                idle = min(center.logged_in - center.busy, fewer)
                center.logged_in -= idle
                center.pending_logout += fewer - idle

    @staticmethod
    def _account(center: SimCenter, t: float) -> None:
        """Add logged-in agent time up to ``t`` (before the number logged in changes)."""
        dt = t - center.acct_t
        if dt > 0.0:
            center.staffed_s += center.logged_in * dt
            center.acct_t = t


def simulate(
    scenario: Scenario,
    *,
    seed: int = 0,
    router: Router | None = None,
    progress: Progress | None = None,
    verify_decisions: bool = False,
) -> SimReport:
    """Run ``scenario`` once with ``seed``; the same seed gives the same report.

    With ``verify_decisions`` every call is also routed by the policy directly;
    a kept decision that differs raises :class:`sim.engine.DecisionMismatch`.
    """
    return Engine(
        scenario,
        seed=seed,
        router=router,
        progress=progress,
        verify_decisions=verify_decisions,
    ).run()
