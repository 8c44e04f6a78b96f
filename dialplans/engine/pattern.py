"""Extension names and ``_`` patterns, matched as ``main/pbx.c`` matches them.

A literal name matches itself with dashes ignored on both sides (Asterisk
strips ``-`` "fluff" from extensions). A pattern starts with ``_``; ``X`` is
0-9, ``Z`` 1-9, ``N`` 2-9, ``[…]`` a set with ranges, ``.`` one or more of
anything, ``!`` zero or more; other characters are literal, ``-`` outside a
set is ignored. Among several matches Asterisk takes a literal first, then
the most specific pattern (fewest choices at the first position that
differs; ``.`` and ``!`` last).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ANY_ONE_OR_MORE = 1000
_ANY_ZERO_OR_MORE = 1001


@dataclass(frozen=True)
class Pattern:
    """A compiled extension name."""

    text: str
    regex: re.Pattern[str] | None  # None: a literal name
    sort_key: tuple[int, tuple[int, ...], str]

    def matches(self, exten: str) -> bool:
        """Whether the dialled ``exten`` reaches this extension."""
        if self.regex is None:
            return exten.replace("-", "") == self.text.replace("-", "")
        return self.regex.fullmatch(exten) is not None


def compile_pattern(name: str) -> Pattern:
    """Compile an extension name; ValueError for an unclosed ``[`` set."""
    if not name.startswith("_"):
        return Pattern(name, None, (0, (), name.replace("-", "")))
    parts: list[str] = []
    weights: list[int] = []
    body = name[1:]
    i = 0
    while i < len(body):
        ch = body[i]
        up = ch.upper()
        if up == "X":
            parts.append("[0-9]")
            weights.append(10)
        elif up == "Z":
            parts.append("[1-9]")
            weights.append(9)
        elif up == "N":
            parts.append("[2-9]")
            weights.append(8)
        elif ch == "[":
            end = body.find("]", i + 1)
            if end < 0:
                raise ValueError(f"pattern {name!r}: '[' without ']'")
            chars = _set_chars(body[i + 1 : end])
            parts.append(
                "[" + "".join(re.escape(c) for c in sorted(chars)) + "]" if chars else "(?!)"
            )
            weights.append(len(chars))
            i = end
        elif ch == ".":
            parts.append(".+")
            weights.append(_ANY_ONE_OR_MORE)
        elif ch == "!":
            parts.append(".*")
            weights.append(_ANY_ZERO_OR_MORE)
        elif ch == "-":
            pass
        else:
            parts.append(re.escape(ch))
            weights.append(1)
        i += 1
    return Pattern(name, re.compile("".join(parts), re.DOTALL), (1, tuple(weights), name))


def _set_chars(spec: str) -> set[str]:
    chars: set[str] = set()
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            lo, hi = ord(spec[i]), ord(spec[i + 2])
            chars.update(chr(c) for c in range(min(lo, hi), max(lo, hi) + 1))
            i += 3
        else:
            chars.add(spec[i])
            i += 1
    return chars
