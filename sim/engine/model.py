"""The engine's live state: centers with their queue and agents, calls in flight.

Plain mutable objects with ``__slots__``, changed only by the event loop in
``sim.engine.core``. The routing policy never sees them: it reads
:class:`router.state.CenterState` values built from them when it is asked
(``sim.engine.decisions``), the same state model the controller folds from AMI
events (``lotse.livestate``).
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from router.config import Center
from router.state import CenterState
from sim.scenario import CenterPlan, DistKind

if TYPE_CHECKING:
    from sim.engine.callers import CallerClass, CallerSource

# Conversations the recent average handle time is taken over (as the controller does).
HANDLE_WINDOW = 30
# Waiting-time histogram of answered calls: 5 s bins up to 10 minutes, then one more.
HIST_STEP_S = 5.0
HIST_BINS = 121

ROUTING, WAITING, DONE = 0, 1, 2


_STATE_FIELDS = (
    "waiting",
    "longest_wait_s",
    "agents_logged_in",
    "agents_available",
    "agents_busy",
    "avg_handle_s",
    "override",
)


def _plain_dataclass(cls: type, names: tuple[str, ...]) -> bool:
    """Whether ``cls`` has exactly these fields, kept in ``__dict__``, checked by nobody."""
    return (
        tuple(f.name for f in dataclasses.fields(cls)) == names
        and not hasattr(cls, "__slots__")
        and not hasattr(cls, "__post_init__")
    )


_FAST_STATE = _plain_dataclass(CenterState, _STATE_FIELDS)
_new = object.__new__


def center_state(
    waiting: int,
    longest_wait_s: float,
    logged_in: int,
    available: int,
    busy: int,
    avg_handle_s: float | None,
    kind: type[CenterState] = CenterState,
) -> CenterState:
    """A :class:`CenterState` (or subclass ``kind``) with these values, at a third of the cost.

    A frozen dataclass sets each field through ``object.__setattr__``; filling
    the instance dict at once gives an equal, equally frozen object. Used while
    ``CenterState`` is a plain frozen dataclass (no slots, no validation),
    else the normal constructor.
    """
    if not _FAST_STATE:
        made = CenterState(
            waiting=waiting,
            longest_wait_s=longest_wait_s,
            agents_logged_in=logged_in,
            agents_available=available,
            agents_busy=busy,
            avg_handle_s=avg_handle_s,
        )
        if kind is CenterState:
            return made
        # A subclass may read its fields through properties: copy, do not construct.
        copy: CenterState = _new(kind)
        copy.__dict__.update(made.__dict__)
        return copy
    state: CenterState = _new(kind)
    state.__dict__.update(
        waiting=waiting,
        longest_wait_s=longest_wait_s,
        agents_logged_in=logged_in,
        agents_available=available,
        agents_busy=busy,
        avg_handle_s=avg_handle_s,
        override=None,
    )
    return state


class SimCall:
    """One caller, from dialling 115 until answered, abandoned or played an announcement."""

    __slots__ = (
        "at",
        "cls",
        "deadline",
        "first_queue",
        "home",
        "hour",
        "joined",
        "postal",
        "source",
        "state",
        "visited",
        "wait_seq",
    )

    def __init__(self, cls: CallerClass, source: CallerSource, hour: int) -> None:
        self.cls = cls  # what the policy can tell of the number (sim.engine.callers)
        self.source = source
        self.hour = hour
        self.postal: str | None = None
        self.visited: tuple[str, ...] = ()
        self.home: SimCenter | None = None
        self.at: SimCenter | None = None  # the queue it waits in, or last waited in
        self.first_queue = -1.0  # when it first joined a queue (the wait starts)
        self.joined = 0.0  # when it joined its current queue
        # When the caller's patience runs out: drawn when they first have to wait.
        self.deadline = -1.0
        self.state = ROUTING
        self.wait_seq = -1  # the pending wait-end event; others are stale


class SimCenter:
    """A center's queue, its agents and the tallies of the report.

    Agents are interchangeable, so counts suffice: ``logged_in`` agents, of
    whom ``busy`` are ringing or talking; ``pending_logout`` of the busy ones
    log out when their call ends (a shift ending never cuts a call).
    """

    __slots__ = (
        "abandoned",
        "acct_t",
        "announced_busy",
        "announced_offhours",
        "answered",
        "answered_here",
        "busy",
        "busy_s",
        "callbacks_kept",
        "center",
        "handle",
        "handle_times",
        "hist",
        "hour_excluded",
        "hour_offered",
        "hour_within",
        "id",
        "index",
        "left_for_callback",
        "logged_in",
        "off_hours",
        "offered",
        "patience",
        "pending_logout",
        "queue",
        "queued",
        "ring",
        "ring_s",
        "short_abandoned",
        "sig",
        "sig_until",
        "staffed_s",
        "unfinished",
        "wait_sum",
        "waiting",
        "within",
    )

    def __init__(
        self, index: int, center: Center, plan: CenterPlan, rng: random.Random, hours: int
    ) -> None:
        self.index = index
        self.id = center.id
        self.center = center
        self.handle: Callable[[], float] = plan.handle.sampler(rng)
        self.patience: Callable[[], float] = plan.patience.sampler(rng)
        self.ring: Callable[[], float] = plan.ring.sampler(rng)
        # A fixed ring time (the usual 0 s) is not drawn per call.
        self.ring_s = self.ring() if plan.ring.kind is DistKind.FIXED else None
        self.queue: deque[SimCall] = deque()
        self.waiting = 0
        self.logged_in = 0
        self.busy = 0
        self.pending_logout = 0
        self.handle_times: deque[float] = deque(maxlen=HANDLE_WINDOW)
        # The opening facts of the center's reach as home, and until when they
        # hold for sure (sim.engine.decisions).
        self.sig: object = None
        self.sig_until = -1.0
        # Tallies of calls whose home this center is.
        self.offered = 0
        self.off_hours = 0
        self.queued = 0
        self.answered = 0
        self.within = 0
        self.abandoned = 0
        self.short_abandoned = 0
        self.announced_offhours = 0
        self.announced_busy = 0
        self.unfinished = 0
        self.left_for_callback = 0
        # Offered callers whose callback was kept (metrics.servicelevel): out of the figure.
        self.callbacks_kept = 0
        self.wait_sum = 0.0
        self.hist = [0] * HIST_BINS
        self.hour_offered = [0] * hours
        self.hour_excluded = [0] * hours  # short abandons and kept callbacks
        self.hour_within = [0] * hours
        # Tallies of this center's agents, over the scenario's period: busy time
        # is added per call, logged-in time whenever the number logged in changes.
        self.answered_here = 0
        self.busy_s = 0.0
        self.staffed_s = 0.0
        self.acct_t = 0.0

    def avg_handle(self) -> float | None:
        """The recent average handle time, or ``None`` before any call ended."""
        times = self.handle_times
        return sum(times) / len(times) if times else None

    def state(self, now: float, kind: type[CenterState] = CenterState) -> CenterState:
        """The center as the policy sees it at ``now`` (``kind``: a subclass to build)."""
        longest = 0.0
        if self.waiting:
            queue = self.queue
            while queue[0].state != WAITING or queue[0].at is not self:
                queue.popleft()
            longest = now - queue[0].joined
        return center_state(
            self.waiting,
            longest,
            self.logged_in,
            self.logged_in - self.busy,
            self.busy,
            self.avg_handle(),
            kind,
        )
