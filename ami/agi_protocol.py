"""The FastAGI wire protocol as Asterisk 22's res_agi speaks it (no I/O here).

When the dialplan runs ``AGI(agi://host:port/route,A,B)``, res_agi connects and
sends ``agi_network: yes``, ``agi_network_script: route`` (the URL path after
the host, only when non-empty), then ``agi_request: agi://host:port/route``
followed by the channel environment (``agi_channel``, ``agi_callerid`` …) and
the AGI() arguments as ``agi_arg_1: A``, ``agi_arg_2: B``. Every line is
``name: value\\n`` (LF only) and a blank line ends the environment.

The server then sends one command per line; res_agi answers each with a line
``200 result=…``, ``510 Invalid or unknown command``, ``511 …`` (command not
allowed on a dead channel), or the multi-line usage form ``520-…`` … ``520 End
of proper usage.``. When the caller hangs up while the channel sits in AGI(),
res_agi writes ``HANGUP`` inline, before any pending reply.

Commands are split into words by res_agi's ``parse_args``: a ``"`` toggles
quoting, a backslash makes the next character literal (and is dropped). So a
value is sent double-quoted with ``"`` and ``\\`` backslash-escaped; CR/LF
cannot be escaped at all (the line would end), and NUL would truncate the C
string, so values containing them are refused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

# res_agi reads a command line into a buffer of AGI_BUF_LEN (8192) bytes; a
# longer line is cut and its tail executed as a second command. Keep every
# command line, newline included, strictly below that.
MAX_COMMAND_BYTES = 8191

# Asterisk variable names as lotse sets them: optional "_"/"__" inheritance
# prefix, then letters, digits, underscores. Dialplan functions such as
# CALLERID(num) are deliberately not allowed through SET VARIABLE.
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REPLY_LINE = re.compile(r"(\d{3})([ -])(.*)")
_ARG_PREFIX = "agi_arg_"


@dataclass(frozen=True, repr=False)
class AgiRequest:
    """One FastAGI request: the environment res_agi sent before the blank line.

    ``script`` is the URL path after ``agi://host:port/`` without a query
    string (``route`` for the lotse dialplan); ``args`` are ``agi_arg_1 … N``
    in order. ``callerid``/``calleridname`` are personal data and are masked in
    ``repr``; ``env`` keeps every raw pair in wire order (also masked in
    ``repr`` because it contains the caller number too).
    """

    script: str
    args: tuple[str, ...]
    request: str
    network: bool
    channel: str
    uniqueid: str
    callerid: str
    calleridname: str
    dnid: str
    extension: str
    context: str
    language: str
    version: str
    env: tuple[tuple[str, str], ...]
    malformed_lines: int = 0

    def arg(self, position: int) -> str:
        """The AGI() argument at 1-based ``position`` (``agi_arg_N``), or ``""``."""
        if 1 <= position <= len(self.args):
            return self.args[position - 1]
        return ""

    def value(self, key: str, default: str = "") -> str:
        """The raw value of env line ``key`` (last occurrence wins)."""
        found = default
        for name, val in self.env:
            if name == key:
                found = val
        return found

    @property
    def is_agi(self) -> bool:
        """Whether the peer sent anything that looks like an AGI environment."""
        return any(name.startswith("agi_") for name, _ in self.env)

    def __repr__(self) -> str:
        return (
            f"AgiRequest(script={self.script!r}, args={self.args!r}, "
            f"channel={self.channel!r}, uniqueid={self.uniqueid!r}, "
            f"callerid=<masked>, calleridname=<masked>, dnid={self.dnid!r}, "
            f"extension={self.extension!r}, context={self.context!r}, "
            f"language={self.language!r}, version={self.version!r}, "
            f"env=<{len(self.env)} pairs>, malformed_lines={self.malformed_lines})"
        )


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _script_of(network_script: str, request: str) -> str:
    """The script name: ``agi_network_script`` or the path of ``agi_request``.

    res_agi sends ``agi_network_script`` only for FastAGI URLs with a path;
    the fallback covers peers (simulators) that send just ``agi_request``.
    """
    if not network_script and "://" in request:
        network_script = request.split("://", 1)[1].partition("/")[2]
    return network_script.partition("?")[0]


def parse_env(lines: Iterable[str]) -> AgiRequest:
    """Parse decoded environment lines into an :class:`AgiRequest`.

    Never raises: a line without ``": "`` is counted in ``malformed_lines``
    and skipped; missing fields are ``""``. Parsing stops at the first blank
    line (the end of the environment on the wire). Arguments are taken as
    ``agi_arg_1``, ``agi_arg_2`` … up to the first missing index, which is how
    res_agi numbers them (no gaps, empty arguments sent as empty values).
    """
    pairs: list[tuple[str, str]] = []
    malformed = 0
    for raw in lines:
        line = _strip_eol(raw)
        if not line:
            break
        name, sep, val = line.partition(": ")
        if not sep or not name:
            malformed += 1
            continue
        pairs.append((name, val))
    fields = dict(pairs)
    args: list[str] = []
    while (key := f"{_ARG_PREFIX}{len(args) + 1}") in fields:
        args.append(fields[key])
    request = fields.get("agi_request", "")
    return AgiRequest(
        script=_script_of(fields.get("agi_network_script", ""), request),
        args=tuple(args),
        request=request,
        network=fields.get("agi_network", "") == "yes",
        channel=fields.get("agi_channel", ""),
        uniqueid=fields.get("agi_uniqueid", ""),
        callerid=fields.get("agi_callerid", ""),
        calleridname=fields.get("agi_calleridname", ""),
        dnid=fields.get("agi_dnid", ""),
        extension=fields.get("agi_extension", ""),
        context=fields.get("agi_context", ""),
        language=fields.get("agi_language", ""),
        version=fields.get("agi_version", ""),
        env=tuple(pairs),
        malformed_lines=malformed,
    )


def escape_value(value: str) -> str:
    """Quote ``value`` so res_agi's ``parse_args`` reads it back as one word."""
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + value + '"'


@functools.lru_cache(maxsize=256)
def _valid_name(name: str) -> bool:
    # A reply sets the same few names every time: checked once each.
    return _VARIABLE_NAME.fullmatch(name) is not None


def format_set_variable(name: str, value: str) -> bytes:
    """Render ``SET VARIABLE name "value"\\n``; ValueError if it cannot be sent.

    The error message names the variable but never echoes the value, which
    may carry personal data.
    """
    if not _valid_name(name):
        raise ValueError(f"invalid AGI variable name {name[:40]!r}")
    if "\n" in value or "\r" in value or "\x00" in value:
        raise ValueError(f"value for {name} contains CR, LF or NUL")
    line = f"SET VARIABLE {name} {escape_value(value)}\n".encode()
    if len(line) > MAX_COMMAND_BYTES:
        raise ValueError(f"value for {name} makes a command line over {MAX_COMMAND_BYTES} bytes")
    return line


@dataclass(frozen=True)
class AgiReply:
    """The channel variables to set, in order; validated on construction."""

    variables: tuple[tuple[str, str], ...] = ()
    # Rendered once: validating a reply is rendering it.
    _lines: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lines = tuple(format_set_variable(name, value) for name, value in self.variables)
        object.__setattr__(self, "_lines", lines)

    @classmethod
    def from_mapping(cls, variables: Mapping[str, str]) -> AgiReply:
        """Build a reply from a mapping (insertion order is the wire order)."""
        return cls(tuple(variables.items()))

    def command_lines(self) -> tuple[bytes, ...]:
        """The ``SET VARIABLE`` lines to write, one per variable."""
        return self._lines


class ResponseKind(Enum):
    """How res_agi answered one command."""

    SUCCESS = "success"  # 200 result=…
    ERROR = "error"  # 510 / 511 / 520 or any other code
    HANGUP = "hangup"  # the channel hung up (sent inline, before the reply)
    GARBLED = "garbled"  # not an AGI reply line at all


@dataclass(frozen=True)
class AgiResponse:
    """One complete answer from res_agi (a multi-line 520 is one response)."""

    kind: ResponseKind
    code: int | None
    text: str


@dataclass(frozen=True)
class ReplyLine:
    """One reply line classified: ``continued`` for the ``NNN-`` form."""

    response: AgiResponse
    continued: bool


def classify_reply_line(line: str) -> ReplyLine:
    """Classify one line sent by res_agi after a command.

    ``520-Invalid command syntax.  Proper usage follows:`` starts a multi-line
    answer that ends with a line ``520 End of proper usage.``; the caller keeps
    reading until :func:`ends_continuation` says so.
    """
    text = _strip_eol(line)
    if text == "HANGUP":
        return ReplyLine(AgiResponse(ResponseKind.HANGUP, None, text), continued=False)
    match = _REPLY_LINE.fullmatch(text)
    if match is None:
        return ReplyLine(AgiResponse(ResponseKind.GARBLED, None, text), continued=False)
    code = int(match.group(1))
    kind = ResponseKind.SUCCESS if code == 200 else ResponseKind.ERROR
    return ReplyLine(AgiResponse(kind, code, text), continued=match.group(2) == "-")


def ends_continuation(code: int, line: str) -> bool:
    """Whether ``line`` ends a multi-line ``NNN-`` answer with code ``code``."""
    return _strip_eol(line).startswith(f"{code} ")
