"""``lotse pbx``: argument handling, exit codes, and a real run in a subprocess."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from standin.cli import add_parser
from tests.standin.kit import CONFIG_YAML, WAIT, login

PROGRAM = (
    "import argparse, sys\n"
    "from standin.cli import add_parser\n"
    "p = argparse.ArgumentParser(); sub = p.add_subparsers()\n"
    "add_parser(sub)\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["pbx", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG_YAML)
    return path


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTSE_AMI_SECRET", "s3cret")


def refused(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """``lotse pbx --config CONFIG ARGV`` exits 2 (bad input); what it printed on stderr."""
    assert run(["--config", str(config), *argv]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--agents", "-1"], "--agents must not be negative"),
        (["--ami-listen", "nowhere"], "--ami-listen: 'nowhere' is not HOST:PORT"),
        (["--speed", "0"], "--speed must be positive"),
    ],
)
@pytest.mark.usefixtures("secret")
def test_bad_input_exits_2(
    config: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in refused(config, capsys, *argv)


def test_missing_secret_exits_2(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOTSE_AMI_SECRET", raising=False)
    assert "no AMI secret: set $LOTSE_AMI_SECRET" in refused(config, capsys)


@pytest.mark.usefixtures("secret")
def test_bad_staffing_file_exits_2(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staffing = tmp_path / "staff.yaml"
    staffing.write_text("queues: [1, 2]\n")
    assert "needs a 'queues' mapping" in refused(config, capsys, "--staffing", str(staffing))


async def test_runs_serves_ami_and_stops_cleanly(config: Path) -> None:
    env = {**os.environ, "LOTSE_AMI_SECRET": "s3cret"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PROGRAM,
        "pbx",
        "--config",
        str(config),
        "--ami-listen",
        "127.0.0.1:0",
        "--agi",
        "none",
        "--agents",
        "1",
        "--speed",
        "30",
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stderr is not None
        line = (await asyncio.wait_for(proc.stderr.readline(), WAIT)).decode()
        found = re.search(r"AMI on 127\.0\.0\.1:(\d+), FastAGI none .*2 queues, 2 agents", line)
        assert found, line
        client = await login(("127.0.0.1", int(found.group(1))), "ctl", "s3cret")
        reply = await client.action(
            [("Action", "QueueSummary"), ("ActionID", "s")], until="QueueSummaryComplete"
        )
        assert [m.get("LoggedIn") for m in reply if m.name == "QueueSummary"] == ["1", "1"]
        await client.close()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.usefixtures("secret")
def test_a_broken_dialplan_directory_is_bad_input(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tmp_path / "dp"
    files.mkdir()
    assert "no extensions*.conf" in refused(config, capsys, "--dialplan", str(files))
    (files / "extensions_lotse.conf").write_text("[lotse-115]\nexten => 115,n,NoOp()\n")
    err = refused(config, capsys, "--dialplan", str(files))
    assert f"{files / 'extensions_lotse.conf'}:2: priority 'n'" in err
