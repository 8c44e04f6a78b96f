"""What every ``lotse`` subcommand shares: exit codes, the config option, config loading.

A leaf below every command-line module (the controller's, the dialplan
generator's, the simulator's), so none of them imports another's package just
to read a configuration the same way.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from datetime import datetime, tzinfo
from pathlib import Path

from router.config import Config
from router.configload import ConfigError, load_config, load_config_stream
from router.data import demo_network_path
from router.numbering import OrtsnetzTable, is_anonymous_word

__all__ = [
    "CONFIG_ENV",
    "EXIT_BAD_INPUT",
    "EXIT_FAILURE",
    "EXIT_OK",
    "REPO_ROOT",
    "BadInput",
    "add_config_option",
    "default_config_path",
    "load",
    "os_reason",
    "private_umask",
    "read_config",
    "report_bad_input",
]

# One rule for every command: 0 ok, 1 runtime failure, 2 bad input.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "LOTSE_CONFIG"
# A file argument that means standard input, and how problems name it.
STDIN = "-"
STDIN_NAME = "<stdin>"


def default_config_path() -> Path:
    """The configuration to use when ``--config`` is not given.

    ``$LOTSE_CONFIG`` first, then ``config.yaml`` in the working directory, then
    the demo network shipped inside the package (the embedded default), so
    every command works from any directory of an installed lotse.
    """
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path("config.yaml")
    if local.is_file():
        return local
    return demo_network_path()


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """The ``--config`` option every config-reading command takes."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration file, - for standard input (default: $LOTSE_CONFIG, "
        "./config.yaml, then the demo network)",
    )


class BadInput(Exception):
    """Input the user must fix; reported on stderr with exit code 2."""


def read_config(path: Path, table: OrtsnetzTable | None = None) -> Config:
    """The configuration at ``path``; ``-`` reads it from standard input (``<stdin>``).

    Raises what :func:`router.configload.load_config` raises.
    """
    if str(path) == STDIN:
        return load_config_stream(sys.stdin.buffer, STDIN_NAME, table=table)
    return load_config(path, table=table)


def load(args: argparse.Namespace, table: OrtsnetzTable) -> Config:
    """Load the configuration named by ``--config``; :class:`BadInput` lists every problem."""
    path: Path = args.config or default_config_path()
    try:
        return read_config(path, table)
    except ConfigError as err:
        raise BadInput("\n".join(err.lines())) from err
    except OSError as err:
        raise BadInput(f"{path}: cannot read configuration: {err.strerror}") from err


# Group may read, others nothing.
PRIVATE_UMASK = 0o027


def private_umask() -> None:
    """Add 027 to the process's umask: what a command creates from now on (a journal,
    its -wal/-shm, a spool) is never readable by others, whatever the caller's umask."""
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)


def report_bad_input(err: BadInput) -> int:
    """Print a bad-input error and return exit code 2."""
    print(str(err), file=sys.stderr)
    return EXIT_BAD_INPUT


def parse_at(text: str | None, tz: tzinfo) -> datetime:
    """``--at``: an ISO 8601 moment, in ``tz`` when it names no zone; None is now."""
    if text is None:
        return datetime.now(tz)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"--at: {text!r} is not an ISO 8601 time (e.g. 2026-12-24T17:30)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


# What a person may type for a caller number: digits with the separators the
# router ignores, a leading +, or a word for a suppressed caller ID.
_NUMBER_CHARS = frozenset("0123456789+ \t-/.()[]")


def caller_number_problem(text: str) -> str | None:
    """Why ``text`` typed as a caller number is not one; ``None`` if it is.

    The router takes anything a switch delivers (letters become an invalid or
    a vanity number), but on the command line letters are a typing mistake.
    The message names the first wrong character, never the number.
    """
    if is_anonymous_word(text):
        return None
    for pos, char in enumerate(text, start=1):
        if char not in _NUMBER_CHARS or (char == "+" and text[:pos].strip() != "+"):
            return f"character {pos} ({char!r}) does not belong in a phone number"
    if not any(char.isdigit() for char in text):
        return "no digits"
    return None


def numbers_from(items: list[str]) -> list[str]:
    """Command-line numbers; ``-`` reads one per line from standard input.

    All are read and checked before any is used: :class:`BadInput` (exit 2)
    names each one that is no phone number by its position.
    """
    numbers: list[str] = []
    for item in items:
        if item == "-":
            numbers.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            numbers.append(item)
    problems = [
        f"NUMBER {index}: {problem}"
        for index, number in enumerate(numbers, start=1)
        if (problem := caller_number_problem(number)) is not None
    ]
    if problems:
        raise BadInput("\n".join(problems))
    return numbers


def os_reason(err: OSError) -> str:
    """Why an OS call failed, in the system's words, for a one-line error.

    asyncio's bind error repeats the address in its text, so the errno's own
    words are used; a name that does not resolve has its own codes (EAI_*).
    """
    if isinstance(err, socket.gaierror):
        return f"cannot resolve the name: {err.strerror}"
    return os.strerror(err.errno) if err.errno else str(err)
