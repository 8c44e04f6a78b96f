"""Plan files: scenario YAML that round-trips through both loaders; bad files refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.configload import load_config
from router.confignodes import ConfigError
from router.numbering import OrtsnetzTable
from sim.scenario import WeekHalfHours
from sim.scenarioload import load_scenario_text
from sim.staffing.planfile import load_plan_text, render_plan

ROOT = Path(__file__).resolve().parents[3]
_TABLE = OrtsnetzTable.load()
_CONFIG = load_config(ROOT / "config.yaml", table=_TABLE)
_IDS = sorted(_CONFIG.centers)

_day = st.one_of(
    st.just((0,) * 48),
    st.lists(st.integers(0, 3), min_size=48, max_size=48).map(tuple),
    st.lists(st.integers(0, 300), min_size=48, max_size=48).map(tuple),
)
_week = st.lists(_day, min_size=7, max_size=7).map(tuple)
_tables = st.dictionaries(st.sampled_from(_IDS), _week, min_size=1)


@settings(max_examples=60, deadline=None)
@given(tables=_tables)
def test_plan_round_trips_through_the_plan_reader(tables: dict[str, WeekHalfHours]) -> None:
    text = render_plan(tables, "a header\nof two lines")
    assert load_plan_text(text, _CONFIG) == tables


@settings(max_examples=20, deadline=None)
@given(tables=_tables)
def test_plan_round_trips_through_the_scenario_loader(tables: dict[str, WeekHalfHours]) -> None:
    """Pasted under a scenario's network and period, it is what the scenario's centers get."""
    text = (
        "name: pasted\nstart: 2026-11-24\nnetwork: config.yaml\n"
        + render_plan(tables, "plan").split("\n", 1)[1]
    )
    s = load_scenario_text(text, "pasted.yaml", base_dir=ROOT, table=_TABLE)
    for cid, week in tables.items():
        assert s.plan(cid).agents == week


def test_rendering_is_compact_and_readable() -> None:
    day = (0,) * 14 + (2,) * 2 + (5,) * 20 + (3,) + (0,) * 11
    text = render_plan({"bremen": ((0,) * 48, day) + ((0,) * 48,) * 5}, order=("bremen",))
    assert '      tue: {"07:00-08:00": 2, "08:00-18:00": 5, "18:00-18:30": 3}' in text
    assert "mon" not in text
    closed = render_plan({"bremen": ((0,) * 48,) * 7})
    assert "  bremen: {agents: 0}" in closed
    last = ((0,) * 47 + (1,),) * 7
    assert '"23:30-24:00": 1' in render_plan({"bremen": last})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("centers:\n  bremn:\n    agents: 3\n", "2:3: centers.bremn: unknown center 'bremn'"),
        ("centers:\n  bremen:\n    agents: -1\n", "3:13: centers.bremen.agents"),
        ("centers:\n  bremen: {}\n", "2:11: centers.bremen: missing required key 'agents'"),
        (
            'centers:\n  bremen:\n    agents: {tue: {"08:15-09:00": 2}}\n',
            "staffing changes on the half hour",
        ),
        ("[]\n", "a staffing plan is a mapping"),
    ],
)
def test_bad_plans_are_refused_with_positions(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_plan_text(text, _CONFIG, "plan.yaml")
    assert any(message in str(p) for p in caught.value.problems), caught.value.problems
