"""``${VAR}``, ``${VAR:offset:length}``, ``${FUNC(args)}`` and ``$[expr]`` substitution.

As ``pbx_substitute_variables_helper_full`` does it: the inside of each
``${…}``/``$[…]`` (matched by counting braces/brackets) is substituted
first, then looked up or evaluated; the result is not substituted again.
"""

from __future__ import annotations

from collections.abc import Callable

from dialplans.engine.expr import ExprError, evaluate


class SubstitutionError(ValueError):
    """Text whose ``${``/``$[`` never closes, or an expression that cannot be evaluated."""


def substring(value: str, offset: int, length: int | None) -> str:
    """``${VAR:offset:length}``: negative offset counts from the end, negative length
    leaves that many characters off the end (``main/pbx_variables.c``, ``substring``)."""
    size = len(value)
    if offset < 0:
        offset = max(0, size + offset)
    if offset >= size:
        return ""
    if length is None:
        return value[offset:]
    if length >= 0:
        return value[offset : offset + length]
    end = size + length
    return value[offset:end] if end > offset else ""


def _matching(text: str, start: int, open_ch: str, close_ch: str) -> int:
    """Index of the character closing the group whose opener is at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_ch:
            depth += 1
        elif text[i] == close_ch:
            depth -= 1
            if depth == 0:
                return i
    raise SubstitutionError(f"{text!r}: '{open_ch}' at {start} is never closed")


def split_name(inner: str) -> tuple[str, int, int | None]:
    """``NAME:offset:length`` → (NAME, offset, length); a ``:`` inside a function's
    parentheses belongs to the name."""
    depth = 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == ":" and depth == 0:
            rest = inner[i + 1 :].split(":")
            offset = _int(rest[0])
            length = _int(rest[1]) if len(rest) > 1 and rest[1].strip() else None
            return inner[:i], offset, length
    return inner, 0, None


def _int(text: str) -> int:
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    count = 0
    while count < len(digits) and digits[count].isdigit():
        count += 1
    return sign * int(digits[:count]) if count else 0


def substitute(
    text: str,
    lookup: Callable[[str], str | None],
    call: Callable[[str, str], str],
) -> str:
    """``text`` with every ``${…}`` and ``$[…]`` replaced.

    ``lookup(name)`` reads a variable (None: unset, read as empty);
    ``call(name, args)`` runs a dialplan function.
    """
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        nxt = text[i + 1 : i + 2]
        if ch == "$" and nxt == "{":
            end = _matching(text, i + 1, "{", "}")
            inner = substitute(text[i + 2 : end], lookup, call)
            name, offset, length = split_name(inner)
            if name.endswith(")") and "(" in name:
                fname, _, fargs = name[:-1].partition("(")
                value = call(fname.strip(), fargs)
            else:
                value = lookup(name) or ""
            out.append(
                substring(value, offset, length) if (offset or length is not None) else value
            )
            i = end + 1
        elif ch == "$" and nxt == "[":
            end = _matching(text, i + 1, "[", "]")
            written = text[i + 2 : end]
            inner = substitute(written, lookup, call)
            try:
                out.append(evaluate(inner))
            except ExprError as err:
                # The expression as written, not as substituted: the operator
                # finds it in the file, and no caller number reaches a log.
                raise SubstitutionError(f"$[{written}]: {err}") from None
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
