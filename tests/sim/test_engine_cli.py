"""``lotse sim run`` and ``lotse sim national``: output, charts, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.configload import load_config_text
from router.numbering import OrtsnetzTable
from tests.sim.helpers import SCENARIOS, run_cli

CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sim", "run", str(SCENARIOS / "normal-day.yaml"), "--seed", "3", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    national = data["national"]
    for key in ("offered", "answered", "service_level", "asa_s", "abandon_rate", "occupancy"):
        assert key in national
    assert national["calls"] == data["calls"] > 1000
    assert 0 < national["offered"] <= national["calls"]
    assert {c["id"] for c in data["centers"]} >= {"bremen", "wittenberg", "bund"}
    assert all({"source", "target", "calls"} <= set(f) for f in data["overflow"])
    assert data["offhours_flows"]
    assert len(data["hourly_service_level"]["bremen"]) == 24
    # Deterministic for a seed.
    assert run_cli(["sim", "run", str(SCENARIOS / "normal-day.yaml"), "--seed", "3", "--json"]) == 0
    assert capsys.readouterr().out == out


def test_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sim", "run", str(SCENARIOS / "monday-peak.yaml"), "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert "Monday peak, Wittenberg understaffed" in captured.out
    assert "national" in captured.out and "wittenberg" in captured.out
    assert "overflow and spills (from -> to)" in captured.out
    assert "keeps the promise" in captured.out or "miss" in captured.out
    assert "calls/s" in captured.err


def test_plots_are_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "charts"
    assert run_cli(["sim", "run", str(SCENARIOS / "holiday-nw.yaml"), "--plot", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["overflow_flows.png", "service_level_by_hour.png", "wait_distribution.png"]
    for path in out.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000
    assert "wrote" in capsys.readouterr().err


def test_charts_that_cannot_be_written_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert run_cli(["sim", "run", str(SCENARIOS / "normal-day.yaml"), "--plot", str(blocker)]) == 1
    assert "cannot write charts" in capsys.readouterr().err


def test_a_bad_scenario_exits_2_with_positions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: x\nnetwork: {CONFIG}\nstart: 2026-11-24\ndays: none\n")
    assert run_cli(["sim", "run", str(bad)]) == 2
    assert f"{bad}:4:7: days: expected an integer" in capsys.readouterr().err


def test_a_missing_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sim", "run", str(tmp_path / "nothing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_scenario_without_network_takes_the_config_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        "name: bare\nstart: 2026-11-24\ncenters:\n  bremen: {calls_per_week: 500, agents: 3}\n"
    )
    assert run_cli(["sim", "run", str(plain), "--config", str(CONFIG), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scenario"] == "bare" and data["calls"] > 0
    assert run_cli(["sim", "run", str(plain), "--config", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in capsys.readouterr().err


def test_national_network_is_printed_as_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sim", "national", "--seed", "115"]) == 0
    text = capsys.readouterr().out
    config = load_config_text(text, "<national>", OrtsnetzTable.load())
    assert 95 <= len(config.centers) <= 105
    assert run_cli(["sim", "national", "--seed", "115"]) == 0
    assert capsys.readouterr().out == text
