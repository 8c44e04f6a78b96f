"""Callbacks in the what-if engine: offered by the config, scheduled without overtaking."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.engine.callbacks as callbacks_module
from router.callback import CenterNow, Request, startable
from router.config import CallbackSettings
from router.configload import ConfigError
from router.numbering import OrtsnetzTable
from sim.engine import simulate
from sim.scenario import CallbackMix, Scenario
from sim.scenarioload import load_scenario, load_scenario_text
from tests.sim.helpers import SCENARIOS, center, scenario
from tests.sim.test_engine import conserved, plan

TABLE = OrtsnetzTable.load()


def monday_peak_with_callbacks(accept: float = 0.6, answer: float = 0.85) -> Scenario:
    sc = load_scenario(SCENARIOS / "monday-peak.yaml", table=TABLE)
    return replace(sc, callbacks=CallbackMix(accept=accept, answer=answer))


def test_monday_peak_with_callbacks_keeps_the_place_in_line() -> None:
    report = simulate(monday_peak_with_callbacks(), seed=1)
    cb = report.callbacks
    assert cb.modelled
    assert cb.offered >= cb.requested > 0
    assert cb.completed > 0
    assert cb.overtakes == 0
    assert cb.duplicates == 0
    ended = cb.completed + cb.no_answer + cb.expired + cb.cancelled + cb.pending
    assert ended == cb.requested
    assert cb.attempts >= cb.completed + cb.no_answer
    conserved(report)
    assert sum(c.left_for_callback for c in report.centers) <= cb.requested
    # Kept callbacks of offered callers leave the 30-s figure (metrics.servicelevel),
    # once each, for the caller's home: never more than were completed in time.
    kept = sum(c.callbacks_kept for c in report.centers)
    assert kept == report.national.callbacks_kept
    assert 0 < kept <= cb.completed - cb.late


def test_without_the_scenario_key_nothing_changes() -> None:
    sc = load_scenario(SCENARIOS / "monday-peak.yaml", table=TABLE)
    report = simulate(sc, seed=1)
    assert not report.callbacks.modelled
    assert report.callbacks.requested == 0
    assert all(c.left_for_callback == 0 for c in report.centers)


def test_a_scheduler_that_ignores_live_callers_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The overtake count is measured at the connection, not assumed: a scheduler
    that forgets the live callers' entry times shows up as overtakes."""

    def careless(requests: object, centers: dict[str, CenterNow], now: float) -> list[Request]:
        blind = {cid: CenterNow(c.free_agents) for cid, c in centers.items()}
        return startable(requests, blind, now)  # type: ignore[arg-type]

    monkeypatch.setattr(callbacks_module, "startable", careless)
    report = simulate(monday_peak_with_callbacks(accept=1.0), seed=1)
    assert report.callbacks.overtakes > 0


def _one_center(cb: CallbackSettings, rate: float, agents: int, mix: CallbackMix) -> Scenario:
    c = center("a", callback=cb)
    return replace(scenario(TABLE, [c], {"a": plan(rate, agents)}), callbacks=mix)


def test_unanswered_attempts_are_retried_then_end_as_no_answer() -> None:
    cb = CallbackSettings(offer_after_wait_s=20, attempts=2, retry_interval_s=300)
    report = simulate(_one_center(cb, 40.0, 2, CallbackMix(accept=1.0, answer=0.0)), seed=3)
    r = report.callbacks
    assert r.requested > 0
    assert r.completed == 0
    # Each request rang twice, unless the day ended first.
    assert r.no_answer + r.pending == r.requested
    assert r.no_answer > 0
    assert r.attempts <= 2 * r.requested
    assert r.attempts >= 2 * r.no_answer


def test_a_short_deadline_expires_requests() -> None:
    # One service minute: most requests made at a busy center cannot be started in time.
    cb = CallbackSettings(offer_after_wait_s=10, deadline_service_h=1 / 60)
    report = simulate(_one_center(cb, 60.0, 1, CallbackMix(accept=1.0, answer=1.0)), seed=2)
    assert report.callbacks.expired > 0
    assert report.callbacks.overtakes == 0


@settings(max_examples=12, deadline=None)
@given(
    rate=st.floats(5.0, 80.0),
    agents=st.integers(1, 6),
    accept=st.floats(0.1, 1.0),
    answer=st.floats(0.0, 1.0),
    seed=st.integers(0, 1000),
)
def test_property_no_overtake_no_duplicate(
    rate: float, agents: int, accept: float, answer: float, seed: int
) -> None:
    cb = CallbackSettings(offer_expected_wait_s=60, offer_after_wait_s=30, retry_interval_s=120)
    sc = _one_center(cb, rate, agents, CallbackMix(accept=accept, answer=answer))
    sc = replace(sc, days=1)
    report = simulate(sc, seed=seed)
    assert report.callbacks.overtakes == 0
    assert report.callbacks.duplicates == 0
    conserved(report)


def test_scenario_key_is_read_and_checked() -> None:
    text = (SCENARIOS / "monday-peak.yaml").read_text()
    text = text.replace(
        "network: ../../config.yaml", f"network: {SCENARIOS.parents[1]}/config.yaml"
    )
    sc = load_scenario_text(
        text + "callbacks: {accept: 0.6, answer: 0.85}\n", "s.yaml", table=TABLE
    )
    assert sc.callbacks == CallbackMix(accept=0.6, answer=0.85)
    with pytest.raises(ConfigError) as info:
        load_scenario_text(text + "callbacks: {accept: 1.5}\n", "s.yaml", table=TABLE)
    assert "callbacks.accept" in str(info.value.problems[0])
