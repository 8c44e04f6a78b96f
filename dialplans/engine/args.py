"""Splitting application and function arguments like ``ast_app_separate_args``.

Commas separate arguments except inside parentheses, brackets or double
quotes; quotes are removed and a backslash keeps the next character as is.
``limit`` is the number of arguments the application declares: the last one
takes the rest of the text as it is, commas, quotes and backslashes included
(``AST_STANDARD_APP_ARGS``: ``__ast_app_separate_args`` scans the first
``limit - 1`` arguments only and hands the remainder over untouched).
"""

from __future__ import annotations


def split_args(text: str, limit: int | None = None, sep: str = ",") -> list[str]:
    """The arguments of ``text``; ``""`` is one empty argument, as in Asterisk."""
    args: list[str] = []
    cur: list[str] = []
    depth = 0
    quoted = False
    i = 0
    if limit is not None and limit <= 1:
        return [text]
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "([":
            depth += 1
            cur.append(ch)
        elif not quoted and ch in ")]" and depth > 0:
            depth -= 1
            cur.append(ch)
        elif not quoted and depth == 0 and ch == sep:
            args.append("".join(cur))
            cur = []
            if limit is not None and len(args) == limit - 1:
                args.append(text[i + 1 :])
                return args
        else:
            cur.append(ch)
        i += 1
    args.append("".join(cur))
    return args


def split_outside_parens(text: str, sep: str) -> tuple[str, str | None]:
    """``text`` cut at the first ``sep`` outside parentheses (ExecIf's ``:``)."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")" and depth > 0:
            depth -= 1
        elif ch == sep and depth == 0:
            return text[:i], text[i + 1 :]
    return text, None
