"""The lines of Asterisk's ``queue_log`` file: parsing them, and writing them for the stand-in.

Asterisk's file backend (``main/logger.c``, ``ast_queue_log``) writes one line
per event, flushed at once::

    TIME|CALLID|QUEUE|AGENT|EVENT|DATA1|DATA2|…

``TIME`` is the Unix time in seconds, ``CALLID`` the Uniqueid of the caller's
channel (``NONE`` for events of no call), ``AGENT`` the member name
(``NONE`` when no member is involved), and the data fields depend on the
event (``apps/app_queue.c``, Asterisk 22)::

    ENTERQUEUE        url|caller number|position[|caller name]
    CONNECT           holdtime|bridged channel uniqueid|ringtime
    COMPLETEAGENT     holdtime|calltime|original position
    COMPLETECALLER    holdtime|calltime|original position
    ABANDON           position|original position|waittime
    EXITWITHTIMEOUT   position|original position|waittime
    EXITEMPTY         position|original position|waittime
    EXITWITHKEY       key|position|original position|waittime
    ATTENDEDTRANSFER  how…|holdtime|calltime|original position
    BLINDTRANSFER     extension|context|holdtime|calltime|original position
    RINGNOANSWER      ring time in ms
    RINGCANCELED      ring time in ms
    QUEUESTART        (empty)

and the lines lotse's static fallback writes itself with app_queue's
``QueueLog(queuename,uniqueid,agent,event[,additionalinfo])`` (the file
backend writes ``TIME|uniqueid|queuename|agent|event|additionalinfo``, the
additional info as given, so its ``|`` separate data fields)::

    LOTSEFALLBACK     center|reason                    (queue lotse-fallback)
    LOTSEANNOUNCE     center|kind|sound                (queue lotse-fallback)

A line is at most 8 KiB (Asterisk's buffer). The reader here never raises on
what it finds in the file: a line that is no queue_log line is *bad*, a
well-formed line with an event this module does not know is *unknown*; both
are counted and skipped. A last line without its newline is still being
written (or was torn by a crash): it is left for the next read.

The ``ENTERQUEUE`` line carries the caller's full number (and with
``log-caller-id-name`` the caller's name): a :class:`QueueLogLine` never shows
its data in ``repr``, and nothing here logs a line's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ami.contract import FALLBACK_QUEUE_LOG_ANNOUNCED, FALLBACK_QUEUE_LOG_ROUTED

# Events of one caller's journey through the queues, and the data fields each
# needs at least (more may follow: a caller name, a transfer's details).
JOURNEY_EVENTS: dict[str, int] = {
    "ENTERQUEUE": 3,
    "CONNECT": 3,
    "COMPLETEAGENT": 3,
    "COMPLETECALLER": 3,
    "ABANDON": 3,
    "EXITWITHTIMEOUT": 3,
    "EXITEMPTY": 3,
    "EXITWITHKEY": 4,
    "ATTENDEDTRANSFER": 4,
    "BLINDTRANSFER": 5,
}

# The static fallback's own lines (dialplans/fallback.py), with their data fields.
FALLBACK_EVENTS: dict[str, int] = {
    FALLBACK_QUEUE_LOG_ROUTED: 2,
    FALLBACK_QUEUE_LOG_ANNOUNCED: 3,
}

# Events Asterisk writes that tell nothing about where a call went or how it
# ended: ringing attempts, members, the logger itself. Known, and passed over.
OTHER_EVENTS: frozenset[str] = frozenset(
    {
        "RINGNOANSWER",
        "RINGCANCELED",
        "RINGINUSE",
        "SYSCOMPAT",
        "WITHDRAW",
        "QUEUESTART",
        "CONFIGRELOAD",
        "ADDMEMBER",
        "REMOVEMEMBER",
        "PAUSE",
        "UNPAUSE",
        "PAUSEALL",
        "UNPAUSEALL",
        "PENALTY",
        "AGENTLOGIN",
        "AGENTLOGOFF",
        "AGENTDUMP",
        "AGENTCALLBACKLOGIN",
        "AGENTCALLBACKLOGOFF",
        "OUTCALL",
        "TRANSFER",
        "DID",
        "INFO",
    }
)

_KNOWN = frozenset(JOURNEY_EVENTS) | frozenset(FALLBACK_EVENTS) | OTHER_EVENTS

# Asterisk's buffer is 8 KiB; anything much longer is not a queue_log line,
# and a "line" without a newline that long must not be buffered forever.
MAX_LINE_BYTES = 64 * 1024

_EVENT = re.compile(r"[A-Z][A-Z0-9_]*")
_TIME = re.compile(r"[0-9]{1,12}")
_FIELD = re.compile(r"[^\x00-\x1f\x7f]*")
# Data fields that must be whole numbers, by event (indexes into the data).
_NUMERIC: dict[str, tuple[int, ...]] = {
    "ENTERQUEUE": (2,),
    "CONNECT": (0, 2),
    "COMPLETEAGENT": (0, 1, 2),
    "COMPLETECALLER": (0, 1, 2),
    "ABANDON": (0, 1, 2),
    "EXITWITHTIMEOUT": (0, 1, 2),
    "EXITEMPTY": (0, 1, 2),
    "EXITWITHKEY": (1, 2, 3),
    "ATTENDEDTRANSFER": (-3, -2, -1),
    "BLINDTRANSFER": (-3, -2, -1),
}


class LineError(ValueError):
    """A line that is no queue_log line; the message says why, never what the line held."""


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    """One queue_log line. ``data`` may hold a caller number: it is kept out of ``repr``."""

    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...] = field(default=(), repr=False)

    @property
    def at(self) -> datetime:
        """The line's time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time, UTC)

    def number(self, index: int) -> int:
        """Data field ``index`` as a whole number (validated by :func:`parse_line`)."""
        return int(self.data[index])


def parse_line(text: str) -> QueueLogLine:
    """Parse one line (without its newline); raises :class:`LineError` for anything else.

    Leading NUL bytes are dropped first: a file whose tail was zero-filled by
    a crash gets its next line appended right after them.
    """
    text = text.lstrip("\x00").removesuffix("\r")
    parts = text.split("|")
    if len(parts) < 5:
        raise LineError(f"{len(parts)} fields, a queue_log line has at least 5")
    time_s, callid, queue, agent, event, *data = parts
    if _TIME.fullmatch(time_s) is None:
        raise LineError("the time is not a Unix time in seconds")
    if _EVENT.fullmatch(event) is None:
        raise LineError("no event name")
    if not callid or not queue:
        raise LineError("empty call id or queue")
    # The data may hold a caller name, which Asterisk passes on as it came.
    for part in parts[:5]:
        if _FIELD.fullmatch(part) is None:
            raise LineError("control characters in a field")
    line = QueueLogLine(int(time_s), callid, queue, agent, event, tuple(data))
    _check_data(line)
    return line


def _check_data(line: QueueLogLine) -> None:
    need = JOURNEY_EVENTS.get(line.event, FALLBACK_EVENTS.get(line.event))
    if need is None:
        return
    if line.callid == "NONE":
        raise LineError(f"{line.event} without a call id")
    if len(line.data) < need:
        raise LineError(f"{line.event} with {len(line.data)} data fields, needs {need}")
    for index in _NUMERIC.get(line.event, ()):
        if not (line.data[index].isascii() and line.data[index].isdigit()):
            raise LineError(f"{line.event}: data field {index % len(line.data) + 1} is no number")


def format_line(line: QueueLogLine) -> str:
    """The line as Asterisk's file backend writes it, without the newline.

    ``data`` of ``("",)`` gives the trailing ``|`` of events without data
    (``QUEUESTART``), exactly as Asterisk writes them.
    """
    head = f"{line.time}|{line.callid}|{line.queue}|{line.agent}|{line.event}|"
    return head + "|".join(line.data)


@dataclass(slots=True)
class Chunk:
    """What one read of the file gave: the lines, and what was skipped.

    ``consumed`` is how many bytes of the input were used: up to and
    including the last newline. The rest (a line still being written) is for
    the next read, prepended to what follows it.
    """

    lines: list[QueueLogLine] = field(default_factory=list)
    consumed: int = 0
    bad: int = 0
    unknown: int = 0


def parse_chunk(data: bytes) -> Chunk:
    """Parse the complete lines in ``data``; never raises.

    A last piece without a newline is left unconsumed, unless it is longer
    than any line Asterisk writes (:data:`MAX_LINE_BYTES`): then it is
    garbage, counted as bad and consumed.
    """
    chunk = Chunk()
    end = data.rfind(b"\n") + 1
    if end == 0 and len(data) <= MAX_LINE_BYTES:
        return chunk
    if len(data) - end > MAX_LINE_BYTES:
        end = len(data)
        chunk.bad += 1
        body = data[: data.rfind(b"\n") + 1]
    else:
        body = data[:end]
    chunk.consumed = end
    for raw in body.split(b"\n")[:-1]:
        try:
            line = parse_line(raw.decode("utf-8", errors="replace"))
        except LineError:
            chunk.bad += 1
            continue
        if line.event in _KNOWN:
            chunk.lines.append(line)
        else:
            chunk.unknown += 1
    return chunk
