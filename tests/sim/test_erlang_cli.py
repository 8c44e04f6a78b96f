"""``lotse erlang``: Erlang C, Erlang A and the inverse on the command line."""

from __future__ import annotations

import json

import pytest

from sim.erlang import agents_for, erlang_a, erlang_c
from tests.sim.helpers import run_cli


def run(argv: list[str]) -> int:
    return run_cli(["erlang", *argv])


def test_erlang_c_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--rate", "200", "--aht", "180", "--agents", "12", "--threshold", "20", "--json"]
    assert run(argv) == 0
    data = json.loads(capsys.readouterr().out)
    expected = erlang_c(200, 180, 12, 20)
    assert data["model"] == "erlang_c"
    assert data["p_wait"] == pytest.approx(expected.p_wait)
    assert data["service_level"] == pytest.approx(expected.service_level)
    assert data["asa_s"] == pytest.approx(expected.asa_s)
    assert "abandon_rate" not in data


def test_erlang_a_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(["--rate", "400", "--aht", "180", "--agents", "18", "--patience", "90", "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    expected = erlang_a(400, 180, 18, 90, 30)
    assert data["model"] == "erlang_a"
    for key in ("p_wait", "service_level", "asa_s", "abandon_rate"):
        assert data[key] == pytest.approx(getattr(expected, key))
    assert data["threshold_s"] == 30


@pytest.mark.parametrize("threshold", ["0", "0.000001", "5e-324", "1e300"])
@pytest.mark.parametrize("patience", ["60", "5e-324", "1e300"])
def test_erlang_a_takes_any_threshold_and_patience(
    threshold: str, patience: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--rate", "120", "--aht", "240", "--agents", "10", "--patience", patience]
    assert run([*argv, "--threshold", threshold, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = erlang_a(120, 240, 10, float(patience), float(threshold))
    assert data["service_level"] == pytest.approx(expected.service_level)
    assert 0.0 <= data["service_level"] <= 1.0


def test_the_inverse_gives_the_agents_needed(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--rate", "360", "--aht", "180", "--target", "0.75", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["agents_needed"] == agents_for(360, 180, 0.75).agents == data["agents"]
    assert data["service_level"] >= 0.75


def test_overload_has_no_finite_speed_of_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--rate", "500", "--aht", "180", "--agents", "20", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["asa_s"] is None and data["service_level"] == 0.0


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--rate", "200", "--aht", "180", "--agents", "12", "--patience", "120"]) == 0
    out = capsys.readouterr().out
    assert "Erlang A" in out and "abandonment" in out and "service level (30 s)" in out
    assert run(["--rate", "200", "--aht", "180", "--target", "0.8"]) == 0
    assert "agents needed for 80%" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "100", "--aht", "180", "--agents", "-1"], "agents must not be negative"),
        (["--rate", "100", "--aht", "0", "--agents", "3"], "handle time must be a positive number"),
        (["--rate", "100", "--aht", "180", "--target", "1.5"], "target must be a share"),
        (["--rate", "100", "--aht", "180", "--agents", "3", "--patience", "-5"], "patience"),
    ],
)
def test_bad_input_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    assert message in capsys.readouterr().err


def test_agents_or_target_is_required() -> None:
    with pytest.raises(SystemExit) as exited:
        run(["--rate", "100", "--aht", "180"])
    assert exited.value.code == 2
