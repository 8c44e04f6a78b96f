"""Routing decisions for the engine: the real policy, asked again only when a fact changed.

:func:`router.policy.decide_at` is a pure function of the call, the moment, the
centers' states and the configuration. Most of that changes far less often
than calls arrive, so the engine keeps each decision it got, per caller class
(``sim.engine.callers``), postal code and visited centers, together with the
facts it rests on, and reuses it while they hold:

* the *caller*: the policy reads the number only for its Origin, which is the
  class (the key);
* the *calendar*: which centers are open, and why not, changes only at the
  minutes where a center's opening bitmap flips and at local midnight; a
  decision carries ``until``, the end of the stretch in which nothing the
  policy could look at (the home and its partner chains) flips;
* the *load*: a decision is kept only if every center whose load the policy
  read (anything but the supervisor override) was not overloaded, and reused
  only while each of them still is not (``router.overload.calm_test``, the
  policy's rule on raw counts). A decision made while some center it looked at
  was overloaded names waits and queue lengths in its reasons: it is never
  kept, the next call asks the policy again.

Everything else the policy could read does not change in a simulation (no
supervisor overrides, no dialed Ortsnetz). With ``verify=True`` every call is
also decided by the policy directly and a difference raises
:class:`DecisionMismatch`: ``lotse sim run --verify-decisions`` and the tests
check the claims above that way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from router.compiled import Instant
from router.overload import CalmTest, calm_test
from router.policy import Action, Call, Decision, Router, decide_at
from router.state import CenterState, Snapshot
from sim.engine.callers import CallerClass
from sim.engine.model import SimCenter

# A decision is not reused in the last millisecond before its calendar stretch
# ends: the policy's own minute (of ``epoch + t`` in floating point) could
# already be the next one there.
_MARGIN_S = 1e-3
_DAY_MINUTES = 1440
_HALF_HOUR_MINUTES = 30
_NEVER = float("inf")
# What the policy may read of a center's state besides the override: its load.
_LOAD: tuple[str, ...] = ("waiting", "longest_wait_s", "agents_logged_in", "agents_available")
_LOAD += ("agents_busy", "avg_handle_s")


class DecisionMismatch(RuntimeError):
    """The engine's kept decision differs from the policy's own for a call."""


class Choice:
    """A decision with what the engine acts on, resolved to its own centers."""

    __slots__ = ("action", "decision", "deps", "home", "offhours", "target", "timeout", "until")

    def __init__(
        self,
        decision: Decision,
        home: SimCenter | None,
        target: SimCenter | None,
        until: float,
        deps: tuple[tuple[SimCenter, CalmTest], ...],
    ) -> None:
        self.decision = decision
        self.action = decision.action
        self.home = home
        self.target = target
        self.offhours = decision.offhours
        self.timeout = decision.queue_timeout_s
        self.until = until
        # Centers that must still not be overloaded for the decision to hold.
        self.deps = deps

    def holds(self, t: float) -> bool:
        """Whether the decision still holds at ``t`` (calendar and load)."""
        if t >= self.until:
            return False
        for center, calm in self.deps:
            if not calm(
                center.waiting, center.logged_in, center.logged_in - center.busy, center.avg_handle
            ):
                return False
        return True


def _watched(name: str) -> property:
    """A field that notes the center in the decision's reads when it is read."""

    def read(self: CenterState) -> Any:
        fields = self.__dict__
        fields["_reads"].add(fields["_cid"])
        return fields[name]

    return property(read)


# A center's state that notes when the policy reads its load (the fields live in
# the instance dict, where the properties find them; the override is read plainly).
_Watched: type[CenterState] = type(
    "_Watched", (CenterState,), {name: _watched(name) for name in _LOAD}
)


class _Watching(Mapping[str, CenterState]):
    """The centers' states at one moment, built when asked, noting whose load was read."""

    __slots__ = ("_by_id", "_made", "now", "reads")

    def __init__(self, by_id: Mapping[str, SimCenter]) -> None:
        self._by_id = by_id
        self._made: dict[str, CenterState] = {}
        self.reads: set[str] = set()
        self.now = 0.0

    def begin(self, now: float) -> None:
        """Start a decision at ``now``."""
        self.now = now
        self._made.clear()
        self.reads = set()

    def _make(self, key: str, center: SimCenter) -> CenterState:
        state = self._made.get(key)
        if state is None:
            state = center.state(self.now, _Watched)
            state.__dict__.update(_cid=key, _reads=self.reads)
            self._made[key] = state
        return state

    def __getitem__(self, key: str) -> CenterState:
        return self._make(key, self._by_id[key])

    def get(self, key: str, default: Any = None) -> Any:
        """The state of center ``key``, or ``default`` for an unknown center."""
        center = self._by_id.get(key)
        return default if center is None else self._make(key, center)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


class Decider:
    """Decisions for the engine's calls: kept ones while they hold, else the policy's.

    ``policy`` is the function asked (``decide_at``; tests pass a spy). The
    engine reads ``asked`` (calls to the policy) and ``kept`` (decisions
    reused) for its statistics.
    """

    def __init__(
        self,
        router: Router,
        centers: Mapping[str, SimCenter],
        epoch_ts: float,
        *,
        seed: int = 0,
        verify: bool = False,
        policy: Callable[[Call, Instant, Snapshot, Router], Decision] | None = None,
    ) -> None:
        self.router = router
        self.by_id = centers
        self.epoch_ts = epoch_ts
        self.verify = verify
        self.policy = policy if policy is not None else decide_at
        self.states = _Watching(centers)
        self.snapshot = Snapshot(centers=self.states)
        # Caller numbers for the policy: any number of the class will do, so
        # they come from a stream of their own and draw nothing from the run's.
        self.numbers = random.Random(f"caller numbers {seed}")
        self.calm = {cid: calm_test(plan) for cid, plan in router.plans.items()}
        # The centers a decision for a home may look at: the home and its chains.
        self.reach = {
            cid: frozenset((cid, *plan.overflow, *plan.offhours))
            for cid, plan in router.plans.items()
        }
        self.asked = 0
        self.kept = 0
        self.routings = 0

    def choose(
        self,
        t: float,
        cls: CallerClass,
        postal: str | None,
        visited: tuple[str, ...],
    ) -> Choice:
        """The decision for a call of ``cls`` at ``t``: kept if it holds, else the policy's."""
        self.routings += 1
        first = postal is None and not visited
        kept: Choice | None = cls.first if first else cls.decisions.get((postal, visited))
        if kept is not None and kept.holds(t):
            self.kept += 1
            if self.verify:
                direct = self._ask(t, cls, postal, visited)
                if direct != kept.decision:
                    raise DecisionMismatch(self._describe(t, cls, postal, visited, kept, direct))
            return kept
        direct = self._ask(t, cls, postal, visited)
        choice = self._choice(t, direct)
        if choice.until > t:
            if first:
                cls.first = choice
            else:
                cls.decisions[(postal, visited)] = choice
        return choice

    # --- asking the policy --------------------------------------------------------

    def _ask(
        self, t: float, cls: CallerClass, postal: str | None, visited: tuple[str, ...]
    ) -> Decision:
        self.asked += 1
        self.states.begin(t)
        call = Call(cls.number(self.numbers), "115", postal, visited)
        router = self.router
        return self.policy(call, router.instant_at(self.epoch_ts + t), self.snapshot, router)

    def _choice(self, t: float, decision: Decision) -> Choice:
        """The decision as a choice, with the facts it rests on (``until <= t``: keep it not)."""
        by_id = self.by_id
        home = by_id[decision.home] if decision.home is not None else None
        target = by_id[decision.target] if decision.target is not None else None
        reads = self.states.reads
        deps: list[tuple[SimCenter, CalmTest]] = []
        for cid in sorted(reads):
            calm = self.calm.get(cid)
            if calm is None:
                continue
            center = by_id[cid]
            if not calm(
                center.waiting, center.logged_in, center.logged_in - center.busy, center.avg_handle
            ):
                # Overloaded: the reasons name its numbers. Not worth keeping.
                return Choice(decision, home, target, t, ())
            deps.append((center, calm))
        if decision.home is None:
            # Decided before any center was looked at: a prompt, an unconnected region.
            until = _NEVER
        else:
            until = self._valid_until(t, self.reach[decision.home] | reads)
        return Choice(decision, home, target, until, tuple(deps))

    def _valid_until(self, t: float, ids: frozenset[str] | set[str]) -> float:
        """The end of the stretch from ``t`` in which none of ``ids`` opens or closes.

        Within one local day and without a clock change, minutes of the week
        follow the policy's minutes one to one; the day's closures and the
        weekday are fixed. So the stretch ends at the first flip of one of the
        centers' opening bitmaps, at local midnight, or, on the day of a clock
        change, at the end of the half hour (clocks change on the hour).
        """
        router, base = self.router, self.epoch_ts
        minute = int((base + t) // 60)
        now = router.instant_at(minute * 60.0)
        # Minutes after this one that belong to the stretch.
        ahead = _DAY_MINUTES - 1 - now.moment.minute
        if not self._steady(now, minute, ahead):
            ahead = _HALF_HOUR_MINUTES - 1 - now.moment.minute % _HALF_HOUR_MINUTES
            if not self._steady(now, minute, ahead):
                ahead = 0
        slot = now.slot
        plans = router.plans
        for cid in ids:
            bits = plans[cid].minutes
            stretch = bits[slot : slot + ahead + 1]
            flip = stretch.find(b"\x00" if stretch[0] else b"\x01")
            if flip != -1:
                ahead = flip - 1
        return (minute + ahead + 1) * 60.0 - base - _MARGIN_S

    def _steady(self, now: Instant, minute: int, ahead: int) -> bool:
        """Whether the local clock runs on without a jump for ``ahead`` more minutes."""
        if ahead <= 0:
            return True
        later = self.router.instant_at((minute + ahead) * 60.0)
        return later.moment.day == now.moment.day and later.slot - now.slot == ahead

    @staticmethod
    def _describe(
        t: float,
        cls: CallerClass,
        postal: str | None,
        visited: tuple[str, ...],
        kept: Choice,
        direct: Decision,
    ) -> str:
        return (
            f"decision differs at t={t:.3f} s for a caller {cls.label}, postal code "
            f"{postal!r}, visited {list(visited)}:\n  kept:   {kept.decision}\n"
            f"  policy: {direct}"
        )


__all__ = ["Action", "Choice", "Decider", "DecisionMismatch"]
