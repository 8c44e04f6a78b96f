"""The discrete-event loop: calls arrive, are routed, wait, are answered or give up.

Virtual time runs from local midnight of the scenario's first day; nothing
reads a clock, and all randomness comes from one ``random.Random(seed)``, so a
seed replays the same run exactly. Every call is routed by
:func:`router.policy.decide_at`, the controller's own policy, with a
:class:`router.state.Snapshot` of the engine's live centers, and the engine
plays the dialplan's answer to it (``dialplans/contract.py``):

* ``queue``: the caller joins the target's queue (FIFO); a free agent rings
  at once. If ``queue_timeout_s`` passes unanswered, the call is routed again
  with the target added to ``visited`` (a spill), as the dialplan does;
* ``postal``: the caller hears the prompt and keys in a postal code (or
  nothing), then the call is routed again with it;
* ``announce``: the caller hears the announcement and the call ends.

A caller's patience runs from first joining a queue, across spills; an agent
who picks up after the ring time keeps the line for the handle time. Staffing
changes on the half hour; an agent whose shift ends finishes the call first.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Callable
from typing import Any

from router.policy import Action, Call, Router, decide_at
from router.state import Snapshot
from sim.engine.callers import CallerSource
from sim.engine.model import (
    DONE,
    HIST_BINS,
    HIST_STEP_S,
    ROUTING,
    WAITING,
    LiveStates,
    SimCall,
    SimCenter,
)
from sim.engine.report import SimReport, build_report
from sim.engine.timeline import SLOT_S, Timeline
from sim.scenario import Scenario

# Event kinds, most frequent first (the loop tests them in this order).
DEPART, ARRIVAL, WAIT_END, PROMPT, STAFF, END = range(6)
_PROGRESS_EVERY = 1 << 15
_QUEUE, _POSTAL = Action.QUEUE, Action.ASK_POSTAL_CODE
_heappush = heapq.heappush

Progress = Callable[[float], None]
# (time, sequence, kind, payload): the sequence breaks ties in scheduling order.
_Event = tuple[float, int, int, Any]


class Engine:
    """One run of a scenario. Build it, call :meth:`run` once."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int = 0,
        router: Router | None = None,
        progress: Progress | None = None,
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
        self.states = LiveStates(self.by_id)
        self.snapshot = Snapshot(centers=self.states)
        self.sources: list[CallerSource | None] = []
        self.heap: list[_Event] = []
        self.seq = itertools.count()
        self.threshold = scenario.threshold_s
        self.short_abandon = scenario.short_abandon_s
        uo = config.unknown_origin
        self.prompt_ok = scenario.callers.prompt_s
        self.prompt_fail = uo.attempts * (scenario.callers.prompt_s + uo.digit_timeout_s)
        # The policy gets the moment in its own time zone, so its conversion is free.
        self.epoch_ts = self.timeline.epoch.timestamp()
        # Moves of calls between centers: (from, to) -> calls.
        self.overflow: dict[tuple[str, str], int] = {}
        self.offhours_flows: dict[tuple[str, str], int] = {}
        self.arrivals = 0
        self.events = 0
        self.unrouted = 0
        self.routings = 0
        self._arrival_t = 0.0
        self._arrival_slot = 0
        self._ran = False

    # --- the loop ---------------------------------------------------------------

    def run(self) -> SimReport:
        """Simulate the period, let the last calls finish, and report.

        The two events of nearly every call (its arrival and its agent hanging
        up) are handled inline: at tens of thousands of calls per second, a
        function call per step is a noticeable share of the time.
        """
        if self._ran:
            raise RuntimeError("an Engine runs once; build a new one for another run")
        self._ran = True
        tl = self.timeline
        end = tl.end_s
        self._push(end, END, None)
        self._schedule_staffing()
        heap, pop = self.heap, heapq.heappop
        progress = self.progress
        rng_random = self.rng.random
        cum_rates, slots, centers = tl.cum_rates, tl.slots, self.centers
        sources = self._sources()
        route, serve_next, next_arrival = self._route, self._serve_next, self._next_arrival
        bisect_right = bisect.bisect_right
        next_arrival()
        events = 0
        while heap:
            t, seq, kind, payload = pop(heap)
            events += 1
            if kind == DEPART:
                center, handle = payload
                dt = t - center.acct_t
                if dt > 0.0:
                    center.staffed_s += center.logged_in * dt
                    center.busy_s += center.busy * dt
                    center.acct_t = t
                center.busy -= 1
                center.dirty = True
                center.handle_times.append(handle)
                if center.pending_logout:
                    center.pending_logout -= 1
                    center.logged_in -= 1
                elif center.waiting:
                    serve_next(t, center)
            elif kind == ARRIVAL:
                k = self._arrival_slot
                cum = cum_rates[k]
                index = bisect_right(cum, rng_random() * cum[-1])
                if index >= len(cum):
                    index = len(cum) - 1
                source = sources[index]
                assert source is not None
                call = SimCall(source.caller(), centers[index], slots[k].hour_index)
                self.arrivals += 1
                next_arrival()
                route(t, call)
            elif kind == WAIT_END:
                self._wait_end(t, payload, seq)
            elif kind == PROMPT:
                route(t, payload)
            elif kind == STAFF:
                self._staff(t, payload)
            else:
                # The period is over: close the agents' books; no time counts after this.
                for center in centers:
                    self._account(center, t)
                    center.acct_t = math.inf
            if progress is not None and not events % _PROGRESS_EVERY:
                progress(min(t / end, 1.0) if end > 0 else 1.0)
        self.events = events
        for center in centers:
            for waiting in center.queue:
                if waiting.state == WAITING and waiting.at is center and waiting.home is not None:
                    waiting.state = DONE
                    waiting.home.unfinished += 1
        if progress is not None:
            progress(1.0)
        return build_report(self)

    def _push(self, t: float, kind: int, payload: Any) -> int:
        seq = next(self.seq)
        _heappush(self.heap, (t, seq, kind, payload))
        return seq

    # --- arrivals ---------------------------------------------------------------

    def _sources(self) -> list[CallerSource | None]:
        """A caller source for every center that has callers in this period."""
        tl, scenario = self.timeline, self.scenario
        calling = {i for row in tl.rates for i, rate in enumerate(row) if rate > 0.0}
        self.sources = [
            CallerSource(c.center, scenario.config, scenario.callers, self.rng)
            if c.index in calling
            else None
            for c in self.centers
        ]
        return self.sources

    def _next_arrival(self) -> None:
        """Draw the next arrival of the merged stream of all centers' callers.

        Rates are constant within a half hour; an exponential gap that crosses
        the slot's end is redrawn from the end at the next slot's rate, which
        is exact for a Poisson process.
        """
        tl = self.timeline
        t, k = self._arrival_t, self._arrival_slot
        expo = self.rng.expovariate
        last = len(tl.slots) - 1
        while k <= last:
            slot_end = tl.end_s if k == last else (k + 1) * SLOT_S
            total = tl.cum_rates[k][-1]
            if total > 0.0:
                nxt = t + expo(total)
                if nxt < slot_end:
                    self._arrival_t, self._arrival_slot = nxt, k
                    _heappush(self.heap, (nxt, next(self.seq), ARRIVAL, None))
                    return
            t, k = slot_end, k + 1
        self._arrival_slot = k

    # --- routing ----------------------------------------------------------------

    def _route(self, t: float, call: SimCall) -> None:
        """Ask the policy where the call goes and do it."""
        # The policy never sends a call back to a center in ``visited`` and
        # ends it after ``max_hops`` queues, so this terminates.
        self.routings += 1
        visited = call.visited
        self.states.now = t
        router = self.router
        decision = decide_at(
            Call(call.caller, "115", call.postal, visited),
            router.instant_at(self.epoch_ts + t),
            self.snapshot,
            router,
        )
        home = call.home
        if home is None and decision.home is not None:
            home = self.by_id[decision.home]
            call.home = home
            home.offered += 1
            home.hour_offered[call.hour] += 1
            if decision.offhours:
                home.off_hours += 1
        action = decision.action
        if action is _QUEUE:
            assert home is not None and decision.target is not None
            target = self.by_id[decision.target]
            origin = call.at if call.at is not None else home
            if target is not origin:
                key = (origin.id, target.id)
                flows = self.offhours_flows if decision.offhours else self.overflow
                flows[key] = flows.get(key, 0) + 1
            if call.first_queue < 0.0:
                call.first_queue = t
                call.deadline = t + home.patience()
                home.queued += 1
            call.at = target
            call.joined = t
            if not target.waiting and target.logged_in > target.busy:
                self._answer(t, call, target)
                return
            target.queue.append(call)
            target.waiting += 1
            target.dirty = True
            call.state = WAITING
            timeout = decision.queue_timeout_s
            end = call.deadline
            if timeout > 0 and t + timeout < end:
                end = t + timeout
            if end != math.inf:
                call.wait_seq = self._push(end, WAIT_END, call)
        elif action is _POSTAL:
            source = self.sources[call.source.index]
            assert source is not None
            call.postal = source.postal_code()
            self._push(t + (self.prompt_ok if call.postal else self.prompt_fail), PROMPT, call)
        else:
            call.state = DONE
            if home is None:
                self.unrouted += 1
            elif decision.offhours and call.first_queue < 0.0:
                home.announced_offhours += 1
                home.hour_excluded[call.hour] += 1
            else:
                home.announced_busy += 1

    def _wait_end(self, t: float, call: SimCall, seq: int) -> None:
        """The caller's patience or the queue timeout ran out, whichever came first."""
        if call.state != WAITING or call.wait_seq != seq:
            return
        center = call.at
        home = call.home
        assert center is not None and home is not None
        center.waiting -= 1
        center.dirty = True
        if t >= call.deadline:
            call.state = DONE
            home.abandoned += 1
            if t - call.first_queue < self.short_abandon:
                home.short_abandoned += 1
                home.hour_excluded[call.hour] += 1
            return
        call.state = ROUTING
        call.visited = (*call.visited, center.id)
        self._route(t, call)

    # --- agents -----------------------------------------------------------------

    def _answer(self, t: float, call: SimCall, center: SimCenter) -> None:
        """An agent of ``center`` takes the call: it rings, then they talk."""
        dt = t - center.acct_t
        if dt > 0.0:
            center.staffed_s += center.logged_in * dt
            center.busy_s += center.busy * dt
            center.acct_t = t
        center.busy += 1
        center.dirty = True
        call.state = DONE
        ring = center.ring()
        handle = center.handle()
        wait = t + ring - call.first_queue
        home = call.home
        assert home is not None
        home.answered += 1
        home.wait_sum += wait
        if wait <= self.threshold:
            home.within += 1
            home.hour_within[call.hour] += 1
        home.hist[min(int(wait / HIST_STEP_S), HIST_BINS - 1)] += 1
        center.answered_here += 1
        _heappush(self.heap, (t + ring + handle, next(self.seq), DEPART, (center, handle)))

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
            center.dirty = True
            current = center.logged_in - center.pending_logout
            if target > current:
                more = target - current
                kept = min(center.pending_logout, more)
                center.pending_logout -= kept
                center.logged_in += more - kept
                while center.waiting and center.logged_in > center.busy:
                    self._serve_next(t, center)
            elif target < current:
                fewer = current - target
                idle = min(center.logged_in - center.busy, fewer)
                center.logged_in -= idle
                center.pending_logout += fewer - idle

    @staticmethod
    def _account(center: SimCenter, t: float) -> None:
        """Add agent time up to ``t`` to the occupancy tallies."""
        dt = t - center.acct_t
        if dt > 0.0:
            center.staffed_s += center.logged_in * dt
            center.busy_s += center.busy * dt
            center.acct_t = t


def simulate(
    scenario: Scenario,
    *,
    seed: int = 0,
    router: Router | None = None,
    progress: Progress | None = None,
) -> SimReport:
    """Run ``scenario`` once with ``seed``; the same seed gives the same report."""
    return Engine(scenario, seed=seed, router=router, progress=progress).run()
