"""Check that every sound Asterisk will play exists and will play.

A greeting that is missing or in a format Asterisk cannot read fails quietly
on a live line: ``Playback()`` logs a warning, the caller hears nothing and
the call goes on. So before a configuration goes live, every file in the
manifest must pass the audio check, and every sound the configuration names
(each center's greeting and off-hours announcement, the postal-code prompts,
the region-not-connected and all-busy announcements) must be in the manifest
and on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from greetings.audio import DEFAULT_LIMITS, AudioLimits, check_wav
from greetings.manifest import Manifest
from greetings.problem import Problem
from router.callback import CALLBACK_SOUNDS
from router.config import Config, UnconnectedMode, UnknownOriginMode


def check(
    manifest: Manifest,
    sounds_dir: Path,
    referenced: Iterable[str],
    *,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> list[Problem]:
    """Every problem with the sounds, in manifest order, then the references'.

    Each file of ``manifest`` under ``sounds_dir`` must exist and pass the
    audio check; each name in ``referenced`` must be in the manifest (its file
    is then checked above).
    """
    found: list[Problem] = []
    for sound in manifest:
        path = sound.path(sounds_dir)
        if not path.is_file():
            found.append(
                Problem(
                    str(path),
                    f"missing: sound '{sound.name}' has no file "
                    "(record it, or run `lotse greetings build`)",
                )
            )
            continue
        found.extend(check_wav(path, limits))
    for name in dict.fromkeys(referenced):
        if name not in manifest:
            found.append(
                Problem(
                    manifest.source,
                    f"sound '{name}' is referenced by the configuration but not in the manifest",
                )
            )
    return found


def referenced_sounds(config: Config) -> list[str]:
    """The sound names ``config`` can have Asterisk play, each once, in config order.

    The region-not-connected announcement counts only when unconnected regions
    are announced (not handed to the fallback center), the postal-code prompts
    only when callers without an Ortsnetz are asked for one, the callback
    dialogue only when a center offers callbacks.
    """
    names: list[str] = []
    for center in config.centers.values():
        names += [center.greeting, center.offhours_announcement]
    if config.unknown_origin.mode is UnknownOriginMode.POSTAL_CODE:
        names += [config.unknown_origin.prompt, config.unknown_origin.retry_prompt]
    if config.unconnected is UnconnectedMode.ANNOUNCEMENT:
        names.append(config.unconnected_announcement)
    names.append(config.all_busy_announcement)
    if any(center.callback is not None for center in config.centers.values()):
        names += CALLBACK_SOUNDS
    return list(dict.fromkeys(names))
