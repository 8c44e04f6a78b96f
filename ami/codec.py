"""AMI wire codec: bytes in, header blocks out; header lists in, bytes out.

The Asterisk Manager Interface is a line protocol over TCP. On connect
Asterisk sends one banner line (``Asterisk Call Manager/11.0.0`` on Asterisk
22, the AMI protocol version, not the Asterisk version) and from then on
blocks of ``Key: value`` lines, each ended by an empty line, every line ended
by CRLF. A block is an ``Event`` (unsolicited, or an item of an action's
result list), a ``Response`` to an action, or, client to server, an
``Action``. The first header says which one it is; later headers can carry
the same names (an ``OriginateResponse`` event has a ``Response: Success``
header in the middle).

Framing facts from real Asterisk 22.10.1 captures that this module copes with:

- empty lines between blocks are not always single: many blocks are followed
  by two; the parser drops stray empty lines;
- a few responses are cut in two by an empty line: the ``Ping`` response
  arrives as ``Response: Success`` alone, then a block ``ActionID: …``,
  ``Ping: Pong``, ``Timestamp: …``; ``Getvar`` as ``Response: Success`` +
  ``ActionID`` and then ``Variable: …``, ``Value: …``. The parser reports the
  second half as a :class:`Message` of kind ``"unknown"`` (its first header is
  neither Event nor Response); pairing it with the response is the session's
  job, by ActionID or by order;
- values may be empty (``AccountCode: ``) or start with a space of their own
  (``Value:  minrxlost=…``): exactly one space after the colon is the
  separator, everything after it is the value.

The parser is pure (no sockets, no clock) and bounded: it never holds more
than one line (``max_line`` bytes) of undecoded input plus one message
(``max_message`` bytes, ``max_headers`` headers), whatever it is fed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

MessageKind = Literal["event", "response", "action", "unknown"]

_KINDS: dict[str, MessageKind] = {
    "event": "event",
    "response": "response",
    "action": "action",
    # As Asterisk spells them: found without lower-casing.
    "Event": "event",
    "Response": "response",
    "Action": "action",
}

# The banner is the connection's first line and has no colon; Asterisk and
# its forks all start it with this (version after the slash).
_BANNER_PREFIX = "Asterisk Call Manager"

_CRLF_BLANK = b"\r\n\r\n"

# The parser's cache of parsed lines: how many, and how long a line may be to
# be kept (caller numbers and ids are short; long values rarely repeat).
_KNOWN_LINES = 4096
_KNOWN_LINE_MAX = 200

_Header: TypeAlias = tuple[str, str]

DEFAULT_MAX_LINE = 64 * 1024
DEFAULT_MAX_MESSAGE = 1024 * 1024
# Real AMI blocks have a few dozen headers (AgentComplete: 42); command output
# is not parsed here, so a thousand is far beyond anything legitimate.
DEFAULT_MAX_HEADERS = 1024


@dataclass(frozen=True, repr=False)
class Message:
    """One AMI block: its headers in wire order, keys and values as sent.

    The repr names the block but shows no values: headers carry caller
    numbers (``CallerIDNum``, ``AppData``, ``Value`` …), which are personal
    data and must not reach a log line by accident.
    """

    headers: tuple[tuple[str, str], ...]

    @property
    def fields(self) -> Mapping[str, str]:
        """The headers by lower-case name; of repeated names, the first.

        Built on first use and kept: :func:`ami.events.to_event` reads every
        field it needs from here, once per event.
        """
        # Cached in the instance dict, as functools.cached_property would
        # (the dataclass is frozen), without its per-access lock (3.11).
        cache = self.__dict__
        index: dict[str, str] | None = cache.get("_fields")
        if index is None:
            lowered = cache.pop("_lowered", None)  # left by the parser's fast path
            # Reversed, so that the first of repeated names wins.
            index = _lower_index(self.headers) if lowered is None else dict(reversed(lowered))
            cache["_fields"] = index
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first header called ``name`` (any case), else ``default``."""
        return self.fields.get(name.lower(), default)

    @property
    def kind(self) -> MessageKind:
        """``event``, ``response`` or ``action`` by the first header, else ``unknown``."""
        if not self.headers:
            return "unknown"
        key = self.headers[0][0]
        return _KINDS.get(key) or _KINDS.get(key.lower(), "unknown")

    @property
    def name(self) -> str | None:
        """Event name, response value (``Success``, ``Error``, ``Goodbye``) or action name.

        ``None`` for a block of kind ``unknown``.
        """
        if self.kind == "unknown":
            return None
        return self.headers[0][1]

    @property
    def action_id(self) -> str | None:
        """The ``ActionID`` header: set on responses and on events of an action's result list."""
        return self.get("ActionID")

    def __repr__(self) -> str:
        return f"Message({self.kind} {self.name!r}, {len(self.headers)} headers)"


@dataclass(frozen=True)
class ParseError:
    """Something on the wire the parser skipped; parsing goes on after it.

    ``reason`` is a short stable code (fit for a metric label), ``detail`` a
    sentence for humans. Neither contains wire content: a broken line may hold
    a caller number.
    """

    reason: str
    detail: str
    line_no: int


class AmiParser:
    """Incremental AMI parser for one connection (make a new one per connect).

    Feed it bytes as they arrive, cut anywhere (inside a CRLF, inside a
    multi-byte UTF-8 character); it returns the complete blocks and the
    problems found so far, in wire order. Lines end in CRLF or bare LF and are
    decoded as UTF-8 only once complete; undecodable bytes become U+FFFD.

    The banner is not returned from :meth:`feed`: it is stored in
    :attr:`banner` (``None`` until it has arrived). A line without a colon
    inside a block is reported as a :class:`ParseError` and left out; the rest
    of the block is kept. A line over ``max_line`` bytes or a block over
    ``max_message`` bytes or ``max_headers`` headers is reported, the block is
    dropped, and parsing resumes after the next empty line. Problems are
    reported in wire order, at the latest when their block is complete.
    """

    def __init__(
        self,
        *,
        max_line: int = DEFAULT_MAX_LINE,
        max_message: int = DEFAULT_MAX_MESSAGE,
        max_headers: int = DEFAULT_MAX_HEADERS,
    ) -> None:
        if max_line < 1 or max_message < 1 or max_headers < 1:
            raise ValueError("AMI parser limits must be positive")
        self.max_line = max_line
        self.max_message = max_message
        self.max_headers = max_headers
        self.banner: str | None = None
        self.errors: Counter[str] = Counter()
        self.message_count = 0
        self._pending = bytearray()  # start of a line whose end has not arrived
        self._tail = b""  # start of a block whose end has not arrived (fast path)
        self._discard_line = False  # inside an oversized line: drop until LF
        self._skip_block = False  # after an oversize: drop until an empty line
        self._headers: list[tuple[str, str]] = []
        self._block_bytes = 0
        self._line_no = 0
        self._at_start = True
        # Header lines seen before, parsed: most lines of a block repeat an
        # earlier one (constant fields, and a call's own channel, ids and
        # number in each of its events), so most lines are looked up here.
        # Both map a line to its header, as sent and with a lower-case name.
        self._known: dict[bytes, _Header] = {}
        self._known_lower: dict[bytes, _Header] = {}

    @property
    def buffered_bytes(self) -> int:
        """Input held for the unfinished line and block (at most ``max_line + 1 + max_message``)."""
        return len(self._tail) + len(self._pending) + self._block_bytes

    @property
    def error_count(self) -> int:
        """How many :class:`ParseError` items this parser has returned."""
        return self.errors.total()

    def feed(self, data: bytes) -> list[Message | ParseError]:
        """Consume ``data`` and return the blocks and errors it completed.

        Whole CRLF-framed blocks, as Asterisk sends them, are parsed a block at
        a time; anything unusual (the banner, bare LFs, a block cut by the
        read, a line the fast path does not accept, a limit) goes line by line,
        with the same result.
        """
        out: list[Message | ParseError] = []
        if self._tail:
            data = self._tail + data
            self._tail = b""
        pos = 0
        if not self._clean():
            # Finish the block the previous read cut, line by line.
            end = _block_end(data, 0)
            if end < 0:
                self._feed_lines(data, 0, len(data), out)
                return out
            self._feed_lines(data, 0, end, out)
            pos = end
        if self._clean():
            end = data.rfind(_CRLF_BLANK, pos)
            if end >= 0:
                end += len(_CRLF_BLANK)
                self._feed_blocks(data, pos, end, out)
                pos = end
        if pos < len(data):
            if self._clean() and len(data) - pos <= self.max_message and _block_end(data, pos) < 0:
                # The start of a block the next read completes: keep it whole
                # for the fast path rather than taking it apart line by line.
                self._tail = data[pos:]
            else:
                self._feed_lines(data, pos, len(data), out)
        return out

    def _clean(self) -> bool:
        """At a block boundary with nothing held over: the fast path may start here."""
        return not (
            self._pending
            or self._headers
            or self._discard_line
            or self._skip_block
            or self._at_start
        )

    def _feed_blocks(
        self, data: bytes, start: int, end: int, out: list[Message | ParseError]
    ) -> None:
        """Parse ``data[start:end]``: whole blocks, ending in an empty line."""
        region = data[start:end]
        crlf = region.count(b"\r\n")
        if region.count(b"\n") != crlf or region.count(b"\r") != crlf:
            # A bare LF or CR somewhere: line by line, which knows what they mean.
            self._feed_lines(data, start, end, out)
            return
        max_block = min(self.max_message - 2, self.max_line)
        max_headers = self.max_headers
        line_no = self._line_no
        count = self.message_count
        append = out.append
        known, known_lower = self._known.__getitem__, self._known_lower.__getitem__
        raws = region.split(_CRLF_BLANK)
        # The region ends in an empty line: after the last separator there is
        # nothing, or the odd stray CRLF of a run of empty lines (counted last).
        trailing = raws.pop().count(b"\r\n")
        for raw in raws:
            # Stray empty lines between blocks (seen in captures) count as lines.
            while raw.startswith(b"\r\n"):
                raw = raw[2:]
                line_no += 1
            if not raw:
                line_no += 2
                continue
            lines = raw.split(b"\r\n")
            if len(raw) <= max_block and len(lines) <= max_headers:
                msg: Message | None
                try:
                    msg = _message(tuple(map(known, lines)), list(map(known_lower, lines)))
                except KeyError:  # a line not seen lately: parse the lines one by one
                    msg = self._learn(lines)
                if msg is not None:
                    line_no += len(lines) + 1
                    append(msg)
                    count += 1
                    continue
            # Over a limit or not plain "Key: value" lines: let the line path decide.
            self._line_no, self.message_count = line_no, count
            block = raw + _CRLF_BLANK
            self._feed_lines(block, 0, len(block), out)
            line_no, count = self._line_no, self.message_count
        self._line_no, self.message_count = line_no + trailing, count

    def _learn(self, lines: list[bytes]) -> Message | None:
        """Parse a block's lines, keeping new short ones; ``None`` if one is odd.

        The fast path takes the shape Asterisk writes, ``Key: value``, and gives
        the block back to the line-by-line path for anything else (no space after
        the colon, an empty key, a line without a colon), which then decides.
        """
        known, known_lower = self._known, self._known_lower
        headers: list[_Header] = []
        lowered: list[_Header] = []
        for line in lines:
            header = known.get(line)
            if header is not None:
                lower = known_lower[line]
            else:
                text = line.decode("utf-8", errors="replace")
                key, sep, value = text.partition(": ")
                if not sep or not key or ":" in key:
                    return None
                header, lower = (key, value), (key.lower(), value)
                if len(line) <= _KNOWN_LINE_MAX:
                    if len(known) >= _KNOWN_LINES:
                        known.clear()  # bounded; refills within a few blocks
                        known_lower.clear()
                    known[line] = header
                    known_lower[line] = lower
            headers.append(header)
            lowered.append(lower)
        return _message(tuple(headers), lowered)

    def _feed_lines(
        self, data: bytes, pos: int, size: int, out: list[Message | ParseError]
    ) -> None:
        """Parse ``data[pos:size]`` line by line, keeping an unfinished last line."""
        while pos < size:
            newline = data.find(b"\n", pos, size)
            if newline < 0:
                self._buffer_tail(data[:size], pos, out)
                break
            segment = data[pos:newline]
            pos = newline + 1
            if self._discard_line:
                self._discard_line = False
                continue
            if self._pending:
                self._pending += segment
                line = bytes(self._pending)
                self._pending.clear()
            else:
                line = segment
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.max_line:
                self._line_no += 1
                self._oversize("line-too-long", f"line over {self.max_line} bytes", out)
                continue
            self._line(line, out)

    def _buffer_tail(self, data: bytes, pos: int, out: list[Message | ParseError]) -> None:
        if self._discard_line:
            return
        # +1: the CR of a CRLF may be waiting for its LF.
        if len(self._pending) + len(data) - pos <= self.max_line + 1:
            self._pending += data[pos:]
        else:
            self._pending.clear()
            self._line_no += 1
            self._oversize("line-too-long", f"line over {self.max_line} bytes", out)
            self._discard_line = True

    def _oversize(self, reason: str, detail: str, out: list[Message | ParseError]) -> None:
        self._error(reason, f"{detail}; block dropped up to the next empty line", out)
        self._headers = []
        self._block_bytes = 0
        self._skip_block = True

    def _error(self, reason: str, detail: str, out: list[Message | ParseError]) -> None:
        self.errors[reason] += 1
        out.append(ParseError(reason, detail, self._line_no))

    def _line(self, raw: bytes, out: list[Message | ParseError]) -> None:
        self._line_no += 1
        if not raw:
            if self._skip_block:
                self._skip_block = False
            elif self._headers:
                out.append(Message(tuple(self._headers)))
                self.message_count += 1
                self._headers = []
                self._block_bytes = 0
            return
        if self._skip_block:
            return
        text = raw.decode("utf-8", errors="replace")
        colon = text.find(":")
        if self._at_start:
            self._at_start = False
            if colon < 0 and text.startswith(_BANNER_PREFIX):
                self.banner = text
                return
        self._block_bytes += len(raw) + 2
        if self._block_bytes > self.max_message:
            self._oversize("message-too-long", f"block over {self.max_message} bytes", out)
            return
        if colon < 0:
            self._error("line-without-colon", "line without a colon skipped", out)
            return
        if colon == 0:
            self._error("empty-key", "header with an empty name skipped", out)
            return
        if len(self._headers) >= self.max_headers:
            self._oversize("too-many-headers", f"block over {self.max_headers} headers", out)
            return
        value = text[colon + 1 :]
        if value.startswith(" "):
            value = value[1:]
        self._headers.append((text[:colon], value))


def encode(headers: Iterable[tuple[str, str]]) -> bytes:
    """Frame headers as one AMI block: ``Key: value`` CRLF lines and an empty line.

    Raises :class:`ValueError` for no headers, an empty key, a key with a
    colon, or a CR or LF in a key or value: a line break inside a value would
    let whoever controls the value append headers or whole actions (header
    injection). Error messages never contain values (a ``Secret`` could be one).
    """
    lines: list[str] = []
    for index, (key, value) in enumerate(headers):
        if not key:
            raise ValueError(f"AMI header {index} has an empty name")
        if "\r" in key or "\n" in key or ":" in key:
            raise ValueError(f"AMI header {index} name contains CR, LF or a colon")
        if "\r" in value or "\n" in value:
            raise ValueError(f"AMI header {index} ({key}) value contains CR or LF")
        lines.append(f"{key}: {value}\r\n")
    if not lines:
        raise ValueError("an AMI block needs at least one header")
    lines.append("\r\n")
    try:
        return "".join(lines).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("AMI header text is not encodable as UTF-8") from None


def _block_end(data: bytes, pos: int) -> int:
    """The offset just after the first empty line in ``data[pos:]``, or -1.

    An empty line is an LF followed by LF or CRLF; a CRLF-only stream has
    ``\r\n\r\n`` there.
    """
    found = -1
    for mark in (b"\n\r\n", b"\n\n"):
        at = data.find(mark, pos)
        if at >= 0 and (found < 0 or at + len(mark) < found):
            found = at + len(mark)
    return found


def _lower_index(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """``{name.lower(): value}``; reversed, so that the first of repeated names wins."""
    return {key.lower(): value for key, value in reversed(headers)}


def _message(headers: tuple[_Header, ...], lowered: list[_Header]) -> Message:
    """A parsed block, with its lower-cased names kept for :attr:`Message.fields`."""
    msg = Message(headers)
    msg.__dict__["_lowered"] = lowered
    return msg
