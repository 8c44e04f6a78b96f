"""Running a channel through the dialplan: the pbx loop and the applications.

:class:`Interpreter` walks priorities like ``__ast_pbx_run``: each step
substitutes the application data, tells the world it is executing it
(``Newexten`` on a wire), runs the application and moves on to the next
priority, or where a Goto sent it. Falling off the end of an extension
ends the call (``autofallthrough``), as does Hangup() or an application
that hangs up. Applications that need the outside world call the injected
:class:`Outside`; the rest (Set, Goto, GotoIf, GotoIfTime, ExecIf, NoOp,
Hangup) are pure. An unknown application or function raises
:class:`DialplanRunError` with the FILE:LINE of the priority.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from dialplans.engine.args import split_args, split_outside_parens
from dialplans.engine.dial import DialArgs, busy_app, congestion_app, dial_app, ringing_app
from dialplans.engine.functions import FunctionError, check_condition, read_function, write_function
from dialplans.engine.model import Dialplan, DialplanRunError, Location, Priority, resolve_priority
from dialplans.engine.queue import QueueArgs, queue_app
from dialplans.engine.subst import SubstitutionError, substitute
from dialplans.engine.timing import TimingError, parse_timing

MAX_STEPS = 10_000
# How long the PBX plays busy/congestion when a channel falls off its dialplan after such a Dial().
FALLTHROUGH_INDICATION_S = 10.0


class Flow(Enum):
    """What the channel does after an application."""

    CONTINUE = "continue"  # the next priority
    HANGUP = "hangup"  # the dialplan ends (hung up, or the caller is gone)


@dataclass(frozen=True)
class Redirect:
    """Continue at ``context,exten,priority`` (a Goto, or an AMI Redirect from outside)."""

    context: str
    exten: str
    priority: str = "1"


Result = Flow | Redirect


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


@dataclass(frozen=True)
class ReadArgs:
    """``Read(variable[,filenames[,maxdigits[,options[,attempts[,timeout]]]]])``."""

    variable: str
    prompts: tuple[str, ...]
    max_digits: int
    options: str
    attempts: int
    timeout_s: float | None


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
            "SET": _set,
            "NOOP": _noop,
            "VERBOSE": _noop,
            "GOTO": _goto,
            "GOTOIF": _gotoif,
            "GOTOIFTIME": _gotoiftime,
            "EXECIF": self._execif,
            "HANGUP": _hangup,
            "ANSWER": _answer,
            "PLAYBACK": _playback,
            "QUEUE": queue_app,
            "DIAL": dial_app,
            "RINGING": ringing_app,
            "BUSY": busy_app,
            "CONGESTION": congestion_app,
            "AGI": _agi,
            "READ": _read,
            "WAIT": _wait,
            "SAYDIGITS": _say_digits,
            "USEREVENT": _user_event,
            "QUEUELOG": _queue_log,
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


# -- pure applications ---------------------------------------------------------


async def _noop(ex: Execution, data: str) -> Result:
    return Flow.CONTINUE


async def _hangup(ex: Execution, data: str) -> Result:
    return Flow.HANGUP


async def _set(ex: Execution, data: str) -> Result:
    name, sep, value = data.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ex.fail("Set needs name=value")
    if name.endswith(")") and "(" in name:
        fname, _, fargs = name[:-1].partition("(")
        try:
            write_function(ex, fname.strip(), fargs, value)
        except FunctionError as err:
            raise ex.fail(str(err)) from None
        return Flow.CONTINUE
    ex.set(name, value)
    return Flow.CONTINUE


def _goto_target(ex: Execution, text: str) -> Redirect:
    """``[[context,]exten,]priority`` relative to the channel's position."""
    parts = [p.strip() for p in split_args(text)]
    if len(parts) == 1:
        return Redirect(ex.context, ex.exten, parts[0])
    if len(parts) == 2:
        return Redirect(ex.context, parts[0], parts[1])
    if len(parts) == 3:
        return Redirect(parts[0], parts[1], parts[2])
    raise ex.fail(f"Goto target {text!r}: [[context,]exten,]priority")


async def _goto(ex: Execution, data: str) -> Result:
    if not data.strip():
        raise ex.fail("Goto needs a target")
    return _goto_target(ex, data)


def _branch(ex: Execution, taken: bool, branches: str) -> Result:
    yes, _, no = branches.partition(":")
    target = yes if taken else no
    if not target.strip():
        return Flow.CONTINUE
    return _goto_target(ex, target)


async def _gotoif(ex: Execution, data: str) -> Result:
    cond, sep, branches = data.partition("?")
    if not sep:
        raise ex.fail("GotoIf needs condition?label1[:label2]")
    return _branch(ex, check_condition(cond), branches)


async def _gotoiftime(ex: Execution, data: str) -> Result:
    spec, sep, branches = data.partition("?")
    if not sep:
        raise ex.fail("GotoIfTime needs times,weekdays,mdays,months[,timezone]?label")
    try:
        timing = parse_timing(spec)
    except TimingError as err:
        raise ex.fail(f"GotoIfTime: {err}") from None
    # pbx_builtin_gotoiftime: sscanf(TESTTIME, "%ld"), else the current time.
    match = re.match(r"\s*([+-]?[0-9]+)", ex.var("TESTTIME") or "")
    moment = float(int(match.group(1))) if match else ex.now()
    try:
        inside = timing.matches(moment, ex.zone)
    except TimingError as err:
        raise ex.fail(f"GotoIfTime: {err}") from None
    return _branch(ex, inside, branches)


# -- applications of the outside world ----------------------------------------


async def _answer(ex: Execution, data: str) -> Result:
    return await ex.outside.answer(ex)


async def _playback(ex: Execution, data: str) -> Result:
    args = split_args(data, 2)
    sounds = tuple(s.strip() for s in args[0].split("&") if s.strip())
    if not sounds:
        raise ex.fail("Playback needs a file name")
    return await ex.outside.playback(ex, sounds, args[1] if len(args) > 1 else "")


async def _agi(ex: Execution, data: str) -> Result:
    args = split_args(data)
    if not args[0].strip():
        raise ex.fail("AGI needs a script or agi:// URL")
    return await ex.outside.agi(ex, args[0].strip(), tuple(args[1:]))


def _int_arg(ex: Execution, args: list[str], index: int, default: int) -> int:
    text = args[index].strip() if len(args) > index else ""
    if not text:
        return default
    if not text.isdigit():
        raise ex.fail(f"argument {index + 1} {text!r} is not a number")
    return int(text)


async def _read(ex: Execution, data: str) -> Result:
    args = split_args(data)
    variable = args[0].strip()
    if not variable:
        raise ex.fail("Read needs a variable name")
    prompts = tuple(p for p in (args[1].split("&") if len(args) > 1 else []) if p.strip())
    timeout_text = args[5].strip() if len(args) > 5 else ""
    try:
        timeout = float(timeout_text) if timeout_text else None
    except ValueError:
        raise ex.fail(f"Read timeout {timeout_text!r} is not a number") from None
    read = ReadArgs(
        variable,
        prompts,
        _int_arg(ex, args, 2, 0),
        args[3].strip() if len(args) > 3 else "",
        _int_arg(ex, args, 4, 1) or 1,
        timeout,
    )
    return await ex.outside.read(ex, read)


# How long SayDigits() takes per digit (Asterisk's digits/N sounds are about this long).
SAY_DIGIT_S = 0.6


async def _say_digits(ex: Execution, data: str) -> Result:
    """SayDigits(digits): time passes for each digit said (the world plays nothing else)."""
    digits = "".join(ch for ch in data if ch.isdigit() or ch in "*#")
    return await ex.outside.wait(ex, SAY_DIGIT_S * len(digits))


async def _wait(ex: Execution, data: str) -> Result:
    text = data.strip()
    try:
        seconds = float(text) if text else 0.0
    except ValueError:
        raise ex.fail(f"Wait({text}): not a number of seconds") from None
    return await ex.outside.wait(ex, seconds)


async def _user_event(ex: Execution, data: str) -> Result:
    args = split_args(data)
    name = args[0].strip()
    if not name:
        raise ex.fail("UserEvent needs an event name")
    body = []
    for item in args[1:]:
        key, _, value = item.partition(":")
        body.append((key.strip(), value.strip()))
    ex.outside.user_event(ex, name, tuple(body))
    return Flow.CONTINUE


@dataclass(frozen=True, slots=True)
class QueueLogEntry:
    """What QueueLog() hands to ``ast_queue_log``: the file backend writes
    ``TIME|uniqueid|queue|agent|event|info`` with ``info`` as given (its ``|``
    separate data fields; empty: the line ends in ``|``)."""

    queue: str
    uniqueid: str
    agent: str
    event: str
    info: str


async def _queue_log(ex: Execution, data: str) -> Result:
    # apps/app_queue.c ql_exec (Asterisk 22): AST_STANDARD_APP_ARGS into five
    # arguments, the last taking the rest (commas included); the first four
    # must not be empty, or Asterisk warns and the channel hangs up (-1):
    # here an error naming FILE:LINE, as every misuse the interpreter finds.
    args = split_args(data, 5)
    queue, uniqueid, agent, event = [*args, "", "", ""][:4]
    if not (queue and uniqueid and agent and event):
        raise ex.fail(
            "QueueLog requires arguments (queuename,uniqueid,membername,event[,additionalinfo])"
        )
    info = args[4] if len(args) > 4 else ""
    ex.outside.queue_log(ex, QueueLogEntry(queue, uniqueid, agent, event, info))
    return Flow.CONTINUE
