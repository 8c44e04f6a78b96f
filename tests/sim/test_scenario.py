"""Scenario files: the shipped ones load, bad ones are refused at FILE:LINE:COL."""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import pytest

from router.config import WEEKDAYS
from router.confignodes import ConfigError
from router.numbering import OrtsnetzTable
from sim.erlang import agents_for
from sim.profile import WEEK_115, scale
from sim.scenario import Dist, DistKind
from sim.scenarioload import load_scenario, load_scenario_text
from tests.sim.helpers import SCENARIOS

HEAD = "name: t\nnetwork: ../../config.yaml\nstart: 2026-11-24\n"


def problems(text: str, table: OrtsnetzTable, base: Path = SCENARIOS) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_scenario_text(text, "scen.yaml", base_dir=base, table=table)
    return [str(p) for p in caught.value.problems]


def test_every_shipped_scenario_loads(table: OrtsnetzTable) -> None:
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert {f.stem for f in files} >= {"normal-day", "monday-peak", "holiday-nw", "national-week"}
    for path in files:
        scenario = load_scenario(path, table=table)
        assert scenario.name
        assert any(plan.calls_per_week > 0 for plan in scenario.plans.values())
        staffed = [cid for cid, plan in scenario.plans.items() if any(map(any, plan.agents))]
        assert set(staffed) == set(scenario.config.centers), path.name


def test_normal_day_reads_staffing_by_half_hour(table: OrtsnetzTable) -> None:
    scenario = load_scenario(SCENARIOS / "normal-day.yaml", table=table)
    bremen = scenario.plan("bremen")
    tuesday = bremen.agents[1]
    assert tuesday[15] == 6  # 07:30
    assert tuesday[18] == 13  # 09:00
    assert tuesday[36] == 0  # 18:00
    assert bremen.agents[5] == (0,) * 48  # Saturday
    assert bremen.handle == Dist(DistKind.LOGNORMAL, 240, 150, 20)
    assert bremen.calls_per_week == pytest.approx(6000)
    assert scenario.plan("sachsen-anhalt").calls_per_week == 0
    assert scenario.threshold_s == 30 and scenario.target == 0.75  # from config.yaml


def test_monday_overrides_the_weekday_span(table: OrtsnetzTable) -> None:
    scenario = load_scenario(SCENARIOS / "monday-peak.yaml", table=table)
    wittenberg = scenario.plan("wittenberg").agents
    assert max(wittenberg[0]) == 2 and wittenberg[0][16] == 1
    assert max(wittenberg[1]) == 6


def test_national_week_staffs_by_erlang_c(table: OrtsnetzTable) -> None:
    scenario = load_scenario(SCENARIOS / "national-week.yaml", table=table)
    assert len(scenario.config.centers) >= 95
    volume = sum(plan.calls_per_week for plan in scenario.plans.values())
    assert volume == pytest.approx(150_000)
    berlin = scenario.plan("berlin")
    hour = 10
    rate = berlin.calls_per_hour[1][hour]
    need = agents_for(rate, 240, 0.75, 30).agents
    assert berlin.agents[1][2 * hour] == need
    assert berlin.agents[6] == (0,) * 48  # closed on Sunday: nobody staffed
    assert max(scenario.plan("land-by").agents[0]) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + "nme: x\n", "scen.yaml:4:1: nme: unknown key; did you mean 'name'?"),
        (
            "name: t\nnetwork: ../../config.yaml\nstart: 2026-13-01\n",
            "scen.yaml:3:8: start: 2026-13-01 is not a valid date",
        ),
        (
            HEAD + "centers:\n  bremn: {calls_per_week: 10}\n",
            "scen.yaml:5:3: centers.bremn: unknown center 'bremn'; did you mean 'bremen'?",
        ),
        (
            HEAD + "center_defaults:\n  handle: {dist: lognormal, mean_s: 240}\n",
            "scen.yaml:5:11: center_defaults.handle: a lognormal duration needs 'sd_s'",
        ),
        (
            HEAD + 'centers:\n  bremen:\n    agents:\n      mon-fri: {"08:15-12:00": 3}\n',
            "scen.yaml:7:17: centers.bremen.agents.mon-fri.08:15-12:00: "
            "staffing changes on the half hour (:00 or :30)",
        ),
        (
            HEAD + "centers:\n  bremen:\n    agents:\n"
            '      mon-fri: {"08:00-12:00": 3, "11:00-13:00": 2}\n',
            "scen.yaml:7:35: centers.bremen.agents.mon-fri.11:00-13:00: overlaps '08:00-12:00'",
        ),
        (
            HEAD + "centers:\n  bremen:\n    agents:\n      mon-fri: 3\n      thu-sat: 2\n",
            "scen.yaml:8:7: centers.bremen.agents.thu-sat: thu is already given by 'mon-fri'",
        ),
        (
            HEAD + "centers:\n  bremen:\n    agents:\n      mon-fry: 3\n",
            "scen.yaml:7:7: centers.bremen.agents.mon-fry: unknown weekday 'fry'; "
            "write mon..sun or a span like mon-fri",
        ),
        (
            HEAD + "centers:\n  bremen:\n    calls_per_hour:\n      mon: [" + "1, " * 22 + "1]\n",
            "scen.yaml:7:12: centers.bremen.calls_per_hour.mon: a day has 24 hours, got 23 numbers",
        ),
        (
            HEAD + "centers:\n  bremen:\n    calls_per_week: 10\n    calls_per_hour: 2\n",
            "scen.yaml:7:21: centers.bremen.calls_per_hour: "
            "give calls_per_week or calls_per_hour, not both",
        ),
        (
            HEAD + "callers: {mobile: 1.5}\n",
            "scen.yaml:4:19: callers.mobile: must be a share from 0 to 1 (0.15 = 15 %), got 1.5",
        ),
        (
            HEAD + "centers: [\n",
            "scen.yaml:5:1: YAML syntax error: expected the node content, but found "
            "'<stream end>' (while parsing a flow node)",
        ),
        (
            HEAD + 'centers:\n  "zz-*": {agents: 3}\n',
            "scen.yaml:5:3: centers.zz-*: the pattern matches no center",
        ),
        (
            HEAD + 'profile: "116"\n',
            "scen.yaml:4:10: profile: unknown profile '116'; did you mean '115'?",
        ),
        (HEAD + "days: 0\n", "scen.yaml:4:7: days: must be at least 1, got 0"),
        (
            HEAD + "centers:\n  bremen: {calls_per_week: -5}\n",
            "scen.yaml:5:28: centers.bremen.calls_per_week: must not be negative, got -5",
        ),
        (
            HEAD + "center_defaults:\n  patience: {dist: none, mean_s: 3}\n",
            "scen.yaml:5:34: center_defaults.patience.mean_s: a duration of 'none' takes no mean_s",
        ),
        (
            HEAD + "center_defaults:\n  ring: {dist: uniform, mean_s: 2, spread_s: 3}\n",
            "scen.yaml:5:46: center_defaults.ring.spread_s: 3 s would reach below 0 s (mean 2 s)",
        ),
        (
            HEAD + "centers:\n  bund: {calls_per_week: 100}\n",
            "scen.yaml:5:26: centers.bund: has calls but no Ortsnetze to draw its callers from",
        ),
        (
            HEAD + "centers:\n  bremen: {agents: {auto: 1.0}}\n",
            "scen.yaml:5:27: centers.bremen.agents.auto: the target must lie between 0 and 1",
        ),
        (
            "network: ../../config.yaml\nstart: 2026-11-24\n",
            "scen.yaml:1:1: top level: missing required key 'name'",
        ),
        (
            "- a\n- b\n",
            "scen.yaml:1:1: a scenario is a mapping with keys such as 'name' and 'start'",
        ),
        (
            HEAD + "service_level: {target: 0}\n",
            "scen.yaml:4:25: service_level.target: must lie strictly between 0 and 1",
        ),
        (
            "name: t\nstart: 2026-11-24\n",
            "scen.yaml:1:1: network: missing; name the configuration file",
        ),
    ],
)
def test_bad_scenarios_are_refused_at_the_spot(
    text: str, expected: str, table: OrtsnetzTable
) -> None:
    assert expected in problems(text, table)


def test_every_problem_is_reported_at_once(table: OrtsnetzTable) -> None:
    text = HEAD + "days: 0\ncallers: {mobile: 2}\ncenters:\n  bremn: {agents: 1}\n"
    found = problems(text, table)
    assert [p.split(":")[1] for p in found] == ["4", "5", "7"]


def test_a_missing_network_file_is_named(table: OrtsnetzTable, tmp_path: Path) -> None:
    found = problems("name: t\nnetwork: nothere.yaml\nstart: 2026-11-24\n", table, tmp_path)
    assert found == [
        f"scen.yaml:2:10: network: cannot read {tmp_path / 'nothere.yaml'}: "
        "No such file or directory"
    ]


def test_problems_of_the_named_configuration_keep_their_own_position(
    table: OrtsnetzTable, tmp_path: Path
) -> None:
    (tmp_path / "net.yaml").write_text("fallback_center: bund\ncentres: {}\n")
    found = problems("name: t\nnetwork: net.yaml\nstart: 2026-11-24\n", table, tmp_path)
    assert any(p.startswith(f"{tmp_path / 'net.yaml'}:2:1: centres: unknown key") for p in found)


def test_a_scenario_without_network_uses_the_given_one(table: OrtsnetzTable) -> None:
    config = load_scenario(SCENARIOS / "normal-day.yaml", table=table).config
    calls = []

    def network() -> object:
        calls.append(1)
        return config

    text = "name: t\nstart: 2026-11-24\ncenters:\n  bremen: {calls_per_week: 100, agents: 2}\n"
    scenario = load_scenario_text(text, "s.yaml", table=table, config=network)  # type: ignore[arg-type]
    assert scenario.config is config and calls == [1]
    # Not asked when the scenario names its network.
    load_scenario(SCENARIOS / "normal-day.yaml", table=table, config=network)  # type: ignore[arg-type]
    assert calls == [1]


def test_patterns_apply_in_file_order_and_ids_win(table: OrtsnetzTable) -> None:
    text = (
        "name: t\nnetwork: {national: {seed: 115}}\nstart: 2026-11-23\n"
        "centers:\n"
        "  bund: {agents: 9}\n"
        '  "land-*": {agents: 2}\n'
        '  "land-b*": {agents: 3}\n'
    )
    scenario = load_scenario_text(text, "s.yaml", table=table)
    assert scenario.plan("land-nw").agents[0][0] == 2
    assert scenario.plan("land-by").agents[0][0] == 3
    assert scenario.plan("bund").agents[0][0] == 9


def test_explicit_calls_per_hour(table: OrtsnetzTable) -> None:
    hours = ", ".join(str(h) for h in range(24))
    text = (
        HEAD + f"centers:\n  bremen:\n    calls_per_hour:\n      mon-fri: 5\n      sat: [{hours}]\n"
    )
    plan = load_scenario_text(text, "s.yaml", base_dir=SCENARIOS, table=table).plan("bremen")
    assert plan.calls_per_hour[0] == (5.0,) * 24
    assert plan.calls_per_hour[5] == tuple(float(h) for h in range(24))
    assert plan.calls_per_hour[6] == (0.0,) * 24


# --- the 115 profile and durations ------------------------------------------------------


def test_the_115_week_has_its_shape() -> None:
    monday, tuesday, friday = WEEK_115[0], WEEK_115[1], WEEK_115[4]
    peak = max(range(24), key=lambda h: tuesday[h])
    assert 9 <= peak <= 11
    assert max(monday) > 1.2 * max(tuesday)  # the Monday morning peak
    assert tuesday[12] < tuesday[11] and tuesday[12] < tuesday[14]  # the lunch dip
    assert sum(friday[13:18]) < 0.6 * sum(tuesday[13:18])  # a quiet Friday afternoon
    assert sum(WEEK_115[5]) + sum(WEEK_115[6]) < 0.15 * sum(tuesday)  # a quiet weekend
    assert sum(map(sum, scale(WEEK_115, 7000))) == pytest.approx(7000)
    assert len(WEEKDAYS) == len(WEEK_115)


@pytest.mark.parametrize(
    "dist",
    [
        Dist(DistKind.EXPONENTIAL, 180),
        Dist(DistKind.LOGNORMAL, 240, 120),
        Dist(DistKind.UNIFORM, 4, 2),
        Dist(DistKind.FIXED, 7),
    ],
)
def test_durations_have_their_mean(dist: Dist) -> None:
    draw = dist.sampler(random.Random(3))
    values = [draw() for _ in range(40_000)]
    assert statistics.fmean(values) == pytest.approx(dist.mean_s, rel=0.02)
    if dist.kind is DistKind.LOGNORMAL:
        assert statistics.stdev(values) == pytest.approx(dist.spread_s, rel=0.06)


def test_durations_are_cut_to_their_bounds() -> None:
    draw = Dist(DistKind.LOGNORMAL, 240, 200, 60, 600).sampler(random.Random(1))
    values = [draw() for _ in range(5000)]
    assert min(values) == 60 and max(values) == 600
    assert math.isinf(Dist(DistKind.NONE).sampler(random.Random(1))())


def test_impossible_durations_are_refused() -> None:
    with pytest.raises(ValueError):
        Dist(DistKind.UNIFORM, 2, 3)
    with pytest.raises(ValueError):
        Dist(DistKind.FIXED, -1)


def test_planner_constraints_are_read() -> None:
    """min_agents and can_add_agents; an auto table's min is the planner's minimum too."""
    root = Path(__file__).resolve().parents[2]
    text = (
        "name: c\nstart: 2026-11-24\nnetwork: config.yaml\n"
        "centers:\n"
        "  bremen: {calls_per_week: 6000, agents: {auto: 0.8, min: 2}}\n"
        "  wittenberg: {agents: 3, min_agents: 1, can_add_agents: false}\n"
        "  halberstadt: {agents: {auto: 0.8, min: 2}, min_agents: 4}\n"
    )
    s = load_scenario_text(text, "c.yaml", base_dir=root, table=OrtsnetzTable.load())
    assert s.plan("bremen").min_agents == 2 and s.plan("bremen").can_add_agents
    assert s.plan("wittenberg").min_agents == 1 and not s.plan("wittenberg").can_add_agents
    assert s.plan("halberstadt").min_agents == 4
    assert s.plan("paderborn").min_agents == 0


def test_a_scenario_that_is_not_utf8_is_named_at_its_byte(
    table: OrtsnetzTable, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: t\ndescription: Gr\xfc\xdfe\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path, table=table)
    assert [str(p) for p in caught.value.problems] == [f"{path}:2:16: not UTF-8 text"]


def test_callbacks_say_how_callees_behave(table: OrtsnetzTable) -> None:
    text = HEAD + "callbacks: {accept: 0.6, answer: 0.8, busy: 0.25, hangs_up_first: 0.7}\n"
    mix = load_scenario_text(text, "scen.yaml", base_dir=SCENARIOS, table=table).callbacks
    assert mix is not None
    assert (mix.accept, mix.answer, mix.busy, mix.hangs_up_first) == (0.6, 0.8, 0.25, 0.7)
    plain = load_scenario_text(
        HEAD + "callbacks: {}\n", "scen.yaml", base_dir=SCENARIOS, table=table
    )
    assert plain.callbacks is not None
    assert (plain.callbacks.busy, plain.callbacks.hangs_up_first) == (0.3, 0.5)


@pytest.mark.parametrize("key", ["busy", "hangs_up_first"])
def test_callee_shares_are_shares(table: OrtsnetzTable, key: str) -> None:
    found = problems(HEAD + f"callbacks: {{{key}: 1.5}}\n", table)
    assert len(found) == 1 and f"callbacks.{key}: must be a share from 0 to 1" in found[0]
    # 1 is a share (the limit itself is allowed).
    load_scenario_text(
        HEAD + f"callbacks: {{{key}: 1}}\n", "scen.yaml", base_dir=SCENARIOS, table=table
    )
