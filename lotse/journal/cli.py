"""``lotse report``: the daily service report from the call journal.

Exit codes: 0 ok, 1 runtime failure (the journal could not be read, or a running
``lotse run`` holds it), 2 bad input (bad day, missing or foreign journal file,
bad configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from cliutil.tables import terminal_width
from lotse.journal.report import render_csv, render_json, render_text, report
from lotse.journal.schema import JournalError, JournalInUse
from router.config import Config

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse report --day YYYY-MM-DD [--csv|--json] [--journal PATH] [--config C]``."""
    parser = sub.add_parser(
        "report",
        help="daily service report per center from the call journal",
        description="Per-center and national figures of one local day (config time zone): "
        "calls, offered, answered, service level (answered within the threshold / "
        "(offered - short abandons)), average speed of answer, abandons, overflow.",
    )
    parser.add_argument("--day", required=True, help="local day, YYYY-MM-DD")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="CSV instead of a table")
    fmt.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument(
        "--journal", type=Path, help="journal file (default: controller.journal_path of the config)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: $LOTSE_CONFIG, ./config.yaml, then the demo network)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report for ``args``; returns the exit code."""
    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        return _bad_input(f"--day: {args.day!r} is not a date (YYYY-MM-DD)")
    try:
        config = _load_config(args)
    except ValueError as err:  # BadInput and config errors
        return _bad_input(str(err))
    tz = ZoneInfo(config.timezone)
    level = config.service_level
    path: Path = args.journal or Path(config.controller.journal_path)
    try:
        rows = asyncio.run(report(path, day, tz, level))
    except JournalInUse as err:
        print(err, file=sys.stderr)
        return EXIT_FAILURE
    except JournalError as err:
        return _bad_input(str(err))
    except (sqlite3.Error, OSError) as err:
        hint = ""
        if isinstance(err, sqlite3.Error) and getattr(err, "sqlite_errorcode", 0) & 0xFF in (5, 6):
            # SQLITE_BUSY/LOCKED: lotse run holds the file (see lotse.journal.schema.file_uri).
            hint = " (a running lotse run holds it: see README, Reports)"
        print(f"{path}: cannot read the journal: {err}{hint}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        sys.stdout.write(render_json(rows, day, tz, level))
    elif args.csv:
        sys.stdout.write(render_csv(rows))
    else:
        sys.stdout.write(render_text(rows, day, tz, level, terminal_width()))
    return EXIT_OK


def _load_config(args: argparse.Namespace) -> Config:
    """The configuration named by ``--config``; raises ``ValueError`` for bad input."""
    # Imported here: the config loader and the numbering plan are only needed
    # when the command actually runs.
    from cliutil import BadInput, load
    from router.numbering import OrtsnetzTable

    try:
        return load(args, OrtsnetzTable.load())
    except BadInput as err:
        raise ValueError(str(err)) from err


def _bad_input(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_BAD_INPUT
