"""What the controller tells the journal about a 115 call, one frozen record per step.

A call's journey is a sequence of these records sharing one ``call_id`` (the
Asterisk ``Uniqueid`` of the caller's channel):

``CallArrived`` → ``Decided`` (→ ``QueueJoined`` → ``Spilled`` → ``Decided`` …)
→ ``Answered`` or ``Abandoned`` → ``Ended``; ``FallbackUsed`` when the static
dialplan routed the call because the controller did not answer in time;
``Closed`` instead of ``Ended`` when the controller reconciled with Asterisk
and found the call gone without having seen it end; ``Imported`` when records
of the call were taken from Asterisk's own ``queue_log`` (the journey's
records then follow it).

Every ``at`` is an aware datetime; the journal stores it in UTC. Records carry
no caller number: only the Ortsnetz prefix and a keyed hash (see
:mod:`lotse.journal.privacy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from router.numbering import NumberKind, Origin
from router.policy import Action, Decision


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"journal record time {at.isoformat()} has no time zone")


@dataclass(frozen=True, slots=True)
class CallArrived:
    """A 115 call reached the controller (its first routing request).

    ``ortsnetz_prefix`` is the caller's Ortsnetz with the trunk 0 (``0221``),
    ``None`` for mobile, anonymous, foreign or service callers.
    ``dialed_ortsnetz`` is set when the caller dialled an Ortsnetz in front of
    115 (``0221 115``), again with the trunk 0.
    """

    kind: ClassVar[str] = "arrived"
    call_id: str
    at: datetime
    ortsnetz_prefix: str | None
    caller_hash: str | None
    number_kind: NumberKind
    dialed_ortsnetz: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.at)

    @classmethod
    def of(
        cls,
        call_id: str,
        at: datetime,
        origin: Origin,
        caller_hash: str | None,
        dialed_ortsnetz: str | None = None,
    ) -> CallArrived:
        """Build the record from the classified caller; ``dialed_ortsnetz`` without trunk 0."""
        prefix = f"0{origin.ortsnetz.code}" if origin.ortsnetz is not None else None
        dialed = f"0{dialed_ortsnetz}" if dialed_ortsnetz else None
        return cls(call_id, at, prefix, caller_hash, origin.kind, dialed)


@dataclass(frozen=True, slots=True)
class Decided:
    """The policy decided where the call goes next.

    ``hop`` counts the spills before this decision (0 for the first one).
    ``offhours`` means the home center was closed; ``overflow`` that the target
    is not the home center; ``stale`` that the decision was made on a snapshot
    the controller no longer trusted (AMI connection lost).
    """

    kind: ClassVar[str] = "decided"
    call_id: str
    at: datetime
    action: Action
    home: str | None
    target: str | None
    queue: str | None
    greeting: str | None
    announcement: str | None
    timeout_s: int
    reasons: tuple[str, ...]
    offhours: bool = False
    overflow: bool = False
    hop: int = 0
    stale: bool = False

    def __post_init__(self) -> None:
        _require_aware(self.at)

    @classmethod
    def of(
        cls,
        call_id: str,
        at: datetime,
        decision: Decision,
        *,
        hop: int = 0,
        stale: bool = False,
        offhours: bool | None = None,
    ) -> Decided:
        """Build the record from a policy decision.

        ``overflow`` is derived (a target other than home). ``offhours`` is read
        from the reasons the policy gives when the home center is closed
        (``"<home> closed: …"``) unless the caller knows better and passes it.
        """
        home = decision.home
        if offhours is None:
            marker = f"{home} closed: "
            offhours = home is not None and any(r.startswith(marker) for r in decision.reasons)
        overflow = home is not None and decision.target is not None and decision.target != home
        return cls(
            call_id=call_id,
            at=at,
            action=decision.action,
            home=home,
            target=decision.target,
            queue=decision.queue,
            greeting=decision.greeting,
            announcement=decision.announcement,
            timeout_s=decision.queue_timeout_s,
            reasons=decision.reasons,
            offhours=offhours,
            overflow=overflow,
            hop=hop,
            stale=stale,
        )


@dataclass(frozen=True, slots=True)
class QueueJoined:
    """The call entered a center's Asterisk queue at ``position`` (1 = next; 0 = unknown,
    for a call found in the queue by a reconcile)."""

    kind: ClassVar[str] = "queued"
    call_id: str
    at: datetime
    center: str
    queue: str
    position: int

    def __post_init__(self) -> None:
        _require_aware(self.at)


class SpillReason(StrEnum):
    """Why a call left a queue unanswered but alive (Asterisk ``QUEUESTATUS``)."""

    TIMEOUT = "timeout"
    FULL = "full"
    JOINEMPTY = "joinempty"
    LEAVEEMPTY = "leaveempty"
    JOINUNAVAIL = "joinunavail"
    LEAVEUNAVAIL = "leaveunavail"


@dataclass(frozen=True, slots=True)
class Spilled:
    """The call left ``from_center``'s queue unanswered and went on.

    ``wait_s`` is the time the caller spent in that queue; the caller's total
    wait is the sum over every queue of the journey. ``to_center`` is ``None``
    when the call went to an announcement rather than another queue. A spill
    is not an abandon: the caller is still on the line.
    """

    kind: ClassVar[str] = "spilled"
    call_id: str
    at: datetime
    from_center: str
    to_center: str | None
    reason: SpillReason
    wait_s: float = 0.0

    def __post_init__(self) -> None:
        _require_aware(self.at)


@dataclass(frozen=True, slots=True)
class Answered:
    """An agent of ``center`` took the call after ``wait_s`` in that queue.

    ``agent`` is the queue member name (``Anna``, ``PJSIP/agent-17``), never a
    phone number. ``wait_s`` is ``None`` when the answer was found afterwards
    (a reconcile saw the caller bridged in the queue) and the wait is unknown.
    """

    kind: ClassVar[str] = "answered"
    call_id: str
    at: datetime
    center: str
    agent: str
    wait_s: float | None

    def __post_init__(self) -> None:
        _require_aware(self.at)


@dataclass(frozen=True, slots=True)
class Abandoned:
    """The caller hung up while waiting in ``center``'s queue at ``position``."""

    kind: ClassVar[str] = "abandoned"
    call_id: str
    at: datetime
    center: str
    wait_s: float
    position: int

    def __post_init__(self) -> None:
        _require_aware(self.at)


@dataclass(frozen=True, slots=True)
class Ended:
    """The call was hung up; ``talk_s`` is ``None`` when nobody answered.

    ``cause`` is Asterisk's hangup cause text (``Normal Clearing``) or code.
    """

    kind: ClassVar[str] = "ended"
    call_id: str
    at: datetime
    talk_s: float | None
    cause: str

    def __post_init__(self) -> None:
        _require_aware(self.at)


@dataclass(frozen=True, slots=True)
class FallbackUsed:
    """The static fallback dialplan routed the call to ``center``.

    This happens when the controller missed the FastAGI deadline or was down;
    ``reason`` says which (``agi-failure``, ``direct`` …). The
    fallback sends the caller to the home center's queue, so ``center`` is
    also the call's home unless a decision named one before. ``None``: a
    caller from a region no center serves, who heard the announcement.
    """

    kind: ClassVar[str] = "fallback"
    call_id: str
    at: datetime
    center: str | None
    reason: str

    def __post_init__(self) -> None:
        _require_aware(self.at)


class Outcome(StrEnum):
    """An outcome the journal's flags cannot express (``calls.outcome``)."""

    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Closed:
    """The controller closed a call it had lost sight of, found gone from Asterisk.

    Written when reconciling after a (re)connect or a restart: the call's end
    was never seen. ``outcome`` is :attr:`Outcome.UNKNOWN` when neither an
    answer nor an abandon nor an announcement was seen, ``None`` when the
    journal's flags already tell the outcome and only the end time is a guess
    (the time of the reconcile). ``reason`` says why the controller lost sight.
    """

    kind: ClassVar[str] = "closed"
    call_id: str
    at: datetime
    outcome: Outcome | None
    reason: str

    def __post_init__(self) -> None:
        _require_aware(self.at)


@dataclass(frozen=True, slots=True)
class Imported:
    """Records of the call were imported from ``source`` rather than seen by the controller.

    ``source`` is ``queue_log`` (Asterisk's queue_log, see :mod:`lotse.queuelog`).
    ``home`` is the home the source implies, for a call the journal did not
    know yet (``None`` when merging into a call it knows: its home stays).
    """

    kind: ClassVar[str] = "imported"
    call_id: str
    at: datetime
    source: str
    home: str | None

    def __post_init__(self) -> None:
        _require_aware(self.at)


Record = (
    CallArrived
    | Decided
    | QueueJoined
    | Spilled
    | Answered
    | Abandoned
    | Ended
    | FallbackUsed
    | Closed
    | Imported
)
"""Any journal record."""
