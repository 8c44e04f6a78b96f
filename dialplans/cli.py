"""``lotse dialplan build``: write the Asterisk files for a configuration
(``lotse dialplan trace`` is :mod:`dialplans.tracecli`).

Exit codes as everywhere in lotse: 0 ok, 1 runtime failure (the files could
not be written), 2 bad input (the configuration needs fixing).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from cliutil import default_config_path, read_config
from dialplans.build import AmiEvents, build, write
from dialplans.conf import DialplanError
from dialplans.tracecli import add_trace_parser
from router.configload import ConfigError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse dialplan build`` and ``lotse dialplan trace``."""
    parser = sub.add_parser(
        "dialplan",
        help="generate the Asterisk dialplan, queues and AMI user",
        description="Asterisk 22 configuration an operator #includes: the 115 dialplan with "
        "its static fallback, one queue per center, the controller's AMI user.",
    )
    commands = parser.add_subparsers(dest="dialplan_command", metavar="SUBCOMMAND", required=True)
    build_parser = commands.add_parser(
        "build",
        help="write extensions_lotse.conf, queues_lotse.conf and manager_lotse.conf",
        description="Write extensions_lotse.conf, queues_lotse.conf and manager_lotse.conf "
        "into DIR; each file's header says where to #include it.",
    )
    build_parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: $LOTSE_CONFIG, ./config.yaml, then the demo network)",
    )
    build_parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="output directory (default: .)"
    )
    build_parser.add_argument(
        "--years",
        default=None,
        metavar="Y1[-Y2]",
        help="years whose public holidays close centers in the static fallback "
        "(default: this year and the next)",
    )
    build_parser.set_defaults(func=run_build)
    add_trace_parser(commands)


def parse_years(text: str | None, today: date) -> range:
    """``"2026"`` or ``"2026-2027"`` as a range of years; ``None`` is this year and the next."""
    if text is None:
        return range(today.year, today.year + 2)
    first, sep, last = text.partition("-")
    if not (first.isdigit() and (not sep or last.isdigit())):
        raise ValueError(f"--years {text!r}: write a year (2026) or a span (2026-2027)")
    lo, hi = int(first), int(last) if sep else int(first)
    if not 1900 <= lo <= hi <= 2200 or hi - lo > 10:
        raise ValueError(f"--years {text!r}: a span of at most 11 years between 1900 and 2200")
    return range(lo, hi + 1)


def run_build(args: argparse.Namespace) -> int:
    """Load the configuration, generate the files, write them; print what was written."""
    path: Path = args.config or default_config_path()
    try:
        years = parse_years(args.years, date.today())
        config = read_config(path)
        files = build(config, years, AmiEvents.from_ami())
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"{path}: cannot read configuration: {err.strerror or err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DialplanError, ValueError) as err:
        print(f"{path}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        written = write(files, args.out)
    except OSError as err:
        print(f"{args.out}: cannot write: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILURE
    for target in written:
        print(target)
    return EXIT_OK
