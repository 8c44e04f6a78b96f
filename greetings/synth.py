"""Synthesize the sounds a manifest names from their scripts, with espeak-ng and sox.

Synthesized speech is the stand-in until a municipality records its own
Begrüßungsansage: a missing file is made from the manifest's script, an
existing one (perhaps a studio recording) is left alone unless forced.
espeak-ng speaks at 22 050 Hz; sox trims its leading and trailing silence,
resamples to the 8 kHz 16-bit mono that Asterisk plays without transcoding,
normalises the peak, and pads a short lead-in (so the first syllable is not
lost while the media path settles after answer) and a tail. sox writes the
canonical 44-byte header Asterisk's ``format_wav`` reads best, without dither,
so a rebuild gives the same bytes. Every result is checked like a shipped file
before it replaces anything.

The commands run through an injected ``runner`` (``subprocess.run`` by
default), so tests can fake them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from greetings.audio import (
    ASTERISK_RATE,
    DEFAULT_LIMITS,
    AudioLimits,
    WavError,
    WavInfo,
    problems,
    read_wav,
)
from greetings.manifest import Manifest, Sound

ESPEAK = "espeak-ng"
SOX = "sox"
# Which Debian package provides each tool.
DEBIAN_PACKAGES: Mapping[str, str] = MappingProxyType({ESPEAK: "espeak-ng", SOX: "sox"})
# espeak-ng voice per manifest language.
VOICES: Mapping[str, str] = MappingProxyType({"de": "de", "en": "en"})

_NUMBER_115 = re.compile(r"(?<!\d)115(?!\d)")
# The hotline's number is said digit by digit ("eins-eins-fünf"), as in the
# 115 campaign; espeak-ng would read "einhundertfünfzehn".
SPOKEN_FORMS: Mapping[str, tuple[tuple[re.Pattern[str], str], ...]] = MappingProxyType(
    {
        "de": ((_NUMBER_115, "eins eins fünf"),),
        "en": ((_NUMBER_115, "one one five"),),
    }
)

Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]
Which = Callable[[str], "str | None"]


@dataclass(frozen=True)
class SynthSettings:
    """How the speech is made: speaking rate, peak level, silence around it."""

    words_per_minute: int = 150  # a little slower than espeak's 175, for the phone
    peak_dbfs: float = -3.0
    lead_s: float = 0.25
    tail_s: float = 0.5
    timeout_s: float = 120.0


DEFAULT_SETTINGS = SynthSettings()


@dataclass(frozen=True)
class Built:
    """A sound synthesized by :func:`build`, with its measurements."""

    name: str
    path: Path
    info: WavInfo


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build` made and what it left alone."""

    built: tuple[Built, ...]
    kept: tuple[str, ...]


class SynthesisError(Exception):
    """A sound could not be synthesized."""


class ToolMissing(SynthesisError):
    """espeak-ng or sox is not installed."""


class UnknownSound(ValueError):
    """A sound was asked for by a name the manifest does not have."""


def spoken(text: str, language: str) -> str:
    """The script as the synthesizer must be given it, for ``language``."""
    for pattern, replacement in SPOKEN_FORMS.get(language, ()):
        text = pattern.sub(replacement, text)
    return text


def espeak_command(sound: Sound, wav: Path, settings: SynthSettings) -> list[str]:
    """espeak-ng reading UTF-8 text from stdin and writing a WAV file."""
    return [
        ESPEAK,
        "-v",
        VOICES[sound.language],
        "-s",
        str(settings.words_per_minute),
        "-b",
        "1",
        "-w",
        str(wav),
        "--stdin",
    ]


def sox_command(raw: Path, out: Path, settings: SynthSettings) -> list[str]:
    """sox turning espeak-ng's output into an Asterisk ``.wav`` (8 kHz 16-bit mono)."""
    trim_start = ["silence", "1", "0.02", "0.1%"]
    return [
        SOX,
        "-D",  # no dither: reproducible bytes, and digital silence in the padding
        "-V1",
        str(raw),
        "-t",
        "wav",
        "-r",
        str(ASTERISK_RATE),
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        str(out),
        # Trim silence at the start, then (reversed) at the end.
        *trim_start,
        "reverse",
        *trim_start,
        "reverse",
        "rate",
        "-v",
        str(ASTERISK_RATE),
        "norm",
        f"{settings.peak_dbfs:g}",
        "pad",
        f"{settings.lead_s:g}",
        f"{settings.tail_s:g}",
    ]


def require_tools(which: Which = shutil.which) -> None:
    """Raise :class:`ToolMissing` naming every missing tool and its Debian package."""
    missing = [tool for tool in (ESPEAK, SOX) if which(tool) is None]
    if missing:
        packages = " ".join(DEBIAN_PACKAGES[t] for t in missing)
        raise ToolMissing(
            f"{' and '.join(missing)} not found on PATH; install the Debian "
            f"package{'s' if len(missing) > 1 else ''}: apt-get install {packages}"
        )


def build(
    manifest: Manifest,
    sounds_dir: Path,
    *,
    force: bool = False,
    names: Iterable[str] | None = None,
    runner: Runner = subprocess.run,
    which: Which = shutil.which,
    settings: SynthSettings = DEFAULT_SETTINGS,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> BuildReport:
    """Synthesize every sound of ``manifest`` whose file is missing (all of them if ``force``).

    ``names`` restricts the build to those sounds (:class:`UnknownSound` if
    one is not in the manifest). The tools are only required when something
    is to be built. Raises :class:`SynthesisError` (or :class:`ToolMissing`)
    when a sound cannot be made or the result fails the audio check; files
    already built stay, nothing half-written is left behind.
    """
    sounds = _select(manifest, names)
    todo = [s for s in sounds if force or not s.path(sounds_dir).exists()]
    kept = tuple(s.name for s in sounds if all(s.name != t.name for t in todo))
    if todo:
        require_tools(which)
    built = tuple(_synthesize(s, sounds_dir, runner, settings, limits) for s in todo)
    return BuildReport(built, kept)


def _select(manifest: Manifest, names: Iterable[str] | None) -> list[Sound]:
    if names is None:
        return list(manifest)
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in manifest]
    if unknown:
        raise UnknownSound(f"not in {manifest.source}: {', '.join(unknown)}")
    return [s for s in manifest if s.name in wanted]


def _synthesize(
    sound: Sound, sounds_dir: Path, runner: Runner, settings: SynthSettings, limits: AudioLimits
) -> Built:
    target = sound.path(sounds_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Work files beside the target, so the final rename stays on one file system.
    raw = target.with_name(f".{target.stem}.espeak.wav")
    part = target.with_name(f".{target.stem}.part.wav")
    try:
        text = spoken(sound.text, sound.language)
        _run(runner, espeak_command(sound, raw, settings), sound, settings, text.encode())
        _run(runner, sox_command(raw, part, settings), sound, settings, None)
        try:
            info = read_wav(part, limits.silence_dbfs)
        except (WavError, OSError) as err:
            raise SynthesisError(f"{sound.name}: {SOX} wrote no usable WAV: {err}") from err
        found = problems(info, limits)
        if found:
            raise SynthesisError(f"{sound.name}: synthesized audio fails: {'; '.join(found)}")
        os.replace(part, target)
    finally:
        raw.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
    return Built(sound.name, target, info)


def _run(
    runner: Runner, command: list[str], sound: Sound, settings: SynthSettings, data: bytes | None
) -> None:
    tool = command[0]
    try:
        runner(command, input=data, capture_output=True, check=True, timeout=settings.timeout_s)
    except FileNotFoundError as err:
        raise ToolMissing(
            f"{tool} not found; install the Debian package: apt-get install {DEBIAN_PACKAGES[tool]}"
        ) from err
    except subprocess.CalledProcessError as err:
        raise SynthesisError(
            f"{sound.name}: {tool} failed (exit {err.returncode}): {_last_line(err.stderr)}"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise SynthesisError(f"{sound.name}: {tool} did not finish in {err.timeout:g} s") from err


def _last_line(stderr: bytes | str | None) -> str:
    if not stderr:
        return "no error output"
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"
