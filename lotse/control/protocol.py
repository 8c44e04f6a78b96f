"""The control socket's protocol: one JSON object per line, each way.

A request names its ``command`` and the command's arguments::

    {"command": "status"}
    {"command": "route", "numbers": ["0421 1234"], "at": "2026-12-24T17:30",
     "dialed": "115", "postal_code": null}
    {"command": "override", "center": "bremen", "mode": "closed",
     "until": "2026-12-24T18:00+01:00", "reason": "staff meeting"}
    {"command": "reload"}
    {"command": "report", "day": "2026-11-23"}

The answer is ``{"ok": true, "result": {...}, "warnings": [...]}`` or
``{"ok": false, "error": KIND, "message": "...", "problems": [...]}``, where
``KIND`` tells the client its exit code: ``failed`` and ``busy`` are runtime
failures (1), every other kind is input to fix (2).

A request nests at most :data:`MAX_DEPTH` arrays and objects, checked before
the line reaches the JSON decoder, which recurses once per level: ``[`` sixty
thousand times (well under the size bound) would exhaust the interpreter's
stack instead of earning a ``bad_request``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# A request is a few hundred bytes; the bound keeps a garbage writer from
# making the controller buffer without end.
MAX_REQUEST_BYTES = 64 * 1024
MAX_NUMBERS = 100
# The deepest request is an object holding a list of strings (2).
MAX_DEPTH = 16
COMMANDS = ("status", "route", "override", "reload", "callbacks", "report")

# Error kinds (``failed`` alone means "not your input's fault").
BAD_REQUEST = "bad_request"
TOO_LARGE = "too_large"
UNKNOWN_COMMAND = "unknown_command"
UNKNOWN_CENTER = "unknown_center"
BAD_INPUT = "bad_input"
REFUSED = "refused"
FORBIDDEN = "forbidden"
BUSY = "busy"
FAILED = "failed"
# The kinds that are not the request's fault: the client exits 1 for them.
RUNTIME_KINDS = frozenset({FAILED, BUSY})

# What can change the nesting depth: brackets, and the quotes and escapes
# that decide whether a bracket is inside a string.
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


class RequestError(Exception):
    """A request that cannot be served; becomes an error answer."""

    def __init__(self, kind: str, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.problems = problems or []


@dataclass(frozen=True)
class Peer:
    """Who is on the other end of a control connection (from ``SO_PEERCRED``)."""

    pid: int
    uid: int
    gid: int


@dataclass(frozen=True)
class Answer:
    """A successful answer: the result and anything the operator should know."""

    result: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def nesting_depth_exceeds(line: bytes, limit: int) -> bool:
    """True if ``line`` opens more than ``limit`` arrays or objects inside each other.

    Counts only brackets outside strings, stops at the first level past
    ``limit``, and never recurses; a line that is not JSON at all may pass
    (the decoder refuses it).
    """
    if line.count(b"[") + line.count(b"{") <= limit:
        return False
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(line):
        at = match.start()
        char = line[at]
        if in_string:
            if at == escaped_at:
                continue
            if char == 0x5C:  # a backslash escapes the next byte
                escaped_at = at + 1
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth -= 1
    return False


def parse_request(line: bytes) -> dict[str, Any]:
    """One request line as a dict with a known ``command``; :class:`RequestError` otherwise."""
    try:
        # UTF-8 only (json.loads would guess UTF-16 and -32 too): there a
        # quote or bracket byte is always that character, as the depth check
        # assumes.
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(BAD_REQUEST, "not a JSON object on one line (UTF-8)") from None
    if nesting_depth_exceeds(line, MAX_DEPTH):
        raise RequestError(BAD_REQUEST, f"nested deeper than {MAX_DEPTH} levels")
    try:
        request = json.loads(text)
    except ValueError:
        raise RequestError(BAD_REQUEST, "not a JSON object on one line") from None
    if not isinstance(request, dict):
        raise RequestError(BAD_REQUEST, "not a JSON object on one line")
    command = request.get("command")
    if command not in COMMANDS:
        raise RequestError(
            UNKNOWN_COMMAND, f"unknown command {command!r}; known: {', '.join(COMMANDS)}"
        )
    return request


def text_arg(request: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """A string argument of the request (``None`` when absent and not required)."""
    value = request.get(key)
    if value is None:
        if required:
            raise RequestError(BAD_REQUEST, f"{key}: missing")
        return None
    if not isinstance(value, str):
        raise RequestError(BAD_REQUEST, f"{key}: expected a string")
    return value


def encode_answer(answer: Answer) -> bytes:
    """A successful answer as one line."""
    body = {"ok": True, "result": answer.result, "warnings": answer.warnings}
    return json.dumps(body, ensure_ascii=False).encode() + b"\n"


def encode_error(err: RequestError) -> bytes:
    """An error answer as one line."""
    body = {"ok": False, "error": err.kind, "message": err.message, "problems": err.problems}
    return json.dumps(body, ensure_ascii=False).encode() + b"\n"
