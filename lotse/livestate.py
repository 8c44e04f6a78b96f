"""The live state of every center's queue, folded from typed AMI events.

One ordered consumer applies each event through a dispatch table (one handler
per Asterisk event); the routing policy reads immutable
:class:`router.state.Snapshot` values built from it. On every (re)connect the
controller asks ``QueueStatus`` and the answer *replaces* the state, so the
state is right even after events were missed while disconnected.

Asterisk behaviour the handlers rely on (from real 22.10.1 captures):

* A caller is in a queue from ``QueueCallerJoin`` to ``QueueCallerLeave``;
  ``QueueCallerLeave`` comes after an answer, an abandon *and* a timeout.
* ``QueueMemberStatus`` carries the member's full state (device status, paused,
  in call) whenever its device state changes; ``QueueMemberAdded`` /
  ``QueueMemberRemoved`` log agents in and out; ``QueueMemberPause`` pauses.
* ``AgentComplete`` ends a conversation: its ``TalkTime`` feeds the recent
  average handle time that the expected wait is computed from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

from ami.events import (
    AgentComplete,
    AgentConnect,
    DeviceState,
    MemberState,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberRemoved,
    QueueMemberStatus,
    QueueParams,
    QueueStatusComplete,
)
from router.state import CenterState, Override, Snapshot

# Recent conversations per queue that the average handle time is taken over.
HANDLE_WINDOW = 30
# Callers who left a queue, remembered with their entry time for a callback
# request that keeps the place in line (the request comes seconds later).
LEFT_REMEMBERED = 4096

_NOT_LOGGED_IN = frozenset({DeviceState.INVALID, DeviceState.UNAVAILABLE})
_BUSY = frozenset(
    {
        DeviceState.INUSE,
        DeviceState.BUSY,
        DeviceState.RINGING,
        DeviceState.RINGINUSE,
        DeviceState.ONHOLD,
    }
)


@dataclass
class _Member:
    status: int
    paused: bool
    in_call: bool

    @classmethod
    def of(cls, m: MemberState) -> _Member:
        return cls(m.status, m.paused, m.in_call)


# waiting, oldest join (clock s), agents logged in, available, busy, mean handle time
_Counts: TypeAlias = tuple[int, float, int, int, int, float | None]


@dataclass
class _Queue:
    callers: dict[str, float] = field(default_factory=dict)  # uniqueid -> joined (clock s)
    members: dict[str, _Member] = field(default_factory=dict)  # interface -> state
    handle_times: deque[float] = field(default_factory=lambda: deque(maxlen=HANDLE_WINDOW))
    # The counts below, kept until the queue changes: every routing decision
    # reads every center, and most decisions see no change since the last.
    counts: _Counts | None = None

    def counted(self) -> _Counts:
        """The counts, computed again only after the queue changed."""
        counts = self.counts
        if counts is None:
            counts = self.counts = self._count()
        return counts

    def center_state(self, now: float, override: tuple[Override, str] | None) -> CenterState:
        waiting, oldest, logged_in, available, busy, aht = self.counted()
        return CenterState(
            waiting,
            max(now - oldest, 0.0) if waiting else 0.0,
            logged_in,
            available,
            busy,
            aht,
            override[0] if override is not None else None,
            override[1] if override is not None else "",
        )

    def _count(self) -> _Counts:
        logged_in = available = busy = 0
        for m in self.members.values():
            if m.status in _NOT_LOGGED_IN:
                continue
            logged_in += 1
            if m.in_call or m.status in _BUSY:
                busy += 1
            elif not m.paused:
                available += 1
        oldest = min(self.callers.values()) if self.callers else 0.0
        aht = sum(self.handle_times) / len(self.handle_times) if self.handle_times else None
        return len(self.callers), oldest, logged_in, available, busy, aht


class LiveState:
    """Per-queue callers and agents, kept current by AMI events.

    ``clock`` gives seconds on a monotonic scale (the controller's loop time,
    the simulator's virtual time); queues unknown to the configuration are
    ignored, so a shared Asterisk's other queues cost nothing.
    """

    def __init__(self, queue_to_center: Mapping[str, str], clock: Callable[[], float]) -> None:
        self._queue_to_center = dict(queue_to_center)
        self._clock = clock
        self._queues: dict[str, _Queue] = {q: _Queue() for q in self._queue_to_center}
        self._overrides: dict[str, tuple[Override, str]] = {}
        self._resync: dict[str, _Queue] | None = None
        self._resync_id: str | None = None
        self._stale = True
        self._snapshot: Snapshot | None = None
        self._left: dict[str, tuple[str, float]] = {}  # uniqueid -> (queue, joined)
        self._handlers: dict[type, Callable[[Any], None]] = {
            QueueCallerJoin: self._caller_join,
            QueueCallerLeave: self._caller_leave,
            AgentConnect: self._agent_connect,
            AgentComplete: self._agent_complete,
            QueueMemberStatus: self._member_update,
            QueueMemberAdded: self._member_update,
            QueueMemberPause: self._member_update,
            QueueMemberRemoved: self._member_removed,
            QueueParams: self._resync_params,
            QueueMember: self._resync_member,
            QueueEntry: self._resync_entry,
            QueueStatusComplete: self._resync_complete,
        }

    # --- the consumer's interface --------------------------------------------

    def apply(self, event: object) -> None:
        """Fold one typed AMI event into the state; events it does not track are ignored."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def snapshot(self) -> Snapshot:
        """The state of every center now, as the routing policy reads it.

        Cached between changes, except that waits grow with time: a snapshot is
        rebuilt when callers are waiting so ``longest_wait_s`` stays current.
        """
        snap = self._snapshot
        if snap is not None and not self._any_waiting():
            return snap
        now = self._clock()
        centers: dict[str, CenterState] = {}
        for queue, q in self._queues.items():
            cid = self._queue_to_center[queue]
            centers[cid] = q.center_state(now, self._overrides.get(cid))
        snap = Snapshot(centers=MappingProxyType(centers), stale=self._stale)
        self._snapshot = snap
        return snap

    def begin_resync(self, action_id: str) -> None:
        """Start collecting a ``QueueStatus`` answer that will replace the state."""
        self._resync = {q: _Queue() for q in self._queues}
        self._resync_id = action_id

    def mark_stale(self) -> None:
        """The AMI connection is gone: keep the last state but flag it as stale."""
        self._stale = True
        self._resync = None
        self._changed()

    @property
    def stale(self) -> bool:
        """True until the first complete resync, and again after a disconnect."""
        return self._stale

    def set_override(self, center_id: str, override: Override | None, note: str = "") -> None:
        """A supervisor opens or closes a center by hand (``None`` lifts it).

        ``note`` (the supervisor's reason) is named in the decisions it shapes.
        """
        if override is None:
            self._overrides.pop(center_id, None)
        else:
            self._overrides[center_id] = (override, note)
        self._changed()

    def reconfigure(self, queue_to_center: Mapping[str, str]) -> None:
        """Follow a reloaded configuration without losing what is known.

        Queues still configured keep their callers, agents and handle times
        (also when their center was renamed); new queues start empty until the
        next resync fills them; removed queues are dropped. Overrides stay.
        """
        self._queue_to_center = dict(queue_to_center)
        self._queues = {q: self._queues.get(q) or _Queue() for q in self._queue_to_center}
        if self._resync is not None:
            self._resync = {q: self._resync.get(q) or _Queue() for q in self._queue_to_center}
        self._changed()

    # --- handlers, one per Asterisk event ------------------------------------

    def _queue(self, name: str) -> _Queue | None:
        return self._queues.get(name)

    def _changed(self, q: _Queue | None = None) -> None:
        """Something changed: the snapshot, and ``q``'s counts if given, are rebuilt."""
        self._snapshot = None
        if q is not None:
            q.counts = None

    def _any_waiting(self) -> bool:
        return any(q.callers for q in self._queues.values())

    def _caller_join(self, e: QueueCallerJoin) -> None:
        q = self._queue(e.queue)
        if q is not None:
            q.callers[e.uniqueid] = self._clock()
            self._changed(q)

    def _caller_leave(self, e: QueueCallerLeave) -> None:
        q = self._queue(e.queue)
        if q is None:
            return
        joined = q.callers.pop(e.uniqueid, None)
        if joined is not None:
            left = self._left
            left[e.uniqueid] = (e.queue, joined)
            if len(left) > LEFT_REMEMBERED:
                del left[next(iter(left))]
            self._changed(q)

    # --- what the callback side reads ----------------------------------------

    def queue_entry(self, uniqueid: str) -> tuple[str, float] | None:
        """(center id, clock time it joined) of the queue the caller is in or last left."""
        for name, q in self._queues.items():
            joined = q.callers.get(uniqueid)
            if joined is not None:
                return self._queue_to_center[name], joined
        found = self._left.get(uniqueid)
        if found is None or found[0] not in self._queue_to_center:
            return None
        return self._queue_to_center[found[0]], found[1]

    def waiting_and_free(self) -> dict[str, tuple[int, tuple[float, ...]]]:
        """Per center: agents available now, and when each caller waiting joined (clock s)."""
        found: dict[str, tuple[int, tuple[float, ...]]] = {}
        for name, q in self._queues.items():
            found[self._queue_to_center[name]] = (q.counted()[3], tuple(q.callers.values()))
        return found

    def _agent_connect(self, e: AgentConnect) -> None:
        # The caller leaves the queue when answered; QueueCallerLeave follows,
        # but the wait is over now.
        q = self._queue(e.queue)
        if q is not None:
            q.callers.pop(e.uniqueid, None)
            member = q.members.get(e.member)
            if member is not None:
                member.in_call = True
            self._changed(q)

    def _agent_complete(self, e: AgentComplete) -> None:
        q = self._queue(e.queue)
        if q is not None:
            q.handle_times.append(e.talktime)
            member = q.members.get(e.member)
            if member is not None:
                member.in_call = False
            self._changed(q)

    def _member_update(self, e: QueueMemberStatus | QueueMemberAdded | QueueMemberPause) -> None:
        q = self._queue(e.queue)
        if q is not None:
            q.members[e.member] = _Member.of(e)
            self._changed(q)

    def _member_removed(self, e: QueueMemberRemoved) -> None:
        q = self._queue(e.queue)
        if q is not None and q.members.pop(e.member, None) is not None:
            self._changed(q)

    # --- resync from a QueueStatus answer -------------------------------------

    def _resync_queue(self, action_id: str | None, queue: str) -> _Queue | None:
        if self._resync is None or action_id != self._resync_id:
            return None
        return self._resync.get(queue)

    def _resync_params(self, e: QueueParams) -> None:
        q = self._resync_queue(e.action_id, e.queue)
        if q is not None:
            # Keep the handle-time history: QueueParams only has a running average.
            q.handle_times = self._queues[e.queue].handle_times
            if not q.handle_times and e.talktime > 0:
                q.handle_times.append(e.talktime)

    def _resync_member(self, e: QueueMember) -> None:
        q = self._resync_queue(e.action_id, e.queue)
        if q is not None:
            q.members[e.member] = _Member.of(e)

    def _resync_entry(self, e: QueueEntry) -> None:
        q = self._resync_queue(e.action_id, e.queue)
        if q is not None:
            q.callers[e.uniqueid] = self._clock() - e.wait

    def _resync_complete(self, e: QueueStatusComplete) -> None:
        if self._resync is None or e.action_id != self._resync_id:
            return
        for name, fresh in self._resync.items():
            if not fresh.handle_times:
                fresh.handle_times = self._queues[name].handle_times
        self._queues = self._resync
        self._resync = None
        self._resync_id = None
        self._stale = False
        self._changed()
