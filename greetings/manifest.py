"""The greetings manifest: every sound lotse has Asterisk play, with its script.

A 115 call hears its municipality's greeting (the kommunale Begrüßungsansage)
before it queues; a call outside the service hours, from a region without a
participating center, or when every line is busy hears an announcement; a
caller whose number names no Ortsnetz is prompted for a postal code. Each of
these is a sound file. The manifest names them the way the dialplan does, by
the argument to ``Playback()``: a path relative to Asterisk's sounds directory
without extension (``lotse/greeting-bremen``), and keeps the German script that
was (or will be) recorded or synthesized for it.

The manifest is read from YAML node by node, so every problem is reported as
``FILE:LINE:COL: message`` and all of them at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.resources import files
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from greetings.problem import Problem

# Shipped inside the package (installed as files, never zipped), so
# `lotse greetings check` works from any directory of an installed lotse.
PACKAGE_DIR = Path(str(files(__package__ or "greetings")))
DEFAULT_MANIFEST = PACKAGE_DIR / "manifest.yaml"
DEFAULT_SOUNDS_DIR = PACKAGE_DIR / "sounds"

# Languages the scripts may be written in (and that synthesis has a voice for).
LANGUAGES: Mapping[str, str] = MappingProxyType({"de": "German", "en": "English"})

# Asterisk's format_wav registers the lower-case extension only.
AUDIO_EXTENSION = ".wav"

# Playback() splits its argument at ',' (options) and '&' (several files), and a
# '.' would be taken for an extension; sound names stay clear of all three.
_NAME = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*\Z")
_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
_TOP_KEYS = ("sounds",)
_ENTRY_KEYS = ("file", "text", "language", "kind")


class Kind(StrEnum):
    """What a sound is for; the configuration refers to each kind in its own place."""

    GREETING = "greeting"  # the municipality's welcome, played before the call queues
    OFFHOURS = "offhours"  # the center is closed: its service hours, then the call ends
    PROMPT = "prompt"  # asks the caller for DTMF digits (the postal code)
    ANNOUNCEMENT = "announcement"  # a final message: region not connected, all lines busy


@dataclass(frozen=True)
class Sound:
    """One sound Asterisk plays: its ``Playback()`` name, file and script."""

    name: str
    file: str
    text: str
    language: str
    kind: Kind
    line: int = field(default=0, compare=False)  # where the entry starts in the manifest

    def path(self, sounds_dir: Path) -> Path:
        """Where the file lies under ``sounds_dir``."""
        return sounds_dir.joinpath(*PurePosixPath(self.file).parts)


@dataclass(frozen=True)
class Manifest:
    """Every sound, by name, in manifest order."""

    sounds: Mapping[str, Sound]
    source: str = "<manifest>"

    def __contains__(self, name: object) -> bool:
        return name in self.sounds

    def __iter__(self) -> Iterator[Sound]:
        return iter(self.sounds.values())

    def __len__(self) -> int:
        return len(self.sounds)

    def get(self, name: str) -> Sound | None:
        """The sound named ``name``, if the manifest has it."""
        return self.sounds.get(name)


class ManifestError(Exception):
    """The manifest cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_manifest(path: Path = DEFAULT_MANIFEST) -> Manifest:
    """Read and validate the manifest at ``path``; raises :class:`ManifestError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError([Problem(str(path), f"cannot read manifest: {err.strerror}")]) from err
    except UnicodeDecodeError as err:
        raise ManifestError([Problem(str(path), f"not UTF-8 text: {err.reason}")]) from err
    return parse_manifest(text, str(path))


def parse_manifest(text: str, source: str = "<manifest>") -> Manifest:
    """Validate manifest YAML ``text``; ``source`` names it in problems.

    Raises :class:`ManifestError` listing every problem: YAML syntax, unknown or
    duplicate keys, missing or empty fields, unsupported languages or kinds, and
    files Asterisk would not find under the sound's name.
    """
    parser = _Parser(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        message = f"invalid YAML: {err.problem or err.context}"
        if mark is None:
            raise ManifestError([Problem(source, message)]) from err
        raise ManifestError([Problem(source, message, mark.line + 1, mark.column + 1)]) from err
    except yaml.YAMLError as err:
        raise ManifestError([Problem(source, f"invalid YAML: {err}")]) from err
    sounds = parser.document(root)
    if parser.problems:
        raise ManifestError(parser.problems)
    return Manifest(MappingProxyType(sounds), source)


class _Parser:
    """Walks the composed YAML nodes, collecting problems instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def error(self, node: Node | None, message: str) -> None:
        if node is None:
            self.problems.append(Problem(self.source, message, 1, 1))
            return
        mark = node.start_mark
        self.problems.append(Problem(self.source, message, mark.line + 1, mark.column + 1))

    def document(self, root: Node | None) -> dict[str, Sound]:
        if root is None:
            self.error(None, "empty manifest: expected a mapping with 'sounds'")
            return {}
        if not isinstance(root, MappingNode):
            self.error(root, "expected a mapping with 'sounds'")
            return {}
        sounds_node: Node | None = None
        for key, value in self.pairs(root, _TOP_KEYS):
            if key == "sounds":
                sounds_node = value
        if sounds_node is None:
            self.error(root, "missing 'sounds'")
            return {}
        return self.sounds(sounds_node)

    def pairs(self, node: MappingNode, allowed: tuple[str, ...]) -> Iterator[tuple[str, Node]]:
        """The (key, value) pairs of a mapping whose keys must come from ``allowed``."""
        seen: dict[str, Node] = {}
        for key_node, value in node.value:
            key = self.string(key_node, "key")
            if key is None:
                continue
            if key not in allowed:
                self.error(key_node, f"unknown key '{key}' (expected {_one_of(allowed)})")
            elif key in seen:
                first = seen[key].start_mark.line + 1
                self.error(key_node, f"duplicate key '{key}' (first at line {first})")
            else:
                seen[key] = key_node
                yield key, value

    def sounds(self, node: Node) -> dict[str, Sound]:
        if not isinstance(node, MappingNode):
            self.error(node, "'sounds' must map sound names to entries")
            return {}
        sounds: dict[str, Sound] = {}
        first_at: dict[str, Node] = {}
        files: dict[str, str] = {}
        for key_node, value in node.value:
            name = self.string(key_node, "sound name")
            if name is None:
                continue
            if name in first_at:
                first = first_at[name].start_mark.line + 1
                self.error(key_node, f"duplicate sound '{name}' (first at line {first})")
                continue
            first_at[name] = key_node
            if not _NAME.match(name):
                self.error(
                    key_node,
                    f"sound name '{name}' is not a Playback() name: use letters, digits, "
                    "'-' and '_' in '/'-separated parts, without extension",
                )
                continue
            sound = self.entry(name, key_node, value)
            if sound is None:
                continue
            if sound.file in files:
                self.error(value, f"file '{sound.file}' is also used by '{files[sound.file]}'")
                continue
            files[sound.file] = name
            sounds[name] = sound
        return sounds

    def entry(self, name: str, key_node: Node, node: Node) -> Sound | None:
        if not isinstance(node, MappingNode):
            self.error(node, f"sound '{name}': expected a mapping with {', '.join(_ENTRY_KEYS)}")
            return None
        fields: dict[str, tuple[str, Node]] = {}
        present: set[str] = set()
        for key, value in self.pairs(node, _ENTRY_KEYS):
            present.add(key)
            text = self.string(value, f"sound '{name}': '{key}'")
            if text is None:
                continue
            if not text.strip():
                self.error(value, f"sound '{name}': '{key}' is empty")
            else:
                fields[key] = (text.strip(), value)
        for key in _ENTRY_KEYS:
            if key not in present:
                self.error(key_node, f"sound '{name}': missing '{key}'")
        ok = len(fields) == len(_ENTRY_KEYS)
        language: str | None = None
        if "language" in fields:
            language, language_node = fields["language"]
            if language not in LANGUAGES:
                self.error(
                    language_node,
                    f"sound '{name}': language '{language}' is not supported "
                    f"(supported: {', '.join(LANGUAGES)})",
                )
                ok = False
        kind: Kind | None = None
        if "kind" in fields:
            kind_text, kind_node = fields["kind"]
            try:
                kind = Kind(kind_text)
            except ValueError:
                self.error(kind_node, f"sound '{name}': kind '{kind_text}' is not {_one_of(Kind)}")
                ok = False
        if "file" in fields:
            file, file_node = fields["file"]
            problem = _file_problem(name, file, language)
            if problem:
                self.error(file_node, f"sound '{name}': {problem}")
                ok = False
        if not ok or language is None or kind is None:
            return None
        line = key_node.start_mark.line + 1
        return Sound(name, fields["file"][0], fields["text"][0], language, kind, line)

    def string(self, node: Node, what: str) -> str | None:
        """The text of a string scalar, or ``None`` after reporting what it is instead."""
        if isinstance(node, ScalarNode):
            if node.tag == _STR_TAG:
                return str(node.value)
            if node.tag == _NULL_TAG:
                self.error(node, f"{what} is empty")
                return None
            # Plain 115, yes, or 2024-01-01 resolve to numbers, booleans and dates.
            self.error(
                node,
                f"{what} must be a string, not {node.tag.rsplit(':', 1)[-1]} "
                f"'{node.value}' (quote it)",
            )
            return None
        self.error(node, f"{what} must be a string, not a {_node_kind(node)}")
        return None


def _file_problem(name: str, file: str, language: str | None) -> str | None:
    """Why Asterisk would not find ``file`` when asked to play ``name``, if it would not.

    Asterisk looks for ``<sounds>/<language>/<name>.<ext>`` for the channel's
    language, then ``<sounds>/<name>.<ext>``; ``.wav`` is 8 kHz signed linear.
    """
    path = PurePosixPath(file)
    if "\\" in file or path.is_absolute() or ".." in path.parts:
        return f"file '{file}' must be a relative path inside the sounds directory"
    if path.suffix != AUDIO_EXTENSION:
        return f"file '{file}' must end in '{AUDIO_EXTENSION}' (Asterisk's 8 kHz WAV format)"
    places = [f"{name}{AUDIO_EXTENSION}"]
    if language:
        places.append(f"{language}/{name}{AUDIO_EXTENSION}")
    if file not in places:
        expected = " or ".join(f"'{p}'" for p in places)
        return f"file '{file}' is not where Asterisk looks for '{name}': expected {expected}"
    return None


def _one_of(values: tuple[str, ...] | type[StrEnum]) -> str:
    names = [str(v) for v in values]
    return "one of: " + ", ".join(names)


def _node_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    return "list"
