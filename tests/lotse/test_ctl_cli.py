"""``lotse run --control`` and ``lotse ctl`` as processes, as an operator runs them.

The stand-in (``lotse pbx``) plays Asterisk; ``lotse run`` uses the real
clock, so no assertion depends on whether a center is open right now. The
timeouts are hang guards, not timing assertions.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lotse.cli import build_parser, main
from lotse.commands.ctl import CtlError, _render, _report_error, _request, ask, render_status
from tests.lotse.rig import REPO, free_port

HANG_GUARD_S = 60
ENTRY = "import sys; from lotse.cli import main; sys.exit(main())"
ENV = {
    **os.environ,
    "PYTHONPATH": str(REPO),
    "LOTSE_AMI_SECRET": "ctl-secret",
    "LOTSE_JOURNAL_SALT": "s" * 32,
    "LOTSE_JOURNAL_KEY": "k" * 32,
}


@dataclass
class Running:
    tmp: Path
    config: Path
    socket: str
    metrics: int
    run_args: list[str]
    run: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.run = subprocess.Popen(
            [sys.executable, "-c", ENTRY, *self.run_args],
            cwd=self.tmp,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "run.log", "a"),  # noqa: SIM115
            text=True,
        )
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            try:
                if ask(self.socket, {"command": "status"})["result"]["ami"]["connected"]:
                    return
            except CtlError:
                pass
            assert self.run.poll() is None, (self.tmp / "run.log").read_text()
            assert time.monotonic() < deadline, "lotse run did not come up"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.run is not None and self.run.poll() is None:
            self.run.send_signal(signal.SIGTERM)
            self.run.wait(HANG_GUARD_S)
        self.run = None

    def ctl(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", ENTRY, "ctl", "--socket", self.socket, *argv],
            cwd=self.tmp,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            check=False,
        )

    def status(self) -> dict[str, Any]:
        done = self.ctl("status", "--json")
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def metric(self, name: str, labels: str = "") -> float | None:
        url = f"http://127.0.0.1:{self.metrics}/metrics"
        with urllib.request.urlopen(url, timeout=HANG_GUARD_S) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(name + labels + " "):
                return float(line.rsplit(" ", 1)[1])
        return None


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    sock_dir = Path(tempfile.mkdtemp(prefix="lotse-cli-", dir="/tmp"))
    config = tmp_path / "config.yaml"
    shutil.copy(REPO / "config.yaml", config)
    ami, agi, metrics = free_port(), free_port(), free_port()
    pbx = subprocess.Popen(
        [
            *(sys.executable, "-c", ENTRY, "pbx", "--config", str(config)),
            *("--ami-listen", f"127.0.0.1:{ami}", "--agi", f"127.0.0.1:{agi}"),
        ],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    r = Running(
        tmp_path,
        config,
        str(sock_dir / "ctl.sock"),
        metrics,
        [
            *("run", "--config", str(config), "--ami", f"127.0.0.1:{ami}"),
            *("--agi-listen", f"127.0.0.1:{agi}", "--metrics-listen", f"127.0.0.1:{metrics}"),
            *("--journal", str(tmp_path / "journal.sqlite")),
            *("--control", str(sock_dir / "ctl.sock")),
        ],
    )
    try:
        r.start()
        yield r
    finally:
        r.stop()
        pbx.send_signal(signal.SIGTERM)
        pbx.wait(HANG_GUARD_S)
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_the_operators_session(running: Running) -> None:
    r = running
    sha = hashlib.sha256(r.config.read_bytes()).hexdigest()
    status = r.status()
    assert status["config_sha256"] == sha
    assert oct(os.stat(r.socket).st_mode & 0o777) == "0o660"

    done = r.ctl("route", "0421 1234", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["home"] == "bremen"

    done = r.ctl("override", "atlantis", "closed")
    assert done.returncode == 2 and "unknown center" in done.stderr
    done = r.ctl("override", "bremen", "closed", "--reason", "staff meeting")
    assert done.returncode == 0, done.stderr
    decision = json.loads(r.ctl("route", "0421 1234", "--json").stdout)
    assert decision["target"] != "bremen"
    assert "bremen closed: closed by override: staff meeting" in decision["reasons"]
    assert r.metric("lotse_center_override", '{center="bremen",mode="closed"}') == 1

    # A broken file is refused, every problem as FILE:LINE:COL, the old one kept.
    good = r.config.read_text(encoding="utf-8")
    r.config.write_text(good.replace("max_hops: 3", "max_hops: -1"), encoding="utf-8")
    done = r.ctl("reload")
    assert done.returncode == 2
    where = re.compile(re.escape(str(r.config)) + r":\d+:\d+: max_hops")
    assert any(where.match(line) for line in done.stderr.splitlines()), done.stderr
    assert r.status()["config_sha256"] == sha
    assert r.metric("lotse_config_reloads_total", '{result="refused"}') == 1

    # SIGHUP loads a changed file.
    changed = good.replace("queue_timeout_s: 30", "queue_timeout_s: 25")
    r.config.write_text(changed, encoding="utf-8")
    new_sha = hashlib.sha256(changed.encode()).hexdigest()
    assert r.run is not None
    r.run.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + HANG_GUARD_S
    while r.status()["config_sha256"] != new_sha:
        assert time.monotonic() < deadline, "SIGHUP did not reload"
        time.sleep(0.1)
    assert r.metric("lotse_config_reloads_total", '{result="accepted"}') == 1
    assert r.metric("lotse_config_info", f'{{sha256="{new_sha}"}}') == 1
    assert r.metric("lotse_dialplan_config_mismatch") == 0

    # The override survives a restart; auto removes it.
    r.stop()
    assert not os.path.exists(r.socket)
    r.start()
    bremen = next(c for c in r.status()["centers"] if c["id"] == "bremen")
    assert bremen["override"]["mode"] == "closed"
    assert bremen["override"]["reason"] == "staff meeting"
    assert r.ctl("override", "bremen", "auto").returncode == 0
    bremen = next(c for c in r.status()["centers"] if c["id"] == "bremen")
    assert bremen["override"] is None
    done = r.ctl("status")
    assert done.returncode == 0 and "sha256    " + new_sha in done.stdout


def test_the_socket_cannot_be_held_shut_or_crashed(running: Running) -> None:
    r = running
    holders = []
    try:
        for _ in range(9):
            holder = socket.socket(socket.AF_UNIX)
            holder.connect(r.socket)
            holders.append(holder)
        assert r.ctl("status").returncode == 0
    finally:
        for holder in holders:
            holder.close()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(HANG_GUARD_S)
        sock.connect(r.socket)
        sock.sendall(b"[" * 60000 + b"\n")
        answer = sock.makefile("rb").readline()
    assert b'"bad_request"' in answer
    done = r.ctl("override", "bremen", "closed", "--until", "9999-12-31T23:59-12:00")
    assert done.returncode == 2 and "outside 2000" in done.stderr, done.stderr
    done = r.ctl("override", "bremen", "closed", "--until", "")
    assert done.returncode == 2 and "empty" in done.stderr, done.stderr
    bremen = next(c for c in r.status()["centers"] if c["id"] == "bremen")
    assert bremen["override"] is None
    log = (r.tmp / "run.log").read_text()
    assert "Traceback" not in log and "control.failed" not in log


def test_busy_is_a_runtime_failure(capsys: pytest.CaptureFixture[str]) -> None:
    busy = {"ok": False, "error": "busy", "message": "too many control connections"}
    assert _report_error(busy, False) == 1
    assert _report_error({**busy, "error": "bad_input"}, False) == 2
    assert "too many" in capsys.readouterr().err


def test_no_controller_listening_is_a_runtime_failure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, "ctl", "--socket", str(tmp_path / "none.sock"), "status"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )
    assert done.returncode == 1
    assert "no controller listening" in done.stderr


def test_ctl_route_takes_the_call_as_lotse_route_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("0421 1234567\n\n03941 55555\n"))
    args = build_parser("ctl").parse_args(
        ["ctl", "route", "-", "030 1", "--at", "2026-11-24T10:00", "--visited", "bremen"]
    )
    assert _request(args) == {
        "command": "route",
        "numbers": ["0421 1234567", "03941 55555", "030 1"],
        "at": "2026-11-24T10:00",
        "dialed": "115",
        "postal_code": None,
        "visited": "bremen",
    }


def test_ctl_route_shows_a_decision_as_lotse_route_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The controller answers with lotse route's JSON; both print it in the same words."""
    call = ["route", "--config", str(REPO / "config.yaml"), "--at", "2027-05-27T10:00"]
    numbers = ["05251 123456", "0171 2345678", "0421 1234567"]
    assert main([*call, "--json", *numbers]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main([*call, *numbers]) == 0
    text = capsys.readouterr().out.rstrip("\n")
    # lotse route names the moment in the config's zone; the controller's answer in ISO 8601.
    shown = text.replace("Thu 2027-05-27 10:00 CEST", "2027-05-27T10:00:00+02:00")
    assert shown.count("2027-05-27T10:00:00+02:00") == len(numbers)
    assert _render("route", {"decisions": rows}) == shown


def test_ctl_callbacks_table() -> None:
    assert _request(build_parser().parse_args(["ctl", "callbacks"])) == {"command": "callbacks"}
    cancel = build_parser().parse_args(["ctl", "callbacks", "--cancel", "ab"])
    assert _request(cancel) == {"command": "callbacks", "cancel": "ab"}
    row = {
        "id": "ab",
        "center": "bremen",
        "requested_at": "2026-11-23T09:00:00+00:00",
        "waiting_s": 330.0,
        "deadline": "2026-11-25T13:00:00+00:00",
        "deadline_left_s": 7260.0,
        "attempts": 1,
        "in_flight": True,
        "ortsnetz_prefix": "0421",
    }
    text = _render("callbacks", {"enabled": True, "pending": [row]})
    # The heading, its rule, then one line per request.
    assert text.splitlines()[0].split() == [
        "id",
        "center",
        "waiting",
        "deadline",
        "in",
        "tries",
        "state",
        "prefix",
    ]
    assert text.splitlines()[2].split() == [
        "ab",
        "bremen",
        "0h05m",
        "2h01m",
        "1",
        "dialling",
        "0421",
    ]
    assert _render("callbacks", {"enabled": True, "pending": []}) == "no open callback requests"
    assert "not enabled" in _render("callbacks", {"enabled": False, "pending": []})
    # No current key: the open requests are still shown, locked ones said to be.
    locked = {**row, "in_flight": False, "locked": True, "state": "locked"}
    lines = _render("callbacks", {"enabled": False, "pending": [locked]}).splitlines()
    assert "no new requests" in lines[0]
    assert lines[3].split()[-2:] == ["locked", "0421"]
    assert lines[-1].startswith("1 locked: no callback key opens the number")


def test_ctl_status_fits_a_narrow_terminal_wrapping_only_the_reasons() -> None:
    centre = {
        "id": "sachsen-anhalt",
        "open": False,
        "waiting": 12345,
        "agents_logged_in": 7,
        "agents_available": 0,
        "expected_wait_s": 4711,
        "why": "closed: outside opening hours (Mon 08:00-18:00), off-hours partner bund",
        "override": {"mode": "closed", "until": None, "set_by_uid": 1000},
    }
    status = {
        "config": "/etc/lotse/config.yaml",
        "config_sha256": "ab" * 32,
        "loaded_at": "2026-11-23T09:00:00+00:00",
        "ami": {"connected": True, "stale": False},
        "dialplan": {"mismatch": False, "config_sha256": "ab" * 32, "hint": None},
        "centers": [centre],
    }
    wide = render_status(status)
    assert "[override closed, by uid 1000]" in wide  # brackets shown, not taken for markup
    for width in (50, 80):
        text = render_status(status, width).split("\n\n", 1)[1]
        table = [line for line in text.splitlines() if not line.startswith("left out")]
        assert all(len(line) <= width for line in table)
        row = table[2].split()
        assert row[:3] == ["sachsen-anhalt", "no", "12345"]  # names and figures whole
        at = table[0].index("why")
        reason = " ".join(line[at:].strip() for line in table[2:])
        assert "off-hours partner bund" in reason
