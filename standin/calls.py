"""A simulated caller's call and what became of it.

The outcome is for tests and the load simulator, not for the wire: which
queue (and center) answered, after how long, or whether the caller gave up,
heard an announcement, or was routed by the static fallback because the
FastAGI service did not answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from standin.channels import Channel


class OutcomeKind(StrEnum):
    """How a call ended."""

    ANSWERED = "answered"  # an agent talked to the caller
    ABANDONED = "abandoned"  # the caller hung up before an agent answered
    ANNOUNCEMENT = "announcement"  # the controller played an announcement and hung up
    UNANSWERED = "unanswered"  # the dialplan hung up without an agent (no spill possible)
    FAILED = "failed"  # the stand-in could not run the call (e.g. unknown queue)


@dataclass(frozen=True)
class QueueVisit:
    """One stay in a queue; times in seconds since the call started."""

    queue: str
    center: str | None
    joined_s: float
    left_s: float
    result: str  # answered, timeout, abandoned, unknown


@dataclass(frozen=True)
class CallOutcome:
    """Everything a test wants to know about a finished call."""

    kind: OutcomeKind
    uniqueid: str
    channel: str
    queue: str | None  # answering queue, else the last one joined
    center: str | None
    agent: str | None  # member name of the answering agent
    fallback: bool  # the static fallback routed the call (AGI failed or gave no action)
    agi_statuses: tuple[str, ...]
    actions: tuple[str, ...]  # LOTSE_ACTION per AGI round ('' when none)
    visits: tuple[QueueVisit, ...]
    wait_s: float  # start to answer, or start to the end for unanswered calls
    talk_s: float
    duration_s: float
    announcement: str | None = None
    postal_entered: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        """Whether an agent took the call."""
        return self.kind is OutcomeKind.ANSWERED


@dataclass(frozen=True)
class CalleeProfile:
    """How a simulated person behaves when the stand-in dials them (a callback):
    they answer ``answer`` of the attempts after ``ring_s`` of ringing; of the
    attempts they do not answer, ``busy`` find the line busy (the others ring
    until the dialler gives up); of the answered calls they hang up first in
    ``hangs_up_first`` (else the agent does) after ``talk_s`` of talk."""

    answer: float = 1.0
    busy: float = 0.0
    hangs_up_first: float = 0.5
    ring_s: tuple[float, float] = (3.0, 15.0)
    talk_s: tuple[float, float] = (30.0, 240.0)


@dataclass(eq=False)
class Call:
    """A caller on a channel; mutable while the call runs."""

    channel: Channel
    caller: str = field(repr=False)  # personal data: never in a repr or log line
    dialed: str
    postal_code: str | None = field(repr=False)
    patience_s: float | None
    started: float
    hangup: asyncio.Event = field(default_factory=asyncio.Event)
    # AMI Redirect: where the channel goes next; ``interrupt`` wakes the running step.
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    redirect_to: tuple[str, str, int] | None = None
    answer_event: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once the channel's last event (Hangup) is out.
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    answered_at: float | None = None
    ended_at: float | None = None
    greeted: bool = False
    fallback: bool = False
    # Why the dialplan took the static fallback (ami.contract.FALLBACK_REASONS).
    fallback_reason: str = ""
    agi_statuses: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    visits: list[QueueVisit] = field(default_factory=list)
    postal_entered: list[str] = field(default_factory=list)
    answered_queue: str | None = None
    answered_center: str | None = None
    agent: str | None = None
    talk_s: float = 0.0
    announcement: str | None = None
    kind: OutcomeKind | None = None
    done: asyncio.Future[CallOutcome] | None = None
    # The simulated caller takes a callback when offered (SIM_CALLBACK=1).
    callback_accept: bool = False
    # A half of a Local channel (Dial, Originate) running the dialplan: it ends
    # as such a half does (local.hang_up), not as a caller's channel.
    local_leg: bool = False
    # Hangup(cause) ran: the cause the channel ends with.
    hangup_cause: int | None = None
    # An agent a queue bridges with this call stays on the line until this is set
    # (or the call is gone) instead of talking for a sampled time: the callback
    # leg's agent waits for the person dialled on the other half.
    agent_hold: asyncio.Event | None = None

    @property
    def caller_gone(self) -> bool:
        """Whether the caller has hung up."""
        return self.hangup.is_set()

    def outcome(self) -> CallOutcome:
        """Freeze the record into a :class:`CallOutcome`."""
        end = self.ended_at if self.ended_at is not None else self.started
        kind = self.kind or OutcomeKind.FAILED
        last = self.visits[-1] if self.visits else None
        wait_end = self.answered_at if self.answered_at is not None else end
        return CallOutcome(
            kind=kind,
            uniqueid=self.channel.uniqueid,
            channel=self.channel.name,
            queue=self.answered_queue or (last.queue if last else None),
            center=self.answered_center or (last.center if last else None),
            agent=self.agent,
            fallback=self.fallback,
            agi_statuses=tuple(self.agi_statuses),
            actions=tuple(self.actions),
            visits=tuple(self.visits),
            wait_s=wait_end - self.started,
            talk_s=self.talk_s,
            duration_s=end - self.started,
            announcement=self.announcement,
            postal_entered=tuple(self.postal_entered),
        )


class CallHandle:
    """What :meth:`Pbx.place_call` returns: the channel's identity and the awaitable outcome."""

    def __init__(
        self, call: Call, task: asyncio.Task[CallOutcome], hang_up: Callable[[Call], None]
    ) -> None:
        self._call = call
        self._task = task
        self._hang_up = hang_up

    @property
    def flow(self) -> asyncio.Task[CallOutcome]:
        """The call's flow, done when it has ended (for whatever waits on it)."""
        return self._task

    @property
    def uniqueid(self) -> str:
        """The caller channel's Uniqueid (also its Linkedid)."""
        return self._call.channel.uniqueid

    @property
    def channel(self) -> str:
        """The caller channel's name (``PJSIP/carrier-…``)."""
        return self._call.channel.name

    def done(self) -> bool:
        """Whether the call has ended."""
        return self._task.done()

    def answered(self) -> bool:
        """Whether an agent has answered the call (so far)."""
        return self._call.answered_at is not None

    async def outcome(self) -> CallOutcome:
        """Wait for the call to end and return its outcome."""
        return await asyncio.shield(self._task)

    def hang_up(self) -> None:
        """The caller hangs up now (wherever the call is)."""
        if not self._task.done():
            self._hang_up(self._call)
