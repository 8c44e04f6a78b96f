"""Journal lag and the kill -9 loss window of ``lotse run`` under a steady FastAGI rate.

Starts ``lotse run`` as its own process (no Asterisk behind its AMI address:
each call is the routing request's records, arrived and decided), sends
FastAGI requests as Asterisk's res_agi does at ``--rate`` per second for
``--seconds``, and samples ``lotse_journal_lag_seconds`` from ``/metrics``
every 100 ms. Prints the lag's p50/p99/max over the samples, the answered
calls and the journal's rows. With ``--kill`` the controller gets SIGKILL at
the end of the run while requests still arrive; the journal is then opened
(its spool replayed) and every answered call without a row is counted, with
how long before the kill it was answered: the loss window.

    .venv/bin/python -m bench.journal --rate 100 --seconds 60 [--kill] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench._common import CAPTURES, REPO, JsonDict, percentile
from bench.agiload import Environments

ENTRY = "import sys; from lotse.cli import main; sys.exit(main())"
SAMPLE_S = 0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(port: int, env: bytes) -> bool:
    """One AGI() run; True when the server set variables and closed cleanly."""
    sets = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(env)
            tail = b""
            while data := sock.recv(65536):
                lines = (tail + data).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    if line.startswith(b"SET VARIABLE "):
                        sets += 1
                        sock.sendall(b"200 result=1\n")
                    elif line[:7].lower() == b"failure":
                        return False
    except OSError:
        return False
    return sets > 0


def _uniqueid(env: bytes) -> str:
    start = env.index(b"agi_uniqueid: ") + len(b"agi_uniqueid: ")
    return env[start : env.index(b"\n", start)].decode()


class Load:
    """Paced FastAGI calls on worker threads; remembers when each call was answered."""

    def __init__(self, port: int, seed: int) -> None:
        self._port = port
        self._envs = Environments(CAPTURES / "fastagi-session.txt", seed)
        self._pool = ThreadPoolExecutor(32)
        self.answered: dict[str, float] = {}
        self.failed = 0
        self._lock = threading.Lock()

    def _one(self, env: bytes) -> None:
        ok = _call(self._port, env)
        with self._lock:
            if ok:
                self.answered[_uniqueid(env)] = time.monotonic()
            else:
                self.failed += 1

    def run(self, rate: float, seconds: float, stop: threading.Event) -> None:
        begin = time.monotonic()
        n = 0
        while n < rate * seconds and not stop.is_set():
            due = begin + n / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            self._pool.submit(self._one, self._envs.next())
            n += 1

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _lag(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("lotse_journal_lag_seconds "):
            return float(line.split()[1])
    return None


def _rows(journal: Path) -> set[str]:
    """Call ids in the journal, after replaying its spool (as the next start would)."""
    from lotse.journal import Journal

    async def replay() -> None:
        j = await Journal.open(journal, clock=lambda: datetime.now(UTC), key=b"k" * 32)
        while j.stats().spool_records:
            await j.flush()
            await asyncio.sleep(0.01)
        await j.close()

    asyncio.run(replay())
    conn = sqlite3.connect(journal)
    try:
        return {str(r[0]) for r in conn.execute("SELECT call_id FROM calls")}
    finally:
        conn.close()


def run(rate: float, seconds: float, kill: bool, seed: int) -> JsonDict:
    tmp = Path(tempfile.mkdtemp(prefix="lotse-bench-journal-"))
    journal = tmp / "journal.sqlite"
    agi, metrics = _free_port(), _free_port()
    env = {**os.environ, "LOTSE_AMI_SECRET": "bench", "LOTSE_JOURNAL_KEY": "k" * 32}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", ENTRY, "run", "--config", str(REPO / "config.yaml")),
            *("--ami", "127.0.0.1:9", "--agi-listen", f"127.0.0.1:{agi}"),
            *("--metrics-listen", f"127.0.0.1:{metrics}", "--journal", str(journal)),
            *("--control", str(tmp / "ctl.sock")),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while _lag(metrics) is None:
        if proc.poll() is not None:
            raise SystemExit("lotse run did not start")
        time.sleep(0.1)
    load = Load(agi, seed)
    stop = threading.Event()
    # Kill while requests keep coming: the run goes on for a second after it.
    driver = threading.Thread(target=load.run, args=(rate, seconds + (1 if kill else 0), stop))
    driver.start()
    samples: list[float] = []
    begin = time.monotonic()
    while time.monotonic() - begin < seconds:
        lag = _lag(metrics)
        if lag is not None:
            samples.append(lag)
        time.sleep(SAMPLE_S)
    killed_at = None
    if kill:
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
    stop.set()
    driver.join()
    load.close()
    if not kill:
        proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    rows = _rows(journal)
    before = {c: t for c, t in load.answered.items() if killed_at is None or t <= killed_at}
    lost = {c: t for c, t in before.items() if c not in rows}
    samples.sort()
    out: JsonDict = {
        "rate": rate,
        "seconds": seconds,
        "answered": len(before),
        "failed": load.failed,
        "journal_rows_of_answered": len(before) - len(lost),
        "lost": len(lost),
        "lag_samples": len(samples),
        "lag_p50_s": round(percentile(samples, 50), 3),
        "lag_p99_s": round(percentile(samples, 99), 3),
        "lag_max_s": round(samples[-1], 3) if samples else None,
    }
    if killed_at is not None:
        out["loss_window_s"] = round(max((killed_at - t for t in lost.values()), default=0.0), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the run")
    parser.add_argument("--kill", action="store_true", help="SIGKILL at the end, count losses")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = run(args.rate, args.seconds, args.kill, args.seed)
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
