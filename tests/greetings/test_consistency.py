"""The shipped scripts tell callers the truth about the shipped configuration.

A caller who reaches a closed center hears its off-hours announcement and
calls back at the hours it states; those must be the hours config.yaml routes
by, so changing either the configuration or the manifest alone fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from greetings.audio import read_wav
from greetings.manifest import (
    DEFAULT_MANIFEST,
    DEFAULT_SOUNDS_DIR,
    Manifest,
    load_manifest,
    parse_manifest,
)
from greetings.spoken import reachable_hours, script_problems, spoken_hours, stated_hours
from router.config import Config
from router.configload import load_config, load_config_text

REPO = Path(__file__).resolve().parents[2]
CONFIG_PATH = REPO / "config.yaml"
# The greeting delays every call before it queues; the 115 promise counts from the dial.
MAX_GREETING_S = 10.0


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest(DEFAULT_MANIFEST)


def test_shipped_scripts_match_the_shipped_configuration(
    config: Config, manifest: Manifest
) -> None:
    assert [str(p) for p in script_problems(config, manifest)] == []


def test_every_offhours_text_states_its_centers_configured_hours(
    config: Config, manifest: Manifest
) -> None:
    for cid, center in config.centers.items():
        sound = manifest.sounds[center.offhours_announcement]
        stated = stated_hours(sound.text)
        assert spoken_hours(center.hours) in stated, cid
        assert spoken_hours(reachable_hours(config, cid)) in stated, cid
        assert set(stated) <= {
            spoken_hours(center.hours),
            spoken_hours(reachable_hours(config, cid)),
        }


def test_the_demo_hours_are_said_as_configured(config: Config) -> None:
    # The phrases the shipped texts are held to, written out once by hand.
    said = {cid: spoken_hours(c.hours) for cid, c in config.centers.items()}
    assert said == {
        "bremen": "montags bis freitags von 8 bis 18 Uhr",
        "wittenberg": "montags bis donnerstags von 8 bis 18 Uhr und freitags bis 14 Uhr",
        "halberstadt": (
            "montags bis freitags von 8 bis 18 Uhr, mittwochs mit Mittagspause von 12 bis 13 Uhr"
        ),
        "paderborn": "montags bis donnerstags von 7 Uhr 30 bis 18 Uhr und freitags bis 16 Uhr",
        "sachsen-anhalt": "montags bis freitags von 7 bis 20 Uhr",
        "bund": "montags bis freitags von 6 bis 22 Uhr und samstags von 8 bis 20 Uhr",
    }


def test_greetings_name_the_center_and_are_short(config: Config, manifest: Manifest) -> None:
    for center in config.centers.values():
        sound = manifest.sounds[center.greeting]
        assert center.name in " ".join(sound.text.split()), center.id
        info = read_wav(sound.path(DEFAULT_SOUNDS_DIR))
        assert info.duration_s < MAX_GREETING_S, center.id


def changed(old: str, new: str) -> Config:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    assert text.count(old) == 1
    return load_config_text(text.replace(old, new), "changed.yaml")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # Paderborn opens Fridays until 18:00 now.
        (
            '      fri: "07:30-16:00"\n',
            '      fri: "07:30-18:00"\n',
            "sound 'lotse/offhours-paderborn': does not state the hours of 'paderborn' as "
            "configured: 'montags bis freitags von 7 Uhr 30 bis 18 Uhr'",
        ),
        # Halberstadt drops its Wednesday lunch break.
        (
            '      wed: ["08:00-12:00", "13:00-18:00"]   # team meeting over lunch\n',
            "",
            "sound 'lotse/offhours-halberstadt': does not state the hours of 'halberstadt' "
            "as configured: 'montags bis freitags von 8 bis 18 Uhr'",
        ),
        # The national center closes on Saturdays: every text promising them lies.
        (
            '      sat: "08:00-20:00"\n',
            "",
            "sound 'lotse/offhours-bund': does not state the hours of 'bund' as configured: "
            "'montags bis freitags von 6 bis 22 Uhr'",
        ),
        # Bremen's calls no longer go to the national center when it is closed.
        (
            "    overflow_partners: [bund]\n    offhours_partners: [bund]\n\n  wittenberg:",
            "    overflow_partners: [bund]\n\n  wittenberg:",
            "sound 'lotse/offhours-bremen': states hours that 'bremen' does not have: "
            "'montags bis freitags von 6 bis 22 Uhr und samstags von 8 bis 20 Uhr'",
        ),
    ],
)
def test_a_configuration_change_alone_makes_the_check_fail(
    manifest: Manifest, old: str, new: str, expected: str
) -> None:
    messages = [p.message for p in script_problems(changed(old, new), manifest)]
    assert expected in messages


def test_a_dropped_saturday_is_caught_in_every_text_that_promised_it(manifest: Manifest) -> None:
    problems = script_problems(changed('      sat: "08:00-20:00"\n', ""), manifest)
    assert {p.message.split("'")[1] for p in problems} == {
        f"lotse/offhours-{cid}"
        for cid in ("bremen", "wittenberg", "halberstadt", "paderborn", "sachsen-anhalt", "bund")
    }


def test_problems_point_at_the_manifest_entry(config: Config, manifest: Manifest) -> None:
    renamed = changed("name: Bürgertelefon Halberstadt", "name: Bürgertelefon Harz")
    problems = script_problems(renamed, manifest)
    lines = {p.line for p in problems}
    assert lines == {
        manifest.sounds["lotse/greeting-halberstadt"].line,
        manifest.sounds["lotse/offhours-halberstadt"].line,
    }
    assert all(str(p).startswith(f"{DEFAULT_MANIFEST}:") for p in problems)
    assert script_problems(config, manifest) == []


def test_a_manifest_change_alone_makes_the_check_fail(config: Config) -> None:
    text = DEFAULT_MANIFEST.read_text(encoding="utf-8")
    old = "Mittagspause von 12 bis 13 Uhr"
    assert text.count(old) == 1
    edited = parse_manifest(text.replace(old, "Mittagspause von 12 bis 14 Uhr"), "m.yaml")
    assert [str(p) for p in script_problems(config, edited)] == [
        f"m.yaml:{edited.sounds['lotse/offhours-halberstadt'].line}:1: "
        "sound 'lotse/offhours-halberstadt': does not state the hours of 'halberstadt' as "
        "configured: 'montags bis freitags von 8 bis 18 Uhr, mittwochs mit Mittagspause "
        "von 12 bis 13 Uhr'",
        f"m.yaml:{edited.sounds['lotse/offhours-halberstadt'].line}:1: "
        "sound 'lotse/offhours-halberstadt': states hours that 'halberstadt' does not have: "
        "'montags bis freitags von 8 bis 18 Uhr, mittwochs mit Mittagspause von 12 bis 14 Uhr'",
    ]
