"""Writing Asterisk configuration text: contexts, priorities, and safe values.

Everything the generator interpolates into a dialplan or a ``.conf`` file comes
from configuration, and Asterisk gives many characters a meaning there: ``,``
separates application arguments, ``;`` starts a comment, ``$`` ``[`` ``(``
start substitutions, ``=`` and ``]`` end keys and section names. The router's
loader already restricts ids, queue and sound names, but a ``Config`` may be
built directly, so every value is checked again here against the narrow
shape it must have; a value outside it is refused with :class:`DialplanError`
instead of being quoted, because no quoting rule covers every place a value
lands (an AGI argument, a GotoIf target, a section header).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SHAPES: dict[str, re.Pattern[str]] = {
    # Center ids also become extension names (center-<id>) and AGI/UserEvent values.
    "center id": re.compile(r"[a-z0-9][a-z0-9_-]*", re.ASCII),
    "queue name": re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII),
    "sound name": re.compile(
        r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*", re.ASCII
    ),
    "Ortsnetz code": re.compile(r"[1-9][0-9]{1,4}", re.ASCII),
    "postal code": re.compile(r"[0-9]{5}", re.ASCII),
    # A key of the fallback's postal data: x + exact code, p + prefix.
    "postal code key": re.compile(r"(?:x[0-9]{5}|p[0-9]{1,5})", re.ASCII),
    "time zone": re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*", re.ASCII),
    "AMI user name": re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*", re.ASCII),
    "host": re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]*", re.ASCII),
    # Dial()'s TECH/resource of a callback leg, with ${CB_DIAL} (router.configload checks it).
    "dial target": re.compile(
        r"[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.:@/+#*=-]*\$\{CB_DIAL(?::[0-9]{1,2})?\}"
        r"[A-Za-z0-9_.:@/+#*=-]*",
        re.ASCII,
    ),
    # Empty when the configuration was not loaded from a file.
    "config sha256": re.compile(r"(?:[0-9a-f]{64})?", re.ASCII),
}


class DialplanError(ValueError):
    """The configuration holds a value that cannot be written into Asterisk configuration."""


def checked(kind: str, value: str) -> str:
    """Return ``value`` if it has the shape of ``kind``; raise :class:`DialplanError` otherwise."""
    shape = _SHAPES[kind]
    if shape.fullmatch(value) is None or ".." in value:
        raise DialplanError(f"{kind} {value!r} cannot be written into Asterisk configuration")
    return value


def comment_block(text: str) -> list[str]:
    """``text`` as ``;`` comment lines (blank lines become a bare ``;``)."""
    return [f"; {line}".rstrip() for line in text.strip("\n").splitlines()]


@dataclass
class Context:
    """One dialplan context, written with ``exten =>`` / ``same =>`` lines.

    Priorities are ``1`` for the first line of an extension and ``n`` after it;
    a label goes in brackets after the priority, as Asterisk writes it:
    ``same => n(join),Queue(...)``.
    """

    name: str
    doc: str = ""
    lines: list[str] = field(default_factory=list)

    def exten(self, exten: str, app: str, label: str | None = None) -> Context:
        """Start extension ``exten`` with its priority 1."""
        prio = f"1({label})" if label else "1"
        self.lines.append(f"exten => {exten},{prio},{app}")
        return self

    def same(self, app: str, label: str | None = None) -> Context:
        """Add the next priority of the current extension."""
        prio = f"n({label})" if label else "n"
        self.lines.append(f" same => {prio},{app}")
        return self

    def note(self, text: str) -> Context:
        """A comment line inside the context (why, not what)."""
        self.lines.extend(comment_block(text))
        return self

    def blank(self) -> Context:
        """An empty line between extensions."""
        self.lines.append("")
        return self

    def render(self) -> str:
        """The context as text, doc comment first."""
        head = comment_block(self.doc) if self.doc else []
        body = list(self.lines)
        while body and body[-1] == "":
            body.pop()
        return "\n".join([*head, f"[{self.name}]", *body]) + "\n"


def render_file(header: str, sections: list[str]) -> str:
    """A whole configuration file: the header comment, then sections separated by a blank line."""
    parts = ["\n".join(comment_block(header)) + "\n", *sections]
    return "\n".join(parts)
