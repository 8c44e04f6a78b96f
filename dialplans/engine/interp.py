"""Running a channel through the dialplan: the pbx loop and the applications.

:class:`Interpreter` walks priorities like ``__ast_pbx_run``: each step
substitutes the application data, tells the world it is executing it
(``Newexten`` on a wire), runs the application and moves on to the next
priority, or where a Goto sent it. Falling off the end of an extension
ends the call (``autofallthrough``), as does Hangup() or an application
that hangs up. Applications that need the outside world call the injected
:class:`Outside` (:mod:`~dialplans.engine.media`, :mod:`~dialplans.engine.queue`,
:mod:`~dialplans.engine.dial`); the rest (:mod:`~dialplans.engine.branching`,
ExecIf) are pure. An unknown application or function raises
:class:`DialplanRunError` with the FILE:LINE of the priority.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from dialplans.engine.args import split_outside_parens
from dialplans.engine.branching import (
    goto_app,
    gotoif_app,
    gotoiftime_app,
    hangup_app,
    noop_app,
    set_app,
)
from dialplans.engine.dial import DialArgs, busy_app, congestion_app, dial_app, ringing_app
from dialplans.engine.flow import Flow as Flow
from dialplans.engine.flow import Redirect as Redirect
from dialplans.engine.flow import Result as Result
from dialplans.engine.functions import FunctionError, check_condition, read_function
from dialplans.engine.media import QueueLogEntry as QueueLogEntry
from dialplans.engine.media import ReadArgs as ReadArgs
from dialplans.engine.media import (
    agi_app,
    answer_app,
    playback_app,
    queue_log_app,
    read_app,
    say_digits_app,
    user_event_app,
    wait_app,
)
from dialplans.engine.model import Dialplan, DialplanRunError, Location, Priority, resolve_priority
from dialplans.engine.queue import QueueArgs, queue_app
from dialplans.engine.subst import SubstitutionError, substitute

MAX_STEPS = 10_000
# How long the PBX plays busy/congestion when a channel falls off its dialplan after such a Dial().
FALLTHROUGH_INDICATION_S = 10.0


@dataclass(frozen=True)
class Step:
    """One executed priority: where, what, with the substituted data."""

    context: str
    exten: str
    priority: int
    label: str | None
    app: str
    data: str
    where: Location


class ChannelFacts(Protocol):
    """The channel properties dialplan functions read (``CALLERID``, ``UNIQUEID``)."""

    name: str
    uniqueid: str
    caller_num: str
    caller_name: str


class Variables(Protocol):
    """Channel variables: ``__X``/``_X`` are stored under X with their prefix (the
    caller's store decides what setting one also does, e.g. a ``VarSet`` event)."""

    def get_var(self, name: str) -> str | None:
        """A variable by name (prefix ignored); None if unset."""
        ...

    def set_var(self, name: str, value: str) -> None:
        """Set a variable (name as written, prefix included)."""
        ...


class Outside(Protocol):
    """What the interpreter needs from the world; async where time passes.

    Handlers set the status variables their application sets
    (``AGISTATUS``, ``QUEUESTATUS``, ``READSTATUS``, ``PLAYBACKSTATUS``,
    the variable Read() fills) through ``ex.set``, and return how the
    dialplan goes on; a :class:`Redirect` moves the channel elsewhere.
    """

    def now(self) -> float:
        """Epoch seconds (``${EPOCH}``, ``GotoIfTime`` without ``TESTTIME``)."""
        ...

    def interrupted(self, ex: Execution) -> Result | None:
        """Checked before every priority: ``Flow.HANGUP`` if the channel was hung up,
        a :class:`Redirect` for an async goto (AMI Redirect), else None."""
        ...

    def executing(self, ex: Execution, step: Step) -> None:
        """The channel is about to run ``step`` (a wire emits ``Newexten``)."""
        ...

    def queue_member(self, queue: str, option: str) -> str | None:
        """``QUEUE_MEMBER(queue,option)``; None when there is no such queue."""
        ...

    async def answer(self, ex: Execution) -> Result:
        """Answer()."""
        ...

    async def playback(self, ex: Execution, sounds: tuple[str, ...], options: str) -> Result:
        """Playback(sound&sound…,options)."""
        ...

    async def queue(self, ex: Execution, args: QueueArgs) -> Result:
        """Queue(); answered calls normally end the dialplan (HANGUP)."""
        ...

    async def agi(self, ex: Execution, url: str, args: tuple[str, ...]) -> Result:
        """AGI(url,args…)."""
        ...

    async def dial(self, ex: Execution, args: DialArgs) -> Result:
        """Dial(); sets DIALSTATUS (and the times) and says whether the dialplan goes on."""
        ...

    async def indicate(self, ex: Execution, what: str, wait_s: float | None) -> Result:
        """Ringing() (``ringing``: goes on at once), Busy()/Congestion() (``busy``,
        ``congestion``: wait for the hangup, or ``wait_s``, then the dialplan ends)."""
        ...

    async def read(self, ex: Execution, args: ReadArgs) -> Result:
        """Read()."""
        ...

    async def wait(self, ex: Execution, seconds: float) -> Result:
        """Wait(seconds)."""
        ...

    def user_event(self, ex: Execution, name: str, body: tuple[tuple[str, str], ...]) -> None:
        """UserEvent(name,Key:value,…)."""
        ...

    def queue_log(self, ex: Execution, line: QueueLogEntry) -> None:
        """QueueLog(queuename,uniqueid,agent,event[,additionalinfo]): one queue_log line."""
        ...


@dataclass
class Execution:
    """One channel's run: position, variables, and the world it runs in."""

    plan: Dialplan
    channel: ChannelFacts
    variables: Variables
    outside: Outside
    zone: str
    context: str = ""
    exten: str = ""
    priority: int = 1
    where: Location | None = None
    timeouts: dict[str, str] = field(default_factory=dict)
    steps: int = 0

    def now(self) -> float:
        """The world's clock."""
        return self.outside.now()

    def var(self, name: str) -> str | None:
        """A variable, or one of the channel's built-in values."""
        builtin = _BUILTINS.get(name)
        if builtin is not None:
            return builtin(self)
        return self.variables.get_var(name)

    def set(self, name: str, value: str) -> None:
        """Set a channel variable (as Set() does)."""
        self.variables.set_var(name, value)

    def subst(self, text: str) -> str:
        """``text`` with ``${…}`` and ``$[…]`` replaced."""
        try:
            return substitute(text, self.var, self._call)
        except (SubstitutionError, FunctionError) as err:
            raise DialplanRunError(self.where, str(err)) from None

    def _call(self, name: str, data: str) -> str:
        return read_function(self, name, data)

    def fail(self, message: str) -> DialplanRunError:
        """An error at the current priority's FILE:LINE."""
        return DialplanRunError(self.where, message)


_BUILTINS: dict[str, Callable[[Execution], str]] = {
    "EXTEN": lambda ex: ex.exten,
    "CONTEXT": lambda ex: ex.context,
    "PRIORITY": lambda ex: str(ex.priority),
    "UNIQUEID": lambda ex: ex.channel.uniqueid,
    "CHANNEL": lambda ex: ex.channel.name,
    "EPOCH": lambda ex: str(int(ex.now())),
}

App = Callable[[Execution, str], Awaitable[Result]]


class Interpreter:
    """Runs channels through one loaded :class:`Dialplan`."""

    def __init__(self, plan: Dialplan, zone: str = "UTC", max_steps: int = MAX_STEPS) -> None:
        self.plan = plan
        self.zone = zone
        self.max_steps = max_steps
        self._apps: dict[str, App] = {
            "SET": set_app,
            "NOOP": noop_app,
            "VERBOSE": noop_app,
            "GOTO": goto_app,
            "GOTOIF": gotoif_app,
            "GOTOIFTIME": gotoiftime_app,
            "EXECIF": self._execif,
            "HANGUP": hangup_app,
            "ANSWER": answer_app,
            "PLAYBACK": playback_app,
            "QUEUE": queue_app,
            "DIAL": dial_app,
            "RINGING": ringing_app,
            "BUSY": busy_app,
            "CONGESTION": congestion_app,
            "AGI": agi_app,
            "READ": read_app,
            "WAIT": wait_app,
            "SAYDIGITS": say_digits_app,
            "USEREVENT": user_event_app,
            "QUEUELOG": queue_log_app,
        }

    def execution(self, channel: ChannelFacts, variables: Variables, outside: Outside) -> Execution:
        """A fresh execution state for one channel."""
        return Execution(self.plan, channel, variables, outside, self.zone)

    async def run(self, ex: Execution, context: str, exten: str, priority: str = "1") -> str:
        """Run ``ex`` from ``context,exten,priority`` until the dialplan ends; returns why it ended
        (``hangup``, ``fell off <context>,<exten>`` …)."""
        target: Redirect | None = Redirect(context, exten, priority)
        while True:
            if target is not None:
                self._jump(ex, target)
                target = None
            pending = ex.outside.interrupted(ex)
            if pending is Flow.HANGUP:
                return "hangup"
            if isinstance(pending, Redirect):
                target = pending
                continue
            ext = self.plan.find(ex.context, ex.exten)
            prio = ext.priorities.get(ex.priority) if ext is not None else None
            if prio is None:
                # autofallthrough=yes: no such priority, the PBX hangs the channel up;
                # after a busy or congested Dial() it first indicates that for 10 s
                # (__ast_pbx_run; dial-busy.full.log: the hangup comes 10 s later).
                status = (ex.var("DIALSTATUS") or "").upper()
                if status == "BUSY":
                    await ex.outside.indicate(ex, "busy", FALLTHROUGH_INDICATION_S)
                elif status in ("CONGESTION", "CHANUNAVAIL"):
                    await ex.outside.indicate(ex, "congestion", FALLTHROUGH_INDICATION_S)
                return f"fell off {ex.context},{ex.exten},{ex.priority}"
            ex.steps += 1
            if ex.steps > self.max_steps:
                raise DialplanRunError(
                    prio.where, f"more than {self.max_steps} priorities run (a loop?)"
                )
            result = await self._execute(ex, prio)
            if result is Flow.HANGUP:
                return "hangup"
            if isinstance(result, Redirect):
                target = result
            else:
                ex.priority += 1

    async def run_hangup_exten(self, ex: Execution) -> bool:
        """Run the ``h`` extension of the channel's current context, if it has one, as
        ``ast_pbx_h_exten_run`` does after the dialplan ended (the channel is already
        hung up: no interruption stops it, an application that hangs up ends it).
        Returns whether there was one."""
        if self.plan.find(ex.context, "h") is None:
            return False
        ex.exten, ex.priority = "h", 1
        while True:
            ext = self.plan.find(ex.context, ex.exten)
            prio = ext.priorities.get(ex.priority) if ext is not None else None
            if prio is None:
                return True
            ex.steps += 1
            if ex.steps > self.max_steps:
                raise DialplanRunError(
                    prio.where, f"more than {self.max_steps} priorities run (a loop?)"
                )
            result = await self._execute(ex, prio)
            if result is Flow.HANGUP:
                return True
            if isinstance(result, Redirect):
                self._jump(ex, result)
            else:
                ex.priority += 1

    def _jump(self, ex: Execution, target: Redirect) -> None:
        ext = self.plan.find(target.context, target.exten)
        if ext is None:
            raise ex.fail(f"no extension {target.exten!r} in context {target.context!r}")
        prio = target.priority.strip()
        if (
            prio.startswith(("+", "-"))
            and prio[1:].isdigit()
            and target.context == ex.context
            and target.exten == ex.exten
        ):
            number: int | None = ex.priority + int(prio)
        else:
            number = resolve_priority(ext, prio)
        if number is None:
            raise ex.fail(f"no priority or label {prio!r} in {target.context},{target.exten}")
        ex.context, ex.exten, ex.priority = target.context, target.exten, number

    async def _execute(self, ex: Execution, prio: Priority) -> Result:
        ex.where = prio.where
        app = self._apps.get(prio.app.upper())
        if app is None:
            raise ex.fail(f"unknown application {prio.app}()")
        data = ex.subst(prio.data)
        ex.outside.executing(
            ex, Step(ex.context, ex.exten, ex.priority, prio.label, prio.app, data, prio.where)
        )
        return await app(ex, data)

    async def _execif(self, ex: Execution, data: str) -> Result:
        cond, sep, rest = data.partition("?")
        if not sep:
            raise ex.fail("ExecIf needs expression?app(args)[:app(args)]")
        yes, no = split_outside_parens(rest, ":")
        chosen = yes if check_condition(cond) else no
        if not chosen:
            return Flow.CONTINUE
        name, _, args = chosen.partition("(")
        args = args[:-1] if args.endswith(")") else args
        app = self._apps.get(name.strip().upper())
        if app is None:
            raise ex.fail(f"unknown application {name.strip()}() in ExecIf")
        return await app(ex, args)
