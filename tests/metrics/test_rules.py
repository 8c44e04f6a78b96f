"""The Prometheus rules: generated from the formulas, checked and unit-tested by promtool."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from metrics.prometheus import promql, rules
from tests.metrics.helpers import (
    PROMTOOL,
    REPO,
    exposition,
    needs_promtool,
    repo_config,
    sample_names,
)

RULES_DIR = REPO / "metrics" / "prometheus"


def test_the_committed_rules_file_is_generated_from_config_yaml() -> None:
    committed = (RULES_DIR / "lotse.rules.yml").read_text(encoding="utf-8")
    assert committed == rules.render(repo_config().service_level.target), (
        "metrics/prometheus/lotse.rules.yml is out of date: run python -m metrics.grafana.build"
    )


@needs_promtool
def test_promtool_check_rules() -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES_DIR / "lotse.rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
def test_promtool_unit_tests() -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "lotse.rules.test.yml"],
        cwd=RULES_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_window_records_every_count_and_ratio() -> None:
    groups = rules.rules(0.75)["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    for window in ("15m", "1h", "1d"):
        for ratio in [*promql.RATIOS, *promql.HOME_RATIOS]:
            assert f"center:{ratio}{window}" in recorded
        for count in promql.RECORDED_COUNT_NAMES:
            assert promql.recorded_name(count, window) in recorded
            assert promql.recorded_name(count, window, promql.HOME) in recorded


def test_rules_read_only_exported_or_recorded_series() -> None:
    exported = sample_names(exposition(repo_config()))
    groups = rules.rules(0.75)["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    for group in groups:
        for rule in group["rules"]:
            for name in re.findall(r"\b(?:center:)?lotse_[a-z0-9_:]+", rule["expr"]):
                assert name in exported or name in recorded, (rule, name)


def test_ratios_read_counts_recorded_before_them_in_their_group() -> None:
    # Prometheus evaluates a group's rules in order, so a ratio sees the
    # counts of the same evaluation.
    for group in rules.rules(0.75)["groups"][:-1]:
        seen: set[str] = set()
        for rule in group["rules"]:
            for name in re.findall(r"\bcenter:[a-z0-9_:]+", rule["expr"]):
                assert name in seen, (group["name"], rule["record"], name)
            seen.add(rule["record"])


def test_burn_rates_follow_the_configured_target() -> None:
    text = rules.render(0.8)
    alert = next(
        r
        for g in yaml.safe_load(text)["groups"]
        for r in g["rules"]
        if r.get("alert") == "LotseServiceLevelFastBurn"
    )
    # The promise is per home (each call once): docs/service-level.md.
    assert alert["expr"].startswith("(1 - center:lotse_home_service_level:ratio1h) / 0.2 > 2 and")
    assert "80%" in alert["annotations"]["summary"]


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5])
def test_a_target_without_error_budget_is_refused(target: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        rules.rules(target)
