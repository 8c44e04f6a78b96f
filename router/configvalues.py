"""Parsers for the text values of ``config.yaml``: times, days, codes, addresses.

Each parser takes the text as written and returns the typed value, or raises
``ValueError`` with a message that says what is wrong and how to write it; the
loader puts the message at the value's line and column.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum

from router.config import WEEKDAYS, Endpoint, TimeRange

CLOSED = "closed"

_TIME = re.compile(r"(\d{1,2}):(\d{2})", re.ASCII)
_RANGE = re.compile(r"\s*(\S+?)\s*-\s*(\S+)\s*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# 0 (trunk prefix) + Ortsnetzkennzahl: 2 to 5 digits, never starting with 0 or 1.
_ORTSNETZ = re.compile(r"0[2-9]\d{1,4}", re.ASCII)
_POSTAL_RANGE = re.compile(r"(\d{5})\s*-\s*(\d{5})", re.ASCII)
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
    re.ASCII,
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
CENTER_ID = re.compile(r"[a-z0-9][a-z0-9_-]*", re.ASCII)
# Asterisk queue names end up in dialplan arguments, where , | ; and spaces split.
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)
# Sound names as Playback() takes them: a path below the sounds directory, no extension.
_SOUND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*", re.ASCII)
_AUDIO_EXTENSIONS = (".wav", ".gsm", ".ulaw", ".alaw", ".sln", ".sln16", ".g722", ".mp3")


def parse_time_range(text: str) -> TimeRange:
    """``"07:00-18:00"`` as a :class:`TimeRange`; ``24:00`` may end a range (midnight)."""
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time range; write HH:MM-HH:MM, e.g. 08:00-18:00")
    start = _parse_time(match[1], end=False)
    end = _parse_time(match[2], end=True)
    if end != time(0, 0) and end <= start:
        raise ValueError(
            f"{text!r} must end after it starts; a range stays within one day (24:00 is midnight)"
        )
    return TimeRange(start, end)


def _parse_time(text: str, *, end: bool) -> time:
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time; write HH:MM, e.g. 08:00")
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        if not end:
            raise ValueError("24:00 can only end a range; a day starts at 00:00")
        return time(0, 0)
    if (hour, minute) == (0, 0) and end:
        raise ValueError("a range cannot end at 00:00; write 24:00 for midnight")
    if hour > 23 or minute > 59:
        raise ValueError(f"{text} is not a time of day (00:00 to 23:59, or 24:00 as an end)")
    return time(hour, minute)


def parse_days(text: str) -> tuple[int, ...]:
    """Weekday numbers (0 = Monday) of ``"mon"`` or a span like ``"mon-fri"``."""
    first, sep, last = text.partition("-")
    days = [first] + ([last] if sep else [])
    for day in days:
        if day not in WEEKDAYS:
            hint = _closest_day(day)
            raise ValueError(
                f"unknown weekday {day!r}{hint}; write mon..sun or a span like mon-fri"
            )
    lo, hi = WEEKDAYS.index(first), WEEKDAYS.index(days[-1])
    if hi < lo:
        raise ValueError(f"{text!r} runs backwards; write spans from Monday on, e.g. mon-fri")
    return tuple(range(lo, hi + 1))


def _closest_day(word: str) -> str:
    lowered = word.strip().lower()
    for day in WEEKDAYS:
        if lowered[:3] == day:
            return f" (did you mean {day!r}?)"
    return ""


def parse_date(text: str) -> date:
    """A calendar date written ``YYYY-MM-DD``."""
    if _DATE.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-24")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text} is not a valid date") from None


def parse_ortsnetz(text: str) -> str:
    """The code of an Ortsnetz written with its trunk 0 (``"0421"``), returned without it."""
    if _ORTSNETZ.fullmatch(text) is None:
        if _ORTSNETZ.fullmatch("0" + text) is not None:
            raise ValueError(f"Ortsnetz {text!r} lacks its leading 0; write '0{text}'")
        raise ValueError(f"{text!r} is not an Ortsnetz code; write 0 and 2 to 5 digits, e.g. 0421")
    return text[1:]


class PostalKind(StrEnum):
    """How a postal-code entry covers codes."""

    EXACT = "code"
    PREFIX = "prefix"
    RANGE = "range"


@dataclass(frozen=True)
class PostalEntry:
    """One entry of a center's ``postal_codes``: an exact code, a prefix or a range."""

    kind: PostalKind
    lo: str
    hi: str

    def __str__(self) -> str:
        return f"{self.lo}-{self.hi}" if self.kind is PostalKind.RANGE else self.lo

    def clashes(self, other: PostalEntry) -> bool:
        """Whether two entries would claim the same code at the same precedence.

        Exact codes beat ranges and ranges beat prefixes (longest first), so a
        code or a longer prefix inside another entry is a deliberate carve-out;
        only identical codes, identical prefixes and overlapping ranges clash.
        """
        if self.kind is not other.kind:
            return False
        if self.kind is PostalKind.RANGE:
            return self.lo <= other.hi and other.lo <= self.hi
        return self.lo == other.lo


def parse_postal(text: str) -> PostalEntry:
    """``"28"`` (prefix, 1-4 digits), ``"38820"`` (one code) or ``"27568-27580"`` (range)."""
    if text.isascii() and text.isdigit():
        if len(text) == 5:
            return PostalEntry(PostalKind.EXACT, text, text)
        if len(text) < 5:
            return PostalEntry(PostalKind.PREFIX, text, text)
    match = _POSTAL_RANGE.fullmatch(text)
    if match is not None:
        lo, hi = match[1], match[2]
        if hi < lo:
            raise ValueError(f"postal code range {text!r} runs backwards")
        return PostalEntry(PostalKind.RANGE, lo, hi)
    raise ValueError(
        f"{text!r} is not a postal code; write 1-4 digits for a prefix (28), "
        "5 digits for one code (38820) or a range (27568-27580)"
    )


def parse_endpoint(text: str) -> Endpoint:
    """``host:port`` (an IPv6 host in brackets: ``[::1]:5038``)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port, e.g. 127.0.0.1:5038")
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is out of range (1-65535)")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
        return Endpoint(host[1:-1], port)
    if ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:5038")
    if host.replace(".", "").isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv4 address") from None
    elif _HOSTNAME.fullmatch(host) is None:
        raise ValueError(f"{host!r} is not a host name or IP address")
    return Endpoint(host, port)


def check_sound(text: str) -> None:
    """Refuse what Asterisk's Playback() could not find as a sound name."""
    if text.lower().endswith(_AUDIO_EXTENSIONS):
        raise ValueError(
            f"sound {text!r}: leave out the file extension; Asterisk picks the format itself"
        )
    if _SOUND.fullmatch(text) is None or ".." in text.split("/"):
        raise ValueError(
            f"{text!r} is not a sound name; write a relative path of letters, digits, "
            "'_', '-' and '.', e.g. lotse/greeting-bremen"
        )
