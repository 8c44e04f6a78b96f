"""Synthesis with faked espeak-ng/sox (exact command lines), and once for real."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from greetings.audio import describe
from greetings.check import check
from greetings.manifest import Manifest, parse_manifest
from greetings.synth import (
    SynthesisError,
    ToolMissing,
    UnknownSound,
    build,
    require_tools,
    spoken,
)
from tests.greetings.wavs import tone, write_wav

MANIFEST = textwrap.dedent(
    """\
    sounds:
      lotse/greeting-x:
        file: lotse/greeting-x.wav
        text: Willkommen beim Bürgertelefon 115.
        language: de
        kind: greeting
      lotse/all-busy:
        file: lotse/all-busy.wav
        text: Alle Leitungen sind belegt.
        language: de
        kind: announcement
    """
)


def manifest() -> Manifest:
    return parse_manifest(MANIFEST, "m.yaml")


def have_tools(name: str) -> str:
    return f"/usr/bin/{name}"


def no_tools(name: str) -> None:
    return None


class FakeTools:
    """Stands in for espeak-ng and sox: records each call and writes the file asked for."""

    def __init__(self, *, sox_rate: int = 8000, fail: str | None = None) -> None:
        self.calls: list[tuple[list[str], bytes | None, dict[str, Any]]] = []
        self.sox_rate = sox_rate
        self.fail = fail

    def __call__(
        self, args: Sequence[str], *, input: bytes | None = None, **kwargs: Any
    ) -> subprocess.CompletedProcess[bytes]:
        args = list(args)
        self.calls.append((args, input, kwargs))
        if args[0] == self.fail:
            raise subprocess.CalledProcessError(
                1, args, b"", b"Error: The specified espeak-ng voice does not exist.\n"
            )
        if args[0] == "espeak-ng":
            write_wav(Path(args[args.index("-w") + 1]), tone(2.0, rate=22050), rate=22050)
        else:
            out = Path(args[args.index("signed-integer") + 1])
            write_wav(out, tone(1.5, rate=self.sox_rate), rate=self.sox_rate)
        return subprocess.CompletedProcess(args, 0, b"", b"")


def espeak_args(work: Path, stem: str) -> list[str]:
    raw = str(work / f".{stem}.espeak.wav")
    return ["espeak-ng", "-v", "de", "-s", "150", "-b", "1", "-w", raw, "--stdin"]


def sox_args(work: Path, stem: str) -> list[str]:
    return [
        "sox",
        "-D",
        "-V1",
        str(work / f".{stem}.espeak.wav"),
        "-t",
        "wav",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        str(work / f".{stem}.part.wav"),
        "silence",
        "1",
        "0.02",
        "0.1%",
        "reverse",
        "silence",
        "1",
        "0.02",
        "0.1%",
        "reverse",
        "rate",
        "-v",
        "8000",
        "norm",
        "-3",
        "pad",
        "0.25",
        "0.5",
    ]


def test_build_runs_espeak_then_sox_for_each_missing_sound(tmp_path: Path) -> None:
    tools = FakeTools()
    report = build(manifest(), tmp_path, runner=tools, which=have_tools)
    work = tmp_path / "lotse"
    options = {"capture_output": True, "check": True, "timeout": 120.0}
    assert tools.calls == [
        (
            espeak_args(work, "greeting-x"),
            "Willkommen beim Bürgertelefon eins eins fünf.".encode(),
            options,
        ),
        (sox_args(work, "greeting-x"), None, options),
        (espeak_args(work, "all-busy"), b"Alle Leitungen sind belegt.", options),
        (sox_args(work, "all-busy"), None, options),
    ]
    assert [b.name for b in report.built] == ["lotse/greeting-x", "lotse/all-busy"]
    assert report.kept == ()
    assert sorted(p.name for p in work.iterdir()) == ["all-busy.wav", "greeting-x.wav"]
    assert report.built[0].info.duration_s == pytest.approx(1.5)


def test_existing_files_are_kept_and_need_no_tools(tmp_path: Path) -> None:
    (tmp_path / "lotse").mkdir()
    recording = write_wav(tmp_path / "lotse" / "greeting-x.wav", tone(3.0))
    before = recording.read_bytes()
    tools = FakeTools()
    report = build(manifest(), tmp_path, runner=tools, which=have_tools)
    assert [c[0][0] for c in tools.calls] == ["espeak-ng", "sox"]
    assert report.kept == ("lotse/greeting-x",)
    assert recording.read_bytes() == before
    # Nothing left to build: no tools required.
    assert build(manifest(), tmp_path, runner=FakeTools(), which=no_tools).built == ()


def test_force_rebuilds_and_names_restrict(tmp_path: Path) -> None:
    build(manifest(), tmp_path, runner=FakeTools(), which=have_tools)
    tools = FakeTools()
    report = build(
        manifest(), tmp_path, force=True, names=["lotse/all-busy"], runner=tools, which=have_tools
    )
    assert [b.name for b in report.built] == ["lotse/all-busy"]
    assert len(tools.calls) == 2
    with pytest.raises(UnknownSound, match=r"not in m\.yaml: lotse/nope"):
        build(manifest(), tmp_path, names=["lotse/nope"], runner=tools, which=have_tools)


def test_missing_tools_name_the_debian_packages(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing) as info:
        build(manifest(), tmp_path, runner=FakeTools(), which=no_tools)
    assert str(info.value) == (
        "espeak-ng and sox not found on PATH; install the Debian packages: "
        "apt-get install espeak-ng sox"
    )
    with pytest.raises(ToolMissing, match=r"^sox not found on PATH; .*apt-get install sox$"):
        require_tools(lambda name: None if name == "sox" else name)


def test_tool_vanishing_mid_build_is_tool_missing(tmp_path: Path) -> None:
    def runner(args: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        raise FileNotFoundError(2, "No such file or directory", args[0])

    with pytest.raises(ToolMissing, match="apt-get install espeak-ng"):
        build(manifest(), tmp_path, runner=runner, which=have_tools)


def test_failing_tool_reports_its_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(SynthesisError) as info:
        build(manifest(), tmp_path, runner=FakeTools(fail="espeak-ng"), which=have_tools)
    assert str(info.value) == (
        "lotse/greeting-x: espeak-ng failed (exit 1): "
        "Error: The specified espeak-ng voice does not exist."
    )
    assert list((tmp_path / "lotse").iterdir()) == []


def test_result_failing_the_audio_check_replaces_nothing(tmp_path: Path) -> None:
    (tmp_path / "lotse").mkdir()
    recording = write_wav(tmp_path / "lotse" / "greeting-x.wav", tone(3.0))
    before = recording.read_bytes()
    with pytest.raises(SynthesisError) as info:
        build(
            manifest(),
            tmp_path,
            force=True,
            runner=FakeTools(sox_rate=16000),
            which=have_tools,
        )
    assert str(info.value) == (
        "lotse/greeting-x: synthesized audio fails: "
        "sample rate 16000 Hz; Asterisk's .wav plays 8000 Hz only"
    )
    assert recording.read_bytes() == before
    assert [p.name for p in (tmp_path / "lotse").iterdir()] == ["greeting-x.wav"]


@pytest.mark.parametrize(
    ("text", "language", "said"),
    [
        ("Bürgertelefon 115.", "de", "Bürgertelefon eins eins fünf."),
        ("die 115, montags", "de", "die eins eins fünf, montags"),
        ("PLZ 01150 und 1150", "de", "PLZ 01150 und 1150"),
        ("Call 115.", "en", "Call one one five."),
    ],
)
def test_spoken_form_of_the_hotline_number(text: str, language: str, said: str) -> None:
    assert spoken(text, language) == said


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are not installed (apt-get install espeak-ng sox)",
)
def test_real_build_with_espeak_ng_and_sox(tmp_path: Path) -> None:
    m = manifest()
    report = build(m, tmp_path)
    assert [b.name for b in report.built] == ["lotse/greeting-x", "lotse/all-busy"]
    assert check(m, tmp_path, ["lotse/greeting-x", "lotse/all-busy"]) == []
    for built in report.built:
        info = built.info
        assert (info.sample_rate, info.channels, info.bits_per_sample) == (8000, 1, 16)
        assert info.data_offset == 44  # the canonical header Asterisk reads best
        assert info.levels is not None
        assert info.levels.peak_dbfs == pytest.approx(-3.0, abs=0.1)
        assert info.levels.rms_dbfs > -30
        print(built.name, describe(info))
    first = (tmp_path / "lotse" / "all-busy.wav").read_bytes()
    build(m, tmp_path, force=True, names=["lotse/all-busy"])
    assert (tmp_path / "lotse" / "all-busy.wav").read_bytes() == first  # reproducible
