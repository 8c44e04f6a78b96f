"""``lotse sim load``: a scenario's calls originated over AMI, lotse run in the loop."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ami.events import (
    AgentConnect,
    Hangup,
    Newchannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    VarSet,
)
from lotse.cli import main
from router.config import ServiceLevel
from router.configload import load_config
from router.numbering import OrtsnetzTable
from router.policy import Router
from sim.load import (
    Arrival,
    CallRecord,
    LoadRun,
    arrivals,
    flat_arrivals,
    latency_between,
    window_start,
)
from sim.scenarioload import load_scenario
from tests.lotse.rig import REPO

SCENARIO = REPO / "sim" / "scenarios" / "normal-day.yaml"
LEVEL = ServiceLevel(threshold_s=30, target=0.75, short_abandon_s=5)


def test_a_spawned_run_loses_no_call_and_accounts_for_every_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["sim", "load", str(SCENARIO), "--spawn", "--from", "10:00", "--hours", "0.25",
         "--speed", "120", "--seed", "3", "--json"]
    )  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["lost"] == 0
    assert summary["originated"] == summary["planned"] > 20
    assert sum(c["calls"] for c in summary["centers"].values()) == summary["originated"]
    nation = summary["national"]
    assert nation["calls"] == nation["offered"] + nation["announced"]
    assert nation["offered"] >= nation["answered"] + nation["abandoned"]
    assert nation["answered"] > 0
    assert summary["decisions"] >= summary["originated"]
    assert summary["decision_latency_mean_ms"] > 0


def test_arrivals_follow_the_scenario_window() -> None:
    table = OrtsnetzTable.load()
    scenario = load_scenario(
        SCENARIO, table=table, config=lambda: load_config(REPO / "config.yaml", table=table)
    )
    router = Router(scenario.config, table)
    morning = arrivals(scenario, router, random.Random(1), window_start(scenario, "10:00"), 1)
    night = arrivals(scenario, router, random.Random(1), window_start(scenario, "03:00"), 1)
    assert len(morning) > 5 * max(1, len(night))
    assert all(0 <= a.at_s < 3600 for a in morning)
    assert [a.at_s for a in morning] == sorted(a.at_s for a in morning)
    assert len({a.caller for a in morning}) == len(morning)
    again = arrivals(scenario, router, random.Random(1), window_start(scenario, "10:00"), 1)
    assert again == morning


def test_a_call_that_never_reached_a_queue_is_lost() -> None:
    clock = iter(float(t) for t in range(100))
    run = LoadRun({"115-bremen": "bremen"}, speed=10.0, now=lambda: next(clock))
    for number, channel_id in (("04211111111", "load-1"), ("04212222222", "load-2")):
        run.calls[channel_id] = _record(number)

    def ev(linkedid: str) -> tuple[str, str, str, str]:
        # The caller's leg of the Local pair: channel, uniqueid, linkedid, caller id.
        return ("Local/x;2", linkedid + ";2", linkedid, "")

    # Originate's ChannelId names the ;1 half, which starts the call's Linkedid.
    run.apply(Newchannel("Local/115@lotse-115-1;1", "load-1", "load-1", "", 4, "lotse-115", "115"))
    run.apply(Newchannel("Local/115@lotse-115-2;1", "load-2", "load-2", "", 4, "lotse-115", "115"))
    run.apply(VarSet(*ev("load-1"), "__LOTSE_HOME", "bremen"))
    run.apply(QueueCallerJoin(*ev("load-1"), "115-bremen", 1, 1))
    run.apply(AgentConnect(*ev("load-1"), "115-bremen", "SIP/agent", "Anna", "", "", 2.0, 1.0))
    run.apply(Hangup("Local/115@lotse-115-1;1", "load-1", "load-1", "", 16, "Normal Clearing"))
    run.apply(Hangup("Local/115@lotse-115-2;1", "load-2", "load-2", "", 16, "Normal Clearing"))
    per, nation, lost = run.tallies(LEVEL)
    assert lost == 1
    assert (nation.calls, nation.offered) == (2, 1)
    assert per["bremen"].sl.answered == 1
    # Waits are Asterisk's HoldTime, as the controller reads them.
    assert per["bremen"].sl.asa_s == pytest.approx(2.0)


def test_latency_from_two_scrapes() -> None:
    before = {"0.001": 10.0, "0.005": 20.0, "+Inf": 20.0, "count": 20.0, "sum": 0.04}
    after = {"0.001": 100.0, "0.005": 119.0, "+Inf": 120.0, "count": 120.0, "sum": 0.24}
    latency = latency_between(before, after)
    assert latency.decisions == 100
    assert latency.mean_ms == pytest.approx(2.0)
    assert latency.p99_ms == pytest.approx(5.0)
    assert latency_between(None, after).decisions == 0


def _record(number: str) -> CallRecord:
    return CallRecord(Arrival(0.0, number, "bremen", 60.0), 0.0)


def test_the_three_views_of_the_service_level_agree_call_for_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the load saw on the wire, the controller's metrics and its journal report."""
    code = main(
        ["sim", "load", str(SCENARIO), "--spawn", "--from", "09:00", "--hours", "0.25",
         "--speed", "60", "--json"]
    )  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    truth = summary["truth"]
    assert truth, "no center had an offered call"
    assert sum(v["observed"]["offered"] for v in truth.values()) > 20
    for center, views in truth.items():
        assert views["observed"] == views["metrics"] == views["journal"], center
    # The load's own per-home table is the observed view.
    for center, views in truth.items():
        row = summary["centers"][center]
        assert (row["offered"], row["answered_within"]) == (
            views["observed"]["offered"],
            views["observed"]["answered_within"],
        )


def _queue_event(kind: type, linkedid: str, queue: str, *args: object) -> object:
    return kind("Local/x;2", linkedid + ";2", linkedid, "", queue, *args)


@pytest.mark.parametrize(("first", "second", "within"), [(28, 2, 1), (28, 3, 0)])
def test_the_load_sums_the_wait_over_spills_as_the_controller(
    first: float, second: float, within: int
) -> None:
    run = LoadRun({"115-halberstadt": "halberstadt", "115-sachsen-anhalt": "sachsen-anhalt"},
                  speed=1.0, now=lambda: 0.0)  # fmt: skip
    run.calls["load-1"] = CallRecord(Arrival(0.0, "039411234567", "halberstadt", 60.0), 0.0)
    run.apply(Newchannel("Local/115@lotse-115-1;1", "load-1", "load-1", "", 4, "lotse-115", "115"))
    run.apply(VarSet("Local/x;2", "load-1;2", "load-1", "", "__LOTSE_HOME", "halberstadt"))
    run.apply(_queue_event(QueueCallerJoin, "load-1", "115-halberstadt", 1, 1))
    # The trap: Asterisk sends QueueCallerAbandon on a queue timeout too.
    run.apply(_queue_event(QueueCallerAbandon, "load-1", "115-halberstadt", 1, 1, first))
    run.apply(VarSet("Local/x;2", "load-1;2", "load-1", "", "QUEUESTATUS", "TIMEOUT"))
    run.apply(_queue_event(QueueCallerJoin, "load-1", "115-sachsen-anhalt", 1, 1))
    run.apply(
        _queue_event(AgentConnect, "load-1", "115-sachsen-anhalt", "SIP/a", "Anna", "", "",
                     second, 1.0)
    )  # fmt: skip
    run.apply(Hangup("Local/115@lotse-115-1;1", "load-1", "load-1", "", 16, "Normal Clearing"))
    per, _, lost = run.tallies(LEVEL)
    assert lost == 0
    assert run.truth(LEVEL) == {
        "halberstadt": {"offered": 1, "answered_within": within, "service_level": float(within)}
    }
    assert per["halberstadt"].sl.abandoned == 0
    assert per["halberstadt"].by_partner == 1


def test_a_timeout_followed_by_the_all_busy_announcement_is_no_abandon() -> None:
    run = LoadRun({"115-halberstadt": "halberstadt"}, speed=1.0, now=lambda: 0.0)
    run.calls["load-1"] = CallRecord(Arrival(0.0, "039411234567", "halberstadt", 60.0), 0.0)
    run.apply(Newchannel("Local/115@lotse-115-1;1", "load-1", "load-1", "", 4, "lotse-115", "115"))
    run.apply(_queue_event(QueueCallerJoin, "load-1", "115-halberstadt", 1, 1))
    run.apply(_queue_event(QueueCallerAbandon, "load-1", "115-halberstadt", 1, 1, 3.0))
    run.apply(VarSet("Local/x;2", "load-1;2", "load-1", "", "QUEUESTATUS", "TIMEOUT"))
    run.apply(Hangup("Local/115@lotse-115-1;1", "load-1", "load-1", "", 16, "Normal Clearing"))
    per, _, _ = run.tallies(LEVEL)
    assert (per["halberstadt"].sl.offered, per["halberstadt"].sl.abandoned) == (1, 0)
    assert per["halberstadt"].sl.short_abandoned == 0


def test_the_spawned_controller_runs_the_network_the_scenario_names(tmp_path: Path) -> None:
    # "demo" is the demo network inside the package, for the controller as for
    # the scenario loader, wherever the scenario file lies.
    import argparse

    from router.data import demo_network_path
    from sim.loadcli import _config_path

    scenario = tmp_path / "mine.yaml"
    scenario.write_text("network: demo\n", encoding="utf-8")
    args = argparse.Namespace(scenario=scenario, config=None)
    assert _config_path(args) == demo_network_path().resolve()
    scenario.write_text("network: net.yaml\n", encoding="utf-8")
    assert _config_path(args) == (tmp_path / "net.yaml").resolve()


def test_a_controller_that_cannot_start_is_reported_with_what_it_said(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("a file, not a directory\n")
    journal = tmp_path / "file" / "j.sqlite"
    code = main(
        ["sim", "load", str(SCENARIO), "--spawn", "--rate", "1", "--minutes", "0.1",
         "--journal", str(journal)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    # lotse run's own line, not a path to a log that no longer exists.
    assert "lotse run: " in err and str(journal) in err
    assert "lotse-run.log" not in err and "Traceback" not in err


def test_a_flat_rate_draws_its_calls_evenly_over_the_minutes_from_the_scenarios_mix() -> None:
    table = OrtsnetzTable.load()
    scenario = load_scenario(SCENARIO, table=table)
    start = window_start(scenario, "10:00")
    plan = flat_arrivals(
        scenario, Router(scenario.config, table), random.Random(5), start,
        rate_per_s=50.0, minutes=1.0, speed=60.0,
    )  # fmt: skip
    # 3,000 expected: a Poisson count within four standard deviations (~55).
    assert 2780 <= len(plan) <= 3220
    times = [a.at_s for a in plan]
    assert times == sorted(times) and times[0] > 0 and times[-1] < 3600
    # Half of the calls in each half of the minute, within four deviations.
    first = sum(1 for t in times if t < 1800)
    assert abs(first - len(plan) / 2) < 4 * (len(plan) / 4) ** 0.5
    assert {a.region for a in plan} >= {"bremen", "paderborn", "wittenberg"}
    assert len({a.caller for a in plan}) == len(plan)


@pytest.mark.parametrize(
    "argv",
    [["--minutes", "3"], ["--rate", "0"], ["--rate", "10", "--minutes", "-1"]],
)
def test_a_flat_rate_needs_a_positive_rate_and_duration(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(["sim", "load", str(SCENARIO), "--spawn", *argv]) == 2
    assert "--rate" in capsys.readouterr().err


def test_the_spawned_stand_in_is_staffed_as_the_scenario_says(tmp_path: Path) -> None:
    from sim.loadcli import scenario_staffing, staffing_yaml
    from standin.staffing import load_staffing

    table = OrtsnetzTable.load()
    scenario = load_scenario(SCENARIO, table=table)
    staffing = scenario_staffing(scenario, scenario.config, window_start(scenario, "10:00"))
    path = tmp_path / "staffing.yaml"
    path.write_text(staffing_yaml(staffing))
    assert load_staffing(path, scenario.config) == staffing
    assert sum(len(a) for a in staffing.queues.values()) > 10


def test_the_load_users_filters_let_through_every_event_the_load_follows() -> None:
    # What sim/load.py folds (isinstance(event, X)) must reach the generated
    # load user, or a real Asterisk (and the stand-in) never sends it.
    import re

    from ami import events as typed
    from dialplans.manager import LOAD_EVENTS

    source = (REPO / "sim" / "load.py").read_text(encoding="utf-8")
    followed = set(re.findall(r"isinstance\(event, (\w+)\)", source)) - {"Connected"}
    assert followed
    for name in followed:
        cls = getattr(typed, name)
        wire = "UserEvent" if name in ("LotseCallback", "LotseFallback") else cls.__name__
        assert wire in LOAD_EVENTS, name


def test_calls_that_ended_are_counted_and_let_go_with_the_same_figures() -> None:
    # A long run keeps no record of calls that ended a while ago: they are
    # counted into the tallies as they go; the figures stay the same.
    def play(fold: bool) -> LoadRun:
        now = [0.0]
        run = LoadRun({"115-bremen": "bremen"}, speed=10.0, now=lambda: now[0])
        if fold:
            run.level = LEVEL
        for n, number in enumerate(("04211111111", "04212222222", "04213333333"), start=1):
            rec = _record(number)
            rec.channel_id = f"load-{n}"
            run.calls[rec.channel_id] = rec
            run.apply(
                Newchannel(f"Local/115@lotse-115-{n};1", f"load-{n}", f"load-{n}", "", 4,
                           "lotse-115", "115")
            )  # fmt: skip
        leg = ("Local/x;2", "load-1;2", "load-1", "")
        run.apply(VarSet(*leg, "__LOTSE_HOME", "bremen"))
        run.apply(QueueCallerJoin(*leg, "115-bremen", 1, 1))
        run.apply(AgentConnect(*leg, "115-bremen", "SIP/agent", "Anna", "", "", 2.0, 1.0))
        run.apply(Hangup("Local/115@lotse-115-1;1", "load-1", "load-1", "", 16, "Normal Clearing"))
        now[0] = 5.0
        run.apply(Hangup("Local/115@lotse-115-2;1", "load-2", "load-2", "", 16, "Normal Clearing"))
        now[0] = 10.0  # exactly the grace after the first call's end, half of it after the second's
        run.fold_ended(grace_s=10.0)
        return run

    folded, kept = play(fold=True), play(fold=False)
    assert folded.folded_ids == ["load-1"]
    assert set(folded.calls) == {"load-2", "load-3"}
    assert folded.channel_ids() == ["load-1", "load-2", "load-3"]
    assert folded.originated == kept.originated == 3
    per_f, nation_f, lost_f = folded.tallies(LEVEL)
    per_k, nation_k, lost_k = kept.tallies(LEVEL)
    assert lost_f == lost_k == 2  # one never queued, one never ended
    assert nation_f.as_dict() == nation_k.as_dict()
    assert {c: t.as_dict() for c, t in per_f.items()} == {c: t.as_dict() for c, t in per_k.items()}
