"""manager.conf users with their event filters, as Asterisk 22 applies them.

The stand-in's AMI users come from the ``manager_lotse.conf`` that
``lotse dialplan build`` generates (``read``, ``write`` and ``eventfilter``
lines per user section), so every client gets what a real Asterisk with
those files would send it. Verified against Asterisk 22.10.1
``main/manager.c``:

- ``manager_add_filter``: ``eventfilter(action(include|exclude),name(E),
  header(H),method(M)) = pattern`` (options in any order; ``header`` gets a
  ``:`` appended; ``method`` regex (POSIX extended, unanchored ``regexec``),
  exact, starts_with, ends_with, contains or none, the default; each but
  none needs a pattern, none takes none); the legacy ``eventfilter = regex``
  (a leading ``!`` excludes) matches the whole event text.
- ``filter_cmp_fn``: a filter with a name only looks at events of that name;
  with a header, every line starting with ``H:`` is tried, its value after
  the blanks (an empty value is skipped); without, the whole event text.
- ``should_send_event``: no filters send everything; include filters only:
  an event is sent when one matches; exclude only: sent unless one matches;
  both: sent when an include matches and no exclude does.

Filtering happens before an event is formatted: :meth:`UserPolicy.may_want`
answers from the event's name and the fields known before its channel
snapshot is built, so the stand-in spends nothing on an event no client
gets (Asterisk builds it anyway; what matters here is what goes on the wire).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from dialplans.build import AmiEvents
from dialplans.manager import manager_conf
from router.config import Config
from standin.wire import ALL_CLASSES, AmiEvent, parse_classes, privilege


class Method(StrEnum):
    """``method(...)`` of an advanced filter."""

    REGEX = "regex"
    EXACT = "exact"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    CONTAINS = "contains"
    NONE = "none"


class FilterError(ValueError):
    """An ``eventfilter`` line Asterisk would refuse (it logs a warning and skips it)."""


@dataclass(frozen=True)
class EventFilter:
    """One ``eventfilter`` of a user."""

    exclude: bool
    name: str | None
    header: str | None  # with its trailing ':'
    method: Method
    pattern: str

    @classmethod
    def parse(cls, criteria: str, pattern: str) -> EventFilter:
        """``manager_add_filter`` for ``criteria = pattern`` (criteria: ``eventfilter(...)``)."""
        exclude = False
        if pattern.startswith("!"):
            exclude, pattern = True, pattern[1:]
        start = criteria.find("(")
        if start < 0:
            if not pattern:
                raise FilterError(f"{criteria} = : legacy filter without a pattern")
            return cls(exclude, None, None, Method.REGEX, _checked_regex(pattern))
        options = criteria[start + 1 :].strip()
        if not options.endswith(")"):
            raise FilterError(f"{criteria}: filter options not formatted correctly")
        name = header = None
        method = Method.NONE
        found = False
        for option in (o for o in re.split(r"[ ,)]+", options) if o):
            key, _, value = option.partition("(")
            value = value.strip()
            if key.startswith("action"):
                if value not in ("include", "exclude"):
                    raise FilterError(f"{criteria}: action {value!r} is unknown")
                exclude = value == "exclude"
            elif key.startswith("name") and value:
                name = value
            elif key.startswith("header") and value:
                header = value if value.endswith(":") else value + ":"
            elif key.startswith("method"):
                try:
                    method = Method(value)
                except ValueError:
                    raise FilterError(f"{criteria}: method {value!r} is unknown") from None
            else:
                raise FilterError(f"{criteria}: filter option {option!r} is unknown")
            found = True
        if not found:
            raise FilterError(f"{criteria}: no action, name, header or method")
        # An advanced filter's method is "none" unless given: a pattern needs one.
        if not pattern and method is not Method.NONE:
            raise FilterError(f"{criteria}: method {method} needs a pattern")
        if pattern and method is Method.NONE:
            raise FilterError(f"{criteria} = {pattern}: method none takes no pattern")
        if name is None and header is None and method is Method.NONE:
            raise FilterError(f"{criteria}: no name or header and no pattern")
        if method is Method.REGEX:
            _checked_regex(pattern)
        return cls(exclude, name, header, method, pattern)

    def _value_matches(self, text: str) -> bool:
        m, p = self.method, self.pattern
        if m is Method.REGEX:
            return _compiled(p).search(text) is not None
        if m is Method.EXACT:
            return text == p
        if m is Method.STARTS_WITH:
            return text.startswith(p)
        if m is Method.ENDS_WITH:
            return text.endswith(p)
        if m is Method.CONTAINS:
            return p in text
        return True

    def matches(self, event: AmiEvent) -> bool:
        """Whether the filter matches the event as it goes on the wire."""
        if self.name is not None and self.name != event.name:
            return False
        if self.header is None:
            if self.method is Method.NONE:
                return True
            return self._value_matches(event.data.decode("utf-8", errors="replace"))
        key = self.header[:-1]
        lines = (("Event", event.name), ("Privilege", privilege(event.category)), *event.fields)
        for k, v in lines:
            # A line starting with "Header:": the key itself, exactly.
            if k == key:
                value = v.lstrip(" \t")
                if value and self._value_matches(value):
                    return True
        return False

    def may_match(self, name: str, known: Sequence[tuple[str, str]]) -> bool:
        """Whether an event of ``name`` with the fields ``known`` (the rest still to
        be built) could match: ``False`` only when it certainly cannot."""
        if self.name is not None and self.name != name:
            return False
        if self.header is None:
            return True
        key = self.header[:-1]
        if key == "Event":
            return self._value_matches(name)
        values = [v.lstrip(" \t") for k, v in known if k == key]
        if not values:
            return True
        return any(v and self._value_matches(v) for v in values)


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _REGEX_CACHE.get(pattern)
    if found is None:
        found = _REGEX_CACHE[pattern] = re.compile(pattern)
    return found


def _checked_regex(pattern: str) -> str:
    try:
        _compiled(pattern)
    except re.error as err:
        raise FilterError(f"{pattern!r}: not a regular expression: {err}") from None
    return pattern


@dataclass(frozen=True)
class UserPolicy:
    """A user's read and write classes and event filters (manager.conf)."""

    read: int = ALL_CLASSES
    write: int = ALL_CLASSES
    filters: tuple[EventFilter, ...] = ()
    _includes: tuple[EventFilter, ...] = field(init=False, repr=False, compare=False)
    _excludes: tuple[EventFilter, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_includes", tuple(f for f in self.filters if not f.exclude))
        object.__setattr__(self, "_excludes", tuple(f for f in self.filters if f.exclude))

    def should_send(self, event: AmiEvent) -> bool:
        """``should_send_event`` of manager.c."""
        if not self.filters:
            return True
        includes, excludes = self._includes, self._excludes
        if includes and not any(f.matches(event) for f in includes):
            return False
        return not any(f.matches(event) for f in excludes)

    def may_want(self, name: str, category: int, known: Sequence[tuple[str, str]]) -> bool:
        """Whether this user could get the event (read classes, include filters), judged
        before the event is built; excludes are left to :meth:`should_send`."""
        if (self.read & category) != category:
            return False
        includes = self._includes
        return not includes or any(f.may_match(name, known) for f in includes)


def parse_manager_conf(text: str) -> dict[str, UserPolicy]:
    """The users of a manager.conf text (``[general]`` and ``#`` lines skipped).

    Raises :class:`FilterError` for a filter Asterisk would refuse: the
    generated file never has one, an operator's file is checked this way.
    """
    users: dict[str, dict[str, object]] = {}
    current: dict[str, object] | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            name = line[1 : line.index("]")] if "]" in line else line[1:]
            current = None if name == "general" else users.setdefault(name, {"filters": []})
            continue
        if current is None:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in ("read", "write"):
            current[key] = parse_classes(value)
        elif key.startswith("eventfilter"):
            filters = current["filters"]
            assert isinstance(filters, list)
            filters.append(EventFilter.parse(key, value))
    out = {}
    for name, found in users.items():
        filters = found["filters"]
        assert isinstance(filters, list)
        read, write = found.get("read", ALL_CLASSES), found.get("write", ALL_CLASSES)
        assert isinstance(read, int) and isinstance(write, int)
        out[name] = UserPolicy(read, write, tuple(filters))
    return out


def policies_for(users: Iterable[str], conf: str) -> dict[str, UserPolicy]:
    """The policy of each of ``users`` in ``conf`` (a user not in it: all classes, no filter)."""
    found = parse_manager_conf(conf)
    return {user: found.get(user, UserPolicy()) for user in users}


def generated_manager_conf(config: Config) -> str:
    """The ``manager_lotse.conf`` ``lotse dialplan build`` writes for ``config``."""
    events = AmiEvents.from_ami()
    return manager_conf(config, events.needed, events.list_only, events.variables_regex)
