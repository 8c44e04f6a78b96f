"""``lotse report``: the daily service report from the call journal.

While a running ``lotse run`` holds the journal no other process may open it
(:func:`lotse.journal.schema.file_uri`); the report is then asked of that
controller over its control socket (``--socket``, ``$LOTSE_CONTROL_SOCKET``,
else where ``lotse run`` puts it: ``controller.control_socket``, or
``lotse.sock`` beside the journal), which computes it on its own connection.
Either way the rows are printed by :func:`write_report`, as ``lotse ctl
report`` prints them too.

Exit codes: 0 ok, 1 runtime failure (the journal could not be read, or a running
``lotse run`` holds it and cannot be asked), 2 bad input (bad day, missing or
foreign journal file, bad configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cliutil.tables import terminal_width
from lotse.journal.report import (
    CenterReport,
    from_doc,
    parse_day,
    render_csv,
    render_json,
    render_text,
    report,
)
from lotse.journal.schema import JournalError, JournalInUse
from router.config import Config, ServiceLevel

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
# A day of a busy network takes the controller a few seconds at most.
SOCKET_TIMEOUT_S = 60.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse report --day YYYY-MM-DD [--csv|--json] [--journal PATH] [--config C]``."""
    parser = sub.add_parser(
        "report",
        help="daily service report per center from the call journal",
        description="Per-center and national figures of one local day (config time zone): "
        "calls, offered, answered, service level (answered within the threshold / "
        "(offered - short abandons)), average speed of answer, abandons, overflow. While a "
        "running `lotse run` holds the journal, the report is asked of it over its control "
        "socket (same output).",
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
    parser.add_argument(
        "--socket",
        metavar="PATH",
        help="control socket to ask when a running lotse run holds the journal (default: "
        "$LOTSE_CONTROL_SOCKET, controller.control_socket, else lotse.sock beside the journal)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report for ``args``; returns the exit code."""
    try:
        day = parse_day(args.day)
    except ValueError as err:
        return _bad_input(f"--day: {err}")
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
        return _from_controller(args, config, path, err)
    except JournalError as err:
        return _bad_input(str(err))
    except (sqlite3.Error, OSError) as err:
        hint = ""
        if isinstance(err, sqlite3.Error) and getattr(err, "sqlite_errorcode", 0) & 0xFF in (5, 6):
            # SQLITE_BUSY/LOCKED: lotse run holds the file (see lotse.journal.schema.file_uri).
            hint = " (a running lotse run holds it: see README, Reports)"
        print(f"{path}: cannot read the journal: {err}{hint}", file=sys.stderr)
        return EXIT_FAILURE
    write_report(args, rows, day, tz, level)
    return EXIT_OK


def write_report(
    args: argparse.Namespace,
    rows: list[CenterReport],
    day: date,
    tz: ZoneInfo,
    level: ServiceLevel,
) -> None:
    """Print the report as ``args`` ask (``--json``, ``--csv``, else a table to fit the
    terminal): ``lotse report`` and ``lotse ctl report`` alike."""
    if args.json:
        sys.stdout.write(render_json(rows, day, tz, level))
    elif getattr(args, "csv", False):
        sys.stdout.write(render_csv(rows))
    else:
        sys.stdout.write(render_text(rows, day, tz, level, terminal_width()))


def write_answer(args: argparse.Namespace, result: Any) -> str | None:
    """Print a control socket ``report`` answer as :func:`write_report`; the problem if
    it is no report."""
    try:
        rows, day, tz, level = from_doc(result)
    except ValueError as err:
        return f"unexpected answer: {err}"
    write_report(args, rows, day, tz, level)
    return None


def _from_controller(
    args: argparse.Namespace, config: Config, path: Path, in_use: JournalInUse
) -> int:
    """The report asked of the controller that holds ``path``, over its control socket."""
    # Imported here: only a report on a live journal talks to a controller.
    from lotse.commands.ctl import SOCKET_ENV, CtlError, ask
    from lotse.control.protocol import RUNTIME_KINDS

    sock = (
        args.socket
        or os.environ.get(SOCKET_ENV)
        or config.controller.control_socket_path(str(path))
    )
    try:
        answer = ask(str(sock), {"command": "report", "day": args.day}, SOCKET_TIMEOUT_S)
    except CtlError as err:
        print(f"{in_use}; asking it over its control socket failed: {err}", file=sys.stderr)
        return EXIT_FAILURE
    if not answer.get("ok"):
        print(f"{sock}: {answer.get('message', 'error')}", file=sys.stderr)
        return EXIT_FAILURE if answer.get("error") in RUNTIME_KINDS else EXIT_BAD_INPUT
    result = answer.get("result") or {}
    theirs = result.get("journal") if isinstance(result, dict) else None
    if theirs != str(path.resolve()):
        # Another controller's figures are not this file's.
        print(
            f"{in_use}; the controller on {sock} keeps another journal ({theirs})",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    problem = write_answer(args, result)
    if problem is not None:
        print(f"{sock}: {problem}", file=sys.stderr)
        return EXIT_FAILURE
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
