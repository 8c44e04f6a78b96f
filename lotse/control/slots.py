"""Who may hold a control connection: per-user slots, supervisors first.

The control socket is how a supervisor closes a center in an emergency, so no
other user of the socket's group may crowd one out. Every peer uid (from
``SO_PEERCRED``, the kernel's word) has its own few slots. A newcomer whose
uid already holds all of its own takes over the longest-silent of them (an
idle connection has no request in hand; its client reconnects when it wants
to ask again), so nobody locks themselves out either. Only the unprivileged
share a ceiling over all uids; root and the controller's own user (the
operator) are outside it and always get a slot.

Pure bookkeeping: the server asks, closes what it is told to close, and says
when a connection starts and ends a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

# A supervisor's `lotse ctl` needs one; a dashboard polling status a second.
PER_UID = 4
# All unprivileged uids together.
MAX_SHARED = 32

K = TypeVar("K")


@dataclass(frozen=True)
class Admission(Generic[K]):
    """The answer for a newcomer: admitted or busy, and which connection to close for it."""

    admitted: bool
    evict: K | None = None


@dataclass(frozen=True)
class _Holder:
    uid: int
    # When it last finished a request (or connected); None while serving one.
    idle_since: float | None


class Slots(Generic[K]):
    """The connections held, by uid; ``K`` names a connection (the server's task)."""

    def __init__(
        self,
        privileged: frozenset[int],
        *,
        per_uid: int = PER_UID,
        max_shared: int = MAX_SHARED,
    ) -> None:
        if per_uid < 1 or max_shared < 1:
            raise ValueError("per_uid and max_shared must be at least 1")
        self._privileged = privileged
        self._per_uid = per_uid
        self._max_shared = max_shared
        self._held: dict[K, _Holder] = {}

    def __len__(self) -> int:
        return len(self._held)

    def held_by(self, uid: int) -> int:
        """How many connections ``uid`` holds now."""
        return sum(1 for h in self._held.values() if h.uid == uid)

    def admit(self, key: K, uid: int, now: float) -> Admission[K]:
        """Take a slot for ``key`` (a new connection of ``uid``), if there is one.

        When ``uid`` holds all of its slots, its longest-idle connection is
        given up for the newcomer (``evict``, already released here); when all
        of them are serving a request, or the unprivileged share is full, the
        newcomer is busy.
        """
        mine = [(h.idle_since, k) for k, h in self._held.items() if h.uid == uid]
        evict: K | None = None
        if len(mine) >= self._per_uid:
            idle = [(since, k) for since, k in mine if since is not None]
            if not idle:
                return Admission(False)
            evict = min(idle, key=lambda pair: pair[0])[1]
        elif uid not in self._privileged:
            shared = sum(1 for h in self._held.values() if h.uid not in self._privileged)
            if shared >= self._max_shared:
                return Admission(False)
        if evict is not None:
            del self._held[evict]
        self._held[key] = _Holder(uid, now)
        return Admission(True, evict)

    def serving(self, key: K) -> None:
        """``key`` has a request in hand: it is not given up for a newcomer."""
        holder = self._held.get(key)
        if holder is not None:
            self._held[key] = _Holder(holder.uid, None)

    def idle(self, key: K, now: float) -> None:
        """``key`` answered and waits for its next request."""
        holder = self._held.get(key)
        if holder is not None:
            self._held[key] = _Holder(holder.uid, now)

    def release(self, key: K) -> None:
        """``key`` is closed."""
        self._held.pop(key, None)
