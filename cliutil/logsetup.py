"""structlog set-up: JSON lines or a console view, no caller numbers, no secrets.

One set-up for every command that logs (``lotse run``, ``lotse demo``, ``lotse pbx``).

Every module logs through ``structlog.get_logger(name)``; the standard library
loggers some modules use are routed through the same renderer (their
``extra={...}`` values become fields). Every event is a short name
(``journal.opened``) with its values as fields, never inside the text, so the
JSON form can be filtered and counted and the console form stays readable.

The format: ``json`` (one object per line, for journald and log shippers),
``console`` (aligned, coloured on a terminal: a person reading it), or
``auto``: console on a terminal, JSON otherwise (a service, a pipe, a file).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TextIO, cast

import structlog

from router.config import LogFormat


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of each write.

    Bound once, a replaced ``sys.stderr`` (a test's capture, a daemon's
    redirection) would leave every logger writing to a closed file.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


LOG_FORMATS = tuple(str(f) for f in LogFormat)


def _is_terminal(stream: TextIO | None) -> bool:
    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    return bool(isatty is not None and isatty())


def configure_logging(
    level: str = "info", stream: TextIO | None = None, log_format: str = "auto"
) -> None:
    """Log lines on ``stream`` (stderr) at ``level``; timestamps in UTC, ISO 8601.

    ``log_format`` is one of :data:`LOG_FORMATS`; ``auto`` asks whether
    ``stream`` is a terminal.

    Lines about one call carry its ``call_id`` (the Uniqueid of the caller's
    channel): the FastAGI session binds it for everything logged while it
    runs, the call tracker names it on each line it writes.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}: want one of {', '.join(LOG_FORMATS)}")
    out = stream if stream is not None else cast(TextIO, _Stderr())
    terminal = _is_terminal(stream)
    console = log_format == "console" or (log_format == "auto" and terminal)
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=terminal)
        if console
        else structlog.processors.JSONRenderer()
    )
    numeric = getattr(logging, level.upper(), logging.INFO)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            # The console renderer shows a traceback itself, prettier.
            *([] if console else [structlog.processors.format_exc_info]),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # Not cached: a later configuration (another level, another stream)
        # must reach the module-level loggers too; the look-up costs little
        # next to rendering a line.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            # A standard library call's extra={...} values are its fields.
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # aiosqlite's debug lines print every statement with its parameters (row
    # data); never wanted in lotse's log, even at --log-level debug.
    logging.getLogger("aiosqlite").setLevel(max(numeric, logging.INFO))


def add_log_format_option(parser: argparse.ArgumentParser) -> None:
    """``--log-format``: the log's form, over the config's ``controller.log_format``."""
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="console (for a person), json (a line per event), or auto: console on a "
        "terminal, JSON otherwise (default: the config's controller.log_format, auto)",
    )
