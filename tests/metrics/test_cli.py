"""``lotse dashboards build``: writes the artefacts, checks them, refuses a bad config."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from metrics.cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, add_parser
from tests.metrics.helpers import REPO

FILES = {"lotse-overview.json", "lotse-center.json", "lotse-controller.json", "lotse.rules.yml"}


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="lotse")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dashboards", *argv])
    code: int = args.func(args)
    return code


def test_build_writes_what_is_committed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(REPO / "config.yaml")
    assert run("build", "--config", config, "--out", str(tmp_path)) == EXIT_OK
    assert {p.name for p in tmp_path.iterdir()} == FILES
    assert set(capsys.readouterr().out.split()) == {str(tmp_path / f) for f in FILES}
    for name in FILES:
        committed = REPO / "metrics" / ("prometheus" if name.endswith(".yml") else "grafana") / name
        assert (tmp_path / name).read_text(encoding="utf-8") == committed.read_text(
            encoding="utf-8"
        )


def test_check_finds_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(REPO / "config.yaml")
    assert run("build", "--config", config, "--out", str(tmp_path), "--check") == EXIT_FAILURE
    assert run("build", "--config", config, "--out", str(tmp_path)) == EXIT_OK
    assert run("build", "--config", config, "--out", str(tmp_path), "--check") == EXIT_OK
    (tmp_path / "lotse-center.json").write_text("{}", encoding="utf-8")
    capsys.readouterr()
    assert run("build", "--config", config, "--out", str(tmp_path), "--check") == EXIT_FAILURE
    assert "lotse-center.json: out of date" in capsys.readouterr().err


def test_a_broken_config_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("timezone: Mars/Olympus\n", encoding="utf-8")
    assert run("build", "--config", str(bad), "--out", str(tmp_path / "out")) == EXIT_BAD_INPUT
    assert capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_config_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert run("build", "--config", str(missing), "--out", str(tmp_path)) == EXIT_BAD_INPUT
    assert "cannot read configuration" in capsys.readouterr().err


def test_a_promise_of_100_percent_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (REPO / "config.yaml").read_text(encoding="utf-8").replace("target: 0.75", "target: 1")
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    assert run("build", "--config", str(config), "--out", str(tmp_path / "out")) == EXIT_BAD_INPUT
    assert "between 0 and 1" in capsys.readouterr().err
