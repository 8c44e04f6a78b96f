"""Helpers shared by the loopback benchmarks (``bench/agi.py``, ``bench/ami.py``).

Each benchmark runs the code under test in its own process and the traffic
source (the Asterisk side) in a second process, a *peer*, so that on a small
machine the load generator does not share an interpreter with what it
measures. The peer is this same script started with ``--peer``; it takes one
JSON command per line on stdin and answers with JSON lines on stdout. Both
processes read ``time.monotonic()``, which on Linux is the system-wide
``CLOCK_MONOTONIC``, so a start time taken in the peer and an end time taken
here are on one scale.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import structlog

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO.parent / "shared" / "asterisk"
LOOPBACK = "127.0.0.1"

JsonDict = dict[str, Any]


def production_logging_to_devnull() -> None:
    """Log exactly as ``lotse run`` does (JSON lines, level info), into /dev/null.

    The per-request log line is part of what a decision costs in production,
    so it is rendered; only the write goes nowhere, to keep the terminal clean.
    """
    from lotse.logging import configure_logging

    configure_logging("info")
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sink))
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted samples, nearest rank."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


class Peer:
    """The traffic source in its own process: ``python SCRIPT --peer``, JSON lines both ways."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    async def start(cls, script: str | Path, *args: str) -> Peer:
        """Start ``script --peer ARGS`` with the interpreter running this process."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            "--peer",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def send(self, command: JsonDict) -> None:
        """Send one command line."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self._proc.stdin.drain()

    async def receive(self, timeout: float) -> JsonDict:
        """The next answer line; RuntimeError if the peer died or stayed silent."""
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(f"benchmark peer silent for {timeout:g} s") from None
        if not line:
            raise RuntimeError(f"benchmark peer exited (status {await self._proc.wait()})")
        answer: JsonDict = json.loads(line)
        return answer

    async def call(self, command: JsonDict, timeout: float) -> JsonDict:
        """Send a command and wait for its (first) answer."""
        await self.send(command)
        return await self.receive(timeout)

    async def close(self) -> None:
        """End the peer: close its stdin (it exits at EOF), kill it if it lingers."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), 5.0)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()


def peer_commands() -> Iterator[JsonDict]:
    """Inside the peer: each command line from stdin as it comes, until EOF (blocking)."""
    while line := sys.stdin.readline():
        if line.strip():
            yield json.loads(line)


def peer_answer(answer: JsonDict) -> None:
    """Inside the peer: write one answer line."""
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
