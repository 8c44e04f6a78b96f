"""``lotse check``: validate a configuration file."""

from __future__ import annotations

import argparse
from pathlib import Path

from cliutil import BadInput, default_config_path, load, report_bad_input
from router.configload import summary
from router.numbering import OrtsnetzTable


def add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse check [CONFIG]``."""
    parser = sub.add_parser(
        "check",
        help="validate a configuration file",
        description="Validate a configuration; print every problem as FILE:LINE:COL: message "
        "(exit 2) or a one-line summary (exit 0).",
    )
    parser.add_argument(
        "config",
        nargs="?",
        type=Path,
        default=None,
        help="configuration file, - for standard input (default: $LOTSE_CONFIG, "
        "./config.yaml, then the demo network)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    args.config = args.config or default_config_path()
    try:
        config = load(args, OrtsnetzTable.load())
    except BadInput as err:
        return report_bad_input(err)
    print(summary(config))
    return 0
