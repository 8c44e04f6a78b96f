"""Build the Grafana dashboards and the Prometheus rules file from code.

``python -m metrics.grafana.build [CONFIG]`` regenerates the committed files in
the repository (metrics/grafana/*.json, metrics/prometheus/lotse.rules.yml)
from config.yaml; ``lotse dashboards build`` writes them anywhere.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from metrics.grafana import center, controller, overview
from metrics.grafana.base import Settings
from metrics.prometheus import rules

GRAFANA_DIR = Path(__file__).resolve().parent
PROMETHEUS_DIR = GRAFANA_DIR.parent / "prometheus"
RULES_FILE = "lotse.rules.yml"

DASHBOARDS: dict[str, Callable[[Settings], dashboard.Dashboard]] = {
    "lotse-overview.json": overview.build,
    "lotse-center.json": center.build,
    "lotse-controller.json": controller.build,
}


def dashboard_json(build: Callable[[Settings], dashboard.Dashboard], settings: Settings) -> str:
    """One dashboard as the JSON Grafana imports (stable key order, trailing newline)."""
    model = json.loads(json.dumps(build(settings).build(), cls=JSONEncoder))
    # Grafana keys panels by id (the SDK leaves rows at 0, panels unset) and
    # the SDK gives every variable the same nil UUID, which Grafana ignores.
    for number, panel in enumerate(model["panels"], start=1):
        panel["id"] = number
    for variable in model.get("templating", {}).get("list", []):
        variable.pop("id", None)
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def artefacts(settings: Settings) -> dict[str, str]:
    """File name → content of every dashboard and the rules file."""
    files = {name: dashboard_json(b, settings) for name, b in DASHBOARDS.items()}
    files[RULES_FILE] = rules.render(settings.target)
    return files


def write(settings: Settings, grafana_dir: Path, rules_dir: Path) -> list[Path]:
    """Write every artefact; returns the paths written."""
    written = []
    for name, text in artefacts(settings).items():
        path = (rules_dir if name == RULES_FILE else grafana_dir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def panel_queries(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) of every query of a dashboard's JSON model."""
    for panel in model.get("panels", []):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield panel["title"], target["expr"]


def main(argv: list[str] | None = None) -> int:
    """Regenerate the committed artefacts from config.yaml (or the config given)."""
    from router.configload import load_config

    args = sys.argv[1:] if argv is None else argv
    repo = GRAFANA_DIR.parents[1]
    config = load_config(Path(args[0]) if args else repo / "config.yaml")
    for path in write(Settings.of(config), GRAFANA_DIR, PROMETHEUS_DIR):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
