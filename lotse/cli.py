"""The ``lotse`` command line: one entry point, a subcommand per job.

Exit codes follow one rule everywhere: 0 ok, 1 runtime failure, 2 bad input.

Subcommands are registered lazily: ``lotse run`` — the production controller —
imports only its own command module, never the simulator, the Asterisk
stand-in or a benchmark; ``lotse --version`` loads none. Only ``lotse --help``
(or an unknown command) loads every subcommand to list them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from cliutil import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    BadInput,
    private_umask,
    report_bad_input,
)
from lotse import __version__

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "build_parser", "main"]

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# Command name -> "module:function" that adds its subparser (the parser stores
# the handler as ``func``). One registrar may add several commands.
COMMANDS: dict[str, str] = {
    "run": "lotse.commands.run:add_run",
    "route": "lotse.commands.route:add_route",
    "check": "lotse.commands.check:add_check",
    "ctl": "lotse.commands.ctl:add_ctl",
    "report": "lotse.journal.cli:add_parser",
    "journal": "lotse.queuelog.cli:add_parser",
    "dialplan": "dialplans.cli:add_parser",
    "greetings": "greetings.cli:add_parser",
    "pbx": "standin.cli:add_parser",
    "sim": "sim.cli:add_parser",
    "erlang": "sim.cli:add_parser",
    "dashboards": "metrics.cli:add_parser",
    "demo": "lotse.commands.demo:add_demo",
}


_VERSION = "--version"

# Commands whose files hold call data (journal and its -wal/-shm, spool, the
# demo's key, the stand-in's queue_log): never readable by others, whatever
# the caller's umask. Not the generated files others read (dialplans, sounds,
# dashboards).
PRIVATE_FILES = frozenset({"run", "demo", "report", "journal", "pbx"})


def _registrar(spec: str) -> Registrar:
    module, _, name = spec.partition(":")
    func: Registrar = getattr(importlib.import_module(module), name)
    return func


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line, if it is a known one."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with ``--help`` on every level.

    ``only`` registers just that command's module; ``None`` registers all,
    ``""`` none (``lotse --version``).
    """
    parser = argparse.ArgumentParser(
        prog="lotse",
        description="Call-routing control plane for the German public-administration hotline 115.",
    )
    parser.add_argument("--version", action="version", version=f"lotse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if only is None:
        specs = list(dict.fromkeys(COMMANDS.values()))
    else:
        specs = [COMMANDS[only]] if only else []
    for spec in specs:
        _registrar(spec)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lotse`` command; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = _command(args_list)
    if command is None and _VERSION in args_list:
        command = ""
    parser = build_parser(command)
    args = parser.parse_args(args_list)
    if args.command in PRIVATE_FILES:
        private_umask()
    try:
        code: int = args.func(args)
    except BadInput as err:
        # Input checked deep inside a command (the caller numbers) is still
        # bad input: one message, exit 2.
        return report_bad_input(err)
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:
        # A reader like `head` went away; nothing is wrong with lotse.
        sys.stderr.close()
        return EXIT_OK
    return code


if __name__ == "__main__":
    sys.exit(main())
