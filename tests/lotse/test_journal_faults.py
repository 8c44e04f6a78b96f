"""Journal trouble never stops routing: ``lotse run`` as a process, its journal's files broken.

A FastAGI client speaks as Asterisk's res_agi (the generated dialplan's five
arguments); the journal's files are made immutable (``chattr +i``) under
load, or the disk is full (a file size limit). Timeouts are hang guards, not
timing assertions.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lotse.commands.ctl import CtlError, ask
from tests.lotse.agicaller import call, calls
from tests.lotse.rig import REPO, free_port

HANG_GUARD_S = 60
ENTRY = "import sys; from lotse.cli import main; sys.exit(main())"
ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "LOTSE_AMI_SECRET": "faults-secret",
    "LOTSE_JOURNAL_KEY": "k" * 32,
}


def _chattr(flag: str, *paths: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(
        ["chattr", flag, *map(str, paths)], capture_output=True, check=False, timeout=HANG_GUARD_S
    )
    return done.returncode == 0


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """Makes files immutable for the test, and mutable again afterwards; skips where it can't."""
    probe = tmp_path / "probe"
    probe.touch()
    if not _chattr("+i", probe):
        pytest.skip("chattr +i is not permitted here (needs root and a filesystem with it)")
    _chattr("-i", probe)
    made: list[Path] = []

    def make(*paths: Path) -> None:
        assert _chattr("+i", *paths)
        made.extend(paths)

    try:
        yield make
    finally:
        if made:
            _chattr("-i", *made)


class Controller:
    """``lotse run`` with no Asterisk behind its AMI address (routing on stale state)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.journal = tmp / "journal.sqlite"
        self.sock_dir = Path(tempfile.mkdtemp(prefix="lotse-faults-", dir="/tmp"))
        self.socket = str(self.sock_dir / "ctl.sock")
        self.agi, self.metrics_port = free_port(), free_port()
        self.log = tmp / "run.log"
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-c", ENTRY, "run", "--config", str(REPO / "config.yaml")),
                *("--ami", "127.0.0.1:9", "--agi-listen", f"127.0.0.1:{self.agi}"),
                *("--metrics-listen", f"127.0.0.1:{self.metrics_port}"),
                *("--journal", str(self.journal), "--control", self.socket),
            ],
            cwd=tmp,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("a"),
        )
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            try:
                status = ask(self.socket, {"command": "status"})
                self.config_sha = str(status["result"]["config_sha256"])
                return
            except CtlError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "lotse run did not come up"
            time.sleep(0.1)

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=HANG_GUARD_S) as response:
            text = response.read().decode()
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("lotse_journal_"):
                name, value = line.rsplit(" ", 1)
                found[name] = float(value)
        return found

    def wait_for(self, what: Callable[[dict[str, float]], bool]) -> dict[str, float]:
        deadline = time.monotonic() + HANG_GUARD_S
        while not what(found := self.metrics()):
            assert time.monotonic() < deadline, found
            time.sleep(0.1)
        return found

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(HANG_GUARD_S)
        shutil.rmtree(self.sock_dir, ignore_errors=True)
        return code


def test_immutable_journal_files_under_load_never_stop_routing(
    tmp_path: Path, immutable: Callable[..., None]
) -> None:
    run = Controller(tmp_path)
    try:
        calls(run.agi, 0, 200, run.config_sha)
        # With the WAL index in heap memory there is no -shm: every file there is.
        files = [Path(f"{run.journal}{s}") for s in ("", "-wal", "-shm")]
        present = [f for f in files if f.exists()]
        assert Path(f"{run.journal}-shm") not in present
        immutable(*present)

        runs = calls(run.agi, 200, 2000, run.config_sha)

        assert run.proc.poll() is None, run.log.read_text()
        assert sum(r.ok for r in runs) >= 1990
        assert call(run.agi, 9999, "04211234567", run.config_sha).ok  # still answers
        m = run.metrics()
        assert m["lotse_journal_spooled_total"] > 0
        assert sum(v for k, v in m.items() if k.startswith("lotse_journal_write_failures")) > 0
        assert m["lotse_journal_healthy"] == 0
        assert m["lotse_journal_dropped_total"] == 0
        log = run.log.read_text()
        assert log.count("journal.unwritable") == 1  # once, not once per record
    finally:
        _chattr("-i", *[Path(f"{run.journal}{s}") for s in ("", "-wal")])
    # Writable again: the spool is replayed, every answered call has its row, once.
    m = run.wait_for(
        lambda m: m["lotse_journal_spool_records"] == 0 and m["lotse_journal_healthy"] == 1
    )
    assert m["lotse_journal_dropped_total"] == 0
    assert run.stop() == 0
    conn = sqlite3.connect(run.journal)
    try:
        (n_calls,) = conn.execute("SELECT count(*) FROM calls").fetchone()
        arrivals = conn.execute(
            "SELECT call_id, count(*) FROM call_events WHERE kind = 'arrived' GROUP BY call_id"
        ).fetchall()
    finally:
        conn.close()
    assert n_calls >= sum(r.ok for r in runs) + 1
    assert len(arrivals) == n_calls
    assert {n for _, n in arrivals} == {1}


# --- a full disk: a file size limit in a process of its own ----------------------------

_DISK_FULL = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    from datetime import UTC, datetime
    from lotse.journal import Journal, QueueJoined

    async def main(path: str, limit: int) -> None:
        journal = await Journal.open(path, clock=lambda: datetime.now(UTC), retry_s=0.05)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        # Python ignores SIGXFSZ: a write past the limit fails with EFBIG.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        recorded = 0
        for i in range(80):
            for j in range(250):
                journal.record(QueueJoined(f"c{i}-{j}", datetime.now(UTC), "koeln", "115-k", 1))
                recorded += 1
            await journal.flush()
        full = journal.stats()
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space is back
        while journal.stats().spool_records or journal.stats().pending:
            await journal.flush()
            await asyncio.sleep(0.01)
        after = journal.stats()
        await journal.close()
        print(json.dumps({
            "recorded": recorded,
            "full": {"written": full.written, "spooled": full.spooled, "dropped": full.dropped,
                     "pending": full.pending, "healthy": full.healthy,
                     "failures": dict(full.failures), "spool_records": full.spool_records},
            "after": {"written": after.written, "dropped": after.dropped,
                      "healthy": after.healthy},
        }))

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def test_a_full_disk_spools_then_drops_counted_and_replays_when_space_is_back(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite"
    done = subprocess.run(
        [sys.executable, "-c", _DISK_FULL, str(db), str(512 * 1024)],
        env=ENV,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S * 3,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    full, after = out["full"], out["after"]
    # Full: the file refused, the spool took what fit, the rest was dropped, counted.
    assert full["healthy"] is False
    assert sum(full["failures"].values()) > 0 and "record" not in {
        k for k, v in full["failures"].items() if v
    }
    assert full["spooled"] > 0 and full["dropped"] > 0
    # Every record is accounted for: in the file, in the spool, waiting or dropped.
    accounted = full["written"] + full["spool_records"] + full["pending"] + full["dropped"]
    assert accounted == out["recorded"]
    # Space back: the spool replays; nothing but the dropped records is missing.
    assert after["healthy"] is True
    assert after["written"] + after["dropped"] == out["recorded"]
    assert after["dropped"] == full["dropped"]
    conn = sqlite3.connect(db)
    try:
        (rows,) = conn.execute("SELECT count(*) FROM calls").fetchone()
    finally:
        conn.close()
    assert rows == after["written"]
    assert "journal.dropped" in done.stderr
