"""A start that fails ends at once: exit 1, one line on stderr naming the cause, nothing left.

Run as real processes: the bug was a process that printed its error and
never exited (the journal's writer thread kept it alive), which only a
subprocess shows. The timeouts are hang guards, not timing assertions.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lotse import cli
from tests.lotse.rig import REPO, free_port

HANG_GUARD_S = 60
ENTRY = "import sys; from lotse.cli import main; sys.exit(main())"


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port held by a listening socket for the test's duration."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def lotse(*argv: str, tmp: Path, unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``lotse ARGV`` as a process in ``tmp``, with an AMI secret and a journal key."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LOTSE_AMI_SECRET": "startup-secret",
        "LOTSE_JOURNAL_KEY": "k" * 32,
    }
    for name in unset:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *argv],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )


def lotse_run(
    tmp: Path,
    *extra: str,
    agi: str | None = None,
    metrics: str | None = None,
    journal: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``lotse run`` on a free FastAGI port (or ``agi``), no metrics (or ``metrics``)."""
    return lotse(
        "run",
        "--agi-listen",
        agi or f"127.0.0.1:{free_port()}",
        *(("--metrics-listen", metrics) if metrics else ("--no-metrics",)),
        "--journal",
        str(journal or tmp / "j.sqlite"),
        *extra,
        tmp=tmp,
    )


def one_error_line(done: subprocess.CompletedProcess[str], prefix: str) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(prefix) and "Traceback" not in done.stderr
    assert done.stdout == ""
    return lines[0]


def test_run_with_the_fastagi_port_taken_exits_1_naming_it(tmp_path: Path, taken: int) -> None:
    done = lotse_run(tmp_path, agi=f"127.0.0.1:{taken}")
    line = one_error_line(done, "lotse run: ")
    assert f"FastAGI on 127.0.0.1:{taken}" in line and "in use" in line


def test_run_with_the_metrics_port_taken_exits_1_naming_it(tmp_path: Path, taken: int) -> None:
    done = lotse_run(tmp_path, metrics=f"127.0.0.1:{taken}")
    assert f"metrics on 127.0.0.1:{taken}" in one_error_line(done, "lotse run: ")


@pytest.mark.parametrize("where", ["missing/j.sqlite", "file/j.sqlite", "garbage.sqlite"])
def test_run_with_an_unusable_journal_exits_1_naming_the_path(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("a file, not a directory\n")
    (tmp_path / "garbage.sqlite").write_text("not a database\n" * 100)
    journal = tmp_path / where
    done = lotse_run(tmp_path, journal=journal)
    assert str(journal) in one_error_line(done, "lotse run: ")


@pytest.mark.parametrize("option", ["--agi-listen", "--metrics-listen"])
def test_demo_with_a_port_taken_exits_1_naming_it(tmp_path: Path, taken: int, option: str) -> None:
    ports = {"--agi-listen": free_port(), "--metrics-listen": free_port()}
    ports[option] = taken
    argv = [arg for opt, port in ports.items() for arg in (opt, f"127.0.0.1:{port}")]
    done = lotse("demo", *argv, "--journal", str(tmp_path / "demo.sqlite"), tmp=tmp_path)
    assert f"127.0.0.1:{taken}" in one_error_line(done, "lotse demo: ")


def test_pbx_with_the_ami_port_taken_exits_1_naming_it(tmp_path: Path, taken: int) -> None:
    done = lotse("pbx", "--ami-listen", f"127.0.0.1:{taken}", tmp=tmp_path)
    assert f"AMI on 127.0.0.1:{taken}" in one_error_line(done, "lotse pbx: ")


def _lingering() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.is_alive() and not t.daemon and t is not threading.main_thread()
    ]


@pytest.mark.parametrize("command", ["run", "demo"])
def test_a_port_lost_after_the_check_still_leaves_nothing_running(
    tmp_path: Path,
    taken: int,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The race the pre-flight check cannot close: the address is taken between
    # the check and the real bind, after the journal opened. In-process, so
    # the journal's thread can be looked for afterwards.
    module = "lotse.commands.run" if command == "run" else "lotse.commands.demo"
    monkeypatch.setattr(f"{module}.check_listen", lambda _what, _endpoint: None)
    monkeypatch.setenv("LOTSE_AMI_SECRET", "startup-secret")
    monkeypatch.setenv("LOTSE_JOURNAL_KEY", "k" * 32)
    before = set(_lingering())
    code = cli.main(
        [
            command,
            "--agi-listen",
            f"127.0.0.1:{taken}",
            "--metrics-listen",
            f"127.0.0.1:{free_port()}",
            "--journal",
            str(tmp_path / "j.sqlite"),
        ]
    )
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[-1] == f"lotse {command}: cannot listen for FastAGI on 127.0.0.1:{taken}: " + (
        os.strerror(98)
    )
    # aiosqlite stops its thread without waiting for it: give it the time to
    # end (a hang guard); before the fix it ran on, and the process with it.
    for thread in set(_lingering()) - before:
        thread.join(HANG_GUARD_S)
    assert set(_lingering()) <= before


def config_with_key_file(tmp_path: Path, key_file: Path) -> Path:
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    assert "  journal_key_file: null\n" in text
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("  journal_key_file: null\n", f"  journal_key_file: {key_file}\n"))
    return path


def test_run_without_a_journal_key_is_refused(tmp_path: Path) -> None:
    done = lotse(
        "run",
        "--journal",
        str(tmp_path / "j.sqlite"),
        tmp=tmp_path,
        unset=("LOTSE_JOURNAL_KEY", "LOTSE_JOURNAL_SALT"),
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "lotse run: no journal key: set $LOTSE_JOURNAL_KEY or controller.journal_key_file "
        "in the config (at least 16 random characters; see README, Privacy)"
    ]
    assert not (tmp_path / "j.sqlite").exists()


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_run_with_a_key_file_others_can_read_is_refused(
    tmp_path: Path,
    mode: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = tmp_path / "journal.key"
    key_file.write_text("a-key-of-enough-length\n")
    key_file.chmod(mode)
    monkeypatch.delenv("LOTSE_JOURNAL_KEY", raising=False)
    monkeypatch.delenv("LOTSE_JOURNAL_SALT", raising=False)
    monkeypatch.setenv("LOTSE_AMI_SECRET", "x")
    config = config_with_key_file(tmp_path, key_file)
    code = cli.main(["run", "--config", str(config), "--journal", str(tmp_path / "j.sqlite")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"lotse run: journal key file {key_file}: open to group or others "
        f"(mode {mode:04o}); chmod 600 {key_file}\n"
    )
    assert "a-key-of-enough-length" not in err
    assert not (tmp_path / "j.sqlite").exists()


@pytest.mark.parametrize("occupant", ["file", "live socket"])
def test_run_with_the_control_socket_taken_exits_1_naming_it(tmp_path: Path, occupant: str) -> None:
    path = tmp_path / "lotse.sock"
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if occupant == "file":
            path.write_text("not a socket\n")
        else:
            holder.bind(str(path))
            holder.listen()
        done = lotse_run(tmp_path, "--control", str(path))
    finally:
        holder.close()
    assert str(path) in one_error_line(done, "lotse run: ")
    assert not (tmp_path / "j.sqlite").exists()


def test_an_address_that_does_not_resolve_says_so() -> None:
    from lotse.controller import _listen_error
    from router.config import Endpoint

    err = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert str(_listen_error("FastAGI", Endpoint("agi.invalid", 4573), err)) == (
        "cannot listen for FastAGI on agi.invalid:4573: "
        "cannot resolve the name: Name or service not known"
    )
    taken = OSError(98, "error while attempting to bind on address ('127.0.0.1', 4573): x")
    assert str(_listen_error("FastAGI", Endpoint("127.0.0.1", 4573), taken)) == (
        f"cannot listen for FastAGI on 127.0.0.1:4573: {os.strerror(98)}"
    )


def test_run_on_port_0_reports_the_ports_it_bound_and_keeps_them(tmp_path: Path) -> None:
    # A parent that lets lotse run choose its ports learns them from the
    # ready file while the process holds them (no bind-close-rebind race).
    import json
    import time
    import urllib.request

    ready = tmp_path / "ready.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LOTSE_AMI_SECRET": "s",
        "LOTSE_JOURNAL_KEY": "k" * 32,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "run", "--ami", "127.0.0.1:9", "--agi-listen",
         "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--journal",
         str(tmp_path / "j.sqlite"), "--ready-file", str(ready)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        doc = json.loads(ready.read_text())
        assert doc["pid"] == proc.pid
        agi_host, _, agi_port = doc["agi"].rpartition(":")
        assert agi_host == "127.0.0.1" and int(agi_port) > 0
        with urllib.request.urlopen(f"http://{doc['metrics']}/metrics", timeout=10) as page:
            assert b"lotse_agi_requests_total" in page.read()
        with socket.create_connection((agi_host, int(agi_port)), timeout=10) as sock:
            sock.sendall(b"agi_network: yes\nagi_network_script: route\n\n")
            assert sock.recv(100)  # answered by the process that holds the port
    finally:
        proc.terminate()
        proc.wait(HANG_GUARD_S)
