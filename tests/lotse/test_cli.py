"""The ``lotse`` command line: exit codes, JSON output, bulk input, privacy."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lotse.cli import main

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "config.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_route_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "route",
        "--config",
        CONFIG,
        "--json",
        "--at",
        "2027-05-27T10:00",
        "05251 123456",
        "0171 2345678",
        "anonymous",
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["number_kind"] for r in rows] == ["landline", "mobile", "anonymous"]
    pb = rows[0]
    assert (pb["ortsnetz"], pb["ortsnetz_name"], pb["home"], pb["target"]) == (
        "5251",
        "Paderborn",
        "paderborn",
        "bund",
    )
    assert "paderborn closed: public holiday Fronleichnam (NW)" in pb["reasons"]
    for key in ("queue", "greeting", "queue_timeout_s", "reasons"):
        assert key in pb
    assert rows[1]["action"] == "postal"
    assert "123456" not in out and "2345678" not in out


def test_route_reads_numbers_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("0421 1234567\n\n03941 55555\n"))
    code, out, _ = run(
        capsys, "route", "--config", CONFIG, "--json", "--at", "2026-11-24T10:00", "-"
    )
    assert code == 0
    assert [json.loads(line)["home"] for line in out.splitlines()] == ["bremen", "halberstadt"]


def test_route_state_file_and_visited(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = tmp_path / "state.yaml"
    state.write_text(
        "centers:\n  wittenberg: {waiting: 14, agents_logged_in: 3, "
        "agents_busy: 3, avg_handle_s: 240}\n"
    )
    code, out, _ = run(
        capsys,
        "route",
        "--config",
        CONFIG,
        "--json",
        "--at",
        "2026-11-24T10:00",
        "--state",
        str(state),
        "03491 123456",
    )
    assert code == 0 and json.loads(out)["target"] == "sachsen-anhalt"
    code, out, _ = run(
        capsys,
        "route",
        "--config",
        CONFIG,
        "--json",
        "--at",
        "2026-11-24T10:00",
        "--visited",
        "wittenberg",
        "03491 123456",
    )
    assert json.loads(out)["target"] == "sachsen-anhalt"


@pytest.mark.parametrize(
    "argv",
    [
        ["route", "--config", CONFIG, "--at", "yesterday", "0421 1"],
        ["route", "--config", CONFIG, "--visited", "atlantis", "0421 1"],
        ["route", "--config", "/nonexistent/config.yaml", "0421 1"],
        ["check", "/nonexistent/config.yaml"],
    ],
)
def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.strip()


def test_check_reports_file_line_col(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(CONFIG).read_text().replace("state: HB", "state: XX", 1))
    code, _, err = run(capsys, "check", str(bad))
    assert code == 2
    assert f"{bad}:" in err and "XX" in err
    code, out, _ = run(capsys, "check", CONFIG)
    assert code == 0 and "6 centers" in out


def test_demo_routes_prints_every_scene(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--routes", "--config", CONFIG)
    assert code == 0
    assert "Fronleichnam 2027" in out and "Wittenberg overloaded" in out
    assert "1234567" not in out


def test_help_on_every_level(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        [],
        ["route"],
        ["run"],
        ["report"],
        ["dialplan"],
        ["greetings"],
        ["pbx"],
        ["demo"],
        ["check"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--help"])
        assert exit_info.value.code == 0
        assert "usage: lotse" in capsys.readouterr().out


@pytest.mark.parametrize("number", ["hello", "12345abc", "0421 12+34", "+", "()"])
def test_route_refuses_what_is_no_phone_number(
    capsys: pytest.CaptureFixture[str], number: str
) -> None:
    code, out, err = run(capsys, "route", "--config", CONFIG, "0421 1234567", number)
    assert code == 2
    assert out == ""  # nothing routed before the whole input is checked
    assert err.startswith("NUMBER 2: ")
    assert "1234567" not in err


@pytest.mark.parametrize(
    "number", ["+49 421 1234567", "0421/123-4567", "(0421) 1234567", "anonymous"]
)
def test_route_takes_the_written_forms_of_a_number(
    capsys: pytest.CaptureFixture[str], number: str
) -> None:
    assert run(capsys, "route", "--config", CONFIG, "--at", "2026-11-24T10:00", number)[0] == 0


def test_route_refuses_a_bad_number_read_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("0421 1234567\nhello\n"))
    code, out, err = run(capsys, "route", "--config", CONFIG, "-")
    assert (code, out) == (2, "")
    assert "NUMBER 2: character 1 ('h')" in err


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


def test_check_reads_the_configuration_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _stdin(monkeypatch, (REPO / "config.yaml").read_text(encoding="utf-8"))
    code, out, _ = run(capsys, "check", "-")
    assert (code, out.split(":")[0]) == (0, "<stdin>")
    _stdin(monkeypatch, "centers: 5\n")
    code, _, err = run(capsys, "check", "-")
    assert code == 2 and "<stdin>:1:10: centers: expected a mapping" in err


def test_route_reads_the_state_snapshot_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bremen overloaded (30 waiting, one agent): the call goes to a partner.
    _stdin(monkeypatch, "centers: {bremen: {waiting: 30, agents_logged_in: 1, agents_busy: 1}}\n")
    argv = ("route", "--config", CONFIG, "--json", "--at", "2026-11-24T10:00", "0421 1234567")
    code, out, _ = run(capsys, *argv, "--state", "-")
    assert code == 0 and json.loads(out)["target"] != "bremen"
