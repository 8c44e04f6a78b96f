"""The parsed dialplan: contexts, extensions, priorities, and where each came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from dialplans.engine.pattern import Pattern


@dataclass(frozen=True)
class Location:
    """A line of a dialplan file (1-based), printed as ``FILE:LINE``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class DialplanFileError(ValueError):
    """A dialplan file that cannot be read or parsed; the message starts with FILE:LINE."""


class DialplanRunError(RuntimeError):
    """The dialplan asked for something the interpreter cannot do (an unknown
    application or function, a jump to a missing label); the message starts with FILE:LINE."""

    def __init__(self, where: Location | None, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.detail = message


@dataclass(frozen=True)
class Priority:
    """One ``exten =>``/``same =>`` line: priority number, optional label, application."""

    number: int
    label: str | None
    app: str
    data: str
    where: Location


@dataclass
class Extension:
    """An extension (literal name or ``_`` pattern) with its priorities by number."""

    name: str
    pattern: Pattern
    where: Location
    priorities: dict[int, Priority] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)


@dataclass
class Context:
    """A ``[context]``: its extensions in file order and its ``include =>`` list."""

    name: str
    where: Location
    extensions: dict[str, Extension] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)


@dataclass
class Dialplan:
    """Every context of the loaded files."""

    contexts: dict[str, Context] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def find(
        self, context: str, exten: str, _seen: frozenset[str] = frozenset()
    ) -> Extension | None:
        """The extension of ``context`` (or its includes) that ``exten`` reaches, as
        Asterisk picks it: a literal match first, then the most specific pattern."""
        ctx = self.contexts.get(context)
        if ctx is None or context in _seen:
            return None
        matches = [e for e in ctx.extensions.values() if e.pattern.matches(exten)]
        if matches:
            return min(matches, key=lambda e: e.pattern.sort_key)
        for inc in ctx.includes:
            found = self.find(inc, exten, _seen | {context})
            if found is not None:
                return found
        return None

    def exists(self, context: str, exten: str, priority: str | None) -> bool:
        """``DIALPLAN_EXISTS``: the context, the extension, or that priority (number or label)."""
        if context not in self.contexts:
            return False
        if exten == "":
            return True
        ext = self.find(context, exten)
        if ext is None:
            return False
        if priority is None or priority == "":
            return True
        return resolve_priority(ext, priority) is not None


def resolve_priority(ext: Extension, priority: str) -> int | None:
    """A priority given as number or label, if the extension has it."""
    text = priority.strip()
    if text.isdigit():
        number = int(text)
        return number if number in ext.priorities else None
    return ext.labels.get(text)
