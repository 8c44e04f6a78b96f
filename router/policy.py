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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from router.config import Center, Config, UnconnectedMode, UnknownOriginMode
from router.numbering import NumberKind, Origin, OrtsnetzTable, classify_caller, dialed_ortsnetz
from router.opening import HolidayCalendar, Moment, OpeningHours, closed_reason
from router.state import CenterState, Snapshot


class Action(StrEnum):
    """What happens to the call next."""

    QUEUE = "queue"
    ANNOUNCE = "announce"
    ASK_POSTAL_CODE = "postal"


@dataclass(frozen=True)
class Call:
    """The facts of one routing request.

    ``caller`` is personal data: it is classified here and never copied into
    the decision. ``postal_code`` is ``None`` until the caller was asked; an
    empty string means they were asked and gave nothing usable.
    """

    caller: str
    dialed: str = "115"
    postal_code: str | None = None
    visited: tuple[str, ...] = ()


class Decision(NamedTuple):
    """Where the call goes, and the reasons in the order they were found.

    Immutable like a frozen dataclass, but a ``NamedTuple``: one is built for
    every routing request, and a frozen dataclass's ``__init__`` costs five
    times as much on that path (``bench/routing.py``).
    """

    action: Action
    origin: Origin
    home: str | None
    target: str | None
    queue: str | None
    greeting: str | None
    announcement: str | None
    queue_timeout_s: int
    reasons: tuple[str, ...]
    prompt: str | None = None
    # How the home was found: "dialed", "postal_code", "ortsnetz" or "fallback".
    home_via: str = ""
    # The Ortsnetz dialed in front of 115 (without the leading 0), if any.
    dialed_ortsnetz: str | None = None
    # The home center was closed (off-hours, holiday, closure, override).
    offhours: bool = False

    @property
    def final(self) -> bool:
        """True when the call will not come back for another decision."""
        return self.action is not Action.QUEUE or self.queue_timeout_s == 0


@dataclass(frozen=True)
class Router:
    """The configuration compiled for routing: config, numbering plan, calendar."""

    config: Config
    table: OrtsnetzTable
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar, compare=False)
    tz: ZoneInfo = field(init=False, compare=False)
    hours: Mapping[str, OpeningHours] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # Resolved once, not per call: the time zone and compiled opening hours.
        object.__setattr__(self, "tz", ZoneInfo(self.config.timezone))
        hours = {cid: OpeningHours.compile(c) for cid, c in self.config.centers.items()}
        object.__setattr__(self, "hours", hours)

    def closed_reason(self, center_id: str, moment: Moment, snapshot: Snapshot) -> str | None:
        """Why a center is closed at the local moment, or ``None`` if open."""
        return closed_reason(
            self.config.centers[center_id],
            self.hours[center_id],
            moment,
            snapshot.of(center_id),
            self.calendar,
        )


class _Home(NamedTuple):
    origin: Origin
    center: Center | None
    reasons: tuple[str, ...]
    early: Decision | None = None
    via: str = ""
    dialed: str | None = None


def decide(call: Call, now: datetime, snapshot: Snapshot, router: Router) -> Decision:
    """Decide where ``call`` goes at the aware moment ``now``.

    Always returns exactly one decision with a destination (a queue, an
    announcement, or the postal-code prompt), whatever the input.
    """
    home = _resolve_home(call, router)
    if home.early is not None:
        return home.early
    assert home.center is not None
    moment = Moment.of(now.astimezone(router.tz))
    return _choose_target(call, home, moment, snapshot, router)


def _resolve_home(call: Call, router: Router) -> _Home:
    config, table = router.config, router.table
    origin = classify_caller(call.caller, table)
    dialed = dialed_ortsnetz(call.dialed, table)
    if dialed is not None:
        reason = f"via dialed Ortsnetz 0{dialed.code} ({dialed.name})"
        home = _home_for_region(
            origin, config.center_by_ortsnetz.get(dialed.code), reason, router, "dialed"
        )
        return home._replace(dialed=dialed.code)
    if call.postal_code:
        plz = call.postal_code.strip()
        if len(plz) == 5 and plz.isdigit():
            reason = f"via postal code {plz}"
            return _home_for_region(
                origin, config.center_for_postal_code(plz), reason, router, "postal_code"
            )
        return _fallback_home(origin, "postal code input unusable", router)
    if origin.kind is NumberKind.LANDLINE and origin.ortsnetz is not None:
        net = origin.ortsnetz
        reason = f"via Ortsnetz 0{net.code} ({net.name})"
        return _home_for_region(
            origin, config.center_by_ortsnetz.get(net.code), reason, router, "ortsnetz"
        )
    if call.postal_code is None and config.unknown_origin.mode is UnknownOriginMode.POSTAL_CODE:
        prompt = config.unknown_origin.prompt
        decision = Decision(
            action=Action.ASK_POSTAL_CODE,
            origin=origin,
            home=None,
            target=None,
            queue=None,
            greeting=None,
            announcement=None,
            queue_timeout_s=0,
            reasons=(f"{origin.kind} caller without Ortsnetz: ask for postal code",),
            prompt=prompt,
        )
        return _Home(origin, None, (), early=decision)
    if call.postal_code is not None:
        return _fallback_home(origin, "no postal code entered", router)
    return _fallback_home(origin, f"{origin.kind} caller without Ortsnetz", router)


def _home_for_region(
    origin: Origin, center_id: str | None, reason: str, router: Router, via: str
) -> _Home:
    config = router.config
    if center_id is not None:
        return _Home(origin, config.centers[center_id], (f"home={center_id} {reason}",), via=via)
    if config.unconnected is UnconnectedMode.ANNOUNCEMENT:
        decision = Decision(
            action=Action.ANNOUNCE,
            origin=origin,
            home=None,
            target=None,
            queue=None,
            greeting=None,
            announcement=config.unconnected_announcement,
            queue_timeout_s=0,
            reasons=(f"region not connected ({reason.removeprefix('via ')})",),
        )
        return _Home(origin, None, (), early=decision)
    return _fallback_home(origin, f"region not connected ({reason.removeprefix('via ')})", router)


def _fallback_home(origin: Origin, why: str, router: Router) -> _Home:
    fallback = router.config.fallback_center
    return _Home(
        origin,
        router.config.centers[fallback],
        (f"home={fallback}: fallback, {why}",),
        via="fallback",
    )


def _choose_target(
    call: Call, home: _Home, moment: Moment, snapshot: Snapshot, router: Router
) -> Decision:
    config = router.config
    center = home.center
    assert center is not None
    reasons = list(home.reasons)
    visited = frozenset(call.visited)
    if call.visited:
        reasons.append("visited " + ", ".join(call.visited))
    if len(visited) >= config.max_hops:
        reasons.append(f"hop limit {config.max_hops} reached")
        return _announce(home, config.all_busy_announcement, reasons)

    # One decision may ask about the same center twice (choosing the target,
    # then whether anywhere is left to spill to): answer from a memo.
    closed: dict[str, str | None] = {}

    def closed_why(cid: str) -> str | None:
        if cid not in closed:
            closed[cid] = router.closed_reason(cid, moment, snapshot)
        return closed[cid]

    def is_open(c: Center) -> bool:
        why = closed_why(c.id)
        if why is not None:
            reasons.append(f"{c.id} closed: {why}")
        return why is None

    home_state = snapshot.of(center.id)
    home_closed = closed_why(center.id)
    if home_closed is not None:
        reasons.append(f"{center.id} closed: {home_closed}")
        chain = [c for c in config.offhours_chain[center.id] if c not in visited]
        target = _first_open(chain, is_open, snapshot, router, reasons, "off-hours partner")
        if target is None:
            reasons.append("no off-hours partner open")
            return _announce(home, center.offhours_announcement, reasons, offhours=True)
        return _queue(home, target, chain, visited, closed_why, router, reasons, offhours=True)

    chain = [c for c in config.overflow_chain[center.id] if c not in visited]
    if center.id not in visited:
        overload = _overload_reason(center, home_state)
        if overload is None:
            reasons.append(f"{center.id} open")
            return _queue(home, center, chain, visited, closed_why, router, reasons)
        reasons.append(f"{center.id} overloaded: {overload}")
        target = _first_open(chain, is_open, snapshot, router, reasons, "overflow partner", center)
        if target is None:
            target = center
            reasons.append(f"no partner does better: stay at {center.id}")
        return _queue(home, target, chain, visited, closed_why, router, reasons)

    reasons.append(f"spill from {call.visited[-1] if call.visited else center.id}")
    target = _first_open(chain, is_open, snapshot, router, reasons, "overflow partner")
    if target is None:
        reasons.append("no unvisited partner open")
        return _announce(home, config.all_busy_announcement, reasons)
    return _queue(home, target, chain, visited, closed_why, router, reasons)


def _first_open(
    chain: Sequence[str],
    is_open: Callable[[Center], bool],
    snapshot: Snapshot,
    router: Router,
    reasons: list[str],
    role: str,
    stay: Center | None = None,
) -> Center | None:
    """The first open, not overloaded center of ``chain``.

    If every open one is overloaded, the one with the shortest known expected
    wait — but only if it beats ``stay`` (the overloaded home), since moving a
    caller away from their municipality must buy them something.
    """
    centers = router.config.centers
    open_overloaded: list[Center] = []
    for cid in chain:
        c = centers[cid]
        if not is_open(c):
            continue
        overload = _overload_reason(c, snapshot.of(cid))
        if overload is None:
            reasons.append(f"{role} {cid} open")
            return c
        reasons.append(f"{role} {cid} overloaded: {overload}")
        open_overloaded.append(c)
    if not open_overloaded:
        return None
    best = min(open_overloaded, key=lambda c: _wait_key(snapshot.of(c.id)))
    if stay is not None and _wait_key(snapshot.of(best.id)) >= _wait_key(snapshot.of(stay.id)):
        return None
    reasons.append(f"{role} {best.id} has the shortest expected wait")
    return best


def _wait_key(state: CenterState) -> float:
    wait = state.expected_wait_s()
    return float("inf") if wait is None else wait


def _overload_reason(center: Center, state: CenterState) -> str | None:
    """Why the center counts as overloaded right now, or ``None``."""
    limits = center.thresholds
    if limits.no_agents and state.agents_logged_in == 0:
        return "no agent logged in"
    if limits.max_waiting is not None and state.waiting >= limits.max_waiting:
        return f"{state.waiting} waiting >= {limits.max_waiting}"
    if limits.max_expected_wait_s is not None:
        wait = state.expected_wait_s()
        if wait is not None and wait >= limits.max_expected_wait_s:
            return f"expected wait {wait:.0f} s >= {limits.max_expected_wait_s:.0f} s"
    return None


def _queue(
    home: _Home,
    target: Center,
    chain: Sequence[str],
    visited: frozenset[str],
    closed_why: Callable[[str], str | None],
    router: Router,
    reasons: list[str],
    *,
    offhours: bool = False,
) -> Decision:
    """Queue the call at ``target``; it may spill again only if somewhere is left to go."""
    assert home.center is not None
    config = router.config
    hops_after = len(visited | {target.id})
    onward = None
    if hops_after < config.max_hops:
        onward = next(
            (
                cid
                for cid in chain
                if cid != target.id and cid not in visited and closed_why(cid) is None
            ),
            None,
        )
    if hops_after >= config.max_hops:
        timeout = 0
        reasons.append(f"final queue {target.queue}: hop limit {config.max_hops}")
    elif onward is None:
        timeout = 0
        reasons.append(f"final queue {target.queue}: no further partner open")
    else:
        timeout = target.queue_timeout_s
        reasons.append(f"queue {target.queue}, spill to {onward} after {timeout} s")
    return Decision(
        action=Action.QUEUE,
        origin=home.origin,
        home=home.center.id,
        target=target.id,
        queue=target.queue,
        greeting=home.center.greeting,
        announcement=None,
        queue_timeout_s=timeout,
        reasons=tuple(reasons),
        home_via=home.via,
        dialed_ortsnetz=home.dialed,
        offhours=offhours,
    )


def _announce(
    home: _Home, announcement: str, reasons: list[str], *, offhours: bool = False
) -> Decision:
    assert home.center is not None
    return Decision(
        action=Action.ANNOUNCE,
        origin=home.origin,
        home=home.center.id,
        target=None,
        queue=None,
        greeting=home.center.greeting,
        announcement=announcement,
        queue_timeout_s=0,
        reasons=tuple(reasons),
        home_via=home.via,
        dialed_ortsnetz=home.dialed,
        offhours=offhours,
    )
