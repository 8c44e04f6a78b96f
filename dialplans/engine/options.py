"""Application option strings as ``ast_app_parse_options`` reads them.

An option string is a run of letters, each optionally followed by an
argument in parentheses (``g``, ``L(60000)``, ``b(ctx^s^1)``). Which
letters exist and which take an argument is the application's table
(``AST_APP_OPTIONS`` in its source). Asterisk only warns about a letter it
does not know and goes on; the interpreter refuses it instead, so a typo in
a generated dialplan fails a test rather than silently changing behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping


class OptionError(ValueError):
    """An option string with a letter the application does not have, or a bad argument."""


def parse_options(text: str, table: Mapping[str, bool], app: str) -> dict[str, str]:
    """Letter → argument ('' when none) of ``text``; ``table`` maps each known letter
    to whether it takes an argument (which may still be left out)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        letter = text[i]
        i += 1
        if letter not in table:
            raise OptionError(f"{app}: unknown option {letter!r}")
        arg = ""
        if i < len(text) and text[i] == "(":
            if not table[letter]:
                raise OptionError(f"{app}: option {letter!r} takes no argument")
            depth, start = 0, i
            while i < len(text):
                if text[i] == "(":
                    depth += 1
                elif text[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            if i >= len(text):
                raise OptionError(f"{app}: option {letter!r}: unclosed '('")
            arg = text[start + 1 : i]
            i += 1
        out[letter] = arg
    return out


def atoi(text: str) -> int:
    """C's ``atoi``: leading blanks, an optional sign, digits; 0 when there are none
    (``",1"`` is 0, ``"1,"`` is 1)."""
    s = text.lstrip(" \t\n\r\f\v")
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    digits = ""
    for ch in s:
        if not ch.isdigit():
            break
        digits += ch
    return sign * int(digits) if digits else 0
