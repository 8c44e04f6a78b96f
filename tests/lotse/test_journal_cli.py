"""``lotse report`` through its own ``add_parser`` (the lead wires it into lotse/cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from lotse.journal import Journal, cli
from lotse.journal.schema import SCHEMA_VERSION
from router.config import Config, ControllerSettings, ServiceLevel
from tests.lotse.test_journal_report import local, the_day
from tests.router.network import demo_config


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lotse")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse(argv)
    code: int = args.func(args)
    return code


def write_day(db: Path) -> None:
    async def write() -> None:
        journal = await Journal.open(db, clock=lambda: local(23, 0), salt=b"s" * 16)
        for rec in the_day():
            journal.record(rec)
        await journal.close()

    asyncio.run(write())


@pytest.fixture
def journal_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A journal of the hand-built day, named by the configuration the command loads."""
    db = tmp_path / "journal.sqlite"
    write_day(db)
    config: Config = replace(
        demo_config(),
        controller=ControllerSettings(journal_path=str(db)),
        service_level=ServiceLevel(threshold_s=30, target=0.8, short_abandon_s=5),
    )

    def load(args: argparse.Namespace) -> Config:
        return config

    monkeypatch.setattr(cli, "_load_config", load)
    return db


def test_text_report(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["report", "--day", "2026-02-03"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("115 service report 2026-02-03 (Europe/Berlin)")
    assert "target 80%" in out
    koeln = next(line for line in out.splitlines() if line.startswith("koeln"))
    assert koeln.split()[:6] == ["koeln", "7", "6", "4", "2", "40.0%"]


def test_json_report(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["report", "--day", "2026-02-03", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["center"] for c in doc["centers"]] == ["bonn", "koeln"]
    assert doc["national"]["calls"] == 9


def test_csv_report(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["report", "--day", "2026-02-03", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["center"], r["offered"]) for r in rows] == [
        ("bonn", "1"),
        ("koeln", "6"),
        ("national", "7"),
    ]


def test_journal_option_overrides_the_config(
    journal_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.sqlite"
    write_day(other)
    with sqlite3.connect(other) as conn:
        conn.execute("DELETE FROM calls WHERE home = 'bonn'")
    conn.close()
    assert run(["report", "--day", "2026-02-03", "--journal", str(other), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[-1]["calls"] == "8"


# 9999-12-31: its end is past what a datetime holds (it was an OverflowError).
@pytest.mark.parametrize(
    "day", ["2026-02-30", "yesterday", "03.02.2026", "9999-12-31", "1999-12-31", "2100-01-01"]
)
def test_bad_day_is_bad_input(
    journal_file: Path, day: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", "--day", day]) == 2
    assert "--day" in capsys.readouterr().err


def test_missing_journal_is_bad_input_and_not_created(
    journal_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.sqlite"
    assert run(["report", "--day", "2026-02-03", "--journal", str(missing)]) == 2
    assert "no journal file" in capsys.readouterr().err
    assert not missing.exists()


def test_newer_journal_is_bad_input(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conn = sqlite3.connect(journal_file)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    assert run(["report", "--day", "2026-02-03"]) == 2
    assert "upgrade lotse" in capsys.readouterr().err


def test_unreadable_journal_is_a_runtime_failure(
    journal_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def broken(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(cli, "report", broken)
    assert run(["report", "--day", "2026-02-03"]) == 1
    assert "disk I/O error" in capsys.readouterr().err


def test_bad_config_is_bad_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def load(args: argparse.Namespace) -> Config:
        raise ValueError("config.yaml:3:5: unknown center 'koln'")

    monkeypatch.setattr(cli, "_load_config", load)
    assert run(["report", "--day", "2026-02-03"]) == 2
    assert "unknown center" in capsys.readouterr().err


def test_csv_and_json_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(["report", "--day", "2026-02-03", "--csv", "--json"])
    assert exit_.value.code == 2


def test_day_is_required() -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(["report"])
    assert exit_.value.code == 2


def test_with_the_shipped_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The real loader: time zone and service level from config.yaml.
    db = tmp_path / "journal.sqlite"
    write_day(db)
    config = Path(__file__).resolve().parents[2] / "config.yaml"
    argv = ["report", "--day", "2026-02-03", "--config", str(config), "--journal", str(db)]
    assert run([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["timezone"] == "Europe/Berlin"
    assert doc["national"]["service_level"] == 0.5
