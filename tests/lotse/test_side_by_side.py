"""Two demos and a load test on one machine never mix: each journal holds its own calls.

Each demo's controller binds a free FastAGI port itself and keeps it
(``--agi-listen 127.0.0.1:0``), its stand-in listens for AMI on a port it
bound itself, and the stand-in's AMI secret is random per run; ``sim load
--spawn`` hands its ports over the same way: no call of one run can reach
another's controller. The timeouts are hang guards only.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.lotse.rig import REPO

HANG_GUARD_S = 240
ENTRY = "import sys; from lotse.cli import main; sys.exit(main())"


def _lotse(where: Path, *argv: str) -> subprocess.Popen[str]:
    where.mkdir()
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *argv],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _load(where: Path) -> subprocess.Popen[str]:
    scenario = str(REPO / "sim" / "scenarios" / "normal-day.yaml")
    return _lotse(
        where,
        *("sim", "load", scenario, "--spawn", "--from", "10:00", "--hours", "0.25"),
        *("--speed", "60", "--journal", "j.sqlite", "--json"),
    )


def _demo(where: Path, seed: int) -> subprocess.Popen[str]:
    return _lotse(
        where,
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


def test_two_demos_and_a_load_side_by_side_keep_their_own_calls(tmp_path: Path) -> None:
    load = _load(tmp_path / "load")
    demos = {seed: _demo(tmp_path / f"demo{seed}", seed) for seed in (1, 2)}
    placed: dict[str, int] = {}
    for seed, proc in demos.items():
        out, err = proc.communicate(timeout=HANG_GUARD_S)
        assert proc.returncode == 0, out + err
        placed[f"demo{seed}"] = int(re.findall(r"— (\d+) calls placed", out)[-1])
    out, err = load.communicate(timeout=HANG_GUARD_S)
    assert load.returncode == 0, err
    placed["load"] = json.loads(out)["originated"]
    for run, count in placed.items():
        calls = _journal(tmp_path / run / "j.sqlite")
        # Every call this run placed, and no other: none foreign, none lost.
        assert len(calls) == count > 0, run
        # Each was routed by its own controller (the dialplan's fallback never ran).
        assert all(fallback == 0 for _, fallback in calls.values()), run
