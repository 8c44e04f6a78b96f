"""The ``lotse`` command line: one entry point, a subcommand per job.

Exit codes follow one rule everywhere: 0 ok, 1 runtime failure, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from dialplans.cli import add_parser as add_dialplan
from greetings.cli import add_parser as add_greetings
from lotse import commands
from lotse.journal.cli import add_parser as add_report
from metrics.cli import add_parser as add_dashboards
from sim.cli import add_parser as add_sim
from sim.pbx.cli import add_parser as add_pbx

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# Each adds its subcommand; the parser stores the handler as ``func``.
REGISTRARS: tuple[Registrar, ...] = (
    commands.add_run,
    commands.add_route,
    commands.add_check,
    add_report,
    add_dialplan,
    add_greetings,
    add_pbx,
    add_sim,
    add_dashboards,
    commands.add_demo,
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with ``--help`` on every level."""
    parser = argparse.ArgumentParser(
        prog="lotse",
        description="Call-routing control plane for the German public-administration hotline 115.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lotse`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:
        # A reader like `head` went away; nothing is wrong with lotse.
        sys.stderr.close()
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
