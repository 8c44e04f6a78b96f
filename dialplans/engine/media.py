"""The applications of the outside world: Answer, Playback, AGI, Read, SayDigits,
Wait, UserEvent, QueueLog. Each parses its arguments as Asterisk does and hands
them to the injected :class:`dialplans.engine.interp.Outside`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialplans.engine.args import split_args
from dialplans.engine.flow import Flow, Result

if TYPE_CHECKING:
    from dialplans.engine.interp import Execution


@dataclass(frozen=True)
class ReadArgs:
    """``Read(variable[,filenames[,maxdigits[,options[,attempts[,timeout]]]]])``."""

    variable: str
    prompts: tuple[str, ...]
    max_digits: int
    options: str
    attempts: int
    timeout_s: float | None


async def answer_app(ex: Execution, data: str) -> Result:
    return await ex.outside.answer(ex)


async def playback_app(ex: Execution, data: str) -> Result:
    args = split_args(data, 2)
    sounds = tuple(s.strip() for s in args[0].split("&") if s.strip())
    if not sounds:
        raise ex.fail("Playback needs a file name")
    return await ex.outside.playback(ex, sounds, args[1] if len(args) > 1 else "")


async def agi_app(ex: Execution, data: str) -> Result:
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


async def read_app(ex: Execution, data: str) -> Result:
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


async def say_digits_app(ex: Execution, data: str) -> Result:
    """SayDigits(digits): time passes for each digit said (the world plays nothing else)."""
    digits = "".join(ch for ch in data if ch.isdigit() or ch in "*#")
    return await ex.outside.wait(ex, SAY_DIGIT_S * len(digits))


async def wait_app(ex: Execution, data: str) -> Result:
    text = data.strip()
    try:
        seconds = float(text) if text else 0.0
    except ValueError:
        raise ex.fail(f"Wait({text}): not a number of seconds") from None
    return await ex.outside.wait(ex, seconds)


async def user_event_app(ex: Execution, data: str) -> Result:
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


async def queue_log_app(ex: Execution, data: str) -> Result:
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
