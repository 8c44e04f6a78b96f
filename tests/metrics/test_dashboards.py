"""The generated Grafana dashboards: current, well-formed, and every query valid PromQL."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from metrics.grafana.base import Settings
from metrics.grafana.build import DASHBOARDS, artefacts, panel_queries
from metrics.prometheus import rules
from tests.metrics.helpers import (
    PROMTOOL,
    REPO,
    exposition,
    needs_promtool,
    repo_config,
    sample_names,
)

GRAFANA_DIR = REPO / "metrics" / "grafana"
BUILTINS = {"__range", "__rate_interval", "__interval"}


@pytest.fixture(scope="module")
def models() -> dict[str, dict[str, Any]]:
    files = artefacts(Settings.of(repo_config()))
    return {name: json.loads(files[name]) for name in DASHBOARDS}


def test_the_committed_dashboards_are_generated_from_config_yaml() -> None:
    files = artefacts(Settings.of(repo_config()))
    for name in DASHBOARDS:
        committed = (GRAFANA_DIR / name).read_text(encoding="utf-8")
        assert committed == files[name], (
            f"metrics/grafana/{name} is out of date: run python -m metrics.grafana.build"
        )


def test_dashboards_have_distinct_uids_and_the_berlin_day(
    models: dict[str, dict[str, Any]],
) -> None:
    uids = [m["uid"] for m in models.values()]
    assert len(set(uids)) == len(uids)
    for model in models.values():
        assert model["timezone"] == "Europe/Berlin"
        assert model["time"] == {"from": "now/d", "to": "now"}


def test_every_panel_is_described_and_queries_the_chosen_datasource(
    models: dict[str, dict[str, Any]],
) -> None:
    for name, model in models.items():
        ids = [p["id"] for p in model["panels"]]
        assert len(set(ids)) == len(ids), name
        for panel in model["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["title"] and panel.get("description"), (name, panel["title"])
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(set(refs)) == len(refs), (name, panel["title"])


def test_panels_tile_the_grid_without_overlap(models: dict[str, dict[str, Any]]) -> None:
    for name, model in models.items():
        taken: set[tuple[int, int]] = set()
        for panel in model["panels"]:
            g = panel["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, (name, panel["title"])
            cells = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & taken, (name, panel["title"])
            taken |= cells


def test_queries_use_only_defined_variables(models: dict[str, dict[str, Any]]) -> None:
    for name, model in models.items():
        defined = {v["name"] for v in model["templating"]["list"]} | BUILTINS
        for title, expr in panel_queries(model):
            used = set(re.findall(r"\$\{?(\w+)\}?", expr))
            assert used <= defined, (name, title, used - defined)


def test_queries_read_only_exported_or_recorded_series(
    models: dict[str, dict[str, Any]],
) -> None:
    exported = sample_names(exposition(repo_config()))
    recorded = {
        r["record"] for g in rules.rules(0.75)["groups"] for r in g["rules"] if "record" in r
    }
    for name, model in models.items():
        for title, expr in panel_queries(model):
            for series in re.findall(r"\b(?:center:)?lotse_[a-z0-9_:]+", expr):
                assert series in exported or series in recorded, (name, title, series)


@needs_promtool
def test_every_query_is_valid_promql(models: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    # promtool parses every expression of a rules file: one recording rule per query.
    fill = {"__range": "1d", "__rate_interval": "1m", "__interval": "15s", "center": "bremen"}
    exprs = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: fill[m.group(1)], expr)
        for model in models.values()
        for _, expr in panel_queries(model)
    ]
    assert len(exprs) > 40
    doc = {
        "groups": [
            {
                "name": "panels",
                "rules": [{"record": f"panel:q{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump(doc, width=1000), encoding="utf-8")
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


def test_the_promise_comes_from_the_config() -> None:
    files = artefacts(Settings(target=0.8, threshold_s=20))
    overview = json.loads(files["lotse-overview.json"])
    steps = [
        p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        for p in overview["panels"]
        if p["title"] == "Service level today per center"
    ]
    assert steps == [[{"color": "red", "value": None}, {"color": "green", "value": 0.8}]]
    assert "80 % within 20 s" in overview["description"]
