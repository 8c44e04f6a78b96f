"""A refused AMI login at start is bad input: exit 2, one line naming it, never the secret.

And what that start created is not world-readable, whatever the caller's umask.

Real processes, as an operator meets it: ``lotse pbx`` (the stand-in refuses
a wrong secret as Asterisk does: ``Authentication failed``, then it closes)
and ``lotse run`` with another secret. The timeouts are hang guards only.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ami.codec import Message, encode
from lotse.controller import Controller, RunOptions
from lotse.journal.store import Journal
from router.config import Endpoint
from router.configload import load_config
from router.numbering import OrtsnetzTable
from tests.ami.peer import PEER_SECRET, Peer
from tests.lotse.rig import REPO, FakeWall, free_port

HANG_GUARD_S = 60
ENTRY = "import sys; from lotse.cli import main; sys.exit(main())"
PBX_SECRET = "pbx-side-secret-4711"
RUN_SECRET = "run-side-secret-0815"


def _env(secret: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LOTSE_AMI_SECRET": secret,
        "LOTSE_JOURNAL_KEY": "k" * 32,
    }


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[int]:
    """``lotse pbx`` on a port it binds itself; yields the AMI port it reports."""
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "pbx", "--ami-listen", "127.0.0.1:0", "--agi", "none"],
        cwd=tmp_path,
        env=_env(PBX_SECRET),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("lotse pbx: AMI on "):
                yield int(line.split()[4].rstrip(",").rpartition(":")[2])
                break
        else:
            pytest.fail("lotse pbx ended without listening")
    finally:
        proc.terminate()
        proc.wait(HANG_GUARD_S)


def test_run_with_a_refused_login_exits_2_naming_it_never_the_secret(
    tmp_path: Path, pbx: int
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            ENTRY,
            "run",
            "--ami",
            f"127.0.0.1:{pbx}",
            "--agi-listen",
            f"127.0.0.1:{free_port()}",
            "--no-metrics",
            "--journal",
            str(tmp_path / "j.sqlite"),
        ],
        cwd=tmp_path,
        env=_env(RUN_SECRET),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        umask=0o022,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("lotse run: ") and "Traceback" not in done.stderr
    assert f"127.0.0.1:{pbx}" in last and "login refused" in last and "user lotse" in last
    for secret in (RUN_SECRET, PBX_SECRET):
        assert secret not in done.stdout + done.stderr
    # Created under umask 022, yet not readable by others (caller hashes, prefixes).
    journal = tmp_path / "j.sqlite"
    assert journal.exists() and journal.stat().st_mode & 0o007 == 0


async def _queue_status(msg: Message, writer: asyncio.StreamWriter) -> None:
    aid = msg.action_id or ""
    writer.write(
        encode([("Response", "Success"), ("ActionID", aid), ("EventList", "start")])
        + encode(
            [
                ("Event", "QueueStatusComplete"),
                ("ActionID", aid),
                ("EventList", "Complete"),
                ("ListItems", "0"),
            ]
        )
    )


async def test_a_login_refused_later_keeps_routing_and_counts(tmp_path: Path) -> None:
    """A secret rotated in Asterisk under a running controller: no exit, counted, retried."""
    peer = Peer()
    peer.on_action["QueueStatus"] = _queue_status
    await peer.start()
    table = OrtsnetzTable.load()
    config = load_config(REPO / "config.yaml", table=table)
    journal = await Journal.open(tmp_path / "journal.sqlite", clock=FakeWall())
    options = RunOptions(
        ami=Endpoint("127.0.0.1", peer.port),
        agi_listen=Endpoint("127.0.0.1", free_port()),
        metrics_listen=None,
        journal_path=str(tmp_path / "journal.sqlite"),
    )
    controller = Controller(
        config, options, secret=PEER_SECRET, journal=journal, wall_clock=FakeWall(), table=table
    )
    failures = controller.metrics.ami_login_failures
    await controller.start()
    try:
        async with asyncio.timeout(10):
            while controller.live.stale:
                await asyncio.sleep(0.01)
        peer.refuse_login = True
        peer.drop_all()
        async with asyncio.timeout(10):
            while failures._value.get() < 2:
                await asyncio.sleep(0.01)
        # Still serving on the last known state; no exit was asked for.
        assert controller.failure is None and not controller.failed.is_set()
        assert controller.live.stale
        assert controller.status_line().startswith("routing; AMI login refused, stale state;")
        peer.refuse_login = False
        async with asyncio.timeout(15):
            while controller.live.stale:
                await asyncio.sleep(0.01)
        assert controller.status_line().startswith("routing; AMI connected, fresh state;")
    finally:
        async with asyncio.timeout(10):
            await controller.stop()
        await peer.close()


async def test_a_login_refused_before_any_succeeded_asks_serve_to_stop(tmp_path: Path) -> None:
    peer = Peer()
    peer.refuse_login = True
    await peer.start()
    table = OrtsnetzTable.load()
    config = load_config(REPO / "config.yaml", table=table)
    journal = await Journal.open(tmp_path / "journal.sqlite", clock=FakeWall())
    options = RunOptions(
        ami=Endpoint("127.0.0.1", peer.port),
        agi_listen=Endpoint("127.0.0.1", free_port()),
        metrics_listen=None,
        journal_path=str(tmp_path / "journal.sqlite"),
    )
    controller = Controller(
        config, options, secret=PEER_SECRET, journal=journal, wall_clock=FakeWall(), table=table
    )
    await controller.start()
    try:
        async with asyncio.timeout(10):
            await controller.failed.wait()
    finally:
        async with asyncio.timeout(10):
            await controller.stop()
        await peer.close()
    assert controller.failure == (
        f"AMI 127.0.0.1:{peer.port}: login refused for user lotse (Authentication failed)"
    )
    assert controller.metrics.ami_login_failures._value.get() >= 1


def test_the_secret_from_a_systemd_credential_wins_over_the_environment(
    tmp_path: Path, pbx: int
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "ami-secret").write_text(PBX_SECRET + "\n", encoding="utf-8")
    env = {**_env(RUN_SECRET), "CREDENTIALS_DIRECTORY": str(credentials)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            ENTRY,
            "run",
            "--ami",
            f"127.0.0.1:{pbx}",
            "--agi-listen",
            f"127.0.0.1:{free_port()}",
            "--no-metrics",
            "--journal",
            str(tmp_path / "j.sqlite"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(HANG_GUARD_S, proc.kill)
    guard.start()
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if '"ami.logged_in"' in line:
                break
        proc.terminate()
        proc.communicate()
    finally:
        guard.cancel()
    assert any('"ami.logged_in"' in line for line in seen), "".join(seen)
    assert any('"credentials.loaded"' in line and "ami-secret" in line for line in seen)
    assert proc.returncode == 0
    assert PBX_SECRET not in "".join(seen)
