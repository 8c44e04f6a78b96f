"""Live load over the wire: originate a scenario's calls into an Asterisk (or the stand-in).

``lotse sim load`` logs in to the PBX's AMI like any AMI client, originates
every call of a scenario window into the generated dialplan's entry,
``Local/115@lotse-115``, with the caller's number as ``CallerID`` (Asterisk
hands it from the Local channel's ``;1`` half to ``;2``, which runs the 115
flow) and its own ``ChannelId``, and follows each call by that id (the
Linkedid of every channel of the call; lotse journals it under the
Uniqueid of its ``;2`` half, :func:`caller_uniqueid`) through the events
Asterisk sends:
the routing variables ``lotse run`` set, queue joins, the agent answering,
the static fallback's UserEvent, the hang-up. Callers whose patience
runs out are hung up with the ``Hangup`` action, as a caller would. The
summary has the what-if engine's KPIs per home center, the calls lost (an
originated call that ended without reaching a queue or an announcement, or
never ended), and the controller's decision latency from its metrics.

Arrival times come from the scenario's own arrival process (the engine's
timeline and caller mix); ``speed`` compresses them, and must match the
stand-in's clock. Caller numbers are synthetic and never printed.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import copy
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

from ami import contract
from ami.events import (
    AgentComplete,
    AgentConnect,
    Hangup,
    LotseCallback,
    LotseFallback,
    Newchannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    VarSet,
)
from ami.session import AmiSession, Connected
from metrics.servicelevel import Journey, Limits, Tally
from router.policy import Router
from sim.engine.callers import CallerSource
from sim.engine.timeline import SLOT_S, Timeline
from sim.scenario import CallbackMix, Scenario

LATENCY_METRIC = "lotse_decision_latency_seconds"


@dataclass(frozen=True)
class Arrival:
    """One call of the window: when (virtual seconds from the window start), who, whose."""

    at_s: float
    caller: str
    region: str  # the center whose region the caller is from
    patience_s: float
    # Takes a callback when offered (the scenario's ``callbacks.accept``).
    callback: bool = False


def arrivals(
    scenario: Scenario, router: Router, rng: random.Random, start: datetime, hours: float
) -> list[Arrival]:
    """The scenario's calls between ``start`` and ``hours`` later, drawn as the engine draws them.

    Rates are constant per half hour; the merged Poisson stream of all
    centers' callers picks its center by rate, its caller number from the
    center's region (numbers unique within the window).
    """
    tl = Timeline.build(scenario, router)
    offset = (start - tl.epoch).total_seconds()
    end = min(offset + hours * 3600, tl.end_s)
    pick = _CallerPicker(scenario, tl, rng)
    out: list[Arrival] = []
    t = max(offset, 0.0)
    while t < end:
        k = min(int(t // SLOT_S), len(tl.slots) - 1)
        slot_end = min((k + 1) * SLOT_S, end)
        total = tl.cum_rates[k][-1]
        if total <= 0.0:
            t = slot_end
            continue
        nxt = t + rng.expovariate(total)
        if nxt >= slot_end:
            t = slot_end  # memoryless: redraw from the slot's end at the next rate
            continue
        t = nxt
        arrival = pick(k, t - offset)
        if arrival is not None:
            out.append(arrival)
    return out


def flat_arrivals(
    scenario: Scenario,
    router: Router,
    rng: random.Random,
    start: datetime,
    *,
    rate_per_s: float,
    minutes: float,
    speed: float,
) -> list[Arrival]:
    """A flat Poisson stream of ``rate_per_s`` calls per real second for ``minutes``.

    Who calls, from where and how patient is the scenario's mix at the
    window's start (its half hour's rates per center); ``at_s`` is virtual
    time as in :func:`arrivals` (real seconds times ``speed``). ValueError
    when the scenario has no calls in that half hour.
    """
    tl = Timeline.build(scenario, router)
    offset = (start - tl.epoch).total_seconds()
    k = min(max(int(offset // SLOT_S), 0), len(tl.slots) - 1)
    if tl.cum_rates[k][-1] <= 0.0:
        raise ValueError(f"the scenario has no calls at {start:%a %H:%M}: choose another --from")
    pick = _CallerPicker(scenario, tl, rng)
    out: list[Arrival] = []
    t = 0.0
    end = minutes * 60.0
    while True:
        t += rng.expovariate(rate_per_s)
        if t >= end:
            return out
        arrival = pick(k, t * speed)
        if arrival is not None:
            out.append(arrival)


class _CallerPicker:
    """One caller of a slot's mix: center by rate, number from its region, unique."""

    def __init__(self, scenario: Scenario, tl: Timeline, rng: random.Random) -> None:
        self._scenario = scenario
        self._tl = tl
        self._rng = rng
        self._sources: dict[int, CallerSource] = {}
        self._seen: set[str] = set()

    def __call__(self, k: int, at_s: float) -> Arrival | None:
        scenario, tl, rng = self._scenario, self._tl, self._rng
        cum = tl.cum_rates[k]
        index = min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)
        cid = tl.center_ids[index]
        center = scenario.config.centers[cid]
        source = self._sources.setdefault(
            index, CallerSource(center, scenario.config, scenario.callers, rng)
        )
        caller = source.caller()
        seen = self._seen
        if not caller.isdigit() or caller in seen:
            # Originate needs a dialable number per call; anonymous callers
            # and repeats get a fresh mobile number of the same (no) region.
            caller = f"0157{rng.randrange(10**7, 10**8)}"
            if caller in seen:
                return None
        seen.add(caller)
        patience = scenario.plan(cid).patience.sampler(rng)()
        mix = scenario.callbacks
        takes = mix is not None and rng.random() < mix.accept
        return Arrival(at_s, caller, cid, patience, takes)


@dataclass
class CallRecord:
    """What the AMI events said about one originated call.

    Waits are Asterisk's ``HoldTime`` from the queue events, as the controller
    reads them: ``spilled_wait_s`` summed over the queues the call left on a
    timeout, ``leave_wait_s`` of a ``QueueCallerAbandon`` not (yet) known to be
    a timeout, ``answer_wait_s`` of the ``AgentConnect``.
    """

    arrival: Arrival
    originated_at: float
    channel_id: str = ""
    linkedid: str | None = None
    first_channel: str | None = None
    caller_channel: str | None = None
    home: str | None = None
    joined_at: float | None = None
    queues: list[str] = field(default_factory=list)
    answered_at: float | None = None
    answered_center: str | None = None
    answer_wait_s: float | None = None
    spilled_wait_s: float = 0.0
    leave_wait_s: float | None = None
    announced: bool = False
    fallback: bool = False
    ended: bool = False
    ended_at: float | None = None
    hung_up_by_us: bool = False
    # The queue the caller waits in now, and since when (load clock).
    waiting_queue: str | None = None
    waiting_since: float | None = None
    # Callbacks: offered (heard an offer), in the dialogue, requested (and when
    # its place in line was taken: the queue entry it kept, else the request).
    offered: bool = False
    in_callback: bool = False
    callback_requested: bool = False
    callback_entry: float | None = None
    last_join: float | None = None

    @property
    def routed(self) -> bool:
        """Reached a queue or an announcement, or left its number for a callback."""
        return self.joined_at is not None or self.announced or self.callback_requested

    def left_queue_alive(self) -> None:
        """The ``QueueCallerAbandon`` before was a queue timeout: the call went on."""
        if self.leave_wait_s is not None:
            self.spilled_wait_s += self.leave_wait_s
            self.leave_wait_s = None

    def journey(self) -> Journey:
        """The call as :mod:`metrics.servicelevel` counts it.

        Its home is the one lotse gave it (``LOTSE_HOME``, or the static
        fallback's center), else its first queue's center, as the controller
        credits it; a call that reached no queue is its caller's region's.
        """
        home = self.home or (self.queues[0] if self.queues else self.arrival.region)
        answered = self.answered_center is not None and self.answer_wait_s is not None
        abandoned = not answered and self.leave_wait_s is not None
        wait: float | None = None
        if answered and self.answer_wait_s is not None:
            wait = self.spilled_wait_s + self.answer_wait_s
        elif abandoned and self.leave_wait_s is not None:
            wait = self.spilled_wait_s + self.leave_wait_s
        return Journey(
            home=home,
            queues=tuple(self.queues),
            answered_by=self.answered_center if answered else None,
            abandoned=abandoned,
            wait_s=wait,
            announced=self.announced and not self.queues,
        )


@dataclass
class CenterTally:
    """The KPIs of one home center (or the nation), per home as ``lotse report`` counts."""

    calls: int = 0
    sl: Tally = field(default_factory=Tally)
    fallback: int = 0
    by_partner: int = 0

    def add(self, rec: CallRecord, journey: Journey, level: Limits) -> None:
        """Count one originated call."""
        self.calls += 1
        self.fallback += rec.fallback
        self.by_partner += journey.answered_by not in (None, journey.home)
        self.sl.add(journey, level)

    @property
    def offered(self) -> int:
        """Calls that joined a queue."""
        return self.sl.offered

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-ready, with the derived service level and ASA."""
        t = self.sl
        return {
            "calls": self.calls,
            "offered": t.offered,
            "answered": t.answered,
            "answered_within": t.answered_within,
            "service_level": t.service_level,
            "asa_s": t.asa_s,
            "abandoned": t.abandoned,
            "short_abandoned": t.short_abandoned,
            "answered_by_partner": self.by_partner,
            "announced": t.announced,
            "fallback_routes": self.fallback,
        }


@dataclass
class CallbackWatch:
    """The callbacks of a load run, as the AMI events show them.

    A dialer leg is known by the ``LOTSE_CB_ID`` set on its channel; the
    request by the same variable set on the caller's channel when lotse took
    it. ``duplicates``: a leg of a request started while another leg of the
    same request was still up; ``overtakes``: an agent reached for a callback
    while a live caller who entered that queue before the request's kept
    entry time was still waiting there.
    """

    offer_after: dict[str, int]  # queue -> seconds until the periodic offer
    requests: dict[str, CallRecord] = field(default_factory=dict)  # request id -> call
    legs: dict[str, str] = field(default_factory=dict)  # leg linkedid -> request id
    up: dict[str, set[str]] = field(default_factory=dict)  # request id -> legs up
    completed: set[str] = field(default_factory=set)
    requested: int = 0
    duplicates: int = 0
    overtakes: int = 0
    # Per leg (linkedid): the attempt's DIALSTATUS, and why the agent's call ended.
    status: dict[str, str] = field(default_factory=dict)
    agent_end: dict[str, str] = field(default_factory=dict)
    # The agent's channel of each leg (AgentConnect's Dest): an AgentComplete may
    # come without the leg's fields when the leg is already gone (Asterisk 22).
    agent_legs: dict[str, str] = field(default_factory=dict)

    def leg_event(self, event: object, t: float, calls: dict[str, CallRecord]) -> None:
        """An event of a channel that is no load call: perhaps a dialer leg."""
        linkedid = getattr(event, "linkedid", "")
        if isinstance(event, AgentComplete) and not linkedid:
            linkedid = self.agent_legs.get(event.dest_uniqueid, "")
        if isinstance(event, VarSet) and event.variable == contract.VAR_CB_ID and event.value:
            if linkedid in self.legs:
                return
            self.legs[linkedid] = event.value
            legs = self.up.setdefault(event.value, set())
            if legs:
                self.duplicates += 1
            legs.add(linkedid)
            return
        rid = self.legs.get(linkedid)
        if rid is None:
            return
        if isinstance(event, AgentComplete):
            self.agent_end[linkedid] = event.reason
        elif isinstance(event, AgentConnect):
            self.agent_legs[event.dest_uniqueid] = linkedid
            caller = self.requests.get(rid)
            entry = caller.callback_entry if caller is not None else None
            if entry is not None and any(
                r.waiting_queue == event.queue
                and r.waiting_since is not None
                and r.waiting_since < entry
                for r in calls.values()
            ):
                self.overtakes += 1
        elif isinstance(event, LotseCallback) and event.attempt:
            self.status[linkedid] = event.status
            if event.status == "ANSWER":
                self.completed.add(rid)
        elif isinstance(event, Hangup) and event.uniqueid == linkedid:
            self.up.get(rid, set()).discard(linkedid)


@dataclass
class LoadRun:
    """Follows the calls of one load run from the AMI event stream."""

    queue_centers: dict[str, str]
    speed: float
    now: Callable[[], float]
    calls: dict[str, CallRecord] = field(default_factory=dict)  # ChannelId -> record
    by_linkedid: dict[str, CallRecord] = field(default_factory=dict)
    originate_failed: int = 0
    # How far behind its plan the load sent an Originate, at worst (wall seconds).
    slip_s: float = 0.0
    callbacks: CallbackWatch = field(default_factory=lambda: CallbackWatch({}))
    # Calls that ended a while ago are counted into these and let go, so a
    # long run's memory stays flat (``level`` set: the service level to count by).
    level: Limits | None = None
    folded_ids: list[str] = field(default_factory=list)
    _folded_per: dict[str, CenterTally] = field(default_factory=dict)
    _folded_nation: CenterTally = field(default_factory=CenterTally)
    _folded_lost: int = 0
    _folded_offered: int = 0
    _ended: collections.deque[CallRecord] = field(default_factory=collections.deque)

    @property
    def originated(self) -> int:
        """Calls originated so far (followed now, or counted and let go)."""
        return len(self.calls) + len(self.folded_ids)

    def channel_ids(self) -> list[str]:
        """The ChannelId of every originated call."""
        return [*self.folded_ids, *self.calls]

    def fold_ended(self, grace_s: float = 10.0) -> None:
        """Count the calls that ended at least ``grace_s`` ago (load clock) and forget
        them; a call with a callback request stays (its legs refer to it)."""
        level = self.level
        if level is None:
            return
        now = self.now()
        ended = self._ended
        requested = {id(r) for r in self.callbacks.requests.values()}
        while ended and ended[0].ended_at is not None and now - ended[0].ended_at >= grace_s:
            rec = ended.popleft()
            if id(rec) in requested or self.calls.get(rec.channel_id) is not rec:
                continue
            del self.calls[rec.channel_id]
            if rec.linkedid is not None:
                self.by_linkedid.pop(rec.linkedid, None)
            self.folded_ids.append(rec.channel_id)
            self._folded_lost += _count(rec, self._folded_per, self._folded_nation, level)
            self._folded_offered += rec.offered

    def _left_queue(self, rec: CallRecord, t: float) -> None:
        """The caller is no longer waiting: had they waited long enough to hear the offer?"""
        if rec.waiting_queue is not None and rec.waiting_since is not None:
            offer = self.callbacks.offer_after.get(rec.waiting_queue)
            if offer is not None and (t - rec.waiting_since) * self.speed >= offer:
                rec.offered = True
        rec.waiting_queue = None
        rec.waiting_since = None

    def apply(self, event: object) -> None:
        """Fold one typed AMI event into the call it belongs to (others are ignored)."""
        if isinstance(event, Newchannel):
            rec = self.calls.get(event.uniqueid)
            if rec is not None and rec.linkedid is None:
                rec.linkedid = event.linkedid
                rec.first_channel = event.uniqueid
                self.by_linkedid[event.linkedid] = rec
            return
        if not hasattr(event, "linkedid"):
            return
        rec = self.by_linkedid.get(event.linkedid)
        t = self.now()
        if rec is None:
            self.callbacks.leg_event(event, t, self.by_linkedid)
            return
        if isinstance(event, VarSet):
            name = event.variable.lstrip("_")
            if name == contract.VAR_CB_OFFER and event.value:
                rec.offered = True
            elif name == "LOTSE_CB_KIND" and event.value:
                # In the callback dialogue: the caller left the queue (or the offer came).
                rec.in_callback = True
                if event.value == contract.CALLBACK_KIND_QUEUE:
                    rec.offered = True
            elif name == contract.VAR_CB_ID and event.value:
                self.callbacks.requests[event.value] = rec
            if name == contract.VAR_HOME.lstrip("_") and event.value:
                rec.home = event.value
            elif name == contract.VAR_ACTION and event.value == contract.AgiAction.ANNOUNCE:
                rec.announced = True
            elif name == "QUEUESTATUS":
                rec.left_queue_alive()
        elif isinstance(event, LotseFallback):
            rec.fallback = True
            rec.home = rec.home or event.center
        elif isinstance(event, LotseCallback):
            if event.status == "requested" and not rec.callback_requested:
                rec.callback_requested = True
                self.callbacks.requested += 1
                # The place kept: the entry of the queue it left, else now.
                rec.callback_entry = rec.last_join if rec.last_join is not None else t
        elif isinstance(event, QueueCallerJoin):
            rec.left_queue_alive()
            center = self.queue_centers.get(event.queue)
            if center is not None and center not in rec.queues:
                rec.queues.append(center)
            if rec.joined_at is None:
                rec.joined_at = t
                rec.caller_channel = event.channel
            rec.waiting_queue, rec.waiting_since = event.queue, t
            rec.last_join = t
        elif isinstance(event, QueueCallerLeave):
            self._left_queue(rec, t)
        elif isinstance(event, QueueCallerAbandon):
            if event.queue in self.queue_centers:
                rec.leave_wait_s = event.holdtime
        elif isinstance(event, AgentConnect):
            self._left_queue(rec, t)
            if rec.answered_at is None:
                rec.answered_at = t
                rec.answered_center = self.queue_centers.get(event.queue)
                rec.answer_wait_s = event.holdtime
                rec.leave_wait_s = None
        elif isinstance(event, Hangup) and event.uniqueid == rec.first_channel:
            rec.ended = True
            if rec.ended_at is None:
                rec.ended_at = t
                self._ended.append(rec)
            self._left_queue(rec, t)

    def tallies(self, level: Limits) -> tuple[dict[str, CenterTally], CenterTally, int]:
        """Per home center and national KPIs, and the calls lost."""
        per = copy.deepcopy(self._folded_per)
        nation = copy.deepcopy(self._folded_nation)
        lost = self.originate_failed + self._folded_lost
        for rec in self.calls.values():
            lost += _count(rec, per, nation, level)
        return per, nation, lost

    def callback_figures(
        self, outcomes: Mapping[str, int] | None
    ) -> dict[str, int | dict[str, int] | None]:
        """``--json``'s ``callbacks``: offered, requested, completed (the leg's
        caller answered), expired (from the journal, ``None`` if not read),
        duplicates and overtakes; ``attempts`` by the legs' DIALSTATUS
        (``answer``, ``noanswer``, ``busy`` …) and, of the answered ones, who
        hung up first (``hung_up_first``: ``callee`` or ``agent``)."""
        cb = self.callbacks
        attempts: dict[str, int] = {}
        for status in cb.status.values():
            attempts[status.lower()] = attempts.get(status.lower(), 0) + 1
        first = {"callee": 0, "agent": 0}
        for leg, status in cb.status.items():
            reason = cb.agent_end.get(leg)
            if status == "ANSWER" and reason in ("agent", "caller"):
                first["agent" if reason == "agent" else "callee"] += 1
        return {
            "offered": self._folded_offered + sum(1 for r in self.calls.values() if r.offered),
            "requested": cb.requested,
            "completed": len(cb.completed),
            "expired": None if outcomes is None else outcomes.get("expired", 0),
            "duplicates": cb.duplicates,
            "overtakes": cb.overtakes,
            "attempts": dict(sorted(attempts.items())),
            "hung_up_first": first,
        }

    def truth(self, level: Limits) -> dict[str, dict[str, float | int | None]]:
        """Per home center: offered, answered within T and the service level, as seen here."""
        per, _, _ = self.tallies(level)
        return {cid: service_figures(t.sl) for cid, t in sorted(per.items())}


def _count(rec: CallRecord, per: dict[str, CenterTally], nation: CenterTally, level: Limits) -> int:
    """Add one call to its home's and the national tally; 1 if it was lost, else 0."""
    journey = rec.journey()
    assert journey.home is not None
    for tally in (per.setdefault(journey.home, CenterTally()), nation):
        tally.add(rec, journey, level)
    return 0 if rec.routed and rec.ended else 1


def service_figures(t: Tally) -> dict[str, float | int | None]:
    """The three figures ``--json``'s ``truth`` compares across views."""
    return {
        "offered": t.offered,
        "answered_within": t.answered_within,
        "service_level": t.service_level,
    }


@dataclass(frozen=True)
class Latency:
    """The controller's decision latency over the run, from its histogram."""

    decisions: int
    mean_ms: float | None
    p99_ms: float | None


def latency_between(before: dict[str, float] | None, after: dict[str, float] | None) -> Latency:
    """Decisions, mean and p99 (upper bucket bound) between two scrapes."""
    if before is None or after is None:
        return Latency(0, None, None)
    count = after.get("count", 0.0) - before.get("count", 0.0)
    if count <= 0:
        return Latency(0, None, None)
    mean = (after.get("sum", 0.0) - before.get("sum", 0.0)) / count * 1000
    bounds = sorted(
        (float(le), after[le] - before.get(le, 0.0)) for le in after if le not in ("count", "sum")
    )
    p99 = next((le for le, n in bounds if n >= 0.99 * count), math.inf)
    return Latency(int(count), mean, p99 * 1000)


async def drive(
    session: AmiSession,
    events: asyncio.Queue[list[object]],
    plan: list[Arrival],
    run: LoadRun,
    *,
    context: str,
    speed: float,
    id_prefix: str,
    drain_s: float,
    progress: Callable[[int, int], None] | None = None,
    max_in_flight: int = 1,
    callbacks: CallbackMix | None = None,
) -> None:
    """Originate ``plan`` in (compressed) real time, follow the calls, then wait for them to end.

    Each call's Local channel is named ``{id_prefix}-{n}`` (``ChannelId``):
    unique on the PBX as long as the prefix is unique per run. At most
    ``max_in_flight`` Originates wait for their answer at a time (1: each is
    answered before the next is sent, as before).
    """
    loop = asyncio.get_running_loop()
    consumer = asyncio.create_task(_consume(events, run))
    started = loop.time()
    hangups: set[asyncio.Task[None]] = set()
    in_flight: set[asyncio.Task[None]] = set()

    async def originate(
        channel_id: str, rec: CallRecord, fields: list[tuple[str, str]], arrival: Arrival
    ) -> None:
        try:
            await session.action("Originate", fields, timeout=10)
        except Exception:  # refused, timed out, disconnected: counted as lost
            run.calls.pop(channel_id, None)
            run.originate_failed += 1
            return
        task = asyncio.create_task(_patience(session, rec, arrival.patience_s / speed))
        hangups.add(task)
        task.add_done_callback(hangups.discard)

    try:
        for n, arrival in enumerate(plan, start=1):
            delay = started + arrival.at_s / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            channel_id = f"{id_prefix}-{n}"
            rec = CallRecord(arrival, run.now(), channel_id)
            run.calls[channel_id] = rec
            run.fold_ended()
            fields = [
                ("Channel", f"Local/115@{context}"),
                ("CallerID", f"<{arrival.caller}>"),
                ("ChannelId", channel_id),
                ("Application", "Wait"),
                ("Data", "3600"),
                ("Async", "true"),
            ]
            if callbacks is not None:
                # The stand-in's simulated caller: takes an offer; when called back
                # answers, is busy, hangs up first as the scenario says.
                take = "1" if arrival.callback else "0"
                behaviour = (
                    f"SIM_CALLBACK={take},SIM_CALLBACK_ANSWER={callbacks.answer},"
                    f"SIM_CALLBACK_BUSY={callbacks.busy},"
                    f"SIM_CALLBACK_HANGS_UP_FIRST={callbacks.hangs_up_first}"
                )
                fields.append(("Variable", behaviour))
            # Back-pressure: at most ``max_in_flight`` Originates unanswered. A
            # PBX that falls behind slows the load down (the slip is reported)
            # instead of being buried: unbounded, a stand-in short of CPU took
            # every Originate, answered none in time and routed nothing.
            while len(in_flight) >= max_in_flight:
                await asyncio.wait(set(in_flight), return_when=asyncio.FIRST_COMPLETED)
            run.slip_s = max(run.slip_s, loop.time() - (started + arrival.at_s / speed))
            sending = asyncio.create_task(originate(channel_id, rec, fields, arrival))
            in_flight.add(sending)
            sending.add_done_callback(in_flight.discard)
            if progress is not None:
                progress(n, len(plan))
        if in_flight:
            await asyncio.wait(set(in_flight))
        deadline = loop.time() + drain_s
        while loop.time() < deadline and not all(r.ended for r in run.calls.values()):
            await asyncio.sleep(0.1)
    finally:
        for task in (*hangups, *in_flight):
            task.cancel()
        consumer.cancel()


def caller_uniqueid(channel_id: str) -> str:
    """The Uniqueid of an originated call's ``;2`` half, which runs the 115 flow and
    whose Uniqueid lotse journals the call under: Asterisk (core_unreal.c) names it
    after the ``ChannelId`` given for ``;1``."""
    return f"{channel_id};2"


async def _consume(events: asyncio.Queue[list[object]], run: LoadRun) -> None:
    while True:
        for event in await events.get():
            run.apply(event)


async def _patience(session: AmiSession, rec: CallRecord, wall_s: float) -> None:
    """The caller hangs up when their patience, counted from first joining a queue
    (as in the what-if engine), runs out before an agent answers."""
    if not math.isfinite(wall_s):
        return
    while rec.caller_channel is None:
        if rec.ended or rec.announced:
            return
        await asyncio.sleep(0.05)
    await asyncio.sleep(wall_s)
    if rec.answered_at is not None or rec.ended or rec.in_callback:
        return
    rec.hung_up_by_us = True
    try:
        await session.action("Hangup", [("Channel", rec.caller_channel)], timeout=5)
    except Exception:  # already gone: the hang-up raced the caller's own end
        return


async def connected(events: asyncio.Queue[list[object]], timeout: float) -> None:
    """Wait for the session's Connected marker (logged in)."""
    async with asyncio.timeout(timeout):
        while not any(isinstance(event, Connected) for event in await events.get()):
            pass


def window_start(scenario: Scenario, at: str) -> datetime:
    """``HH:MM`` local time on the scenario's first day, as an aware datetime."""
    hour, _, minute = at.partition(":")
    local = datetime.combine(scenario.start, dtime(int(hour), int(minute or 0)))
    return local.replace(tzinfo=ZoneInfo(scenario.config.timezone))
