"""``lotse sim load``: a scenario's calls originated over AMI, lotse run in the loop."""

from __future__ import annotations

import json
import random

import pytest

from ami.events import AgentConnect, Hangup, Newchannel, QueueCallerJoin, VarSet
from lotse.cli import main
from router.configload import load_config
from router.numbering import OrtsnetzTable
from router.policy import Router
from sim.load import Arrival, CallRecord, LoadRun, arrivals, latency_between, window_start
from sim.scenarioload import load_scenario
from tests.lotse.rig import REPO

SCENARIO = REPO / "sim" / "scenarios" / "normal-day.yaml"


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
    assert sum(c["offered"] for c in summary["centers"].values()) == summary["originated"]
    nation = summary["national"]
    assert nation["offered"] == nation["answered"] + nation["abandoned"] + nation["announced"]
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
    per, nation, lost = run.tallies(30.0)
    assert lost == 1
    assert nation.offered == 2
    assert per["bremen"].answered == 1
    # Waits are measured on the load's clock, scaled to the PBX's virtual time.
    assert per["bremen"].wait_sum_s == pytest.approx(10.0)


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
