"""Recorded AMI/FastAGI conversations turned back into the bytes on the wire.

Transcripts (as in ``shared/asterisk/`` next to the repository) hold one wire
line per text line: ``< `` for what the server (Asterisk) sent, ``> `` for
what the client sent, the line ending left out, an empty line shown as a bare
``< `` / ``> ``; ``#`` lines are comments. Asterisk ends every AMI line with
CRLF, so that is what is put back by default; FastAGI lines from Asterisk end
in a bare LF (pass ``newline=b"\\n"``).

The empty lines are restored literally, including the second one that
follows many blocks; the parser treats those as stray. (They look like the
capture tool's marks between reads: every action the client sent is followed
by two, and Asterisk 22's source writes no empty line inside the Ping and
Getvar responses where the capture shows one. The bytes here are the capture
as written; :class:`ami.codec.AmiParser` copes either way.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Direction = Literal["received", "sent"]

_PREFIXES: dict[str, Direction] = {"<": "received", ">": "sent"}


@dataclass(frozen=True)
class Turn:
    """A run of consecutive lines one side sent, as wire bytes."""

    direction: Direction
    data: bytes


def _lines(path: Path) -> list[tuple[Direction, str]]:
    result: list[tuple[Direction, str]] = []
    raw_lines = path.read_text(encoding="utf-8").split("\n")
    if raw_lines[-1] == "":
        raw_lines.pop()  # what follows the final line break
    for number, line in enumerate(raw_lines, start=1):
        if line.startswith("#"):
            continue
        direction = _PREFIXES.get(line[:1])
        if direction is None or (len(line) > 1 and line[1] != " "):
            raise ValueError(f"{path.name}:{number}: line starts with neither '< ' nor '> '")
        result.append((direction, line[2:]))
    return result


def turns(path: str | Path, *, newline: bytes = b"\r\n") -> list[Turn]:
    """The conversation in order, consecutive lines of one side joined into one turn."""
    runs: list[tuple[Direction, list[bytes]]] = []
    for direction, line in _lines(Path(path)):
        if not runs or runs[-1][0] != direction:
            runs.append((direction, []))
        runs[-1][1].append(line.encode("utf-8") + newline)
    return [Turn(direction, b"".join(parts)) for direction, parts in runs]


def received_bytes(path: str | Path, *, newline: bytes = b"\r\n") -> bytes:
    """Everything the server side (``< `` lines) sent, as one byte string."""
    return b"".join(
        line.encode("utf-8") + newline
        for direction, line in _lines(Path(path))
        if direction == "received"
    )


def sent_bytes(path: str | Path, *, newline: bytes = b"\r\n") -> bytes:
    """Everything the client side (``> `` lines) sent, as one byte string."""
    return b"".join(
        line.encode("utf-8") + newline
        for direction, line in _lines(Path(path))
        if direction == "sent"
    )
