"""The formulas as PromQL: one definition, for raw counters and recorded series alike."""

from __future__ import annotations

import pytest

from metrics.prometheus import promql


def test_the_headline_formula() -> None:
    c = promql.recorded_counts("1h")
    assert promql.service_level(c) == (
        "center:lotse_calls_answered_within_threshold:increase1h / "
        "(center:lotse_calls_offered:increase1h - center:lotse_calls_short_abandoned:increase1h"
        " - (center:lotse_calls_callbacks_kept:increase1h or center:lotse_calls_offered:increase1h"
        " * 0) > 0)"
    )


def test_asterisk_definitions() -> None:
    c = promql.raw_counts("5m", by=())
    assert promql.service_level_asterisk(c) == (
        "sum(increase(lotse_calls_answered_within_threshold_total[5m])) / "
        "(sum(increase(lotse_calls_answered_total[5m])) > 0)"
    )
    assert promql.service_level2_asterisk(c).startswith(
        "(sum(increase(lotse_calls_answered_within_threshold_total[5m])) + "
        "sum(increase(lotse_calls_abandoned_within_threshold_total[5m]))) / "
    )


def test_matchers_merge_with_the_fixed_ones() -> None:
    c = promql.raw_counts("$__range", match='center="$center"')
    assert c.wait_answered_sum == (
        'sum by (center) (increase(lotse_wait_seconds_sum{outcome="answered",center="$center"}'
        "[$__range]))"
    )
    assert c.offered == (
        'sum by (center) (increase(lotse_calls_offered_total{center="$center"}[$__range]))'
    )


def test_national_sums_the_recorded_centers() -> None:
    c = promql.recorded_counts("15m", national=True)
    assert c.offered == "sum(center:lotse_calls_offered:increase15m)"


def test_unknown_recorded_ratio() -> None:
    with pytest.raises(KeyError, match="lotse_service_level:ratio"):
        promql.recorded_ratio("lotse_sl", "1h")
