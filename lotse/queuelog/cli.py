"""``lotse journal import-queue-log FILE``: take Asterisk's queue_log into the call journal.

Exit codes: 0 ok, 1 runtime failure (the file or the journal could not be
read or written), 2 bad input (no such file, a foreign journal, a bad
configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ami.queuelog import parse_chunk
from cliutil import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    STDIN,
    BadInput,
    add_config_option,
    load,
)
from lotse.journal.privacy import SaltError
from lotse.journal.rekey import add_rekey
from lotse.journal.repair import add_parser as add_repair_parser
from lotse.journal.schema import JournalError
from lotse.queuelog.importer import ImportResult, import_journeys
from lotse.queuelog.journeys import READY_AFTER_S, Folder
from router.config import Config
from router.numbering import OrtsnetzTable

# Bytes read at a time: bounds memory for a big file.
READ_BYTES = 1 << 20


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lotse journal import-queue-log FILE [--journal J] [--json]``."""
    parser = sub.add_parser(
        "journal",
        help="call journal maintenance (import Asterisk's queue_log, rekey callbacks, repair)",
        description="Work on the call journal.",
    )
    jsub = parser.add_subparsers(dest="journal_command", metavar="COMMAND", required=True)
    imp = jsub.add_parser(
        "import-queue-log",
        help="import Asterisk's queue_log into the journal",
        description="Import the calls of an Asterisk queue_log file into the call journal: calls "
        "the controller never saw (static fallback while it was down) are created, calls it lost "
        "sight of are completed, calls it journaled are left as they are. Idempotent: importing "
        "the same file again imports nothing. Prints how many calls were imported and skipped.",
    )
    imp.add_argument(
        "file",
        type=Path,
        help="queue_log file (e.g. /var/log/asterisk/queue_log); - reads standard input "
        "(zcat queue_log.1.gz | lotse journal import-queue-log -)",
    )
    imp.add_argument(
        "--journal", help="journal file (default: controller.journal_path of the config)"
    )
    imp.add_argument("--json", action="store_true", help="print the counts as JSON")
    add_config_option(imp)
    imp.set_defaults(func=run)
    add_rekey(jsub)
    add_repair_parser(jsub)


@dataclass(frozen=True, slots=True)
class FileImport:
    """The outcome of importing one file: per call, and the lines passed over."""

    result: ImportResult
    bad_lines: int
    unknown_events: int
    pending: int  # calls whose newest line is too fresh to import yet

    def as_dict(self) -> dict[str, int]:
        """The JSON form (``imported`` and ``skipped`` first)."""
        return {
            "imported": self.result.imported,
            "skipped": self.result.skipped,
            "pending": self.pending,
            "fallback": len(self.result.fallback),
            "bad_lines": self.bad_lines,
            "unknown_events": self.unknown_events,
        }


def run(args: argparse.Namespace) -> int:
    """Import ``args.file``; returns the exit code."""
    try:
        table = OrtsnetzTable.load()
        config = load(args, table)
    except BadInput as err:
        print(str(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    path: Path = args.file
    if str(path) != STDIN and not path.is_file():
        print(f"{path}: no such queue_log file", file=sys.stderr)
        return EXIT_BAD_INPUT
    journal_path = args.journal or config.controller.journal_path
    try:
        done = asyncio.run(import_file(config, table, path, journal_path, _now))
    except (JournalError, SaltError) as err:
        print(f"lotse journal import-queue-log: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"lotse journal import-queue-log: {path}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(done.as_dict()))
    else:
        print(
            f"{path}: {done.result.imported} calls imported, {done.result.skipped} skipped "
            f"(already in the journal, or older than its retention), {done.pending} left for "
            f"later (still going on); {len(done.result.fallback)} newly booked as the static "
            f"fallback's; {done.bad_lines} bad lines and {done.unknown_events} "
            "unknown events passed over"
        )
    return EXIT_OK


def _now() -> datetime:
    return datetime.now(UTC)


async def import_file(
    config: Config,
    table: OrtsnetzTable,
    path: Path,
    journal_path: str,
    clock: Callable[[], datetime],
) -> FileImport:
    """Import the queue_log at ``path`` into the journal at ``journal_path``."""
    # Imported here: the controller module brings the metrics and AMI layers.
    from lotse.controller import open_journal

    journal = await open_journal(config, journal_path, clock)
    try:
        folder = Folder(config, table, journal.caller_hash)
        bad = unknown = 0
        source = contextlib.nullcontext(sys.stdin.buffer) if str(path) == STDIN else path.open("rb")
        with source as f:
            rest = b""
            while block := f.read(READ_BYTES):
                data = rest + block
                chunk = parse_chunk(data)
                bad += chunk.bad
                unknown += chunk.unknown
                folder.add_all(chunk.lines)
                rest = data[chunk.consumed :]
        # A last line without its newline is still being written: left for later.
        now = clock()
        # The queue_log's clock: Asterisk's, normally the same as ours; a
        # file from a host whose clock runs ahead is not left pending for it.
        stamp = max(int(now.timestamp()), folder.newest)
        folder.settle(stamp)
        ready = folder.take(ready_before=stamp - READY_AFTER_S)
        pending = len(folder.take())
        retention = timedelta(days=config.controller.journal_retention_days)
        result = await import_journeys(journal, ready, not_before=now - retention)
    finally:
        await journal.close()
    return FileImport(result, bad, unknown, pending)
