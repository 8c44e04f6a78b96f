"""structlog set-up: one JSON object per line, no caller numbers, no secrets.

Every module logs through ``structlog.get_logger(name)``; the standard library
loggers some modules use are routed through the same renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog


class _Stderr:
    """Whatever ``sys.stderr`` is at the time of each write.

    Bound once, a replaced ``sys.stderr`` (a test's capture, a daemon's
    redirection) would leave every logger writing to a closed file.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """JSON lines on ``stream`` (stderr) at ``level``; timestamps in UTC, ISO 8601.

    Lines about one call carry its ``call_id`` (the Uniqueid of the caller's
    channel): the FastAGI session binds it for everything logged while it
    runs, the call tracker names it on each line it writes.
    """
    out = stream if stream is not None else cast(TextIO, _Stderr())
    numeric = getattr(logging, level.upper(), logging.INFO)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
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
            processor=structlog.processors.JSONRenderer(), foreign_pre_chain=shared
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # aiosqlite's debug lines print every statement with its parameters (row
    # data); never wanted in lotse's log, even at --log-level debug.
    logging.getLogger("aiosqlite").setLevel(max(numeric, logging.INFO))
