"""Benchmark: AMI events per second through lotse's whole pipeline vs panoramisk's bare parse.

The byte stream is made of the real Asterisk 22 captures in
``shared/asterisk/`` (the load test, an answered, an abandoned and a timed-out
call): their event blocks, repeated with fresh Uniqueids and Linkedids per
copy so every copy is a new set of calls, cut into 4 KiB reads as a socket
delivers them. Two mixes:

* ``filtered``: only what the generated AMI user (``manager_lotse.conf``)
  lets through, the events and variables lotse needs: what production sees,
  and the mix the target is judged on;
* ``unfiltered``: every event of the captures, as an AMI user without
  eventfilters would receive them.

lotse: the controller's own objects, wired as ``lotse run`` wires them: the
protocol's ``data_received`` (lotse's codec), the session's typing into
domain events, the ordered consumer, the live queue state, the call tracker
with its metrics and the journal (a real SQLite file, flushed at the end).
panoramisk: its ``AMIProtocol.data_received`` on the same reads, dispatching
to a Manager with no callbacks: parsing and nothing else. Both run in one
process, rounds alternating; the best round of each counts (noise only ever
slows a round down).

    .venv/bin/python -m bench.ami [--copies 60] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from ami.codec import AmiParser, Message
from ami.events import NEEDED_EVENTS, NEEDED_VARIABLES_REGEX
from ami.session import _Protocol
from ami.transcript import received_bytes
from bench._common import CAPTURES, production_logging_to_devnull
from lotse.controller import Controller, RunOptions
from lotse.journal.store import Journal
from router.config import Endpoint
from router.configload import load_config
from router.numbering import OrtsnetzTable

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("ami-load.txt", "ami-answered.txt", "ami-abandon.txt", "ami-timeout.txt")
READ_SIZE = 4096
TARGET = 0.70
_IDS = re.compile(rb"^(Uniqueid|Linkedid|DestUniqueid|DestLinkedid): (\d+)\.(\d+)\r$", re.M)
_NEEDED_VARIABLE = re.compile(NEEDED_VARIABLES_REGEX)


class _Transport(asyncio.Transport):
    """Enough of a transport for a protocol that only receives."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def event_blocks(filtered: bool) -> list[bytes]:
    """Each capture's event blocks as Asterisk framed them, optionally as filtered."""
    blocks: list[bytes] = []
    for name in SOURCES:
        path = CAPTURES / name
        if not path.exists():
            sys.exit(f"bench/ami.py needs the captures in {CAPTURES}")
        for item in AmiParser().feed(received_bytes(path)):
            if not isinstance(item, Message) or item.kind != "event" or item.name is None:
                continue
            if item.name in ("FullyBooted", "SuccessfulAuth"):
                continue  # the login's, not a call's
            if filtered and not _passes_filter(item):
                continue
            blocks.append(b"".join(f"{k}: {v}\r\n".encode() for k, v in item.headers) + b"\r\n")
    return blocks


def _passes_filter(msg: Message) -> bool:
    if msg.name not in NEEDED_EVENTS:
        return False
    if msg.name == "VarSet":
        return _NEEDED_VARIABLE.match(msg.get("Variable") or "") is not None
    return True


def stream(blocks: list[bytes], copies: int) -> tuple[list[bytes], int]:
    """The reads of ``copies`` renumbered copies of ``blocks``, and the number of events."""
    one = b"".join(blocks)
    parts = []
    for copy in range(copies):
        # New Uniqueids per copy: epoch moved by the copy number, sequence kept.
        def renumber(m: re.Match[bytes], shift: int = 1000 * copy) -> bytes:
            return b"%s: %d.%s\r" % (m[1], int(m[2]) + shift, m[3])

        parts.append(_IDS.sub(renumber, one))
    data = b"".join(parts)
    reads = [data[i : i + READ_SIZE] for i in range(0, len(data), READ_SIZE)]
    return reads, len(blocks) * copies


def bare_panoramisk(reads: list[bytes]) -> float:
    """Seconds panoramisk takes to parse ``reads`` (dispatching to no callbacks)."""
    loop = asyncio.new_event_loop()
    try:
        manager = Manager(loop=loop)
        protocol = AMIProtocol()
        protocol.connection_made(_Transport())
        protocol.factory = manager
        protocol.version = "11.0.0"
        started = time.perf_counter()
        for data in reads:
            protocol.data_received(data)
        return time.perf_counter() - started
    finally:
        loop.close()


async def _lotse_round(reads: list[bytes], workdir: Path) -> float:
    table = OrtsnetzTable.load()
    config = load_config(REPO / "config.yaml", table=table)
    journal = await Journal.open(
        workdir / f"bench-{time.monotonic_ns()}.sqlite", clock=lambda: datetime.now(UTC)
    )
    options = RunOptions(
        ami=Endpoint("127.0.0.1", 5038),
        agi_listen=Endpoint("127.0.0.1", 0),
        metrics_listen=None,
        journal_path=str(workdir),
    )
    controller = Controller(config, options, secret="bench", journal=journal, table=table)
    protocol = _Protocol()
    protocol.connection_made(_Transport())
    protocol.factory = SimpleNamespace(session=controller.session)
    consumer = asyncio.create_task(controller._consume())
    events = controller.events
    try:
        await asyncio.sleep(0)
        started = time.perf_counter()
        for data in reads:
            protocol.data_received(data)
            # The event loop runs the consumer between two reads of the socket.
            await asyncio.sleep(0)
        while not events.empty():
            await asyncio.sleep(0)
        await journal.flush()
        elapsed = time.perf_counter() - started
    finally:
        consumer.cancel()
        await journal.close()
    return elapsed


def lotse_pipeline(reads: list[bytes], workdir: Path) -> float:
    """Seconds lotse takes from the reads to the journal, through the controller's objects."""
    return asyncio.run(_lotse_round(reads, workdir))


def measure(filtered: bool, copies: int, rounds: int, workdir: Path) -> dict[str, Any]:
    reads, events = stream(event_blocks(filtered), copies)
    lotse_s, bare_s = [], []
    for _ in range(rounds):
        lotse_s.append(lotse_pipeline(reads, workdir))
        bare_s.append(bare_panoramisk(reads))
    lotse_rate, bare_rate = events / min(lotse_s), events / min(bare_s)
    return {
        "mix": "filtered" if filtered else "unfiltered",
        "events": events,
        "bytes": sum(len(r) for r in reads),
        "lotse_events_per_s": round(lotse_rate),
        "panoramisk_events_per_s": round(bare_rate),
        "ratio": round(lotse_rate / bare_rate, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=60, help="copies of the captures")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    production_logging_to_devnull()
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(f, args.copies, args.rounds, Path(tmp)) for f in (True, False)]
    headline = results[0]
    summary = {
        "lotse_events_per_s": headline["lotse_events_per_s"],
        "panoramisk_events_per_s": headline["panoramisk_events_per_s"],
        "ratio": headline["ratio"],
        "target_ratio": TARGET,
        "mixes": results,
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    for r in results:
        print(
            f"{r['mix']:>10}: {r['events']:,} events, {r['bytes'] / 1e6:.1f} MB, "
            f"best of {args.rounds}"
        )
        print(f"  lotse pipeline    {r['lotse_events_per_s']:>10,} events/s")
        print(f"  panoramisk parse  {r['panoramisk_events_per_s']:>10,} events/s")
        print(f"  ratio             {r['ratio']:>10.2f}")
    met = "met" if headline["ratio"] >= TARGET else "NOT met"
    print(f"target: filtered mix >= {TARGET:.0%} of panoramisk's parse: {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
