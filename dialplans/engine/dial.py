"""``Dial()`` and the indications a called channel gives (Ringing, Busy, Congestion).

``Dial(Tech/Resource[&Tech2/Resource2…][,timeout[,options[,URL]]])`` as
app_dial parses it: the timeout is seconds (``sscanf %lf``, ``answer^progress``;
empty, zero or garbage means no timeout), the options are app_dial's letters.
What a Dial does on the wire (the called channels, ``DIALSTATUS``, the
bridge, whether the priority after it runs) is the world's
(:meth:`dialplans.engine.interp.Outside.dial`).

``Busy()``/``Congestion()`` (``indicate_busy``): on a channel not yet up the
state becomes Busy and the hangup cause 17 (34), then the channel waits for
its hangup (or the given seconds) and the dialplan ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialplans.engine.args import split_args
from dialplans.engine.options import OptionError, parse_options

if TYPE_CHECKING:
    from dialplans.engine.interp import Execution, Result

#: app_dial's ``dial_exec_options``: letter → takes an argument.
DIAL_OPTIONS = {
    "A": True,
    "a": False,
    "b": True,
    "B": True,
    "C": False,
    "c": False,
    "d": False,
    "D": True,
    "E": False,
    "e": False,
    "f": True,
    "F": True,
    "g": False,
    "G": True,
    "h": False,
    "H": False,
    "i": False,
    "I": False,
    "j": False,
    "k": False,
    "K": False,
    "L": True,
    "m": True,
    "n": True,
    "N": False,
    "o": True,
    "O": True,
    "p": False,
    "P": True,
    "Q": True,
    "r": True,
    "R": False,
    "S": True,
    "s": True,
    "t": False,
    "T": False,
    "u": True,
    "U": True,
    "w": False,
    "W": False,
    "x": False,
    "X": False,
    "z": False,
}


@dataclass(frozen=True)
class DialArgs:
    """A parsed ``Dial()``: destinations (``Tech/Resource``), answer timeout, options."""

    targets: tuple[str, ...]
    timeout_s: float | None  # None: ring until someone answers or everyone is gone
    options: tuple[tuple[str, str], ...] = ()

    def option(self, letter: str) -> bool:
        """Whether the option letter was given."""
        return any(k == letter for k, _ in self.options)


def dial_args(ex: Execution, data: str) -> DialArgs:
    """The arguments of ``Dial(data)``; bad ones are errors at the priority's FILE:LINE."""
    args = split_args(data, 4)
    targets = tuple(t.strip() for t in args[0].split("&") if t.strip())
    if not targets:
        raise ex.fail("Dial needs Tech/Resource")
    for target in targets:
        tech, slash, resource = target.partition("/")
        if not slash or not tech or not resource:
            raise ex.fail(f"Dial destination {target!r} is not Tech/Resource")
    timeout: float | None = None
    answer = (args[1] if len(args) > 1 else "").partition("^")[0].strip()
    match = re.match(r"[+-]?(\d+\.?\d*|\.\d+)", answer)
    if match and float(match.group(0)) > 0:
        timeout = float(match.group(0))
    options = args[2].strip() if len(args) > 2 else ""
    try:
        parsed = parse_options(options, DIAL_OPTIONS, "Dial")
    except OptionError as err:
        raise ex.fail(str(err)) from None
    return DialArgs(targets, timeout, tuple(parsed.items()))


async def dial_app(ex: Execution, data: str) -> Result:
    """Dial(): the world calls the destinations and bridges the one that answers."""
    return await ex.outside.dial(ex, dial_args(ex, data))


async def ringing_app(ex: Execution, data: str) -> Result:
    """Ringing(): tell the calling side this channel rings."""
    return await ex.outside.indicate(ex, "ringing", None)


async def busy_app(ex: Execution, data: str) -> Result:
    """Busy([timeout]): busy, then wait for the hangup (or ``timeout`` seconds)."""
    return await ex.outside.indicate(ex, "busy", _wait_seconds(data))


async def congestion_app(ex: Execution, data: str) -> Result:
    """Congestion([timeout]): congestion, then wait for the hangup (or ``timeout`` s)."""
    return await ex.outside.indicate(ex, "congestion", _wait_seconds(data))


def _wait_seconds(data: str) -> float | None:
    """``wait_for_hangup``'s argument: ``sscanf %lg``, negative or none: until hangup."""
    match = re.match(r"\s*[+-]?(\d+\.?\d*|\.\d+)", data)
    if not match:
        return None
    value = float(match.group(0))
    return value if value >= 0 else None
