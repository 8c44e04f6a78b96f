"""AMI blocks as Asterisk 22 writes them: event classes, Privilege, framing.

Asterisk renders every event once (``Event:``, ``Privilege:``, the fields,
an empty line) and hands the same bytes to every manager session whose read
permission and event mask cover the event's class
(``(send_events & category) == category`` in ``main/manager.c``). The
stand-in does the same: an :class:`AmiEvent` renders once, lazily, and is
shared by all sessions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntFlag
from functools import cached_property

Fields = tuple[tuple[str, str], ...]


class Category(IntFlag):
    """Manager event classes (``EVENT_FLAG_*`` in ``include/asterisk/manager.h``)."""

    SYSTEM = 1 << 0
    CALL = 1 << 1
    LOG = 1 << 2
    VERBOSE = 1 << 3
    COMMAND = 1 << 4
    AGENT = 1 << 5
    USER = 1 << 6
    CONFIG = 1 << 7
    DTMF = 1 << 8
    REPORTING = 1 << 9
    CDR = 1 << 10
    DIALPLAN = 1 << 11
    ORIGINATE = 1 << 12
    AGI = 1 << 13
    CC = 1 << 15
    AOC = 1 << 16
    TEST = 1 << 17
    SECURITY = 1 << 18
    MESSAGE = 1 << 30


# manager.c's perms[] table, in its order (authority_to_str walks it).
_LABELS: tuple[tuple[int, str], ...] = (
    (Category.SYSTEM, "system"),
    (Category.CALL, "call"),
    (Category.LOG, "log"),
    (Category.VERBOSE, "verbose"),
    (Category.COMMAND, "command"),
    (Category.AGENT, "agent"),
    (Category.USER, "user"),
    (Category.CONFIG, "config"),
    (Category.DTMF, "dtmf"),
    (Category.REPORTING, "reporting"),
    (Category.CDR, "cdr"),
    (Category.DIALPLAN, "dialplan"),
    (Category.ORIGINATE, "originate"),
    (Category.AGI, "agi"),
    (Category.CC, "cc"),
    (Category.AOC, "aoc"),
    (Category.TEST, "test"),
    (Category.SECURITY, "security"),
    (Category.MESSAGE, "message"),
    (0x7FFFFFFF, "all"),
)
ALL_CLASSES = 0
for _num, _label in _LABELS[:-1]:
    ALL_CLASSES |= _num
_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})


def privilege(category: int) -> str:
    """The ``Privilege:`` value for an event class, e.g. ``call,all``."""
    labels = [label for num, label in _LABELS if category & num]
    return ",".join(labels) or "<none>"


def parse_classes(text: str) -> int:
    """A manager.conf ``read=``/``write=`` list (``call,agent`` or ``all``) as a mask."""
    mask = 0
    tokens = {t.strip().lower() for t in text.split(",")}
    for num, label in _LABELS:
        if label in tokens:
            mask |= num
    return mask & ALL_CLASSES if "all" not in tokens else ALL_CLASSES


def event_mask(text: str) -> int:
    """``strings_to_mask`` of manager.c: the ``Events``/``EventMask`` header value.

    Empty gives -1 (the Events action then answers "Invalid event mask"), all
    digits give that number, false words 0, true words every class, anything
    else the classes it names (unknown words count for nothing).
    """
    value = text.strip()
    if not value:
        return -1
    if value.isdigit():
        return int(value)
    if value.lower() in _FALSE:
        return 0
    if value.lower() in _TRUE:
        return ALL_CLASSES
    return parse_classes(value)


def _clean(value: str) -> str:
    # A CR or LF inside a value would start a new header on the client side.
    if "\r" in value or "\n" in value:
        return value.replace("\r", " ").replace("\n", " ")
    return value


def render(fields: Iterable[tuple[str, str]]) -> bytes:
    """One block: ``Key: value`` CRLF lines and the empty line that ends it."""
    body = "".join(f"{k}: {_clean(v)}\r\n" for k, v in fields)
    return (body + "\r\n").encode("utf-8", errors="replace")


def render_lines(fields: Iterable[tuple[str, str]]) -> bytes:
    """Header lines without the terminating empty line (a response cut in two)."""
    return "".join(f"{k}: {_clean(v)}\r\n" for k, v in fields).encode("utf-8", errors="replace")


@dataclass(frozen=True)
class AmiEvent:
    """One manager event: name, class and the fields after ``Privilege``.

    ``fields`` keep Asterisk's order; tests compare them header by header with
    the transcripts.
    """

    name: str
    category: int
    fields: Fields

    @cached_property
    def data(self) -> bytes:
        """The block as it goes on the wire (rendered once, shared by sessions)."""
        head = (("Event", self.name), ("Privilege", privilege(self.category)))
        return render(head + self.fields)

    def get(self, key: str, default: str = "") -> str:
        """The first field called ``key`` (exact case), else ``default``."""
        for k, v in self.fields:
            if k == key:
                return v
        return default
