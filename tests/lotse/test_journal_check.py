"""A damaged journal is refused at start, and ``lotse journal repair`` saves what it can."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from lotse.cli import main
from lotse.journal import Journal, JournalError
from lotse.journal import store as journal_store
from tests.lotse.rig import REPO, free_port
from tests.lotse.test_journal_store import T0, Clock, answered_call

CALLS = 3000
CUT = 3000
ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "LOTSE_AMI_SECRET": "check-secret",
    "LOTSE_JOURNAL_KEY": "k" * 32,
}


async def journal_of(path: Path, calls: int) -> None:
    """A journal of ``calls`` answered calls, checkpointed into the file (no -wal left)."""
    journal = await Journal.open(path, clock=Clock(), salt=b"s" * 32)
    for i in range(calls):
        for rec in answered_call(f"call-{i:05d}", T0 + timedelta(seconds=i)):
            journal.record(rec)
        if i % 200 == 0:
            await journal.flush()
    await journal.close()
    assert not Path(f"{path}-wal").exists()


@pytest.fixture(scope="module")
def torn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 calls, checkpointed, the last 3,000 bytes cut off (a torn end)."""
    path = tmp_path_factory.mktemp("torn") / "journal.sqlite"
    asyncio.run(journal_of(path, CALLS))
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size - CUT)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_sound_journal_passes_the_check(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    await journal_of(db, 20)
    journal = await Journal.open(db, clock=Clock())
    await journal.close()


async def test_a_torn_journal_is_refused_naming_the_way_out(torn: Path, tmp_path: Path) -> None:
    copy = tmp_path / "journal.sqlite"
    copy.write_bytes(torn.read_bytes())
    with pytest.raises(JournalError) as refused:
        await Journal.open(copy, clock=Clock())
    message = str(refused.value)
    assert message.startswith(f"{copy}: the journal file is damaged (")
    assert f"lotse journal repair {copy}" in message
    assert "\n" not in message


async def test_a_check_past_its_time_limit_lets_the_file_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bounded: a file too big to check in time is checked that far, said, and opened."""
    db = tmp_path / "j.sqlite"
    await journal_of(db, 50)
    journal = await Journal.open(db, clock=Clock(), check_s=0.0)
    await journal.close()
    assert "journal.check_stopped" in [r.getMessage() for r in caplog.records]
    assert journal_store.CHECK_S > 0


def test_lotse_run_exits_1_with_one_line_on_a_torn_journal(torn: Path, tmp_path: Path) -> None:
    copy = tmp_path / "journal.sqlite"
    copy.write_bytes(torn.read_bytes())
    done = subprocess.run(
        [
            *(sys.executable, "-c", "import sys; from lotse.cli import main; sys.exit(main())"),
            *("run", "--config", str(REPO / "config.yaml"), "--ami", "127.0.0.1:9"),
            *("--agi-listen", f"127.0.0.1:{free_port()}", "--no-metrics", "--journal", str(copy)),
            *("--control", str(tmp_path / "ctl.sock")),
        ],
        env=ENV,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"lotse run: {copy}: the journal file is damaged")
    assert f"lotse journal repair {copy}" in done.stderr


def test_repair_saves_what_can_be_read_and_keeps_the_damaged_file(
    torn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "journal.sqlite"
    damaged.write_bytes(torn.read_bytes())
    before = sha(damaged)
    assert main(["journal", "repair", str(damaged), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    repaired = Path(out["out"])
    assert repaired == Path(f"{damaged}.repaired")
    assert sha(damaged) == before  # untouched
    assert not Path(f"{damaged}-wal").exists()
    # Most of it saved: the cut lost at most a few pages' rows.
    assert CALLS * 0.9 <= out["rows"]["calls"] <= CALLS
    assert CALLS * 5 * 0.9 <= out["rows"]["call_events"] <= CALLS * 5

    # The new file is a sound journal lotse run accepts, with those rows.
    async def reopen() -> None:
        journal = await Journal.open(repaired, clock=Clock())
        await journal.close()

    asyncio.run(reopen())
    conn = sqlite3.connect(repaired)
    try:
        (n,) = conn.execute("SELECT count(*) FROM calls").fetchone()
        (ok,) = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    assert (n, ok) == (out["rows"]["calls"], "ok")


def test_repair_refuses_to_overwrite_or_read_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["journal", "repair", str(tmp_path / "missing.sqlite")]) == 2
    damaged = tmp_path / "j.sqlite"
    damaged.write_bytes(b"not a database at all" * 100)
    (tmp_path / "taken").write_text("x")
    assert main(["journal", "repair", str(damaged), "--out", str(tmp_path / "taken")]) == 2
    assert main(["journal", "repair", str(damaged)]) == 1
    assert "nothing can be read" in capsys.readouterr().err


async def test_lotse_report_on_a_journal_lotse_run_holds_says_so_and_exits_1(
    tmp_path: Path,
) -> None:
    """The price of the heap WAL index: one process has the file (see schema.file_uri)."""
    db = tmp_path / "journal.sqlite"
    journal = await Journal.open(db, clock=Clock())
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [
                *(sys.executable, "-c", "import sys; from lotse.cli import main; sys.exit(main())"),
                *("report", "--day", "2026-02-03", "--journal", str(db)),
                *("--config", str(REPO / "config.yaml")),
            ],
            env=ENV,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        await journal.close()
    assert done.returncode == 1
    # It asks the controller over the control socket lotse run would have beside
    # the journal; none listens there (tests/lotse/test_live_report.py: one does).
    assert done.stderr.strip() == (
        f"{db}: the journal is in use by another process (a running lotse run holds it; "
        "see README, Journal trouble); asking it over its control socket failed: "
        f"no controller listening on {tmp_path / 'lotse.sock'}"
    )
