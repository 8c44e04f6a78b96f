"""Benchmark: AMI events per second through lotse's whole pipeline vs panoramisk's bare parse.

The byte stream is made of the real Asterisk 22 captures in
``shared/asterisk/`` (the load test, an answered, an abandoned and a timed-out
call): the banner, then their event blocks as Asterisk framed them, repeated
``--copies`` times. Every copy is a new set of calls: Uniqueids and Linkedids
(wherever they appear), channel names and caller numbers are renumbered per
copy, so nothing repeats across copies that would not repeat across real
calls. The stream is cut into 4 KiB reads, splitting blocks, as a socket
delivers it. Two mixes:

* ``filtered``: only what the generated AMI user (``manager_lotse.conf``)
  lets through, the events and variables lotse needs: what production sees,
  and the mix the target is judged on;
* ``unfiltered``: every event of the captures, as an AMI user without
  eventfilters would receive them.

lotse: the controller's own objects, wired as ``lotse run`` wires them
(``Controller``, ``open_journal``, start-up objects frozen out of the
collector's scans), with the queue state resynced so it is not stale: the
protocol's ``data_received`` (lotse's codec), the session's typing into
domain events, the ordered consumer (the event loop runs it between two
reads), the live queue state, the call tracker with its metrics and the
journal (a real SQLite file, flushed before the clock stops).
panoramisk: its ``AMIProtocol.data_received`` on the same reads, dispatching
to a Manager with no callbacks: parsing and nothing else.

Both run in one process, in alternating order, ``--rounds`` times; the best
round of each side counts (on a shared VM noise only ever slows a round down).

    .venv/bin/python -m bench.ami [--quick] [--copies 40] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from ami.codec import AmiParser, Message
from ami.contract import NEEDED_EVENTS, NEEDED_VARIABLES_REGEX
from ami.events import QueueStatusComplete
from ami.session import _Protocol
from ami.transcript import received_bytes
from bench._common import CAPTURES, production_logging_to_devnull
from lotse.controller import Controller, RunOptions, open_journal
from lotse.journal.privacy import JournalKey
from router.configload import load_config
from router.numbering import OrtsnetzTable

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("ami-load.txt", "ami-answered.txt", "ami-abandon.txt", "ami-timeout.txt")
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
READ_SIZE = 4096
TARGET = 0.70
# What tells calls apart on the wire: ids (epoch.sequence), channel names'
# counters (PJSIP/carrier-0000000a, Local/...-0000001a;1), caller numbers.
_RENUMBER = re.compile(
    rb"\b(?P<epoch>1[0-9]{9})\.(?P<seq>[0-9]+)\b"
    rb"|-(?P<chan>[0-9a-f]{8})(?=[;\r])"
    rb"|(?<=Num: )(?P<num>0[0-9]{5,})(?=\r)"
)
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
    """What ``manager_lotse.conf`` lets through (list items are never filtered)."""
    if msg.name not in NEEDED_EVENTS:
        return False
    if msg.name == "VarSet":
        return _NEEDED_VARIABLE.match(msg.get("Variable") or "") is not None
    return True


def stream(blocks: list[bytes], copies: int) -> tuple[list[bytes], int]:
    """The reads of the banner and ``copies`` renumbered copies of ``blocks``; the event count.

    Within a copy, a call's events repeat its own ids, channel names and
    number, as Asterisk's do; no two copies share any of them.
    """
    one = b"".join(blocks)
    parts = [BANNER]
    for copy in range(copies):

        def renumber(m: re.Match[bytes], copy: int = copy) -> bytes:
            if m["epoch"]:  # epoch.sequence: the epoch moved by the copy number
                return b"%d.%s" % (int(m["epoch"]) + 1000 * copy, m["seq"])
            if m["chan"]:  # the channel's hex counter
                return b"-%08x" % ((int(m["chan"], 16) + 0x10000 * copy) & 0xFFFFFFFF)
            number = m["num"]  # a caller number: its last three digits
            return number[:-3] + b"%03d" % ((int(number[-3:]) + copy) % 1000)

        parts.append(_RENUMBER.sub(renumber, one))
    data = b"".join(parts)
    reads = [data[i : i + READ_SIZE] for i in range(0, len(data), READ_SIZE)]
    return reads, len(blocks) * copies


def _timed(run: Callable[[], float]) -> float:
    """Run one side with the collector as a long-running process has it.

    Garbage of earlier rounds is collected first and everything alive is
    frozen out of later scans, as ``lotse run`` freezes its start-up objects.
    """
    gc.collect()
    gc.freeze()
    try:
        return run()
    finally:
        gc.unfreeze()


def bare_panoramisk(reads: list[bytes]) -> float:
    """Seconds panoramisk takes to parse ``reads`` (dispatching to no callbacks)."""
    loop = asyncio.new_event_loop()
    try:
        manager = Manager(loop=loop)
        protocol = AMIProtocol()
        protocol.connection_made(_Transport())
        protocol.factory = manager

        def run() -> float:
            started = time.perf_counter()
            for data in reads:
                protocol.data_received(data)
            return time.perf_counter() - started

        elapsed = _timed(run)
        if protocol.version != "11.0.0":
            raise RuntimeError("panoramisk did not read the banner: not the stream it should be")
        return elapsed
    finally:
        loop.close()


async def _lotse_round(reads: list[bytes], workdir: Path) -> float:
    table = OrtsnetzTable.load()
    config = load_config(REPO / "config.yaml", table=table)
    options = RunOptions.from_config(config)
    path = workdir / f"journal-{time.monotonic_ns()}.sqlite"
    key = JournalKey(os.urandom(32), "a one-off key for the benchmark")
    journal = await open_journal(config, str(path), lambda: datetime.now(UTC), key)
    controller = Controller(config, options, secret="bench", journal=journal, table=table)
    # Logged in and resynced: the state is current, as after every connect.
    controller.live.begin_resync("bench-resync")
    controller.live.apply(QueueStatusComplete(0, "bench-resync"))
    protocol = _Protocol()
    protocol.connection_made(_Transport())
    protocol.factory = SimpleNamespace(session=controller.session)
    consumer = asyncio.create_task(controller._consume())
    events = controller.events
    await asyncio.sleep(0)
    gc.collect()
    gc.freeze()
    try:
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
        gc.unfreeze()
        consumer.cancel()
        await journal.close()
    if protocol.parser.error_count or not journal.stats().written:
        raise RuntimeError("lotse's pipeline did not take the stream: parse errors or no journal")
    return elapsed


def lotse_pipeline(reads: list[bytes], workdir: Path) -> float:
    """Seconds lotse takes from the reads to the journal, through the controller's objects."""
    return asyncio.run(_lotse_round(reads, workdir))


def measure(filtered: bool, copies: int, rounds: int, workdir: Path) -> dict[str, Any]:
    """Both sides on one mix, ``rounds`` times in alternating order; the best of each."""
    reads, events = stream(event_blocks(filtered), copies)
    lotse_s: list[float] = []
    bare_s: list[float] = []
    for rnd in range(rounds):
        order = ("lotse", "bare") if rnd % 2 == 0 else ("bare", "lotse")
        for side in order:
            if side == "lotse":
                lotse_s.append(lotse_pipeline(reads, workdir))
            else:
                bare_s.append(bare_panoramisk(reads))
    lotse_rate, bare_rate = events / min(lotse_s), events / min(bare_s)
    return {
        "mix": "filtered" if filtered else "unfiltered",
        "events": events,
        "bytes": sum(len(r) for r in reads),
        "lotse_events_per_s": round(lotse_rate),
        "panoramisk_events_per_s": round(bare_rate),
        "ratio": round(lotse_rate / bare_rate, 3),
        "rounds": [
            {
                "lotse_events_per_s": round(events / lo),
                "panoramisk_events_per_s": round(events / ba),
            }
            for lo, ba in zip(lotse_s, bare_s, strict=True)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=40, help="copies of the captures")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 copies, 2 rounds (seconds)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    copies, rounds = (10, 2) if args.quick else (max(1, args.copies), max(1, args.rounds))
    production_logging_to_devnull()
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(f, copies, rounds, Path(tmp)) for f in (True, False)]
    headline = results[0]
    summary = {
        "mix": headline["mix"],
        "events": headline["events"],
        "lotse_events_per_s": headline["lotse_events_per_s"],
        "panoramisk_events_per_s": headline["panoramisk_events_per_s"],
        "ratio": headline["ratio"],
        "target_ratio": TARGET,
        "met": headline["ratio"] >= TARGET,
        "mixes": results,
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    for r in results:
        print(
            f"{r['mix']}: {r['events']:,} events, {r['bytes'] / 1e6:.1f} MB in "
            f"{READ_SIZE // 1024} KiB reads, best of {rounds} rounds"
        )
        print(f"  lotse pipeline    {r['lotse_events_per_s']:>9,} events/s")
        print(f"  panoramisk parse  {r['panoramisk_events_per_s']:>9,} events/s")
        print(f"  ratio             {r['ratio']:>9.2f}")
    met = "met" if summary["met"] else "NOT met"
    print(f"target: filtered mix >= {TARGET:.0%} of panoramisk's parse: {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
