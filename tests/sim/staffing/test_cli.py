"""``lotse sim staff`` and ``lotse sim run --staffing``: output, plan file, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.numbering import OrtsnetzTable
from sim.scenarioload import load_scenario
from sim.staffing.planfile import load_plan
from tests.sim.helpers import SCENARIOS, run_cli

NORMAL_DAY = str(SCENARIOS / "normal-day.yaml")
QUICK = ["--rounds", "3", "--replications", "1", "--workers", "1"]


def test_staff_writes_a_plan_that_sim_run_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_path = tmp_path / "plan.yaml"
    argv = ["sim", "staff", NORMAL_DAY, "--out", str(plan_path), "--json", *QUICK]
    assert run_cli(argv) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("agent_hours", "erlang_c_agent_hours", "confidence", "centers", "rounds"):
        assert key in data
    assert data["floor_check"]["center_hours"] > 0
    assert all(b["service_level"] < data["floor"] for b in data["floor_check"]["below_floor"])
    assert data["plan"] == str(plan_path)
    assert 0 < data["agent_hours"] < data["erlang_c_agent_hours"]
    bremen = next(c for c in data["centers"] if c["id"] == "bremen")
    for key in ("agent_hours", "service_level", "asa_s", "abandon_rate", "spill_in", "spill_out"):
        assert key in bremen
    scenario = load_scenario(NORMAL_DAY, table=OrtsnetzTable.load())
    tables = load_plan(plan_path, scenario.config)
    assert sum(sum(day) for day in tables["bremen"]) * 0.5 == bremen["agent_hours"]
    # sim run --staffing runs the plan's agents, not the scenario's.
    assert run_cli(["sim", "run", NORMAL_DAY, "--json", "--seed", "9"]) == 0
    own = json.loads(capsys.readouterr().out)
    staffed = ["--staffing", str(plan_path)]
    assert run_cli(["sim", "run", NORMAL_DAY, "--json", "--seed", "9", *staffed]) == 0
    planned = json.loads(capsys.readouterr().out)
    hours = {c["id"]: c["agent_hours"] for c in planned["centers"]}
    assert hours["bremen"] == pytest.approx(bremen["agent_hours"], abs=1.0)
    assert planned["national"]["agent_hours"] != own["national"]["agent_hours"]


def test_staff_text_table_and_charts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    charts = tmp_path / "charts"
    assert run_cli(["sim", "staff", NORMAL_DAY, "--plot", str(charts), *QUICK]) == 0
    out = capsys.readouterr().out
    assert "bremen" in out and "Erlang C h" in out and "confidence" in out
    assert "fewer than per-center Erlang C" in out
    assert "center-hours with calls fell below 55%" in out
    names = sorted(p.name for p in charts.iterdir())
    assert names == ["staffing_heatmap.png", "staffing_service_level_by_hour.png"]
    for path in charts.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "extra",
    [["--target", "1.5"], ["--workers", "0"], ["--max-abandon", "0"], ["--rounds", "0"]],
)
def test_staff_refuses_bad_arguments(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sim", "staff", NORMAL_DAY, *extra]) == 2
    assert "lotse sim staff:" in capsys.readouterr().err


def test_staff_refuses_a_bad_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    assert run_cli(["sim", "staff", str(bad)]) == 2
    assert "bad.yaml:1:1" in capsys.readouterr().err


def test_run_refuses_a_bad_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("centers:\n  nowhere: {agents: 2}\n", encoding="utf-8")
    assert run_cli(["sim", "run", NORMAL_DAY, "--staffing", str(plan)]) == 2
    assert f"{plan}:2:3: centers.nowhere: unknown center" in capsys.readouterr().err
    assert run_cli(["sim", "run", NORMAL_DAY, "--staffing", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
