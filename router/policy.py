"""The routing policy: which center takes a 115 call, with which greeting, and why.

``decide`` is a pure function of the call, the moment, a snapshot of the
centers' state and the compiled configuration. It reads no clock, does no I/O
and keeps no globals, so the controller, the simulator and ``lotse route`` all
run exactly this code and reach the same decision for the same inputs.

The steps, in order:

1. *Home*: the municipality the call belongs to. An Ortsnetz in the dialed
   number (``0221 115``) wins over the caller's; then a postal code the caller
   typed; then the caller's own Ortsnetz. Callers without one (mobile,
   anonymous, foreign) are asked for their postal code or go to the fallback.
2. *Target*: home if it is open and not overloaded. A closed home hands the
   call to its first open off-hours partner, else to its off-hours
   announcement. An overloaded home hands it to the first open, not overloaded
   overflow partner; if every partner is worse, the call stays home unless a
   partner has a shorter expected wait.
3. *Spill*: a call returning after its queue timeout carries the centers it has
   visited. Visited centers are never chosen again and after ``max_hops`` the
   last queue is final, so every call ends in a queue or an announcement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from router.compiled import CenterPlan, Instant, Router
from router.config import UnknownOriginMode
from router.decision import Action, Call, Decision, Home, homeless
from router.numbering import classify_caller, dialed_ortsnetz
from router.state import UNKNOWN, CenterState, Override, Snapshot

__all__ = [
    "Action",
    "Call",
    "Decision",
    "Router",
    "closed_at",
    "decide",
    "decide_at",
    "overload_reason",
]

_NOTHING: frozenset[str] = frozenset()
_OVERFLOW, _OFFHOURS = "overflow partner", "off-hours partner"


def decide(call: Call, now: datetime, snapshot: Snapshot, router: Router) -> Decision:
    """Decide where ``call`` goes at the aware moment ``now``.

    Always returns exactly one decision with a destination (a queue, an
    announcement, or the postal-code prompt), whatever the input.
    """
    home = _resolve_home(call, router)
    if home.early is not None:
        return home.early
    return _choose_target(call, home, router.instant(now), snapshot, router)


def decide_at(call: Call, instant: Instant, snapshot: Snapshot, router: Router) -> Decision:
    """:func:`decide` for a caller who already has the local instant (the simulator,
    which keeps time as seconds and asks ``router.instant_at``)."""
    home = _resolve_home(call, router)
    if home.early is not None:
        return home.early
    return _choose_target(call, home, instant, snapshot, router)


def _resolve_home(call: Call, router: Router) -> Home:
    config, table = router.config, router.table
    origin = classify_caller(call.caller, table)
    # Plain 115 is by far the most common dialed number and carries no Ortsnetz.
    if call.dialed != "115":
        dialed = dialed_ortsnetz(call.dialed, table)
        if dialed is not None:
            reason = f"via dialed Ortsnetz 0{dialed.code} ({dialed.name})"
            home = router.region_home(
                origin, config.center_by_ortsnetz.get(dialed.code), reason, "dialed"
            )
            return home._replace(dialed=dialed.code)
    postal = call.postal_code
    if postal:
        plz = postal.strip()
        if len(plz) == 5 and plz.isdigit():
            reason = f"via postal code {plz}"
            return router.region_home(
                origin, config.center_for_postal_code(plz), reason, "postal_code"
            )
        return router.fallback_home(origin, "postal code input unusable")
    net = origin.ortsnetz
    if net is not None:
        # A landline caller's home depends on nothing but the Ortsnetz.
        return router.landline_home(origin)
    if postal is None and config.unknown_origin.mode is UnknownOriginMode.POSTAL_CODE:
        decision = homeless(
            Action.ASK_POSTAL_CODE,
            origin,
            f"{origin.kind} caller without Ortsnetz: ask for postal code",
            prompt=config.unknown_origin.prompt,
        )
        return Home(origin, None, (), early=decision)
    if postal is not None:
        return router.fallback_home(origin, "no postal code entered")
    return router.fallback_home(origin, f"{origin.kind} caller without Ortsnetz")


def closed_at(plan: CenterPlan, instant: Instant, snapshot: Snapshot) -> str | None:
    """Why the center of ``plan`` is closed at ``instant``, or ``None`` if open.

    The policy's own check, for callers that keep decisions per opening state
    of the centers (the what-if engine, ``sim.engine.decisions``).
    """
    return _closed(plan, instant, snapshot.centers)


def _closed(plan: CenterPlan, instant: Instant, states: Mapping[str, CenterState]) -> str | None:
    """Why the center is closed now, or ``None``: the order of ``opening.closed_reason``."""
    cid = plan.id
    state = states.get(cid)
    if state is not None and state.override is not None:
        return None if state.override is Override.OPEN else state.override_closed_reason()
    why = instant.closures.get(cid)
    if why is not None:
        return why
    if plan.minutes[instant.slot]:
        return None
    return plan.labels[instant.moment.weekday]


def _choose_target(
    call: Call, home: Home, instant: Instant, snapshot: Snapshot, router: Router
) -> Decision:
    config = router.config
    assert home.center is not None
    plan = router.plans[home.center.id]
    cid = plan.id
    reasons = list(home.reasons)
    visited = _NOTHING
    if call.visited:
        visited = frozenset(call.visited)
        reasons.append("visited " + ", ".join(call.visited))
        if len(visited) >= config.max_hops:
            reasons.append(f"hop limit {config.max_hops} reached")
            return _announce(home, config.all_busy_announcement, reasons)
    states = snapshot.centers

    home_closed = _closed(plan, instant, states)
    if home_closed is not None:
        reasons.append(plan.closed + home_closed)
        chain = [c for c in plan.offhours if c not in visited] if visited else plan.offhours
        target = _first_open(chain, instant, states, router, reasons, _OFFHOURS)
        if target is None:
            reasons.append("no off-hours partner open")
            return _announce(home, plan.center.offhours_announcement, reasons, offhours=True)
        return _queue(home, target, chain, visited, instant, states, router, reasons, offhours=True)

    chain = [c for c in plan.overflow if c not in visited] if visited else plan.overflow
    if cid not in visited:
        home_state = states.get(cid, UNKNOWN)
        overload = _overload_reason(plan, home_state)
        if overload is None:
            reasons.append(plan.is_open)
            if home_state.override is Override.OPEN:
                reasons.append(home_state.override_open_reason())
            return _queue(home, plan, chain, visited, instant, states, router, reasons)
        reasons.append(f"{cid} overloaded: {overload}")
        target = _first_open(chain, instant, states, router, reasons, _OVERFLOW, plan)
        if target is None:
            target = plan
            reasons.append(plan.stay)
        return _queue(home, target, chain, visited, instant, states, router, reasons)

    reasons.append(f"spill from {call.visited[-1]}")
    target = _first_open(chain, instant, states, router, reasons, _OVERFLOW)
    if target is None:
        reasons.append("no unvisited partner open")
        return _announce(home, config.all_busy_announcement, reasons)
    return _queue(home, target, chain, visited, instant, states, router, reasons)


def _first_open(
    chain: Sequence[str],
    instant: Instant,
    states: Mapping[str, CenterState],
    router: Router,
    reasons: list[str],
    role: str,
    stay: CenterPlan | None = None,
) -> CenterPlan | None:
    """The first open, not overloaded center of ``chain``.

    If every open one is overloaded, the one with the shortest known expected
    wait — but only if it beats ``stay`` (the overloaded home), since moving a
    caller away from their municipality must buy them something.
    """
    plans = router.plans
    open_overloaded: list[CenterPlan] = []
    for cid in chain:
        plan = plans[cid]
        why = _closed(plan, instant, states)
        if why is not None:
            reasons.append(plan.closed + why)
            continue
        overload = _overload_reason(plan, states.get(cid, UNKNOWN))
        if overload is None:
            reasons.append(plan.overflow_open if role is _OVERFLOW else plan.offhours_open)
            return plan
        reasons.append(f"{role} {cid} overloaded: {overload}")
        open_overloaded.append(plan)
    if not open_overloaded:
        return None
    best = min(open_overloaded, key=lambda p: _wait_key(states.get(p.id, UNKNOWN)))
    best_wait = _wait_key(states.get(best.id, UNKNOWN))
    if stay is not None and best_wait >= _wait_key(states.get(stay.id, UNKNOWN)):
        return None
    reasons.append(f"{role} {best.id} has the shortest expected wait")
    return best


def _wait_key(state: CenterState) -> float:
    wait = state.expected_wait_s()
    return float("inf") if wait is None else wait


def overload_reason(plan: CenterPlan, state: CenterState) -> str | None:
    """Why the center of ``plan`` counts as overloaded in ``state``, or ``None``.

    The policy's own rule, for callers that keep decisions per load of the
    centers (the what-if engine, ``sim.engine.decisions``).
    """
    return _overload_reason(plan, state)


def _overload_reason(plan: CenterPlan, state: CenterState) -> str | None:
    """Why the center counts as overloaded right now, or ``None``."""
    if plan.no_agents and state.agents_logged_in == 0:
        return "no agent logged in"
    limit = plan.max_waiting
    if limit is not None and state.waiting >= limit:
        return f"{state.waiting} waiting >= {limit}"
    max_wait = plan.max_expected_wait_s
    if max_wait is not None:
        wait = state.expected_wait_s()
        if wait is not None and wait >= max_wait:
            return f"expected wait {wait:.0f} s >= {max_wait:.0f} s"
    return None


def _queue(
    home: Home,
    target: CenterPlan,
    chain: Sequence[str],
    visited: frozenset[str],
    instant: Instant,
    states: Mapping[str, CenterState],
    router: Router,
    reasons: list[str],
    *,
    offhours: bool = False,
) -> Decision:
    """Queue the call at ``target``; it may spill again only if somewhere is left to go."""
    assert home.center is not None
    max_hops = router.max_hops
    center = target.center
    tid = target.id
    hops_after = len(visited) + (tid not in visited)
    if hops_after >= max_hops:
        timeout = 0
        reasons.append(target.final_hops)
    else:
        plans = router.plans
        onward = None
        for cid in chain:
            if cid != tid and cid not in visited and _closed(plans[cid], instant, states) is None:
                onward = cid
                break
        if onward is None:
            timeout = 0
            reasons.append(target.final_alone)
        else:
            timeout = center.queue_timeout_s
            reasons.append(router.queue_reason(target, onward, timeout))
    return Decision(
        Action.QUEUE,
        home.origin,
        home.center.id,
        tid,
        center.queue,
        home.center.greeting,
        None,
        timeout,
        tuple(reasons),
        None,
        home.via,
        home.dialed,
        offhours,
    )


def _announce(
    home: Home, announcement: str, reasons: list[str], *, offhours: bool = False
) -> Decision:
    assert home.center is not None
    # Positional: keywords cost a third more on this path.
    return Decision(
        Action.ANNOUNCE,
        home.origin,
        home.center.id,
        None,
        None,
        home.center.greeting,
        announcement,
        0,
        tuple(reasons),
        None,
        home.via,
        home.dialed,
        offhours,
    )
