"""Erlang C and Erlang A against independent computations and their known properties."""

from __future__ import annotations

import math
from decimal import Decimal, getcontext
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sim.erlang import (
    agents_for,
    erlang,
    erlang_a,
    erlang_b,
    erlang_c,
    offered_load,
    state_profile,
)


def direct_erlang_c(load: Fraction, n: int) -> Fraction:
    """C(n, a) from the textbook sum, in exact rational arithmetic."""
    top = load**n / math.factorial(n) * Fraction(n) / (n - load)
    below = sum(load**k / math.factorial(k) for k in range(n))
    return top / (below + top)


@pytest.mark.parametrize(
    ("rate", "aht", "agents"),
    [(6, 180, 1), (20, 180, 2), (200, 180, 12), (360, 180, 20), (1800, 180, 95), (30, 600, 6)],
)
def test_erlang_c_matches_the_textbook_sum(rate: int, aht: int, agents: int) -> None:
    load = Fraction(rate * aht, 3600)
    c = float(direct_erlang_c(load, agents))
    result = erlang_c(rate, aht, agents, 20)
    assert result.p_wait == pytest.approx(c, rel=1e-12)
    decay = (agents - float(load)) / aht
    assert result.service_level == pytest.approx(1 - c * math.exp(-decay * 20), rel=1e-12)
    assert result.asa_s == pytest.approx(c / decay, rel=1e-12)
    assert result.occupancy == pytest.approx(float(load) / agents)
    assert result.abandon_rate == 0.0


def test_a_classic_textbook_example() -> None:
    # 100 calls per half hour, 3 min handle time: 10 Erlang; with 12 agents
    # 44.9 % of callers wait (the standard worked example of Erlang C).
    result = erlang_c(200, 180, 12, 20)
    assert result.offered_load_erl == pytest.approx(10.0)
    assert round(result.p_wait, 4) == 0.4494


def test_erlang_b_recursion_is_stable_for_large_groups() -> None:
    # B(n, a) for n = 5000: the direct sum overflows floats long before.
    b = erlang_b(5000, 4900.0)
    assert 0.0 < b < 0.05
    assert erlang_b(0, 3.0) == 1.0


def test_erlang_c_at_or_above_full_load_is_unbounded() -> None:
    result = erlang_c(400, 180, 20)
    assert result.p_wait == 1.0
    assert result.service_level == 0.0
    assert math.isinf(result.asa_s)
    assert not result.stable


def test_erlang_c_with_no_calls() -> None:
    result = erlang_c(0, 180, 3)
    assert (result.p_wait, result.service_level, result.asa_s) == (0.0, 1.0, 0.0)


def test_erlang_c_large_center_does_not_overflow() -> None:
    result = erlang_c(36_000, 180, 1850, 30)
    assert 0.0 < result.p_wait < 1.0
    assert 0.99 < result.service_level <= 1.0


@pytest.mark.parametrize("bad", [{"rate_per_h": -1}, {"aht_s": 0}, {"agents": -1}])
def test_erlang_refuses_impossible_input(bad: dict[str, float]) -> None:
    args: dict[str, float] = {"rate_per_h": 100, "aht_s": 180, "agents": 5, **bad}
    with pytest.raises(ValueError):
        erlang_c(args["rate_per_h"], args["aht_s"], int(args["agents"]))


def test_erlang_a_refuses_a_patience_of_zero() -> None:
    with pytest.raises(ValueError, match="patience"):
        erlang_a(100, 180, 5, 0)


# --- Erlang A ---------------------------------------------------------------------------


def _queue(agents: int, lam: float, mu: float, theta: float, top: int) -> list[Decimal]:
    """π(n+j), j = 0..top, of the M/M/n+M chain in 60-digit decimals, by brute force."""
    getcontext().prec = 60
    lam_d, mu_d, th_d = Decimal(lam), Decimal(mu), Decimal(theta)
    weights = [Decimal(1)]
    for k in range(1, agents + top + 1):
        death = mu_d * min(k, agents) + th_d * max(k - agents, 0)
        weights.append(weights[-1] * lam_d / death)
    total = sum(weights)
    return [w / total for w in weights[agents:]]


def _served_within(j: int, agents: int, mu: float, theta: float, t: float) -> Decimal:
    """P(served within t | j ahead): the hypoexponential sum, exact in 60 digits."""
    rates = [Decimal(agents * mu + m * theta) for m in range(j + 1)]
    th = Decimal(theta)
    total = Decimal(0)
    for i, r_i in enumerate(rates):
        coef = Decimal(1)
        for k, r_k in enumerate(rates):
            if k != i:
                coef *= r_k / (r_k - r_i)
        total += coef * r_i / (r_i + th) * (1 - (-(r_i + th) * Decimal(t)).exp())
    return total


@pytest.mark.parametrize(
    ("rate", "aht", "agents", "patience", "threshold"),
    [(100, 180, 5, 120, 30), (240, 180, 10, 60, 20), (60, 300, 4, 300, 30), (300, 120, 8, 90, 15)],
)
def test_erlang_a_matches_a_brute_force_computation(
    rate: float, aht: float, agents: int, patience: float, threshold: float
) -> None:
    lam, mu, theta = rate / 3600, 1 / aht, 1 / patience
    top = 70
    queue = _queue(agents, lam, mu, theta, top)
    p_wait = sum(queue)
    served = 1 - p_wait
    within = 1 - p_wait
    for j, pj in enumerate(queue):
        keep = Decimal(1)
        for m in range(j + 1):
            r = Decimal(agents * mu + m * theta)
            keep *= r / (r + Decimal(theta))
        served += pj * keep
        within += pj * _served_within(j, agents, mu, theta, threshold)
    result = erlang_a(rate, aht, agents, patience, threshold)
    assert result.p_wait == pytest.approx(float(p_wait), rel=1e-9)
    assert result.abandon_rate == pytest.approx(float(1 - served), rel=1e-7)
    assert result.service_level == pytest.approx(float(within), abs=1e-9)


def test_erlang_a_abandonment_agrees_with_littles_law() -> None:
    # Abandonment = θ E[queue] / λ: every queued caller leaves at rate θ.
    lam, mu, theta, n = 200 / 3600, 1 / 180, 1 / 60, 12
    queue = _queue(n, lam, mu, theta, 200)
    mean_queue = sum(j * p for j, p in enumerate(queue))
    result = erlang_a(200, 180, n, 60, 30)
    assert result.abandon_rate == pytest.approx(float(mean_queue) * theta / lam, rel=1e-9)


def test_erlang_a_tends_to_erlang_c_for_endless_patience() -> None:
    c = erlang_c(200, 180, 12, 20)
    a = erlang_a(200, 180, 12, 1e9, 20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-6)
    assert a.p_wait == pytest.approx(c.p_wait, abs=1e-6)
    assert a.abandon_rate < 1e-6


def test_erlang_a_is_stable_in_overload() -> None:
    # Twice the load the agents can take: impatient callers keep the queue finite.
    result = erlang_a(800, 180, 20, 120, 30)
    assert 0.0 < result.service_level < 0.5
    assert 0.4 < result.abandon_rate < 0.6
    assert math.isfinite(result.asa_s)


def test_erlang_a_without_agents_loses_everyone() -> None:
    result = erlang_a(100, 180, 0, 60, 30)
    assert (result.p_wait, result.service_level, result.abandon_rate) == (1.0, 0.0, 1.0)


def test_erlang_a_for_a_large_center() -> None:
    result = erlang_a(36_000, 180, 1800, 120, 30)
    assert 0.9 < result.service_level < 1.0
    assert 0.0 < result.abandon_rate < 0.05


# --- Erlang A on its whole domain: any threshold >= 0, any patience > 0 ----------------

TINY_THRESHOLDS = [5e-324, 1e-320, 1e-300, 1e-12, 1e-6]
HUGE_THRESHOLDS = [1e6, 1e12, 1e100, 1e300, 1.7e308]


@pytest.mark.parametrize("threshold", TINY_THRESHOLDS)
def test_a_tiny_threshold_answers_in_time_only_callers_who_do_not_wait(threshold: float) -> None:
    result = erlang_a(120, 240, 10, 60, threshold)
    at_zero = erlang_a(120, 240, 10, 60, 0)
    assert result.service_level == pytest.approx(at_zero.service_level, abs=1e-6)
    assert at_zero.service_level == pytest.approx(1 - at_zero.p_wait)
    assert (result.p_wait, result.abandon_rate) == (at_zero.p_wait, at_zero.abandon_rate)


@pytest.mark.parametrize("threshold", HUGE_THRESHOLDS)
def test_a_huge_threshold_answers_in_time_every_caller_served(threshold: float) -> None:
    result = erlang_a(120, 240, 10, 60, threshold)
    assert result.service_level == pytest.approx(1 - result.abandon_rate, abs=1e-12)
    assert result.abandon_rate == pytest.approx(erlang_a(120, 240, 10, 60).abandon_rate)


@pytest.mark.parametrize("patience", [5e-324, 1e-320, 1e-300, 1e-250])
@pytest.mark.parametrize("threshold", [0.0, 5e-324, 30.0, 1e300])
def test_callers_who_hang_up_at_once_make_erlang_b(patience: float, threshold: float) -> None:
    # Nobody who must wait is ever answered: the loss system M/M/n/n.
    blocked = erlang_b(10, 8.0)
    result = erlang_a(120, 240, 10, patience, threshold)
    assert result.p_wait == pytest.approx(blocked, rel=1e-12)
    assert result.abandon_rate == pytest.approx(blocked, rel=1e-12)
    assert result.service_level == pytest.approx(1 - blocked, rel=1e-12)
    assert result.asa_s == 0.0
    assert result.occupancy == pytest.approx(8.0 * (1 - blocked) / 10)
    profile = state_profile(120, 240, 10, threshold, patience)
    assert profile.service_level == pytest.approx(1 - blocked, rel=1e-12)
    assert math.fsum(profile.p_state) == pytest.approx(1.0)


def test_a_short_patience_is_close_to_erlang_b_but_not_the_shortcut() -> None:
    # 1e-6 s is still computed as Erlang A: within a hair of the loss system.
    blocked = erlang_b(10, 8.0)
    result = erlang_a(120, 240, 10, 1e-6, 30)
    assert result.abandon_rate == pytest.approx(blocked, rel=1e-6)
    assert result.abandon_rate < blocked
    assert result.asa_s > 0.0


@pytest.mark.parametrize("patience", [1e9, 1e100, 1e300, 1.7e308])
def test_a_huge_patience_is_erlang_c(patience: float) -> None:
    c = erlang_c(120, 240, 10, 20)
    a = erlang_a(120, 240, 10, patience, 20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-6)
    assert a.p_wait == pytest.approx(c.p_wait, abs=1e-6)
    assert a.abandon_rate == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=80, deadline=None)
@given(
    rate=st.floats(1, 2000),
    aht=st.floats(30, 900),
    agents=st.integers(0, 60),
    patience=st.floats(0, 3600, exclude_min=True),
    thresholds=st.lists(st.floats(0, 1.7e308), min_size=2, max_size=2),
)
@example(rate=120, aht=240, agents=10, patience=60, thresholds=[5e-324, 1e-6])
@example(rate=120, aht=240, agents=10, patience=5e-324, thresholds=[0.0, 1.7e308])
@example(rate=161, aht=216, agents=1, patience=1029, thresholds=[0.0, 0.0])  # occupancy > 1
@example(rate=1, aht=30, agents=0, patience=3, thresholds=[0.0, 0.0])
@example(rate=2000, aht=900, agents=1, patience=3600, thresholds=[0.0, 30.0])  # e^2000 weights
def test_erlang_a_is_total_and_a_longer_threshold_never_hurts(
    rate: float, aht: float, agents: int, patience: float, thresholds: list[float]
) -> None:
    short, long = sorted(thresholds)
    results = [erlang_a(rate, aht, agents, patience, t) for t in (short, long)]
    for r in results:
        for share in (r.service_level, r.p_wait, r.abandon_rate, r.occupancy):
            assert 0.0 <= share <= 1.0
        assert r.asa_s >= 0.0
        assert math.isfinite(r.asa_s) or (agents == 0 and r.abandon_rate == 1.0)
        # In time means answered: the service level never exceeds the share served.
        assert r.service_level <= 1.0 - r.abandon_rate + 1e-9
    assert results[1].service_level >= results[0].service_level - 1e-9


# --- properties and the inverse ---------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(1, 2000),
    aht=st.floats(30, 900),
    agents=st.integers(1, 120),
    patience=st.one_of(st.none(), st.floats(10, 1200)),
    threshold=st.floats(0, 120),
)
# Found by hypothesis: a threshold so short that ΛT underflows (math domain error).
@example(rate=1.0, aht=30.0, agents=1, patience=10.0, threshold=5e-324)
def test_an_extra_agent_never_hurts(
    rate: float, aht: float, agents: int, patience: float | None, threshold: float
) -> None:
    now = erlang(rate, aht, agents, threshold, patience)
    more = erlang(rate, aht, agents + 1, threshold, patience)
    for r in (now, more):
        assert 0.0 <= r.service_level <= 1.0
        assert 0.0 <= r.p_wait <= 1.0
        assert 0.0 <= r.abandon_rate <= 1.0
    assert more.service_level >= now.service_level - 1e-9
    assert more.p_wait <= now.p_wait + 1e-9
    assert more.abandon_rate <= now.abandon_rate + 1e-9


@pytest.mark.parametrize("patience", [None, 120.0])
@pytest.mark.parametrize(
    ("rate", "aht", "target"), [(200, 180, 0.8), (30, 240, 0.75), (3000, 200, 0.9)]
)
def test_agents_for_is_the_fewest_reaching_the_target(
    rate: float, aht: float, target: float, patience: float | None
) -> None:
    found = agents_for(rate, aht, target, 30, patience)
    assert found.service_level >= target
    fewer = erlang(rate, aht, found.agents - 1, 30, patience)
    assert fewer.service_level < target


def test_agents_for_refuses_targets_outside_zero_and_one() -> None:
    with pytest.raises(ValueError, match="target"):
        agents_for(100, 180, 1.0)


def test_offered_load() -> None:
    assert offered_load(120, 180) == pytest.approx(6.0)
