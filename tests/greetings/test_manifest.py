"""Loading and validating the greetings manifest."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greetings.manifest import (
    DEFAULT_MANIFEST,
    Kind,
    ManifestError,
    Sound,
    load_manifest,
    parse_manifest,
)
from router.callback import CALLBACK_SOUNDS

DEMO_CENTERS = ("bremen", "wittenberg", "halberstadt", "paderborn", "sachsen-anhalt", "bund")


def errors(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse_manifest(textwrap.dedent(text), "m.yaml")
    return [str(p) for p in info.value.problems]


GOOD = """\
sounds:
  lotse/greeting-bremen:
    file: lotse/greeting-bremen.wav
    text: Willkommen beim Bürgertelefon 115.
    language: de
    kind: greeting
  lotse/all-busy:
    file: de/lotse/all-busy.wav
    text: Alle Leitungen sind belegt.
    language: de
    kind: announcement
"""


def test_valid_manifest() -> None:
    manifest = parse_manifest(GOOD, "m.yaml")
    assert [s.name for s in manifest] == ["lotse/greeting-bremen", "lotse/all-busy"]
    assert manifest.get("lotse/greeting-bremen") == Sound(
        "lotse/greeting-bremen",
        "lotse/greeting-bremen.wav",
        "Willkommen beim Bürgertelefon 115.",
        "de",
        Kind.GREETING,
    )
    assert manifest.sounds["lotse/all-busy"].line == 7
    assert "lotse/all-busy" in manifest and "lotse/other" not in manifest
    assert manifest.sounds["lotse/all-busy"].path(Path("/s")) == Path("/s/de/lotse/all-busy.wav")


def test_shipped_manifest_has_every_demo_sound() -> None:
    manifest = load_manifest(DEFAULT_MANIFEST)
    for cid in DEMO_CENTERS:
        assert manifest.sounds[f"lotse/greeting-{cid}"].kind is Kind.GREETING
        assert manifest.sounds[f"lotse/offhours-{cid}"].kind is Kind.OFFHOURS
    assert manifest.sounds["lotse/prompt-postal-code"].text == (
        "Bitte geben Sie die fünfstellige Postleitzahl Ihres Wohnorts ein."
    )
    for name in ("lotse/prompt-postal-code-retry", "lotse/region-not-connected", "lotse/all-busy"):
        assert name in manifest
    assert {s.language for s in manifest} == {"de"}
    assert len(manifest) == 2 * len(DEMO_CENTERS) + 4 + len(CALLBACK_SOUNDS)
    assert set(CALLBACK_SOUNDS) <= set(manifest.sounds)


def test_unknown_key_with_position() -> None:
    assert errors(GOOD.replace("    kind: greeting", "    kind: greeting\n    voice: de")) == [
        "m.yaml:7:5: unknown key 'voice' (expected one of: file, text, language, kind)"
    ]


def test_missing_text() -> None:
    text = """\
    sounds:
      lotse/x:
        file: lotse/x.wav
        language: de
        kind: prompt
    """
    assert errors(text) == ["m.yaml:2:3: sound 'lotse/x': missing 'text'"]


def test_empty_text_and_null_text() -> None:
    text = """\
    sounds:
      lotse/x:
        file: lotse/x.wav
        text: "  "
        language: de
        kind: prompt
      lotse/y:
        file: lotse/y.wav
        text:
        language: de
        kind: prompt
    """
    assert errors(text) == [
        "m.yaml:4:11: sound 'lotse/x': 'text' is empty",
        "m.yaml:9:10: sound 'lotse/y': 'text' is empty",
    ]


def test_bad_language_and_kind() -> None:
    text = """\
    sounds:
      lotse/x:
        file: lotse/x.wav
        text: Bonjour.
        language: fr
        kind: jingle
    """
    assert errors(text) == [
        "m.yaml:5:15: sound 'lotse/x': language 'fr' is not supported (supported: de, en)",
        "m.yaml:6:11: sound 'lotse/x': kind 'jingle' is not one of: greeting, offhours, "
        "prompt, announcement",
    ]


def test_yaml_boolean_is_not_a_language() -> None:
    text = """\
    sounds:
      lotse/x:
        file: lotse/x.wav
        text: Hallo.
        language: no
        kind: prompt
    """
    assert errors(text) == [
        "m.yaml:5:15: sound 'lotse/x': 'language' must be a string, not bool 'no' (quote it)"
    ]


def test_duplicate_names() -> None:
    text = """\
    sounds:
      lotse/x:
        file: lotse/x.wav
        text: Hallo.
        language: de
        kind: prompt
      lotse/x:
        file: lotse/x.wav
        text: Hallo nochmal.
        language: de
        kind: prompt
    """
    assert errors(text) == ["m.yaml:7:3: duplicate sound 'lotse/x' (first at line 2)"]


def test_duplicate_entry_key() -> None:
    assert errors(
        GOOD.replace(
            "    language: de\n    kind: greeting",
            "    language: de\n    language: en\n    kind: greeting",
        )
    ) == ["m.yaml:6:5: duplicate key 'language' (first at line 5)"]


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (
            "lotse/bremen.wav",
            "is not where Asterisk looks for 'lotse/x': expected 'lotse/x.wav' or 'de/lotse/x.wav'",
        ),
        ("lotse/x.WAV", "must end in '.wav'"),
        ("lotse/x.mp3", "must end in '.wav'"),
        ("/var/lib/asterisk/sounds/lotse/x.wav", "must be a relative path"),
        ("../lotse/x.wav", "must be a relative path"),
    ],
)
def test_file_must_be_where_playback_looks(file: str, message: str) -> None:
    text = f"""\
    sounds:
      lotse/x:
        file: {file}
        text: Hallo.
        language: de
        kind: prompt
    """
    [error] = errors(text)
    assert error.startswith(f"m.yaml:3:11: sound 'lotse/x': file '{file}' ")
    assert message in error


@pytest.mark.parametrize("name", ["lotse/x.wav", "lotse/a,b", "lotse/a&b", "/lotse/x", "lotse//x"])
def test_names_playback_cannot_take(name: str) -> None:
    [error] = errors(f"sounds:\n  {name!r}: {{}}\n")
    assert error.startswith("m.yaml:2:3: sound name ")


def test_entry_must_be_mapping_and_sounds_must_be_mapping() -> None:
    assert errors("sounds:\n  lotse/x: hello\n") == [
        "m.yaml:2:12: sound 'lotse/x': expected a mapping with file, text, language, kind"
    ]
    assert errors("sounds: [a, b]\n") == ["m.yaml:1:9: 'sounds' must map sound names to entries"]


def test_top_level() -> None:
    assert errors("") == ["m.yaml:1:1: empty manifest: expected a mapping with 'sounds'"]
    assert errors("- a\n") == ["m.yaml:1:1: expected a mapping with 'sounds'"]
    assert errors("version: 1\n") == [
        "m.yaml:1:1: unknown key 'version' (expected one of: sounds)",
        "m.yaml:1:1: missing 'sounds'",
    ]


def test_yaml_syntax_error_has_position() -> None:
    [error] = errors("sounds:\n  lotse/x: {file: a\n")
    assert error.startswith("m.yaml:3:1: invalid YAML: ")


def test_every_problem_is_reported_at_once() -> None:
    text = """\
    sounds:
      lotse/a:
        file: lotse/a.wav
        language: xx
        kind: prompt
      lotse/b:
        file: lotse/b.wav
        text: Hallo.
        language: de
        kind: prompt
        colour: blue
    """
    assert errors(text) == [
        "m.yaml:2:3: sound 'lotse/a': missing 'text'",
        "m.yaml:4:15: sound 'lotse/a': language 'xx' is not supported (supported: de, en)",
        "m.yaml:11:5: unknown key 'colour' (expected one of: file, text, language, kind)",
    ]


def test_load_manifest_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "nope.yaml")
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.yaml'}: cannot read manifest: No such file or directory"
    )
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("sounds: {}\n# Grüße\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="not UTF-8 text"):
        load_manifest(bad)


def test_two_names_cannot_share_a_file() -> None:
    text = """\
    sounds:
      de/lotse/x:
        file: de/lotse/x.wav
        text: Hallo.
        language: de
        kind: prompt
      lotse/x:
        file: de/lotse/x.wav
        text: Hallo.
        language: de
        kind: prompt
    """
    assert errors(text) == ["m.yaml:8:5: file 'de/lotse/x.wav' is also used by 'de/lotse/x'"]


YAMLISH = st.text(alphabet=st.sampled_from(list("sounds:lotse/x.wav text kind de{}[]-'\"&*!\n ")))


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=80), YAMLISH))
def test_garbage_gives_manifest_error_or_manifest(text: str) -> None:
    try:
        manifest = parse_manifest(text, "g.yaml")
    except ManifestError as err:
        assert err.problems
        assert all(p.source == "g.yaml" for p in err.problems)
    else:
        assert all(s.file.endswith(".wav") for s in manifest)
