"""Helpers shared by subcommands: loading the config with CLI-friendly errors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lotse.paths import default_config_path
from router.config import Config
from router.configload import ConfigError, load_config
from router.numbering import OrtsnetzTable


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """The ``--config`` option every config-reading command takes."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: $LOTSE_CONFIG, ./config.yaml, then the demo network)",
    )


class BadInput(Exception):
    """Input the user must fix; reported on stderr with exit code 2."""


def load(args: argparse.Namespace, table: OrtsnetzTable) -> Config:
    """Load the configuration named by ``--config``; :class:`BadInput` lists every problem."""
    path: Path = args.config or default_config_path()
    try:
        return load_config(path, table=table)
    except ConfigError as err:
        raise BadInput("\n".join(str(p) for p in err.problems)) from err
    except OSError as err:
        raise BadInput(f"{path}: cannot read configuration: {err.strerror}") from err


def report_bad_input(err: BadInput) -> int:
    """Print a bad-input error and return exit code 2."""
    print(str(err), file=sys.stderr)
    return 2
