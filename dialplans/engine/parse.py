"""Reading ``extensions.conf`` text the way ``pbx_config.c`` reads it.

Supported: ``[context]`` sections, ``exten =>``/``same =>`` lines with
numbered or ``n`` priorities and ``(label)``s, ``include =>``, ``#include``
(relative to the including file), ``;`` comments and ``;-- … --;`` blocks,
``[general]`` (ignored) and ``[globals]`` (global variables). Everything
else (``switch =>``, templates, ``#exec``, caller-id patterns) is refused
with FILE:LINE rather than ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

from dialplans.engine.model import (
    Context,
    Dialplan,
    DialplanFileError,
    Extension,
    Location,
    Priority,
)
from dialplans.engine.pattern import compile_pattern

_SECTION = re.compile(r"\[([^\]\s]+)\]\s*$")
_KEYWORD = re.compile(r"([A-Za-z]+)\s*=>?\s*(.*)$", re.DOTALL)
_PRIORITY = re.compile(r"(\d+|n|s)(?:\(([^)]*)\))?$")
_MAX_INCLUDE_DEPTH = 10


def load_dialplan(path: Path) -> Dialplan:
    """Parse ``path`` (a file, or a directory: its ``extensions*.conf``) with its ``#include``s."""
    plan = Dialplan()
    if path.is_dir():
        files = sorted(path.glob("extensions*.conf"))
        if not files:
            raise DialplanFileError(f"{path}: no extensions*.conf in this directory")
    else:
        files = [path]
    for file in files:
        _parse_file(plan, file, 0, _State())
    return plan


def parse_text(text: str, name: str = "<text>", base: Path | None = None) -> Dialplan:
    """Parse dialplan text (``#include`` paths relative to ``base``)."""
    plan = Dialplan()
    _parse_lines(plan, text, name, base or Path("."), 0, _State())
    return plan


class _State:
    """The parser's position: the current context and extension (for ``same =>``)."""

    def __init__(self) -> None:
        self.context: Context | None = None
        self.section = ""
        self.exten: Extension | None = None
        self.last_priority = 0
        self.in_block_comment = False


def _parse_file(plan: Dialplan, file: Path, depth: int, state: _State) -> None:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise DialplanFileError(f"{file}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise DialplanFileError(f"{file}: not UTF-8 text") from None
    _parse_lines(plan, text, str(file), file.parent, depth, state)


def _strip_comment(line: str, state: _State) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        if state.in_block_comment:
            end = line.find("--;", i)
            if end < 0:
                return "".join(out)
            state.in_block_comment = False
            i = end + 3
            continue
        ch = line[i]
        if ch == "\\" and line[i + 1 : i + 2] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            if line[i + 1 : i + 3] == "--":
                state.in_block_comment = True
                i += 3
                continue
            break
        out.append(ch)
        i += 1
    return "".join(out)


def _parse_lines(
    plan: Dialplan, text: str, name: str, base: Path, depth: int, state: _State
) -> None:
    plan.files.append(name)
    for number, raw in enumerate(text.splitlines(), start=1):
        where = Location(name, number)
        line = _strip_comment(raw, state).strip()
        if not line:
            continue
        if line.startswith("#"):
            _directive(plan, line, where, base, depth, state)
            continue
        section = _SECTION.match(line)
        if section:
            _open_section(plan, section.group(1), where, state)
            continue
        if line.startswith("["):
            raise DialplanFileError(f"{where}: unsupported section header {line!r}")
        keyword = _KEYWORD.match(line)
        if keyword is None:
            raise DialplanFileError(f"{where}: expected 'exten =>', 'same =>' or 'include =>'")
        key, value = keyword.group(1).lower(), keyword.group(2).strip()
        if state.section == "general":
            continue
        if state.section == "globals":
            raise DialplanFileError(f"{where}: [globals] is not supported; set channel variables")
        if state.context is None:
            raise DialplanFileError(f"{where}: {key} outside a [context]")
        if key == "exten":
            _exten(value, where, state)
        elif key == "same":
            _same(value, where, state)
        elif key == "include":
            state.context.includes.append(value.split(",", 1)[0].strip())
        else:
            raise DialplanFileError(f"{where}: unsupported keyword {key!r}")


def _directive(
    plan: Dialplan, line: str, where: Location, base: Path, depth: int, state: _State
) -> None:
    word, _, arg = line.partition(" ")
    if word.lower() not in ("#include", "#tryinclude"):
        raise DialplanFileError(f"{where}: unsupported directive {word!r}")
    target = arg.strip().strip('"<>').strip()
    if not target:
        raise DialplanFileError(f"{where}: {word} without a file name")
    if depth >= _MAX_INCLUDE_DEPTH:
        raise DialplanFileError(f"{where}: #include nested too deeply (a loop?)")
    path = Path(target) if Path(target).is_absolute() else base / target
    matches = sorted(path.parent.glob(path.name)) if any(c in path.name for c in "*?[") else [path]
    for file in matches:
        if not file.exists():
            if word.lower() == "#tryinclude":
                continue
            raise DialplanFileError(f"{where}: #include {target}: no such file")
        try:
            _parse_file(plan, file, depth + 1, state)
        except DialplanFileError:
            raise
    # Asterisk's #include is textual; a section opened inside stays open after it.


def _open_section(plan: Dialplan, name: str, where: Location, state: _State) -> None:
    state.section = name.lower()
    state.exten = None
    state.last_priority = 0
    if state.section in ("general", "globals"):
        state.context = None
        return
    ctx = plan.contexts.get(name)
    if ctx is None:
        ctx = plan.contexts[name] = Context(name, where)
    state.context = ctx


def _split_app(text: str) -> tuple[str, str]:
    paren = text.find("(")
    if paren < 0:
        return text.strip(), ""
    app = text[:paren].strip()
    data = text[paren + 1 :]
    if data.endswith(")"):
        data = data[:-1]
    return app, data


def _exten(value: str, where: Location, state: _State) -> None:
    assert state.context is not None
    name, sep, rest = value.partition(",")
    name = name.strip()
    if not sep or not name:
        raise DialplanFileError(f"{where}: exten needs NAME,PRIORITY,APPLICATION")
    if "/" in name:
        raise DialplanFileError(f"{where}: caller-id matching ({name!r}) is not supported")
    try:
        pattern = compile_pattern(name)
    except ValueError as err:
        raise DialplanFileError(f"{where}: {err}") from None
    key = name if name.startswith("_") else name.replace("-", "")
    ext = state.context.extensions.get(key)
    if ext is None:
        ext = state.context.extensions[key] = Extension(name, pattern, where)
    state.exten = ext
    state.last_priority = 0
    _add_priority(rest, where, state)


def _same(value: str, where: Location, state: _State) -> None:
    if state.exten is None:
        raise DialplanFileError(f"{where}: 'same =>' without an 'exten =>' before it")
    _add_priority(value, where, state)


def _add_priority(text: str, where: Location, state: _State) -> None:
    ext = state.exten
    assert ext is not None
    prio_text, sep, app_text = text.partition(",")
    prio_text = prio_text.strip()
    if prio_text.lower() == "hint":
        return
    match = _PRIORITY.match(prio_text)
    if not sep or match is None:
        raise DialplanFileError(
            f"{where}: priority {prio_text!r}: expected a number, 'n' or 's', optionally (label)"
        )
    kind, label = match.group(1), match.group(2)
    if kind == "n":
        if state.last_priority == 0:
            raise DialplanFileError(f"{where}: priority 'n' before any numbered priority")
        number = state.last_priority + 1
    elif kind == "s":
        if state.last_priority == 0:
            raise DialplanFileError(f"{where}: priority 's' before any numbered priority")
        number = state.last_priority
    else:
        number = int(kind)
    if number < 1:
        raise DialplanFileError(f"{where}: priority must be 1 or more")
    if number in ext.priorities:
        first = ext.priorities[number].where
        raise DialplanFileError(
            f"{where}: extension {ext.name} priority {number} already defined at {first}"
        )
    app, data = _split_app(app_text.strip())
    if not app:
        raise DialplanFileError(f"{where}: no application")
    if label:
        label = label.strip()
        if label in ext.labels:
            raise DialplanFileError(f"{where}: label {label!r} defined twice in {ext.name}")
        ext.labels[label] = number
    ext.priorities[number] = Priority(number, label, app, data, where)
    state.last_priority = number
