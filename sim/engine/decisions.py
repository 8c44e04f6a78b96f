"""Routing decisions for the engine: the real policy, asked again only when a fact changed.

:func:`router.policy.decide_at` is a pure function of the call, the moment, the
centers' states and the configuration. Most of that changes far less often
than calls arrive, so the engine keeps each decision it got, per caller class
(``sim.engine.callers``), postal code and visited centers, together with the
facts it rests on, and reuses it while they hold:

* the *caller*: the policy reads the number only for its Origin, which is the
  class (the key);
* the *calendar*: the policy reads the moment only to ask which centers are
  open, and why not (``router.policy.closed_at``), and only of the home and
  its partner chains. Those answers are the *opening facts* of the home; a
  decision is kept with the facts it was made under and reused whenever they
  are the same again (every weekday's opening hours, say). The facts of a home
  are worked out again only where they can change: at a minute where one of
  its centers' opening bitmaps flips, and at local midnight;
* the *load*: a decision is kept only if every center whose load the policy
  read (anything but the supervisor override) was not overloaded, and reused
  only while each of them still is not (``router.overload.calm_test``, the
  policy's rule on raw counts). A decision made while some center it looked at
  was overloaded names queue lengths and waits in its reasons: it is kept with
  exactly what the policy read of each center it looked at (the overload
  reason, and the expected wait where the policy asked for it) and reused only
  when all of that is the same again; not kept at all when it read the
  expected wait of queued callers, which changes with every call that ends.

Everything else the policy could read does not change in a simulation (no
supervisor overrides, no dialed Ortsnetz). With ``verify=True`` every call is
also decided by the policy directly and a difference raises
:class:`DecisionMismatch`: ``lotse sim run --verify-decisions`` and the tests
check the claims above that way.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from router.compiled import Instant
from router.overload import CalmTest, calm_test
from router.policy import (
    Action,
    Call,
    Decision,
    Router,
    closed_at,
    decide_at,
    overload_reason,
)
from router.state import CenterState, Snapshot
from sim.engine.callers import CallerClass
from sim.engine.model import SimCenter

_new = object.__new__
_INF = float("inf")
# A decision is not reused in the last millisecond before its calendar stretch
# ends: the policy's own minute (of ``epoch + t`` in floating point) could
# already be the next one there.
_MARGIN_S = 1e-3
_DAY_MINUTES = 1440
_HALF_HOUR_MINUTES = 30
# What the policy may read of a center's state besides the override: its load.
_LOAD: tuple[str, ...] = ("waiting", "longest_wait_s", "agents_logged_in", "agents_available")
_LOAD += ("agents_busy", "avg_handle_s")


class DecisionMismatch(RuntimeError):
    """The engine's kept decision differs from the policy's own for a call."""


class Choice:
    """A decision with what the engine acts on, resolved to its own centers.

    ``sig`` is the home's opening facts it was made under (``None`` for a
    decision made before any center was looked at, which depends on no time).
    """

    __slots__ = (
        "action",
        "decision",
        "deps",
        "home",
        "keep",
        "offhours",
        "sig",
        "target",
        "timeout",
    )

    def __init__(
        self,
        decision: Decision,
        home: SimCenter | None,
        target: SimCenter | None,
        sig: Any,
        deps: tuple[tuple[SimCenter, CalmTest], ...],
        *,
        keep: bool = True,
    ) -> None:
        self.decision = decision
        self.action = decision.action
        self.home = home
        self.target = target
        self.offhours = decision.offhours
        self.timeout = decision.queue_timeout_s
        self.sig = sig
        # Centers that must still not be overloaded for the decision to hold.
        self.deps = deps
        # False: made while a center it looked at was overloaded; never reused.
        self.keep = keep

    def holds(self, t: float) -> bool:
        """Whether every center the decision rests on is still not overloaded at ``t``."""
        for center, calm in self.deps:
            if not calm(
                center.waiting, center.logged_in, center.logged_in - center.busy, center.avg_handle
            ):
                return False
        return True


def _watched(name: str) -> property:
    """A load field, read from the live center the first time any is read.

    That first read also notes the center among the decision's reads. The
    values are taken at the decision's moment and then fixed, as a
    :class:`CenterState` is; the engine changes nothing while a decision runs.
    """

    def read(self: CenterState) -> Any:
        fields = self.__dict__
        if name not in fields:
            fields["_reads"].add(fields["_cid"])
            fields.update(fields["_center"].state(fields["_now"]).__dict__)
        return fields[name]

    return property(read)


# A center's state as the policy sees it. Most questions about a center are only
# whether a supervisor overrode its opening, a plain field; its load is built
# only when the policy reads it.
def _expected_wait_s(self: CenterState, default_handle_s: float = 240.0) -> float | None:
    fields = self.__dict__
    fields["_waits"].add(fields["_cid"])
    return CenterState.expected_wait_s(self, default_handle_s)


_Watched: type[CenterState] = type(
    "_Watched",
    (CenterState,),
    {**{name: _watched(name) for name in _LOAD}, "expected_wait_s": _expected_wait_s},
)
# The other fields keep their defaults: the engine has no supervisor overrides.
_PLAIN = {f.name: f.default for f in dataclasses.fields(CenterState) if f.name not in _LOAD}


class _Watching(Mapping[str, CenterState]):
    """The centers' states at one moment, built when asked, noting whose load was read."""

    __slots__ = ("_by_id", "_made", "now", "reads", "waits")

    def __init__(self, by_id: Mapping[str, SimCenter]) -> None:
        self._by_id = by_id
        self._made: dict[str, CenterState] = {}
        # Centers whose load, and whose expected wait, the policy read.
        self.reads: set[str] = set()
        self.waits: set[str] = set()
        self.now = 0.0

    def begin(self, now: float) -> None:
        """Start a decision at ``now``."""
        self.now = now
        self._made.clear()
        self.reads = set()
        self.waits = set()

    def _make(self, key: str, center: SimCenter) -> CenterState:
        state = self._made.get(key)
        if state is None:
            state = _new(_Watched)
            fields = state.__dict__
            fields.update(_PLAIN)
            fields.update(_cid=key, _center=center, _now=self.now)
            fields.update(_reads=self.reads, _waits=self.waits)
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
            cid: tuple(sorted({cid, *plan.overflow, *plan.offhours}))
            for cid, plan in router.plans.items()
        }
        self.no_overrides = Snapshot()
        self.sigs: dict[tuple[str | None, ...], tuple[str | None, ...]] = {}
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
        """The decision for a call of ``cls`` at ``t``: kept if it holds, else the policy's.

        Times never go back: the engine asks in the order of its events.
        """
        self.routings += 1
        first = postal is None and not visited
        key = (postal, visited)
        latest: Choice | None = cls.first if first else cls.decisions.get(key)
        if latest is not None:
            kept: Choice | None = latest
            home = latest.home
            if home is not None:
                sig = self.opening(home, t)
                if latest.sig is not sig:
                    kept = cls.decisions.get((postal, visited, sig))
            if kept is not None and kept.holds(t):
                self.kept += 1
                if kept is not latest:
                    self._store(cls, first, key, kept)
                self._verify(t, cls, postal, visited, kept)
                return kept
        loaded = self._loaded(t, cls, postal, visited)
        if loaded is not None:
            self.kept += 1
            self._verify(t, cls, postal, visited, loaded)
            return loaded
        choice = self._choice(t, self._ask(t, cls, postal, visited))
        if choice.keep:
            self._store(cls, first, key, choice)
            if choice.home is not None:
                cls.decisions[(postal, visited, choice.sig)] = choice
        elif choice.home is not None:
            self._keep_loaded(cls, postal, visited, choice)
        return choice

    # --- decisions made while a center was overloaded ------------------------------

    def _load_facts(self, probe: tuple[tuple[str, bool], ...]) -> tuple[Any, ...]:
        """What the policy reads of each probed center's load: its overload reason,
        and its expected wait where it asked for that (``states`` begun)."""
        states, plans = self.states, self.router.plans
        facts: list[Any] = []
        for cid, wait in probe:
            state = states[cid]
            facts.append(overload_reason(plans[cid], state))
            facts.append(state.expected_wait_s() if wait else None)
        return tuple(facts)

    def _keep_loaded(
        self, cls: CallerClass, postal: str | None, visited: tuple[str, ...], choice: Choice
    ) -> None:
        """Keep a decision made while a center was overloaded, by the load facts it read."""
        states = self.states
        waits = set(states.waits)
        probe = tuple((cid, cid in waits) for cid in sorted(states.reads))
        facts = self._load_facts(probe)
        if any(type(f) is float and 0.0 < f < _INF for f in facts[1::2]):
            # An expected wait of queued callers varies with every call that ends:
            # these facts will hardly come again, and looking costs as much as asking.
            cls.decisions.pop((postal, visited, "probe"), None)
            return
        cls.decisions[(postal, visited, "probe")] = (choice.home, probe)
        cls.decisions[(postal, visited, choice.sig, facts)] = choice

    def _loaded(
        self, t: float, cls: CallerClass, postal: str | None, visited: tuple[str, ...]
    ) -> Choice | None:
        """A decision kept while a center was overloaded, if the centers it looked at
        read the same now: the policy then takes the same path to the same result."""
        found = cls.decisions.get((postal, visited, "probe"))
        if found is None:
            return None
        home, probe = found
        sig = self.opening(home, t)
        self.states.begin(t)
        kept: Choice | None = cls.decisions.get((postal, visited, sig, self._load_facts(probe)))
        return kept

    @staticmethod
    def _store(cls: CallerClass, first: bool, key: tuple[Any, ...], choice: Choice) -> None:
        if first:
            cls.first = choice
        else:
            cls.decisions[key] = choice

    def opening(self, home: SimCenter, t: float) -> Any:
        """The opening facts of ``home`` at ``t``: why each center in its reach is
        closed (``None``: open), one shared object per distinct answer."""
        if t < home.sig_until:
            return home.sig
        router = self.router
        instant = router.instant_at(self.epoch_ts + t)
        plans = router.plans
        ids = self.reach[home.id]
        facts = tuple(closed_at(plans[cid], instant, self.no_overrides) for cid in ids)
        sig = self.sigs.setdefault(facts, facts)
        home.sig = sig
        home.sig_until = self._valid_until(t, ids)
        return sig

    # --- asking the policy --------------------------------------------------------

    def _verify(
        self,
        t: float,
        cls: CallerClass,
        postal: str | None,
        visited: tuple[str, ...],
        kept: Choice,
    ) -> None:
        """With ``verify``: :class:`DecisionMismatch` unless the policy decides as ``kept``."""
        if not self.verify:
            return
        direct = self._ask(t, cls, postal, visited)
        if direct != kept.decision:
            raise DecisionMismatch(self._describe(t, cls, postal, visited, kept, direct))

    def _ask(
        self, t: float, cls: CallerClass, postal: str | None, visited: tuple[str, ...]
    ) -> Decision:
        self.asked += 1
        self.states.begin(t)
        call = Call(cls.number(self.numbers), "115", postal, visited)
        router = self.router
        return self.policy(call, router.instant_at(self.epoch_ts + t), self.snapshot, router)

    def _choice(self, t: float, decision: Decision) -> Choice:
        """The decision as a choice, with the facts it rests on."""
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
                sig = None if home is None else self.opening(home, t)
                return Choice(decision, home, target, sig, (), keep=False)
            deps.append((center, calm))
        # Decided before any center was looked at (a prompt, an unconnected
        # region): no time matters.
        sig = None if home is None else self.opening(home, t)
        return Choice(decision, home, target, sig, tuple(deps))

    def _valid_until(self, t: float, ids: tuple[str, ...]) -> float:
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
