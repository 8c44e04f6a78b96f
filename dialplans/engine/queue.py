"""``Queue()`` as Asterisk 22 parses it.

Asterisk 22's Queue has nine arguments (the macro argument is gone,
``../shared/asterisk/queue-app-syntax.txt``)::

    Queue(queuename,options,URL,announceoverride,timeout,AGI,gosub,rule,position)

The arguments are split like ``AST_STANDARD_APP_ARGS``: the ninth takes the
rest of the text, commas included, and app_queue reads it with ``atoi``. So
``Queue(q,,,,60,,,,1)`` joins at position 1, while a ten-argument
``Queue(q,,,,60,,,,,1)`` reads the position as ``",1"`` → 0 and joins at the
end, without a warning (``queue-position.txt``: the fourth caller is at
Position 4). A negative position is 0 too (app_queue warns and ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialplans.engine.args import split_args
from dialplans.engine.options import OptionError, atoi, parse_options

if TYPE_CHECKING:
    from dialplans.engine.interp import Execution, Result

#: app_queue's ``queue_exec_options``: letter → takes an argument.
QUEUE_OPTIONS = {
    "b": True,
    "B": True,
    "C": False,
    "c": False,
    "d": False,
    "F": True,
    "h": False,
    "H": False,
    "i": False,
    "I": False,
    "k": False,
    "K": False,
    "m": True,
    "n": False,
    "r": False,
    "R": False,
    "t": False,
    "T": False,
    "x": False,
    "X": False,
    "w": False,
    "W": False,
}
QUEUE_ARGS = 9


@dataclass(frozen=True)
class QueueArgs:
    """``Queue(queuename[,options[,URL[,announceoverride[,timeout[,AGI[,gosub[,rule[,position]]]]]]]])``."""

    queue: str
    options: str = ""
    timeout_s: int | None = None  # None or 0: no timeout
    position: int = 0  # 0: at the end (the ninth argument; 1 = first in line)


def queue_args(ex: Execution, data: str) -> QueueArgs:
    """The arguments of ``Queue(data)``; bad ones are errors at the priority's FILE:LINE."""
    args = split_args(data, QUEUE_ARGS)
    queue = args[0].strip()
    if not queue:
        raise ex.fail("Queue needs a queue name")
    options = args[1].strip() if len(args) > 1 else ""
    try:
        parse_options(options, QUEUE_OPTIONS, "Queue")
    except OptionError as err:
        raise ex.fail(str(err)) from None
    timeout_text = args[4].strip() if len(args) > 4 else ""
    timeout: int | None = None
    if timeout_text:
        if not timeout_text.lstrip("-").isdigit():
            raise ex.fail(f"Queue timeout {timeout_text!r} is not a number")
        timeout = max(0, int(timeout_text)) or None
    position = atoi(args[8]) if len(args) > 8 else 0
    return QueueArgs(queue, options, timeout, max(position, 0))


async def queue_app(ex: Execution, data: str) -> Result:
    """Queue(): the world waits, rings members and bridges."""
    return await ex.outside.queue(ex, queue_args(ex, data))
