"""Two demos on one machine never mix: each journal holds its own calls, all of them.

Each demo's controller binds a free FastAGI port itself and keeps it
(``--agi-listen 127.0.0.1:0``), its stand-in listens for AMI on a port it
bound itself, and the stand-in's AMI secret is random per run: no call of
one run can reach the other's controller. The timeouts are hang guards only.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.lotse.rig import REPO

HANG_GUARD_S = 240
ENTRY = "import sys; from lotse.cli import main; sys.exit(main())"


def _demo(where: Path, seed: int) -> subprocess.Popen[str]:
    where.mkdir()
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            ENTRY,
            "demo",
            "--start",
            "2026-11-23T10:00",
            "--hours",
            "0.5",
            "--speed",
            "240",
            "--seed",
            str(seed),
            "--agi-listen",
            "127.0.0.1:0",
            "--no-metrics",
            "--journal",
            "j.sqlite",
        ],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _journal(path: Path) -> dict[str, tuple[int, int]]:
    """call id -> (queued, fallback) of every call in the journal.

    (The ids of two runs may coincide: Uniqueids are the simulated second and
    a counter, as in Asterisk; each run's journal is its own file.)
    """
    with sqlite3.connect(path) as conn:
        return {
            row[0]: (row[1], row[2])
            for row in conn.execute("SELECT call_id, queued, fallback FROM calls")
        }


def test_two_demos_side_by_side_keep_their_own_calls(tmp_path: Path) -> None:
    runs = {seed: _demo(tmp_path / f"demo{seed}", seed) for seed in (1, 2)}
    outputs = {seed: proc.communicate(timeout=HANG_GUARD_S)[0] for seed, proc in runs.items()}
    for seed, proc in runs.items():
        assert proc.returncode == 0, outputs[seed]
        placed = int(re.findall(r"— (\d+) calls placed", outputs[seed])[-1])
        calls = _journal(tmp_path / f"demo{seed}" / "j.sqlite")
        # Every call this run placed, and no other: none foreign, none lost.
        assert len(calls) == placed > 0, outputs[seed]
        # Each was routed by its own controller (the dialplan's fallback never ran).
        assert all(fallback == 0 for _, fallback in calls.values())
