"""The sounds check, the shipped demo sounds, and the ``lotse greetings`` commands."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import textwrap
from pathlib import Path

import pytest

from greetings.audio import read_wav
from greetings.check import check, referenced_sounds
from greetings.cli import add_parser
from greetings.manifest import DEFAULT_MANIFEST, DEFAULT_SOUNDS_DIR, load_manifest, parse_manifest
from greetings.problem import Problem
from router.config import (
    Center,
    Config,
    UnconnectedMode,
    UnknownOrigin,
    UnknownOriginMode,
    WeeklyHours,
)
from router.configload import load_config
from tests.greetings.wavs import silence, tone, write_wav

DEMO_CENTERS = ("bremen", "wittenberg", "halberstadt", "paderborn", "sachsen-anhalt", "bund")


def demo_config(**kw: object) -> Config:
    closed = WeeklyHours(((),) * 7)
    centers = {
        cid: Center(
            id=cid,
            name=cid.title(),
            state="XX",
            queue=f"115-{cid}",
            greeting=f"lotse/greeting-{cid}",
            offhours_announcement=f"lotse/offhours-{cid}",
            hours=closed,
        )
        for cid in DEMO_CENTERS
    }
    return Config(centers=centers, fallback_center="bund", **kw)  # type: ignore[arg-type]


def test_shipped_demo_sounds_pass_the_check() -> None:
    manifest = load_manifest(DEFAULT_MANIFEST)
    config = demo_config(unconnected=UnconnectedMode.ANNOUNCEMENT)
    referenced = referenced_sounds(config)
    assert check(manifest, DEFAULT_SOUNDS_DIR, referenced) == []
    for sound in manifest:
        info = read_wav(sound.path(DEFAULT_SOUNDS_DIR))
        assert info.data_offset == 44
        assert 2.0 < info.duration_s < 30.0, sound.name
    shipped = {p.relative_to(DEFAULT_SOUNDS_DIR).as_posix() for p in DEFAULT_SOUNDS_DIR.rglob("*")}
    assert {p for p in shipped if "." in p} == {s.file for s in manifest}  # no strays


def test_referenced_sounds_follow_the_configured_modes() -> None:
    greetings = [
        name for cid in DEMO_CENTERS for name in (f"lotse/greeting-{cid}", f"lotse/offhours-{cid}")
    ]
    assert referenced_sounds(demo_config()) == [
        *greetings,
        "lotse/prompt-postal-code",
        "lotse/prompt-postal-code-retry",
        "lotse/all-busy",
    ]
    config = demo_config(
        unconnected=UnconnectedMode.ANNOUNCEMENT,
        unknown_origin=UnknownOrigin(mode=UnknownOriginMode.FALLBACK),
        all_busy_announcement="lotse/offhours-bund",
    )
    assert referenced_sounds(config) == [*greetings, "lotse/region-not-connected"]


MANIFEST = textwrap.dedent(
    """\
    sounds:
      lotse/a:
        file: lotse/a.wav
        text: Eins.
        language: de
        kind: prompt
      lotse/b:
        file: lotse/b.wav
        text: Zwei.
        language: de
        kind: prompt
      lotse/c:
        file: lotse/c.wav
        text: Drei.
        language: de
        kind: prompt
    """
)


def test_check_reports_missing_broken_and_unknown_sounds(tmp_path: Path) -> None:
    manifest = parse_manifest(MANIFEST, "m.yaml")
    (tmp_path / "lotse").mkdir()
    write_wav(tmp_path / "lotse" / "a.wav", silence(0.2) + tone(1.0))
    write_wav(tmp_path / "lotse" / "b.wav", tone(1.0, rate=16000), rate=16000)
    problems = check(manifest, tmp_path, ["lotse/a", "lotse/x", "lotse/a", "lotse/c"])
    assert problems == [
        Problem(
            str(tmp_path / "lotse" / "b.wav"),
            "sample rate 16000 Hz; Asterisk's .wav plays 8000 Hz only",
        ),
        Problem(
            str(tmp_path / "lotse" / "c.wav"),
            "missing: sound 'lotse/c' has no file (record it, or run `lotse greetings build`)",
        ),
        Problem(
            "m.yaml", "sound 'lotse/x' is referenced by the configuration but not in the manifest"
        ),
    ]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lotse")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_check_shipped_sounds(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["greetings", "check", "--no-config", "-v"]) == 0
    out = capsys.readouterr().out
    assert "lotse/greeting-bremen" in out and "RMS" in out
    assert out.splitlines()[-1] == f"24 sounds ok in {DEFAULT_SOUNDS_DIR}"


def test_cli_check_bad_manifest_and_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sounds:\n  lotse/a:\n    file: lotse/a.wav\n")
    assert run(["greetings", "check", "--no-config", "--manifest", str(bad)]) == 2
    assert f"{bad}:2:3: sound 'lotse/a': missing 'text'" in capsys.readouterr().err
    good = tmp_path / "m.yaml"
    good.write_text(MANIFEST)
    args = ["greetings", "check", "--no-config", "--manifest", str(good), "--sounds", str(tmp_path)]
    assert run(args) == 2
    assert "missing: sound 'lotse/a' has no file" in capsys.readouterr().err


def test_cli_check_with_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    common = pytest.importorskip("cliutil")
    shipped = Path(__file__).resolve().parents[2] / "config.yaml"
    assert run(["greetings", "check", "--config", str(shipped)]) == 0
    assert "23 referenced by the configuration" in capsys.readouterr().out
    config = dataclasses.replace(
        load_config(shipped), all_busy_announcement="lotse/busy-everywhere"
    )
    monkeypatch.setattr(common, "load", lambda args, table: config)
    assert run(["greetings", "check"]) == 2
    assert "sound 'lotse/busy-everywhere' is referenced by the configuration" in (
        capsys.readouterr().err
    )


def test_cli_build_without_tools_is_a_runtime_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    args = ["greetings", "build", "--manifest", str(manifest), "--sounds", str(tmp_path)]
    assert run(args) == 1
    assert "apt-get install espeak-ng sox" in capsys.readouterr().err
    assert run([*args, "lotse/nope"]) == 2
    assert "unknown sound: not in" in capsys.readouterr().err


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are not installed (apt-get install espeak-ng sox)",
)
def test_cli_build_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    paths = ["--manifest", str(manifest), "--sounds", str(tmp_path)]
    assert run(["greetings", "build", *paths, "lotse/a"]) == 0
    assert "built lotse/a: 8000 Hz 16-bit 1 ch" in capsys.readouterr().out
    assert run(["greetings", "build", *paths]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 built, 1 already present"
    assert run(["greetings", "check", "--no-config", *paths]) == 0
