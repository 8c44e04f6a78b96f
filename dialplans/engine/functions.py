"""The dialplan functions the generated files use, with Asterisk's semantics.

Reading: ``IF``, ``STRFTIME``, ``FILTER``, ``CALLERID``, ``DIALPLAN_EXISTS``,
``CUT``, ``FIELDNUM``, ``LEN``, ``QUEUE_MEMBER`` (asked of the injected
world), ``TIMEOUT``. Writing (``Set(F(arg)=value)``): ``CALLERID``,
``TIMEOUT``. Any other name is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialplans.engine.args import split_args

if TYPE_CHECKING:
    from dialplans.engine.interp import Execution


class FunctionError(ValueError):
    """An unknown function, or arguments it refuses."""


def check_condition(value: str) -> bool:
    """``pbx_checkcondition``: empty is false, a leading integer decides, other text is true."""
    text = value.strip()
    if not text:
        return False
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    digits = ""
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    if digits:
        return sign * int(digits) != 0
    return True


def _if(ex: Execution, data: str) -> str:
    cond, _, rest = data.partition("?")
    branches = split_args(rest, 2, ":")
    yes = branches[0]
    no = branches[1] if len(branches) > 1 else ""
    return yes if check_condition(cond) else no


def _strftime(ex: Execution, data: str) -> str:
    args = split_args(data, 3)
    epoch_text = args[0].strip() if args else ""
    zone_name = args[1].strip() if len(args) > 1 and args[1].strip() else ex.zone
    fmt = args[2] if len(args) > 2 and args[2] else "%c"
    try:
        epoch = float(epoch_text) if epoch_text else ex.now()
    except ValueError:
        raise FunctionError(f"STRFTIME: {epoch_text!r} is not an epoch") from None
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FunctionError(f"STRFTIME: unknown time zone {zone_name!r}") from None
    return datetime.fromtimestamp(int(epoch), zone).strftime(fmt)


def _filter_chars(spec: str) -> set[str]:
    chars: set[str] = set()
    i = 0
    while i < len(spec):
        ch = spec[i]
        if ch == "\\" and i + 1 < len(spec):
            chars.add(spec[i + 1])
            i += 2
            continue
        if i + 2 < len(spec) and spec[i + 1] == "-":
            lo, hi = ord(ch), ord(spec[i + 2])
            chars.update(chr(c) for c in range(min(lo, hi), max(lo, hi) + 1))
            i += 3
            continue
        chars.add(ch)
        i += 1
    return chars


def _filter(ex: Execution, data: str) -> str:
    allowed, sep, text = data.partition(",")
    if not sep:
        raise FunctionError("FILTER needs allowed-chars,string")
    chars = _filter_chars(allowed)
    return "".join(c for c in text if c in chars)


# CALLERID's names for the number, and TIMEOUT's kinds, read and written alike.
_NUMBER = ("num", "number")
_TIMEOUTS = ("absolute", "digit", "response")


def _callerid(ex: Execution, data: str) -> str:
    what = data.strip().lower()
    if what in _NUMBER:
        return ex.channel.caller_num
    if what == "name":
        return ex.channel.caller_name
    if what == "all":
        return f'"{ex.channel.caller_name}" <{ex.channel.caller_num}>'
    raise FunctionError(f"CALLERID({data}): only num, name and all are supported")


def _dialplan_exists(ex: Execution, data: str) -> str:
    args = [a.strip() for a in split_args(data, 3)]
    context = args[0]
    exten = args[1] if len(args) > 1 else ""
    priority = args[2] if len(args) > 2 else None
    return "1" if ex.plan.exists(context, exten, priority) else "0"


def _fields(ranges: str) -> list[tuple[int, int | None]]:
    out: list[tuple[int, int | None]] = []
    for part in ranges.split("&"):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            start = int(lo) if lo else 1
            end = (int(hi) if hi else None) if sep else start
        except ValueError:
            raise FunctionError(f"CUT: bad field range {part!r}") from None
        out.append((start, end))
    return out


def _var_delimiter(ex: Execution, data: str, name: str, last: str) -> tuple[str, str, str]:
    """CUT's and FIELDNUM's ``varname,delimiter,last``: the value, the delimiter (``-``), last."""
    args = split_args(data, 3)
    if len(args) < 3:
        raise FunctionError(f"{name} needs varname,delimiter,{last}")
    return ex.var(args[0].strip()) or "", args[1][:1] or "-", args[2]


def _cut(ex: Execution, data: str) -> str:
    value, delim, fields = _var_delimiter(ex, data, "CUT", "fields")
    parts = value.split(delim)
    chosen: list[str] = []
    for start, end in _fields(fields):
        last = len(parts) if end is None else min(end, len(parts))
        chosen.extend(parts[start - 1 : last])
    return delim.join(chosen) if value else ""


def _fieldnum(ex: Execution, data: str) -> str:
    value, delim, field = _var_delimiter(ex, data, "FIELDNUM", "field")
    if not value:
        return "0"
    for index, part in enumerate(value.split(delim), start=1):
        if part == field:
            return str(index)
    return "0"


def _len(ex: Execution, data: str) -> str:
    return str(len(data))


def _queue_member(ex: Execution, data: str) -> str:
    args = [a.strip() for a in split_args(data, 3)]
    if len(args) < 2 or not args[0] or not args[1]:
        raise FunctionError("QUEUE_MEMBER needs queuename,option")
    option = args[1].lower()
    if option not in ("logged", "free", "ready", "count", "paused", "penalty", "ignorebusy"):
        raise FunctionError(f"QUEUE_MEMBER: unsupported option {args[1]!r}")
    value = ex.outside.queue_member(args[0], option)
    return "" if value is None else value


def _timeout(ex: Execution, data: str) -> str:
    kind = data.strip().lower()
    if kind not in _TIMEOUTS:
        raise FunctionError(f"TIMEOUT({data}): absolute, digit or response")
    return ex.timeouts.get(kind, "")


READERS: dict[str, Callable[[Execution, str], str]] = {
    "IF": _if,
    "STRFTIME": _strftime,
    "FILTER": _filter,
    "CALLERID": _callerid,
    "DIALPLAN_EXISTS": _dialplan_exists,
    "CUT": _cut,
    "FIELDNUM": _fieldnum,
    "LEN": _len,
    "QUEUE_MEMBER": _queue_member,
    "TIMEOUT": _timeout,
}


def read_function(ex: Execution, name: str, data: str) -> str:
    """The value of ``${NAME(data)}``."""
    func = READERS.get(name.upper())
    if func is None:
        raise FunctionError(f"unknown dialplan function {name}()")
    return func(ex, data)


def write_function(ex: Execution, name: str, data: str, value: str) -> None:
    """``Set(NAME(data)=value)``."""
    upper = name.upper()
    arg = data.strip().lower()
    if upper == "CALLERID" and arg in _NUMBER:
        ex.channel.caller_num = value
    elif upper == "CALLERID" and arg == "name":
        ex.channel.caller_name = value
    elif upper == "TIMEOUT" and arg in _TIMEOUTS:
        ex.timeouts[arg] = value
    elif upper in READERS:
        raise FunctionError(f"{name}({data}) cannot be written")
    else:
        raise FunctionError(f"unknown dialplan function {name}()")
