"""The what-if engine: routing by the real policy, queues, agents, tallies, determinism."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import date
from typing import Any

import pytest

import sim.engine.decisions as decisions
from router import policy
from router.compiled import Instant
from router.numbering import OrtsnetzTable
from router.policy import Call, Decision
from router.state import CenterState, Snapshot
from sim.engine import Engine, SimReport, simulate
from sim.engine.model import center_state
from sim.scenario import (
    CallerMix,
    CenterPlan,
    Dist,
    DistKind,
    Scenario,
    constant_agents,
    constant_week,
)
from sim.scenarioload import load_scenario
from tests.sim.helpers import SCENARIOS, center, scenario

EXP_180 = Dist(DistKind.EXPONENTIAL, 180)
NEVER = Dist(DistKind.NONE)


def plan(rate: float, agents: int, **kw: Any) -> CenterPlan:
    defaults: dict[str, Any] = {"handle": EXP_180, "patience": NEVER}
    return CenterPlan(
        calls_per_hour=constant_week(rate), agents=constant_agents(agents), **{**defaults, **kw}
    )


def watch_decisions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Call, Decision]]:
    """Record every (call, decision) the engine asks the real policy for.

    With ``verify_decisions`` the engine asks it once for every routing.
    """
    seen: list[tuple[Call, Decision]] = []
    real = policy.decide_at

    def recording(call: Call, instant: Instant, snapshot: Snapshot, router: Any) -> Decision:
        decision = real(call, instant, snapshot, router)
        seen.append((call, decision))
        return decision

    monkeypatch.setattr(decisions, "decide_at", recording)
    return seen


def conserved(report: SimReport) -> None:
    for c in (*report.centers, report.national):
        ends = c.answered + c.abandoned + c.announced_offhours + c.announced_busy + c.unfinished
        assert c.calls == ends + c.left_for_callback, c.id
        assert c.answered_within <= c.answered
        # An offered (queued) call ends answered, abandoned, unfinished, left for a
        # callback, or (spilled with nowhere left to go) with the all-busy announcement.
        left_queue = c.answered + c.abandoned + c.unfinished + c.left_for_callback
        assert left_queue <= c.offered <= left_queue + c.announced_busy
        assert c.offered <= c.calls - c.announced_offhours
        assert sum(report.wait_histogram[c.id]) == c.answered
        assert sum(report.hourly_within[c.id]) == c.answered_within
        # Short abandons and kept callbacks are out of the figure (metrics.servicelevel).
        assert c.callbacks_kept <= c.left_for_callback
        base = c.offered - c.short_abandoned - c.callbacks_kept
        assert sum(report.hourly_offered[c.id]) == base
        # The 115 promise, per home (metrics.servicelevel): as lotse report computes it.
        assert c.service_level == (c.answered_within / base if base > 0 else None)
        if c.occupancy is not None:
            assert 0.0 <= c.occupancy <= 1.0 + 1e-9


# --- determinism and bookkeeping --------------------------------------------------------


def test_the_same_seed_gives_the_same_report(table: OrtsnetzTable) -> None:
    sc = load_scenario(SCENARIOS / "monday-peak.yaml", table=table)
    first, again, other = simulate(sc, seed=5), simulate(sc, seed=5), simulate(sc, seed=6)
    assert first == again
    assert json.dumps(first.to_json()) == json.dumps(again.to_json())
    assert first != other


def test_every_call_ends_exactly_once(table: OrtsnetzTable) -> None:
    for name in ("normal-day", "monday-peak", "holiday-nw"):
        report = simulate(load_scenario(SCENARIOS / f"{name}.yaml", table=table), seed=2)
        conserved(report)
        assert report.national.calls == report.calls
        assert report.unrouted == 0


def test_every_call_and_every_spill_is_routed_by_the_policy(
    table: OrtsnetzTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch_decisions(monkeypatch)
    sc = load_scenario(SCENARIOS / "monday-peak.yaml", table=table)
    report = simulate(sc, seed=1, verify_decisions=True)
    assert len(seen) == report.routings > report.calls
    first = [call for call, _ in seen if not call.visited and call.postal_code is None]
    assert len(first) == report.calls
    spills = [(call, d) for call, d in seen if call.visited]
    assert spills and report.overflow
    for call, decision in spills:
        assert decision.target not in call.visited


def test_a_spill_routes_again_with_the_last_target_visited(
    table: OrtsnetzTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = center("home", ortsnetze=("30",), overflow_partners=("partner",), queue_timeout_s=30)
    partner = center("partner")
    sc = scenario(
        table,
        [home, partner],
        {"home": plan(40, 1, handle=Dist(DistKind.FIXED, 600)), "partner": plan(0, 30)},
    )
    seen = watch_decisions(monkeypatch)
    report = simulate(sc, seed=1, verify_decisions=True)
    spills = [(call, d) for call, d in seen if call.visited]
    assert spills
    for call, decision in spills:
        assert call.visited == ("home",)
        assert decision.target == "partner" and decision.final
    flows = {(f.source, f.target): f.calls for f in report.overflow}
    assert flows == {("home", "partner"): len(spills)}
    # Spilled callers wait 30 s at home first: none of them is answered in time.
    assert report.center("partner").answered_here == len(spills)
    assert report.center("home").answered == report.calls


def test_closed_centers_announce_and_count_off_hours(table: OrtsnetzTable) -> None:
    sc = load_scenario(SCENARIOS / "normal-day.yaml", table=table)
    sunday = replace(sc, start=date(2026, 11, 29))
    report = simulate(sunday, seed=1)
    national = report.national
    assert national.calls > 0
    assert national.off_hours == national.calls == national.announced_offhours
    assert national.offered == 0  # an announcement is not an offered call
    assert national.service_level is None and national.answered == 0
    assert not report.offhours_flows


def test_a_state_holiday_sends_the_calls_to_the_off_hours_partner(table: OrtsnetzTable) -> None:
    report = simulate(load_scenario(SCENARIOS / "holiday-nw.yaml", table=table), seed=1)
    paderborn = report.center("paderborn")
    assert paderborn.off_hours == paderborn.calls > 0
    assert paderborn.answered_here == 0 and paderborn.agent_hours == 0
    moved = {(f.source, f.target): f.calls for f in report.offhours_flows}
    assert moved[("paderborn", "bund")] == paderborn.answered + paderborn.abandoned
    # Bremen (HB) works as on any Thursday.
    assert report.center("bremen").off_hours < report.center("bremen").calls / 4


def test_postal_codes_find_the_home_of_mobile_callers(table: OrtsnetzTable) -> None:
    sc = load_scenario(SCENARIOS / "normal-day.yaml", table=table)
    mobile = replace(sc, callers=CallerMix(mobile=1.0, anonymous=0.0, postal_code=1.0))
    report = simulate(mobile, seed=3)
    for cid in ("bremen", "wittenberg", "paderborn"):
        share = report.center(cid).calls / report.calls
        expected = sc.plan(cid).calls_per_hour[1]
        assert share == pytest.approx(sum(expected) / _day_total(sc), abs=0.03)
    assert report.center("bund").calls == 0
    silent = replace(sc, callers=CallerMix(mobile=0.5, anonymous=0.5, postal_code=0.0))
    report = simulate(silent, seed=3)
    assert report.center("bund").calls == report.calls


def _day_total(sc: Scenario) -> float:
    return sum(sum(p.calls_per_hour[1]) for p in sc.plans.values())


# --- queues and agents ------------------------------------------------------------------


def test_impatient_callers_abandon_and_short_abandons_are_left_out(table: OrtsnetzTable) -> None:
    solo = center("solo", ortsnetze=("30",))
    sc = scenario(
        table,
        [solo],
        {"solo": plan(30, 0, patience=Dist(DistKind.FIXED, 10))},
        short_abandon_s=15,
    )
    report = simulate(sc, seed=1)
    c = report.center("solo")
    assert c.abandoned == c.offered == c.calls > 0
    assert c.short_abandoned == c.abandoned
    assert c.service_level is None and c.abandon_rate == 1.0
    strict = simulate(replace(sc, short_abandon_s=5), seed=1).center("solo")
    assert strict.short_abandoned == 0 and strict.service_level == 0.0


def test_ring_time_counts_as_waiting(table: OrtsnetzTable) -> None:
    solo = center("solo", ortsnetze=("30",))
    ring = Dist(DistKind.FIXED, 5)
    report = simulate(scenario(table, [solo], {"solo": plan(20, 40, ring=ring)}), seed=1)
    c = report.center("solo")
    assert c.answered == c.offered > 0
    assert c.asa_s == pytest.approx(5.0)
    late = simulate(scenario(table, [solo], {"solo": plan(20, 40, ring=ring)}, threshold_s=4))
    assert late.center("solo").service_level == 0.0
    # Exactly at the threshold is in time (<=), as in lotse report and the metrics.
    exact = simulate(scenario(table, [solo], {"solo": plan(20, 40, ring=ring)}, threshold_s=5))
    assert exact.center("solo").service_level == 1.0


def test_agents_finish_their_call_when_the_shift_ends(table: OrtsnetzTable) -> None:
    solo = center("solo", ortsnetze=("30",))
    shift = tuple(tuple(2 if half < 20 else 0 for half in range(48)) for _ in range(7))
    long_calls = Dist(DistKind.FIXED, 1500)
    busy = CenterPlan(
        calls_per_hour=constant_week(30), agents=shift, handle=long_calls, patience=NEVER
    )
    report = simulate(scenario(table, [solo], {"solo": busy}), seed=1)
    c = report.center("solo")
    # Two agents from 00:00 to 10:00, each finishing a call of 25 minutes at most.
    assert 20.0 < c.agent_hours <= 20.0 + 2 * 1500 / 3600
    assert c.occupancy is not None and c.occupancy > 0.99  # idle only before the first call
    # Nobody answers after 10:30: callers left waiting are unfinished.
    assert c.unfinished > 0


def test_the_policy_sees_the_live_state_as_the_controller_would(
    table: OrtsnetzTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    states: list[CenterState] = []
    real = policy.decide_at

    def spy(call: Call, instant: Instant, snapshot: Snapshot, router: Any) -> Decision:
        seen = snapshot.of("solo")
        assert isinstance(seen, CenterState)
        # A copy: what the policy is given holds for the moment of its decision.
        states.append(CenterState(**{f.name: getattr(seen, f.name) for f in fields(seen)}))
        assert snapshot.of("nowhere") == CenterState()
        return real(call, instant, snapshot, router)

    monkeypatch.setattr(decisions, "decide_at", spy)
    solo = center("solo", ortsnetze=("30",))
    simulate(scenario(table, [solo], {"solo": plan(500, 20)}), seed=1, verify_decisions=True)
    assert any(s.waiting > 0 for s in states)
    for s in states:
        assert isinstance(s, CenterState)
        assert s.agents_logged_in == 20
        assert s.agents_available + s.agents_busy == 20
        assert s.agents_available == 0 or s.waiting == 0
        assert s.longest_wait_s >= 0.0 and (s.waiting > 0 or s.longest_wait_s == 0.0)
    assert states[0].avg_handle_s is None
    assert states[-1].avg_handle_s is not None


def test_the_quick_center_state_equals_the_constructed_one() -> None:
    quick = center_state(3, 12.5, 7, 0, 7, 201.0)
    made = CenterState(
        waiting=3,
        longest_wait_s=12.5,
        agents_logged_in=7,
        agents_available=0,
        agents_busy=7,
        avg_handle_s=201.0,
    )
    assert quick == made and hash(quick) == hash(made)
    assert quick.expected_wait_s() == made.expected_wait_s()
    with pytest.raises(AttributeError):
        quick.waiting = 4  # type: ignore[misc]


def test_fifo_queue_matches_a_reference_on_the_same_sample_path(table: OrtsnetzTable) -> None:
    """Every wait is what a textbook FIFO multi-server recursion gives for the same draws."""
    agents = 4
    solo = center("solo", ortsnetze=("30",))
    sc = scenario(table, [solo], {"solo": plan(75, agents)}, days=3)
    engine = Engine(sc, seed=9)
    arrivals: list[float] = []
    handles: list[float] = []
    draw = engine.centers[0].handle

    def handle() -> float:
        value = draw()
        handles.append(value)
        return value

    engine.centers[0].handle = handle
    route = engine._route

    def first_routing(t: float, call: Any) -> None:
        if not call.visited and call.first_queue < 0:
            arrivals.append(t)
        route(t, call)

    engine._route = first_routing  # type: ignore[method-assign]
    report = engine.run()
    assert len(arrivals) == len(handles) == report.calls > 500
    free = [0.0] * agents  # when each agent is next free
    waits = []
    for arrival, service in zip(arrivals, handles, strict=True):
        k = min(range(agents), key=free.__getitem__)
        start = max(arrival, free[k])
        waits.append(start - arrival)
        free[k] = start + service
    c = report.center("solo")
    assert c.answered_within == sum(1 for w in waits if w <= 30.0)
    assert c.asa_s == pytest.approx(sum(waits) / len(waits), rel=1e-12)


# --- the report -------------------------------------------------------------------------


def test_the_report_carries_no_caller_number(table: OrtsnetzTable) -> None:
    report = simulate(load_scenario(SCENARIOS / "normal-day.yaml", table=table), seed=1)
    texts: list[str] = []

    def strings(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            texts.extend(value)
            for item in value.values():
                strings(item)
        elif isinstance(value, list | tuple):
            for item in value:
                strings(item)

    strings(report.to_json())
    assert texts and not [t for t in texts if re.search(r"\d{6,}", t)]


def test_progress_is_reported_until_done(table: OrtsnetzTable) -> None:
    seen: list[float] = []
    sc = load_scenario(SCENARIOS / "normal-day.yaml", table=table)
    simulate(replace(sc, days=2), seed=1, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_an_engine_runs_once(table: OrtsnetzTable) -> None:
    solo = center("solo", ortsnetze=("30",))
    engine = Engine(scenario(table, [solo], {"solo": plan(1, 1)}), seed=1)
    engine.run()
    with pytest.raises(RuntimeError):
        engine.run()


def test_daylight_saving_days_have_their_hours(table: OrtsnetzTable) -> None:
    solo = center("solo", ortsnetze=("30",))
    run: Callable[[date], SimReport] = lambda day: simulate(  # noqa: E731
        scenario(table, [solo], {"solo": plan(10, 5)}, start=day), seed=1
    )
    assert len(run(date(2026, 3, 29)).hour_labels) == 23
    assert len(run(date(2026, 10, 25)).hour_labels) == 25
    report = run(date(2026, 11, 24))
    assert len(report.hour_labels) == 24 and report.hour_labels[9] == "Tue 09:00"
    assert math.isclose(report.center("solo").agent_hours, 5 * 24)
