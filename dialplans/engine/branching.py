"""The pure applications: Set, Goto, GotoIf, GotoIfTime, NoOp/Verbose, Hangup."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dialplans.engine.args import split_args
from dialplans.engine.flow import Flow, Redirect, Result
from dialplans.engine.functions import FunctionError, check_condition, write_function
from dialplans.engine.timing import TimingError, parse_timing

if TYPE_CHECKING:
    from dialplans.engine.interp import Execution


async def noop_app(ex: Execution, data: str) -> Result:
    return Flow.CONTINUE


async def hangup_app(ex: Execution, data: str) -> Result:
    return Flow.HANGUP


async def set_app(ex: Execution, data: str) -> Result:
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


async def goto_app(ex: Execution, data: str) -> Result:
    if not data.strip():
        raise ex.fail("Goto needs a target")
    return _goto_target(ex, data)


def _branch(ex: Execution, taken: bool, branches: str) -> Result:
    yes, _, no = branches.partition(":")
    target = yes if taken else no
    if not target.strip():
        return Flow.CONTINUE
    return _goto_target(ex, target)


async def gotoif_app(ex: Execution, data: str) -> Result:
    cond, sep, branches = data.partition("?")
    if not sep:
        raise ex.fail("GotoIf needs condition?label1[:label2]")
    return _branch(ex, check_condition(cond), branches)


async def gotoiftime_app(ex: Execution, data: str) -> Result:
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
