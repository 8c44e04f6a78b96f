"""The overload predicate agrees with the policy's overload rule (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from router.compiled import Router
from router.config import Thresholds
from router.numbering import OrtsnetzTable
from router.overload import calm_test
from router.policy import _overload_reason
from router.state import CenterState
from tests.router.network import demo_config

_CONFIG = demo_config()
_TABLE = OrtsnetzTable.load()

thresholds = st.builds(
    Thresholds,
    max_waiting=st.none() | st.integers(0, 30),
    max_expected_wait_s=st.none() | st.floats(0, 600) | st.sampled_from([0.0, 90.0, 120.0]),
    no_agents=st.booleans(),
)


def _router(limits: Thresholds) -> Router:
    center = replace(_CONFIG.centers["bremen"], thresholds=limits)
    return Router(replace(_CONFIG, centers={**_CONFIG.centers, "bremen": center}), _TABLE)


@settings(max_examples=600, deadline=None)
@given(
    thresholds,
    st.integers(0, 40),
    st.integers(0, 30),
    st.integers(0, 30),
    st.none() | st.floats(1, 1800) | st.sampled_from([180.0, 240.0]),
)
def test_calm_is_exactly_no_overload_reason(
    limits: Thresholds, waiting: int, logged_in: int, busy: int, aht: float | None
) -> None:
    plan = _router(limits).plans["bremen"]
    busy = min(busy, logged_in)
    available = logged_in - busy
    state = CenterState(
        waiting=waiting,
        agents_logged_in=logged_in,
        agents_available=available,
        agents_busy=busy,
        avg_handle_s=aht,
    )
    expected = _overload_reason(plan, state) is None
    calm = calm_test(plan)
    if calm is None:
        assert expected
    else:
        assert calm(waiting, logged_in, available, lambda: aht) is expected


def test_a_center_without_criteria_needs_no_test() -> None:
    plan = _router(Thresholds(no_agents=False)).plans["bremen"]
    assert calm_test(plan) is None


def test_the_limits_themselves_overload() -> None:
    """Every >= of the rule at its limit: 10 waiting of 10, 90 s expected of 90 s."""
    plan = _router(Thresholds(max_waiting=10, max_expected_wait_s=90.0)).plans["bremen"]
    calm = calm_test(plan)
    assert calm is not None
    assert calm(9, 20, 0, lambda: 1.0)
    assert not calm(10, 20, 0, lambda: 1.0)
    # (2 - 0 + 1) * 60 / 2 = 90 s: overloaded; one agent more (60 s) is not.
    assert not calm(2, 2, 0, lambda: 60.0)
    assert calm(2, 3, 0, lambda: 60.0)
    # No average yet: 240 s per call.
    assert not calm(0, 2, 0, lambda: None)
    assert calm(0, 2, 1, lambda: None)
    nobody = calm_test(_router(Thresholds(no_agents=True)).plans["bremen"])
    assert nobody is not None
    assert not nobody(0, 0, 0, lambda: None) and nobody(50, 1, 0, lambda: None)
