"""The day's report of a running controller: over its control socket, as ``lotse report``.

While ``lotse run`` has the journal no other process may open it
(``lotse.journal.schema.file_uri``), so the controller computes the report
itself. An in-process controller with the Asterisk stand-in takes calls; the
command line runs as a process, as an operator runs it, and must print the
very document ``lotse report`` prints from the file once the controller has
stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lotse.cli import main
from lotse.journal.store import Journal
from tests.lotse.rig import REPO
from tests.lotse.test_operate import Operated, operated_rig

HANG_GUARD_S = 120
ENTRY = "import sys; from lotse.cli import main; sys.exit(main())"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
ENV.pop("LOTSE_CONTROL_SOCKET", None)
# FakeWall's day (tests.lotse.rig): the calls arrive on it.
DAY = "2026-11-24"
CALLERS = ["0421 1234567", "03491 123456", "03941 123456", "05251 123456", "0391 1234567"]


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Unix socket paths are short; pytest's tmp_path can be long.
    d = Path(tempfile.mkdtemp(prefix="lotse-rep-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


async def lotse(op: Operated, *argv: str) -> subprocess.CompletedProcess[str]:
    """``lotse ARGV`` as a process (the event loop goes on serving the controller)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", ENTRY, *argv],
        cwd=op.config_path.parent,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )


def report_args(op: Operated, *more: str) -> list[str]:
    return [
        *("report", "--day", DAY, "--config", str(op.config_path)),
        *("--journal", str(op.journal_path), *more),
    ]


async def test_ctl_report_is_what_lotse_report_prints_once_the_controller_stopped(
    tmp_path: Path, sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with operated_rig(tmp_path, sock_dir) as op:
        outcomes = await op.calls(CALLERS)
        assert op.controller is not None
        await op.controller.journal.flush()

        live: dict[str, subprocess.CompletedProcess[str]] = {}
        for fmt in ("--json", "--csv"):
            live[fmt] = await lotse(op, "ctl", "--socket", op.socket, "report", "--day", DAY, fmt)
            assert live[fmt].returncode == 0, live[fmt].stderr
        # lotse report on the live file asks the controller that holds it.
        held = await lotse(op, *report_args(op, "--socket", op.socket, "--json"))
        assert held.returncode == 0, held.stderr
        assert held.stdout == live["--json"].stdout
        table = await lotse(op, "ctl", "--socket", op.socket, "report", "--day", DAY)
        assert table.returncode == 0, table.stderr
        assert table.stdout.startswith(f"115 service report {DAY} (Europe/Berlin)")

    doc = json.loads(live["--json"].stdout)
    assert doc["national"]["calls"] == len(outcomes) == len(CALLERS)
    assert sum(c["calls"] for c in doc["centers"]) == len(CALLERS)
    # No caller number in any form of the answer.
    for done in (*live.values(), table):
        assert not any(c.replace(" ", "")[-6:] in done.stdout for c in CALLERS)
    # The same journal, read from the file now that no controller holds it. In
    # this process: SQLite keeps the descriptors (and so the one lock) of a
    # unix-excl file after its last connection closed, until the process
    # exits, as lotse run does.
    capsys.readouterr()
    for fmt in ("--json", "--csv"):
        assert await asyncio.to_thread(main, report_args(op, fmt)) == 0
        stopped = capsys.readouterr()
        assert stopped.out == live[fmt].stdout
        assert stopped.err == ""
    # A report is a read: nothing in the audit trail.
    with sqlite3.connect(op.journal_path) as db:
        assert db.execute("SELECT count(*) FROM control_audit").fetchone()[0] == 0


async def test_bad_report_parameters_are_bad_requests_and_exit_2(
    tmp_path: Path, sock_dir: Path
) -> None:
    async with operated_rig(tmp_path, sock_dir) as op:

        async def report(**args: Any) -> dict[str, Any]:
            return await op.ctl("report", **args)

        assert (await report())["error"] == "bad_request"
        assert (await report(day=20261124))["error"] == "bad_request"
        for day in ("2026-02-30", "yesterday", "", "9999-12-31", "1999-12-31", "2100-01-01"):
            answer = await report(day=day)
            assert answer["error"] == "bad_request", (day, answer)
            assert answer["message"].startswith("day: ")
        # The calendar's first and last day are days.
        for day in ("2000-01-01", "2099-12-31"):
            answer = await report(day=day)
            assert answer["ok"], answer
            assert answer["result"]["national"]["calls"] == 0

        done = await lotse(op, "ctl", "--socket", op.socket, "report", "--day", "2026-02-30")
        assert done.returncode == 2 and "not a date" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        done = await lotse(op, *report_args(op, "--socket", op.socket, "--day", "3000-01-01"))
        assert done.returncode == 2 and "outside 2000–2099" in done.stderr, done.stderr
        both = ("report", "--day", DAY, "--json", "--csv")
        done = await lotse(op, "ctl", "--socket", op.socket, *both)
        assert done.returncode == 2 and "exclude each other" in done.stderr
        # Routing went on: a call after all that is routed, not by the fallback.
        [call] = await op.calls(["03491 123456"])
        assert call.answered and not call.fallback


async def test_lotse_report_refuses_another_controllers_figures(
    tmp_path: Path, sock_dir: Path
) -> None:
    """A journal held here, a socket whose controller keeps another one: no figures."""
    other = tmp_path / "other.sqlite"
    async with operated_rig(tmp_path, sock_dir) as op:
        journal = await Journal.open(other, clock=op.wall)
        try:
            done = await lotse(
                op,
                *("report", "--day", DAY, "--config", str(op.config_path)),
                *("--journal", str(other), "--socket", op.socket, "--json"),
            )
        finally:
            await journal.close()
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        f"{other}: the journal is in use by another process (a running lotse run holds it; "
        f"see README, Journal trouble); the controller on {op.socket} keeps another "
        f"journal ({op.journal_path.resolve()})"
    )
