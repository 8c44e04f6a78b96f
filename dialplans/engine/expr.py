"""``$[…]`` expressions with the operators and precedence of ``main/ast_expr2.y``.

Lowest to highest: ``? ::`` (ternary), ``|``, ``&``, comparisons
(``= == != < <= > >=``), ``+ -``, ``* / %``, unary ``!`` and ``-``, ``:``
and ``=~`` (regular expressions), parentheses. Quoted strings lose their
quotes. Comparisons are numeric when both sides are numbers, else by
string; ``|`` returns the first operand that is neither empty nor zero;
``&`` returns the left operand when both are. A malformed expression is an
:class:`ExprError` (Asterisk logs it and substitutes nothing; here it is an
error, because a generated file must never contain one).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(r"\s*-?(\d+(\.\d*)?|\.\d+)\s*$")
# Longest first, so that "==" is not read as "=" "=".
_OPERATORS = (
    *("::", "=~", "==", "!=", ">=", "<="),
    *("|", "&", "=", ">", "<", "+", "-", "*", "/", "%", "?", "!", "(", ")", ":"),
)
_COMPARE = ("=", "==", "!=", "<", "<=", ">", ">=")


class ExprError(ValueError):
    """An expression Asterisk could not evaluate either.

    The message says what is wrong, never the substituted values: they may hold
    a caller number (``$["${CALLERID(num)}" = ""]``), and the message is logged.
    """


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: kind is 'op' or 'str'."""
    out: list[tuple[str, str]] = []
    i = 0
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append(("str", "".join(buf)))
            buf.clear()

    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            flush()
            i += 1
            continue
        if ch == '"':
            flush()
            end = text.find('"', i + 1)
            if end < 0:
                raise ExprError("unterminated string")
            out.append(("str", text[i + 1 : end]))
            i = end + 1
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                flush()
                out.append(("op", op))
                i += len(op)
                break
        else:
            buf.append(ch)
            i += 1
    flush()
    return out


def number(value: str) -> Decimal | None:
    """The value as a number, if it is one (Asterisk's ``to_number``)."""
    if _NUMBER.match(value) is None:
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return None


def is_false(value: str) -> bool:
    """Empty, or a number equal to zero."""
    if value == "":
        return True
    n = number(value)
    return n is not None and n == 0


def _fmt(n: Decimal) -> str:
    if n == n.to_integral_value():
        return str(int(n))
    return format(n.normalize(), "f")


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take_op(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in ops:
            self.pos += 1
            return tok[1]
        return None

    def fail(self, what: str) -> ExprError:
        return ExprError(what)

    def parse(self) -> str:
        if not self.toks:
            return ""
        value = self.ternary()
        tok = self.peek()
        if tok is not None:
            raise self.fail(f"unexpected {tok[1]!r}" if tok[0] == "op" else "unexpected operand")
        return value

    def ternary(self) -> str:
        cond = self.or_()
        if self.take_op("?"):
            yes = self.ternary()
            if not self.take_op("::"):
                raise self.fail("'?' without '::'")
            no = self.ternary()
            return no if is_false(cond) else yes
        return cond

    def or_(self) -> str:
        left = self.and_()
        while self.take_op("|"):
            right = self.and_()
            left = left if not is_false(left) else (right if not is_false(right) else "0")
        return left

    def and_(self) -> str:
        left = self.compare()
        while self.take_op("&"):
            right = self.compare()
            left = "0" if is_false(left) or is_false(right) else left
        return left

    def compare(self) -> str:
        left = self.additive()
        while (op := self.take_op(*_COMPARE)) is not None:
            right = self.additive()
            a, b = number(left), number(right)
            result = _cmp(a, b, op) if a is not None and b is not None else _cmp(left, right, op)
            left = "1" if result else "0"
        return left

    def additive(self) -> str:
        left = self.multiplicative()
        while (op := self.take_op("+", "-")) is not None:
            right = self.multiplicative()
            a, b = self.numbers(left, right, op)
            left = _fmt(a + b if op == "+" else a - b)
        return left

    def multiplicative(self) -> str:
        left = self.unary()
        while (op := self.take_op("*", "/", "%")) is not None:
            right = self.unary()
            a, b = self.numbers(left, right, op)
            if op != "*" and b == 0:
                raise self.fail("division by zero")
            if op == "*":
                left = _fmt(a * b)
            elif op == "/":
                left = _fmt(a / b)
            else:
                left = _fmt(a % b)
        return left

    def numbers(self, left: str, right: str, op: str) -> tuple[Decimal, Decimal]:
        a, b = number(left), number(right)
        if a is None or b is None:
            raise self.fail(f"non-numeric operand of {op!r}")
        return a, b

    def unary(self) -> str:
        if self.take_op("!"):
            return "1" if is_false(self.unary()) else "0"
        if self.take_op("-"):
            value = self.unary()
            n = number(value)
            if n is None:
                raise self.fail("non-numeric operand of unary '-'")
            return _fmt(-n)
        return self.regex()

    def regex(self) -> str:
        left = self.primary()
        while (op := self.take_op(":", "=~")) is not None:
            right = self.primary()
            try:
                rx = re.compile(right)
            except re.error as err:
                raise self.fail(f"bad regular expression: {err}") from None
            match = rx.match(left) if op == ":" else rx.search(left)
            if rx.groups:
                left = match.group(1) or "" if match else ""
            else:
                left = str(match.end() - match.start()) if match else "0"
        return left

    def primary(self) -> str:
        tok = self.peek()
        if tok is None:
            raise self.fail("operand missing")
        if tok == ("op", "("):
            self.pos += 1
            value = self.ternary()
            if not self.take_op(")"):
                raise self.fail("'(' without ')'")
            return value
        if tok[0] == "op":
            raise self.fail(f"operand missing before {tok[1]!r}")
        self.pos += 1
        return tok[1]


def _cmp(x: Decimal | str, y: Decimal | str, op: str) -> bool:
    if op in ("=", "=="):
        return x == y
    if op == "!=":
        return x != y
    if op == "<":
        return bool(x < y)  # type: ignore[operator]
    if op == "<=":
        return bool(x <= y)  # type: ignore[operator]
    if op == ">":
        return bool(x > y)  # type: ignore[operator]
    return bool(x >= y)  # type: ignore[operator]


def evaluate(text: str) -> str:
    """The value of the expression ``text`` (the inside of ``$[…]``, already substituted)."""
    return _Parser(text).parse()
