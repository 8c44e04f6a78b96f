"""Reading YAML node trees with their positions, collecting every problem.

``router.configload`` walks the composed YAML (``yaml.compose``, not
``yaml.load``) so that each value keeps the line and column it was written at,
and a bad configuration is refused with *all* its problems, each printed as
``FILE:LINE:COL: message`` the way compilers and editors expect.

Text-like values — Ortsnetz codes, postal codes, times, dates, host:port — are
read from the scalar's source text rather than from YAML's interpretation of
it: YAML 1.1 turns an unquoted ``0421`` into the octal number 273 and
``18:30`` into the sexagesimal 1110, neither of which anybody meant.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

E = TypeVar("E", bound=Enum)

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
MERGE = _TAG + "merge"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration, at a 1-based line and column of ``file``."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


# Problems listed when a configuration is refused; the rest are counted. A
# file with a million bad dates needs its first hundred read, not all.
MAX_LISTED_PROBLEMS = 100


class ConfigError(Exception):
    """A configuration was refused; ``problems`` lists every problem found, in file order.

    Printed (``str``, :meth:`lines`) it lists the first
    :data:`MAX_LISTED_PROBLEMS` and then how many more there are.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self, limit: int = MAX_LISTED_PROBLEMS) -> list[str]:
        """The first ``limit`` problems as text, then ``… and N more problems`` if any."""
        listed = [str(p) for p in self.problems[:limit]]
        more = len(self.problems) - len(listed)
        if more > 0:
            listed.append(f"… and {more} more problem{'' if more == 1 else 's'}")
        return listed


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""`` if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def decode_text(data: bytes, source: str) -> str:
    """A file's bytes as text (UTF-8, a byte-order mark allowed); :class:`ConfigError` if not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError([Problem(source, line, col, "not UTF-8 text")]) from err


def compose(text: str, source: str) -> Node | None:
    """The node tree of a single YAML document; syntax errors raise :class:`ConfigError`."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = err.problem or err.context or "unreadable YAML"
        if err.context and err.problem and err.problem.startswith("but "):
            what = f"{err.context}, {err.problem}"
        elif err.context and err.problem:
            where = ""
            cmark = err.context_mark
            if cmark is not None and cmark is not mark:
                where = f" at line {cmark.line + 1}, column {cmark.column + 1}"
            what = f"{err.problem} ({err.context}{where})"
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise ConfigError([Problem(source, line, col, f"YAML syntax error: {what}")]) from err
    except yaml.reader.ReaderError as err:
        line, col = position(text, err.position)
        char = err.character
        what = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        message = f"character {what} is not allowed in YAML"
        raise ConfigError([Problem(source, line, col, message)]) from err
    except yaml.YAMLError as err:
        raise ConfigError([Problem(source, 1, 1, f"YAML error: {err}")]) from err
    except RecursionError as err:
        raise ConfigError([Problem(source, 1, 1, "YAML nested too deeply")]) from err


def position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character offset in ``text``."""
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def describe(node: Node) -> str:
    """How a node reads to a person, for "expected X, got Y" messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    shown = value if len(value) <= 40 else value[:37] + "..."
    names = {STR: "string", INT: "integer", FLOAT: "number", BOOL: "boolean"}
    if node.tag == NULL:
        return "nothing (null)"
    if node.tag in names:
        return f"{names[node.tag]} {shown!r}" if node.tag == STR else f"{names[node.tag]} {shown}"
    return f"{shown!r} tagged {node.tag}"


class NodeReader:
    """Typed access to YAML nodes that records problems instead of raising.

    Every getter returns a usable value — the default when the node is missing
    or wrong — so the caller can keep walking and find the next problem; the
    loader refuses the configuration at the end if anything was recorded.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        # Builds ints, floats and booleans the YAML 1.1 way (0x1F, 1_000, yes);
        # one per reader, since a constructor remembers every node it built.
        self._constructor = SafeConstructor()

    def report(self, node: Node, message: str) -> None:
        """Record a problem at the start of ``node``."""
        mark = node.start_mark
        self.problems.append(Problem(self.source, mark.line + 1, mark.column + 1, message))

    def sorted_problems(self) -> list[Problem]:
        """The recorded problems in file order, each once."""
        unique = dict.fromkeys(self.problems)
        return sorted(unique, key=lambda p: (p.line, p.col))

    # --- containers -------------------------------------------------------

    def entries(self, node: Node, path: str) -> list[tuple[str, Node, Node]] | None:
        """``(key, key node, value node)`` of a mapping; duplicate and non-string keys reported."""
        if not isinstance(node, MappingNode):
            self.report(node, f"{path}: expected a mapping, got {describe(node)}")
            return None
        seen: dict[str, Node] = {}
        found: list[tuple[str, Node, Node]] = []
        for key, value in node.value:
            if key.tag == MERGE:
                self.report(
                    key,
                    f"{path}: merge keys (<<) are not supported; "
                    "repeat the keys, or use an &anchor for a whole value",
                )
                continue
            if not isinstance(key, ScalarNode) or key.tag != STR:
                self.report(key, f"{path}: keys must be text, got {describe(key)}")
                continue
            name = str(key.value)
            first = seen.get(name)
            if first is not None:
                self.report(
                    key,
                    f"{_join(path, name)}: duplicate key (first given at line "
                    f"{first.start_mark.line + 1})",
                )
                continue
            seen[name] = key
            found.append((name, key, value))
        return found

    def fields(
        self,
        node: Node,
        path: str,
        *,
        required: Collection[str] = (),
        optional: Collection[str] = (),
    ) -> dict[str, Node]:
        """The values of a mapping with a fixed set of keys.

        Unknown keys are reported with the closest known key, missing required
        keys at the mapping itself.
        """
        found = self.entries(node, path)
        if found is None:
            return {}
        known = [*required, *optional]
        values: dict[str, Node] = {}
        for name, key, value in found:
            if name in known:
                values[name] = value
            else:
                hint = did_you_mean(name, known) or f"; known keys: {', '.join(sorted(known))}"
                self.report(key, f"{_join(path, name)}: unknown key{hint}")
        missing = [name for name in required if name not in values]
        if missing:
            keys = "key" if len(missing) == 1 else "keys"
            names = ", ".join(repr(name) for name in missing)
            self.report(node, f"{path or 'top level'}: missing required {keys} {names}")
        return values

    def items(self, node: Node | None, path: str) -> list[tuple[str, Node]]:
        """``(path, node)`` of each item of a list; ``[]`` if missing or not a list."""
        if node is None:
            return []
        if not isinstance(node, SequenceNode):
            self.report(node, f"{path}: expected a list, got {describe(node)}")
            return []
        return [(f"{path}[{i}]", item) for i, item in enumerate(node.value)]

    # --- scalars ----------------------------------------------------------

    def text(self, node: Node, path: str, expected: str) -> str | None:
        """The source text of a scalar, however YAML would have typed it."""
        if not isinstance(node, ScalarNode) or node.tag == NULL:
            self.report(node, f"{path}: expected {expected}, got {describe(node)}")
            return None
        return str(node.value).strip()

    def string(self, node: Node | None, path: str, default: str) -> str:
        """A non-empty string (quoted or plain, but not a number or boolean)."""
        if node is None:
            return default
        if not isinstance(node, ScalarNode) or node.tag != STR:
            hint = "; put it in quotes" if isinstance(node, ScalarNode) and node.tag != NULL else ""
            self.report(node, f"{path}: expected a string, got {describe(node)}{hint}")
            return default
        value = str(node.value).strip()
        if not value:
            self.report(node, f"{path}: must not be empty")
            return default
        return value

    def optional_string(self, node: Node | None, path: str, default: str | None) -> str | None:
        """A non-empty string, or ``None`` for YAML null (``null``, ``~`` or nothing)."""
        if node is None:
            return default
        if isinstance(node, ScalarNode) and node.tag == NULL:
            return None
        value = self.string(node, path, "")
        return value or default

    def integer(self, node: Node | None, path: str, default: int, *, minimum: int) -> int:
        """An integer of at least ``minimum``."""
        if node is None:
            return default
        value = self._integer(node, path, minimum)
        return default if value is None else value

    def optional_integer(
        self, node: Node | None, path: str, default: int | None, *, minimum: int
    ) -> int | None:
        """An integer of at least ``minimum``, or ``None`` for YAML null."""
        if node is None:
            return default
        if isinstance(node, ScalarNode) and node.tag == NULL:
            return None
        value = self._integer(node, path, minimum)
        return default if value is None else value

    def _integer(self, node: Node, path: str, minimum: int) -> int | None:
        value = self._construct(node, (INT,), path, "an integer")
        if not isinstance(value, int):
            return None
        if value < minimum:
            self.report(node, f"{path}: must be at least {minimum}, got {value}")
            return None
        return value

    def number(self, node: Node | None, path: str, default: float) -> float:
        """A finite number (integer or decimal)."""
        if node is None:
            return default
        value = self._construct(node, (INT, FLOAT), path, "a number")
        if not isinstance(value, int | float):
            return default
        if not math.isfinite(value):
            self.report(node, f"{path}: must be a finite number, got {node.value}")
            return default
        return float(value)

    def boolean(self, node: Node | None, path: str, default: bool) -> bool:
        """``true`` or ``false``."""
        if node is None:
            return default
        value = self._construct(node, (BOOL,), path, "true or false")
        return value if isinstance(value, bool) else default

    def choice(self, node: Node | None, path: str, default: E, enum: type[E]) -> E:
        """One of the values of a string enum."""
        if node is None:
            return default
        names = [str(member.value) for member in enum]
        value = self.text(node, path, "one of " + ", ".join(names))
        if value is None:
            return default
        for member in enum:
            if member.value == value:
                return member
        hint = did_you_mean(value, names) or f"; expected one of {', '.join(names)}"
        self.report(node, f"{path}: unknown value {value!r}{hint}")
        return default

    def _construct(
        self, node: Node, tags: tuple[str, ...], path: str, expected: str
    ) -> object | None:
        if not isinstance(node, ScalarNode) or node.tag not in tags:
            self.report(node, f"{path}: expected {expected}, got {describe(node)}")
            return None
        try:
            value: object = self._constructor.construct_object(node)
        except (ConstructorError, ValueError, OverflowError):
            # int() refuses literals of more than 4300 digits.
            self.report(node, f"{path}: cannot read {describe(node)} as {expected}")
            return None
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
