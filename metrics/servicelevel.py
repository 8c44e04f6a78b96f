"""The 115 service-level figures, defined once for every table and metric that shows them.

Two views exist (docs/service-level.md explains both):

* **per home** (the 115 promise, the headline everywhere): every call counts
  once, for its *home* center — the one responsible for the caller's
  municipality — wherever it was answered. This module defines it.
* **per queue** (Asterisk's view, for comparison with ``queue show``): every
  queue entry counts at the queue's center with the wait in that queue. Only
  the per-queue Prometheus counters keep it (``lotse_calls_*``).

Per home center C, over a set of calls:

offered
    C's calls that entered at least one queue, at C or at a partner. A call
    that only heard an announcement (off-hours, region not connected) or hung
    up before any queue was not offered.
wait
    The caller's wait in queues: Asterisk's ``HoldTime`` summed over every
    queue of the journey (the queues spilled from, then the one where the call
    was answered or abandoned) — from the first queue entry to the answer,
    ring time included, less the milliseconds between queues while the
    dialplan asks lotse for the next partner.
answered within T
    Offered calls an agent answered with ``wait <= T`` (``threshold_s``, 30 s):
    a wait of exactly T is in time.
short abandons
    Offered calls whose caller hung up while waiting with ``wait < S``
    (``short_abandon_s``, 5 s): they never gave anyone a chance. A queue
    timeout (Asterisk sends ``QueueCallerAbandon`` for it too) is a spill,
    not an abandon.
kept callbacks
    Offered calls nobody answered whose caller took the callback offer
    (left the queue for a callback request) and whose request was *kept*:
    completed — the caller reached — no later than its deadline (24 hours of
    the center's service time; ``<=``: completed exactly at the deadline is
    kept, a second later is not). The 115 promise is an answer within T *or*
    feedback within 24 hours: a kept callback is a caller served by the
    promise's second part, so the 30-s figure leaves it out (neither
    answered within T nor in the denominator), as it leaves out short
    abandons. A request not kept — completed late, not reached in any
    attempt, expired, cancelled — or still open counts as an offered call not
    answered in time (the figure rises when an open request is kept). A
    request made while every center was closed has no offered call: it is in
    no service level.
service level
    ``answered within T / (offered - short abandons - kept callbacks)``;
    ``None`` when that denominator is 0.
overflow out / in
    One per (call, partner center) whose queue the call entered, the partner
    not being the call's home: *out* for the home, *in* for the partner. So
    nationally out equals in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from router.callback import Outcome

NATIONAL = "national"

# Table headings name their view, so two tables with different numbers never
# share a column name without saying why.
PER_HOME_VIEW = (
    "per home center (115 promise: each call once, for its home, wait summed over spills)"
)
PER_QUEUE_VIEW = (
    "per queue (Asterisk's view: each queue entry at its queue's center, wait in that queue)"
)


class Limits(Protocol):
    """The two limits of the definitions: ``router.config.ServiceLevel``, or a scenario's."""

    @property
    def threshold_s(self) -> float:
        """T: answered within it keeps the promise (30 s)."""
        ...

    @property
    def short_abandon_s(self) -> float:
        """S: a caller gone before it never had a chance (5 s)."""
        ...


def within_threshold(wait_s: float, level: Limits) -> bool:
    """Whether ``wait_s`` is within the threshold T (``<=``: exactly T is in time).

    An answer after such a wait keeps the promise; Asterisk's SL2 also counts
    abandons within T.
    """
    return wait_s <= level.threshold_s


def short_abandon(wait_s: float, level: Limits) -> bool:
    """Whether a hang-up after ``wait_s`` is too short to count (``<``: exactly S counts)."""
    return wait_s < level.short_abandon_s


def service_level(
    answered_within: int, offered: int, short_abandoned: int, callbacks_kept: int = 0
) -> float | None:
    """The 115 promise figure: answered within T / (offered - short abandons - kept
    callbacks), or ``None``."""
    base = offered - short_abandoned - callbacks_kept
    return answered_within / base if base > 0 else None


def callback_kept(outcome: str | None, ended_s: float | None, deadline_s: float) -> bool:
    """Whether a callback request kept the promise: completed at or before its deadline.

    ``ended_s`` is when the request was recorded as completed (epoch seconds),
    ``deadline_s`` its deadline; an open request (``outcome`` ``None``), or
    one that ended otherwise, is not (yet) kept.
    """
    return outcome == Outcome.COMPLETED and ended_s is not None and ended_s <= deadline_s


def average_speed_of_answer(total_wait_s: float, answered: int) -> float | None:
    """ASA: the mean wait of the answered calls, or ``None`` when none was answered."""
    return total_wait_s / answered if answered else None


@dataclass(frozen=True, slots=True)
class Journey:
    """What the service level needs of one call.

    ``queues`` are the centers whose queue the call entered (each once, in
    order); ``wait_s`` the summed wait (see the module docstring) until the
    answer or the hang-up, ``None`` when the call neither was answered nor
    abandoned in a queue. ``unknown``: nobody saw how the call ended (the
    controller lost sight of it and found it gone); such a call is not
    offered, so the center is not blamed for the controller's outage.
    """

    home: str | None
    queues: tuple[str, ...] = ()
    answered_by: str | None = None
    abandoned: bool = False
    wait_s: float | None = None
    offhours: bool = False
    announced: bool = False
    unknown: bool = False  # nobody saw how it ended (controller outage): not offered
    fallback: bool = False  # routed by the static fallback (the controller was not asked)
    callback_kept: bool = False  # its caller's callback request was kept (callback_kept())

    @property
    def offered(self) -> bool:
        """Entered at least one queue."""
        return bool(self.queues)

    @property
    def partners(self) -> tuple[str, ...]:
        """The queues' centers other than the home: one overflow each (none without a home)."""
        if self.home is None:
            return ()
        return tuple(c for c in self.queues if c != self.home)


@dataclass
class Tally:
    """The figures of one home center (or of all calls, nationally)."""

    calls: int = 0
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    overflow_out: int = 0
    overflow_in: int = 0
    overflow_in_answered: int = 0
    offhours: int = 0
    announced: int = 0
    unknown: int = 0
    fallback: int = 0
    callbacks_kept: int = 0
    waits: list[float] = field(default_factory=list)

    def add(self, call: Journey, level: Limits) -> None:
        """Count one call for its home (overflow *in* is the partner's: :func:`tally`)."""
        self.calls += 1
        self.offhours += call.offhours
        self.announced += call.announced
        self.fallback += call.fallback
        self.overflow_out += len(call.partners)
        if call.unknown:
            self.unknown += 1
            return
        if not call.offered:
            return
        self.offered += 1
        if call.answered_by is not None:
            self.answered += 1
            if call.wait_s is not None:
                self.waits.append(call.wait_s)
                self.answered_within += within_threshold(call.wait_s, level)
        elif call.abandoned:
            self.abandoned += 1
            self.short_abandoned += call.wait_s is not None and short_abandon(call.wait_s, level)
        elif call.callback_kept:
            self.callbacks_kept += 1

    def add_overflow_in(self, call: Journey, center: str) -> None:
        """``call`` of another home queued at ``center`` (this tally's center)."""
        self.overflow_in += 1
        self.overflow_in_answered += call.answered_by == center

    @property
    def service_level(self) -> float | None:
        """:func:`service_level` of this tally."""
        return service_level(
            self.answered_within, self.offered, self.short_abandoned, self.callbacks_kept
        )

    @property
    def asa_s(self) -> float | None:
        """Average speed of answer: mean wait of the answered calls."""
        return average_speed_of_answer(sum(self.waits), len(self.waits))


def tally(calls: Iterable[Journey], level: Limits) -> tuple[dict[str, Tally], Tally]:
    """Per home center and national tallies of ``calls``.

    A call without a home counts only nationally. Overflow in is credited to
    the partner, so a partner that answers for others has a row even with no
    calls of its own.
    """
    per: dict[str, Tally] = {}
    nation = Tally()
    for call in calls:
        nation.add(call, level)
        if call.home is not None:
            per.setdefault(call.home, Tally()).add(call, level)
        for partner in call.partners:
            nation.add_overflow_in(call, partner)
            per.setdefault(partner, Tally()).add_overflow_in(call, partner)
    return per, nation
