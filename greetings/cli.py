"""``lotse greetings check`` and ``lotse greetings build``.

Exit codes as everywhere in lotse: 0 ok, 1 runtime failure (a tool missing,
synthesis failed), 2 bad input (the manifest, the configuration or a sound
file needs fixing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cliutil import STDIN, STDIN_NAME
from greetings.audio import DEFAULT_LIMITS, WavError, describe, read_wav
from greetings.check import check, referenced_sounds
from greetings.manifest import (
    DEFAULT_MANIFEST,
    DEFAULT_SOUNDS_DIR,
    Manifest,
    ManifestError,
    load_manifest,
    parse_manifest,
)
from greetings.problem import Problem
from greetings.spoken import script_problems
from greetings.synth import SynthesisError, UnknownSound, build

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse greetings`` with its ``check`` and ``build`` subcommands."""
    parser = sub.add_parser(
        "greetings",
        help="check or synthesize the greetings and announcements",
        description="The sounds Asterisk plays to 115 callers: each municipality's greeting, "
        "off-hours announcements, postal-code prompts.",
    )
    commands = parser.add_subparsers(dest="greetings_command", metavar="SUBCOMMAND", required=True)

    check_parser = commands.add_parser(
        "check",
        help="check that every sound exists and Asterisk can play it",
        description="Check every sound file of the manifest (8 kHz 16-bit mono PCM WAV, "
        "duration, not silent) and that every sound the configuration names is in the "
        "manifest. Problems are printed as FILE[:LINE:COL]: message (exit 2).",
    )
    _add_paths(check_parser)
    config = check_parser.add_mutually_exclusive_group()
    config.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration whose sounds must exist "
        "(default: $LOTSE_CONFIG, ./config.yaml, then the demo network)",
    )
    config.add_argument("--no-config", action="store_true", help="check the manifest's files only")
    check_parser.add_argument(
        "-v", "--verbose", action="store_true", help="print duration and levels of every file"
    )
    check_parser.set_defaults(func=run_check)

    build_parser = commands.add_parser(
        "build",
        help="synthesize missing sounds with espeak-ng and sox",
        description="Synthesize every sound whose file is missing from its script "
        "(espeak-ng, German voice), as 8 kHz 16-bit mono WAV (sox).",
    )
    _add_paths(build_parser)
    build_parser.add_argument(
        "--force", action="store_true", help="rebuild existing files too (replaces recordings)"
    )
    build_parser.add_argument("names", nargs="*", metavar="NAME", help="only these sounds")
    build_parser.set_defaults(func=run_build)


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest",
        type=Path,
        default=DEFAULT_MANIFEST,
        help="manifest, - for standard input (default: the shipped one)",
    )
    parser.add_argument(
        "--sounds",
        type=Path,
        default=DEFAULT_SOUNDS_DIR,
        help="sounds directory (default: the shipped greetings/sounds)",
    )


def run_check(args: argparse.Namespace) -> int:
    """``lotse greetings check``."""
    manifest = _manifest(args.manifest)
    if manifest is None:
        return EXIT_BAD_INPUT
    referenced: list[str] = []
    script: list[Problem] = []
    if not args.no_config:
        # Imported here: lotse's CLI imports this module, not the other way round.
        from cliutil import BadInput, load
        from router.numbering import OrtsnetzTable

        try:
            config = load(args, OrtsnetzTable.load())
        except BadInput as err:
            print(err, file=sys.stderr)
            return EXIT_BAD_INPUT
        referenced = referenced_sounds(config)
        # An announcement must not promise hours the configuration no longer has.
        script = script_problems(config, manifest)
    if args.verbose:
        _print_levels(manifest, args.sounds)
    problems = [*check(manifest, args.sounds, referenced), *script]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return EXIT_BAD_INPUT
    refs = f", {len(referenced)} referenced by the configuration" if referenced else ""
    print(f"{len(manifest)} sounds ok in {args.sounds}{refs}")
    return EXIT_OK


def run_build(args: argparse.Namespace) -> int:
    """``lotse greetings build``."""
    manifest = _manifest(args.manifest)
    if manifest is None:
        return EXIT_BAD_INPUT
    try:
        report = build(manifest, args.sounds, force=args.force, names=args.names or None)
    except UnknownSound as err:
        print(f"unknown sound: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SynthesisError as err:
        print(err, file=sys.stderr)
        return EXIT_FAILURE
    except OSError as err:
        print(f"cannot write sounds to {args.sounds}: {err}", file=sys.stderr)
        return EXIT_FAILURE
    for built in report.built:
        print(f"built {built.name}: {describe(built.info)}")
    print(f"{len(report.built)} built, {len(report.kept)} already present")
    return EXIT_OK


def _manifest(path: Path) -> Manifest | None:
    try:
        if str(path) == STDIN:
            return parse_manifest(sys.stdin.read(), STDIN_NAME)
        return load_manifest(path)
    except ManifestError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None


def _print_levels(manifest: Manifest, sounds_dir: Path) -> None:
    width = max((len(s.name) for s in manifest), default=0)
    for sound in manifest:
        try:
            info = read_wav(sound.path(sounds_dir), DEFAULT_LIMITS.silence_dbfs)
        except (WavError, OSError):
            continue  # reported with the problems
        print(f"{sound.name:<{width}}  {describe(info)}")
