"""``lotse dialplan trace``: run the generated files for one caller at one moment.

:func:`trace` executes the dialplan with :class:`TraceWorld` as the outside
world: the AGI is answered by the real routing decision
(:func:`router.policy.decide` on a snapshot, rendered by the same
:func:`ami.routing.reply_for` the controller's FastAGI service uses) or fails
(``agi_down``: ``AGISTATUS=FAILURE``); every queue has an agent who answers
unless ``queue_status`` says what Queue() returns for a queue instead;
``QUEUE_MEMBER`` reports every center staffed (or the snapshot's
``agents_logged_in``); Read() gets the postal code given, else nothing;
time stands still at the traced moment. The result is the path (each
application with its FILE:LINE), the sounds played and the queue joined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ami import contract
from ami.agi_protocol import AgiRequest
from ami.fastagi import AgiMalformed
from ami.routing import call_from_request, reply_for
from dialplans.engine import DialArgs, Flow, Interpreter, QueueArgs, QueueLogEntry, ReadArgs, Step
from dialplans.engine.interp import Execution, Result
from dialplans.fallback import VAR_GREETING as FALLBACK_GREETING
from dialplans.route import ENTRY_CONTEXT
from router.policy import Router, decide
from router.state import CenterState, Snapshot

# Queue() results that are a QUEUESTATUS (the caller stays in the dialplan).
QUEUE_STATUSES = (
    "TIMEOUT",
    "FULL",
    "JOINEMPTY",
    "LEAVEEMPTY",
    "JOINUNAVAIL",
    "LEAVEUNAVAIL",
    "CONTINUE",
    "WITHDRAW",
    "UNKNOWN",
)
ANSWERED = "ANSWERED"
_DIGITS = re.compile(r"\+?[0-9]{6,}")


def staffed_and_idle(router: Router) -> Snapshot:
    """Every center with agents logged in and free, nobody waiting."""
    return Snapshot(
        {
            cid: CenterState(waiting=0, agents_logged_in=1, agents_available=1)
            for cid in router.config.centers
        }
    )


@dataclass(frozen=True)
class Event:
    """Something the outside world did on the traced path (after the step that caused it)."""

    kind: str  # agi, playback, queue, read, user-event, answer
    text: str


@dataclass(frozen=True)
class PathEntry:
    """A step of the path, with what the world did during it."""

    step: Step
    events: tuple[Event, ...]


@dataclass(frozen=True)
class TraceResult:
    """Where the call went: the path and the outcome."""

    path: tuple[PathEntry, ...]
    queue: str | None  # the queue whose agent answered (or the last joined)
    answered: bool
    greeting: str | None
    announcement: str | None
    played: tuple[str, ...]
    fallback: bool
    ended: str


@dataclass
class _Channel:
    name: str
    uniqueid: str
    caller_num: str = field(repr=False)
    caller_name: str = ""


@dataclass
class _Vars:
    values: dict[str, tuple[str, str]] = field(default_factory=dict)

    def get_var(self, name: str) -> str | None:
        entry = self.values.get(name.lstrip("_"))
        return None if entry is None else entry[1]

    def set_var(self, name: str, value: str) -> None:
        self.values[name.lstrip("_")] = (name, value)


class TraceWorld:
    """The outside world of a trace (see the module docstring)."""

    def __init__(
        self,
        router: Router,
        at: datetime,
        *,
        snapshot: Snapshot | None = None,
        agi_down: bool = False,
        postal_code: str | None = None,
        queue_status: Mapping[str, str] | None = None,
    ) -> None:
        self.router = router
        self.at = at
        self.snapshot = snapshot if snapshot is not None else staffed_and_idle(router)
        self.agi_down = agi_down
        self.postal_code = postal_code
        self.queue_status = dict(queue_status or {})
        self.entries: list[tuple[Step, list[Event]]] = []
        self.played: list[str] = []
        self.queues: list[str] = []
        self.answered_queue: str | None = None
        self.sounds_after_queue: list[str] = []
        self.greeting: str | None = None
        self.fallback = False

    def _event(self, kind: str, text: str) -> None:
        if self.entries:
            self.entries[-1][1].append(Event(kind, text))

    def now(self) -> float:
        return self.at.timestamp()

    def interrupted(self, ex: Execution) -> Result | None:
        return None

    def executing(self, ex: Execution, step: Step) -> None:
        self.entries.append((step, []))

    def queue_member(self, queue: str, option: str) -> str | None:
        cid = self.router.config.center_by_queue.get(queue)
        if cid is None:
            return None
        state = self.snapshot.centers.get(cid)
        logged = 1 if state is None or state.agents_logged_in is None else state.agents_logged_in
        free = logged if state is None else min(logged, state.agents_available or 0)
        if state is not None and state.agents_logged_in is None:
            free = 1
        values = {"logged": logged, "count": logged, "free": free, "ready": free, "paused": 0}
        return str(values.get(option, 0))

    async def answer(self, ex: Execution) -> Result:
        self._event("answer", "answered")
        return Flow.CONTINUE

    async def playback(self, ex: Execution, sounds: tuple[str, ...], options: str) -> Result:
        for sound in sounds:
            self.played.append(sound)
            self.sounds_after_queue.append(sound)
        self._event("playback", "&".join(sounds))
        ex.set("PLAYBACKSTATUS", "SUCCESS")
        return Flow.CONTINUE

    async def queue(self, ex: Execution, args: QueueArgs) -> Result:
        if not self.queues and self.played:
            self.greeting = self.played[-1]
        self.queues.append(args.queue)
        self.sounds_after_queue = []
        status = self.queue_status.get(args.queue, ANSWERED)
        timeout = f", timeout {args.timeout_s} s" if args.timeout_s else ", no timeout"
        if status == ANSWERED:
            self.answered_queue = args.queue
            self._event("queue", f"joined {args.queue}{timeout}: an agent answers")
            return Flow.HANGUP
        self._event("queue", f"joined {args.queue}{timeout}: QUEUESTATUS={status}")
        ex.set("QUEUESTATUS", status)
        return Flow.CONTINUE

    async def agi(self, ex: Execution, url: str, args: tuple[str, ...]) -> Result:
        if self.agi_down:
            ex.set("AGISTATUS", "FAILURE")
            self._event("agi", "the controller does not answer: AGISTATUS=FAILURE")
            return Flow.CONTINUE
        script = url.rsplit("/", 1)[-1] if url.startswith("agi://") else url
        request = AgiRequest(
            script=script,
            args=args,
            request=url,
            network=url.startswith("agi://"),
            channel=ex.channel.name,
            uniqueid=ex.channel.uniqueid,
            callerid=ex.channel.caller_num,
            calleridname=ex.channel.caller_name,
            dnid=ex.exten,
            extension=ex.exten,
            context=ex.context,
            language="en",
            version="trace",
            env=(),
        )
        try:
            routing = call_from_request(request)
        except AgiMalformed as err:
            # The controller answers FAILURE to what it cannot use.
            ex.set("AGISTATUS", "FAILURE")
            self._event("agi", f"the controller refuses the request ({err}): AGISTATUS=FAILURE")
            return Flow.CONTINUE
        decision = decide(routing.call, self.at, self.snapshot, self.router)
        reply = reply_for(decision, self.router, routing.call_id)
        for name, value in reply.variables:
            ex.set(name, value)
        ex.set("AGISTATUS", "SUCCESS")
        what = decision.queue or decision.announcement or decision.prompt or ""
        why = decision.reasons[-1] if decision.reasons else ""
        self._event("agi", f"decision {decision.action} {what} ({why})")
        return Flow.CONTINUE

    async def read(self, ex: Execution, args: ReadArgs) -> Result:
        digits = (self.postal_code or "")[: args.max_digits or None]
        self.postal_code = None  # the caller keys it in once
        ex.set(args.variable, digits)
        ex.set("READSTATUS", "OK" if digits else "TIMEOUT")
        prompts = "&".join(args.prompts)
        self._event(
            "read", f"prompt {prompts}: {'digits ' + digits if digits else 'nothing entered'}"
        )
        return Flow.CONTINUE

    async def wait(self, ex: Execution, seconds: float) -> Result:
        return Flow.CONTINUE

    def queue_log(self, ex: Execution, line: QueueLogEntry) -> None:
        # The fallback's line carries the caller's digits (as ENTERQUEUE does): never shown.
        info = _DIGITS.sub("…", line.info)
        self._event("queue-log", f"{line.event} ({line.queue}) {info}".strip())

    async def dial(self, ex: Execution, args: DialArgs) -> Result:
        # The called party answers and, after the talk, hangs up first: without
        # the g option Asterisk ends the dialling channel's dialplan there.
        ex.set("DIALSTATUS", "ANSWER")
        goes_on = args.option("g")
        self._event(
            "dial",
            f"{'&'.join(args.targets)}: answered, the called party hangs up"
            + ("; the dialplan goes on (g)" if goes_on else "; the dialplan ends"),
        )
        return Flow.CONTINUE if goes_on else Flow.HANGUP

    async def indicate(self, ex: Execution, what: str, wait_s: float | None) -> Result:
        self._event("indicate", what)
        return Flow.CONTINUE if what == "ringing" else Flow.HANGUP

    def user_event(self, ex: Execution, name: str, body: tuple[tuple[str, str], ...]) -> None:
        if name == contract.FALLBACK_USER_EVENT:
            self.fallback = True
        text = ",".join(f"{k}:{v}" for k, v in body)
        self._event("user-event", f"{name} {text}".strip())


async def trace(
    interpreter: Interpreter,
    world: TraceWorld,
    caller: str,
    dialed: str = "115",
    *,
    context: str = ENTRY_CONTEXT,
) -> TraceResult:
    """Run one call from ``caller`` to ``dialed`` through the dialplan."""
    channel = _Channel("PJSIP/trace-00000001", "1700000000.1", caller)
    variables = _Vars()
    ex = interpreter.execution(channel, variables, world)
    ended = await interpreter.run(ex, context, dialed, "1")
    answered = world.answered_queue is not None
    queue = world.answered_queue or (world.queues[-1] if world.queues else None)
    announcement = (
        world.sounds_after_queue[-1] if world.sounds_after_queue and not answered else None
    )
    greeting = world.greeting
    if greeting is None:
        # Like `lotse route`: the home's greeting the call carries, even when an
        # announcement ends it before any queue (it is then not played).
        greeting = (
            variables.get_var(contract.VAR_GREETING) or variables.get_var(FALLBACK_GREETING) or None
        )
    return TraceResult(
        path=tuple(PathEntry(step, tuple(events)) for step, events in world.entries),
        queue=queue,
        answered=answered,
        greeting=greeting,
        announcement=announcement,
        played=tuple(world.played),
        fallback=world.fallback,
        ended=ended,
    )


def mask_caller(text: str, caller: str, masked: str) -> str:
    """``text`` with every long digit run that ends like part of the caller's number replaced."""
    digits = re.sub(r"[^0-9]", "", caller)
    if len(digits) < 6:
        return text

    def repl(match: re.Match[str]) -> str:
        # The dialplan rewrites the number (+49 → 0, a trunk 0 added): its tail stays.
        run = match.group(0).lstrip("+")
        return masked if run[-6:] in digits else match.group(0)

    return _DIGITS.sub(repl, text)
