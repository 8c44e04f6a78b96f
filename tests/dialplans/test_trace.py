"""``lotse dialplan trace``: the files run for a caller at a moment, the path printed."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from dialplans.build import EXTENSIONS, AmiEvents, build, write
from dialplans.cli import add_parser
from tests.dialplans.helpers import CALENDAR, DEMO_CONFIG, YEARS, demo_config

BREMEN = "04211234567"
MONDAY_10 = "2026-11-23T10:00"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dp")
    write(build(demo_config(), YEARS, AmiEvents.from_ami(), CALENDAR), out)
    return out


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["dialplan", "trace", "--config", str(DEMO_CONFIG), *argv])
    code: int = args.func(args)
    return code


def traced(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert _run(*argv, "--json") == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_acceptance_agi_down_monday_morning_is_bremen(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (got,) = traced(capsys, BREMEN, "--at", MONDAY_10, "--dir", str(files), "--agi-down")
    assert got["queue"] == "115-bremen" and got["answered"] and got["fallback"]
    assert got["greeting"] == "lotse/greeting-bremen" and got["announcement"] is None
    apps = [step["app"] for step in got["path"]]
    assert "AGI" in apps and apps[-1] == "Queue"
    agi = next(step for step in got["path"] if step["app"] == "AGI")
    assert agi["events"][0]["text"].endswith("AGISTATUS=FAILURE")
    assert agi["where"] == f"{EXTENSIONS}:{_line(files, 'AGI(')}"


def _line(files: Path, needle: str) -> int:
    lines = (files / EXTENSIONS).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def test_follows_an_edited_file(
    tmp_path: Path, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (files / EXTENSIONS).read_text()
    edited = text.replace("Set(LOTSE_FB_QUEUE=115-bremen)", "Set(LOTSE_FB_QUEUE=115-bund)")
    assert edited != text
    (tmp_path / EXTENSIONS).write_text(edited)
    (got,) = traced(capsys, BREMEN, "--at", MONDAY_10, "--dir", str(tmp_path), "--agi-down")
    assert got["queue"] == "115-bund"


def test_controller_answering_gives_the_policy_decision(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (got,) = traced(capsys, BREMEN, "--at", MONDAY_10, "--dir", str(files))
    assert (got["queue"], got["fallback"]) == ("115-bremen", False)
    sunday = traced(capsys, BREMEN, "--at", "2026-11-29T03:00", "--dir", str(files))[0]
    assert sunday["queue"] is None and sunday["announcement"] == "lotse/offhours-bremen"
    assert sunday["greeting"] == "lotse/greeting-bremen"  # as `lotse route` shows it
    assert sunday["played"] == ["lotse/offhours-bremen"]


def test_postal_code_prompt_uses_the_given_digits(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (got,) = traced(
        capsys, "01711234567", "--at", MONDAY_10, "--dir", str(files), "--postal-code", "28195"
    )
    assert got["queue"] == "115-bremen"
    assert any(step["app"] == "Read" for step in got["path"])
    (none,) = traced(capsys, "01711234567", "--at", MONDAY_10, "--dir", str(files))
    assert none["queue"] == "115-bund"


def test_queue_status_makes_the_call_spill(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (got,) = traced(
        capsys,
        BREMEN,
        "--at",
        MONDAY_10,
        "--dir",
        str(files),
        "--queue-status",
        "115-bremen=TIMEOUT",
    )
    assert got["queue"] == "115-bund"
    joined = [s["data"].split(",")[0] for s in got["path"] if s["app"] == "Queue"]
    assert joined == ["115-bremen", "115-bund"]
    (down,) = traced(
        capsys,
        BREMEN,
        "--at",
        MONDAY_10,
        "--dir",
        str(files),
        "--agi-down",
        "--queue-status",
        "115-bremen=JOINEMPTY",
        "--queue-status",
        "115-bund=FULL",
    )
    # The fallback's last queue fails too: the all-busy announcement.
    assert down["queue"] == "115-bund" and not down["answered"]
    assert down["announcement"] == "lotse/all-busy"


def test_default_generates_from_the_config_and_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{BREMEN}\n\n034911234567\n"))
    got = traced(capsys, "-", "--at", MONDAY_10, "--agi-down")
    assert [g["queue"] for g in got] == ["115-bremen", "115-wittenberg"]


def test_caller_number_appears_only_masked(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ((), ("--json",)):
        assert (
            _run(
                BREMEN,
                "+49 421 7654321",
                "--at",
                MONDAY_10,
                "--dir",
                str(files),
                "--agi-down",
                *argv,
            )
            == 0
        )
        out = capsys.readouterr().out
        assert "1234567" not in out and "7654321" not in out
        assert "0421" in out


def test_text_output_names_file_and_line(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(BREMEN, "--at", MONDAY_10, "--dir", str(files), "--agi-down") == 0
    out = capsys.readouterr().out
    assert f"{EXTENSIONS}:{_line(files, 'AGI(')}" in out
    assert out.rstrip().splitlines()[-1].startswith("  => queue 115-bremen, answered")


def test_bad_input_exits_2(tmp_path: Path, files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(BREMEN, "--at", "tomorrow", "--dir", str(files)) == 2
    assert _run(BREMEN, "--dir", str(tmp_path)) == 2  # no extensions*.conf
    assert "no extensions*.conf" in capsys.readouterr().err
    (tmp_path / EXTENSIONS).write_text("[lotse-115]\nexten => 115,1,MixMonitor(x.wav)\n")
    assert _run(BREMEN, "--dir", str(tmp_path)) == 2
    assert f"{tmp_path / EXTENSIONS}:2: unknown application MixMonitor()" in capsys.readouterr().err
    assert _run(BREMEN, "--dir", str(files), "--queue-status", "115-bremen=LATER") == 2
    assert _run(BREMEN, "--dir", str(files), "--state", str(tmp_path / "none.yaml")) == 2


def test_state_file_logged_out_center_is_skipped_by_the_fallback(
    tmp_path: Path, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.yaml"
    state.write_text("centers:\n  bremen: {agents_logged_in: 0}\n", encoding="utf-8")
    (got,) = traced(
        capsys, BREMEN, "--at", MONDAY_10, "--dir", str(files), "--agi-down", "--state", str(state)
    )
    assert got["queue"] == "115-bund"
