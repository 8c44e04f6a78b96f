"""lotse as a package: declared dependencies, shipped data, ``--version``, any directory.

The wheel itself is built, installed into a fresh venv and run from an empty
directory by ``.ci/deploy-check`` (part of ``.ci/run``); these tests keep the
pieces it relies on honest in the checkout.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import io
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lotse.cli import main
from router.data import demo_network_path
from sim.scenarioload import load_scenario, sample_names, sample_path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PRODUCT = (
    "lotse",
    "router",
    "ami",
    "sim",
    "standin",
    "dialplans",
    "greetings",
    "metrics",
    "cliutil",
)
# Extras an operator installs for one command; never needed by `lotse run`.
OPERATOR_EXTRAS = ("plot", "dashboards")


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503)."""
    bare = re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def _third_party_imports() -> set[str]:
    """Top-level modules the product's code imports (also inside functions), not its own."""
    found: set[str] = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - set(PRODUCT) - {"__future__"}


def test_every_third_party_import_is_a_declared_dependency_or_extra() -> None:
    project = PYPROJECT["project"]
    declared = {_name(r) for r in project["dependencies"]}
    for extra in OPERATOR_EXTRAS:
        declared |= {_name(r) for r in project["optional-dependencies"][extra]}
    distributions = importlib.metadata.packages_distributions()
    missing = sorted(
        f"{module} ({', '.join(distributions.get(module, ['?']))})"
        for module in _third_party_imports()
        if not {_name(d) for d in distributions.get(module, [module])} & declared
    )
    assert missing == []


def test_every_declared_dependency_is_pinned_alike_in_the_lock() -> None:
    """``make venv`` installs from the lock: what the package declares must be in it, pinned."""
    lock = {
        _name(line): line.split("==", 1)[1].strip()
        for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    project = PYPROJECT["project"]
    wanted = list(project["dependencies"])
    for extra in OPERATOR_EXTRAS:
        wanted += project["optional-dependencies"][extra]
    for requirement in wanted:
        name, _, version = requirement.partition("==")
        assert lock.get(_name(name)) == version, requirement


def test_the_wheel_holds_only_the_products_packages() -> None:
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    # setuptools' rule: a directory with __init__.py, kept by include, dropped by exclude.
    packages = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in ROOT.glob("*/**/__init__.py")
        if ".venv" not in init.parts
    }
    kept = {
        p
        for p in packages
        if any(fnmatch.fnmatchcase(p, pat) for pat in find["include"])
        and not any(fnmatch.fnmatchcase(p, pat) for pat in find["exclude"])
    }
    assert {p.split(".")[0] for p in kept} == set(PRODUCT)


def test_the_packaged_demo_network_is_the_top_level_config() -> None:
    """One source: the wheel's demo network is the checkout's config.yaml, never a drifting copy."""
    assert demo_network_path().read_bytes() == (ROOT / "config.yaml").read_bytes()


def test_version_loads_no_command_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lotse.cli", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == f"lotse {importlib.metadata.version('lotse')}"
    loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    heavy = {"numpy", "sim", "standin", "dialplans", "greetings", "metrics", "lotse.commands"}
    assert {
        m for m in loaded if m.split(".")[0] in heavy or m.startswith("lotse.commands")
    } == set()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, no ``$LOTSE_CONFIG``: as an operator's shell."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOTSE_CONFIG", raising=False)
    return tmp_path


def test_route_and_check_use_the_packaged_demo_network_from_any_directory(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["route", "04211234567", "--json", "--at", "2026-11-24T10:00"]) == 0
    assert json.loads(capsys.readouterr().out)["home"] == "bremen"
    assert main(["check"]) == 0
    assert "6 centers" in capsys.readouterr().out


def test_the_sample_scenarios_ship_and_run_by_name_from_any_directory(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sample_names() == ["holiday-nw", "monday-peak", "national-week", "normal-day"]
    for name in ("holiday-nw", "monday-peak", "normal-day"):
        path = sample_path(name)
        assert path is not None and path == sample_path(f"{name}.yaml")
        assert load_scenario(path).config.centers.keys() >= {"bremen", "bund"}
    assert sample_path("no-such-scenario") is None
    assert main(["sim", "run", "normal-day", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scenario"] == "Normal Tuesday"


def test_an_unknown_scenario_lists_the_shipped_ones(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "run", "nothere"]) == 2
    assert "shipped scenarios: holiday-nw, monday-peak" in capsys.readouterr().err


def test_sim_run_reads_a_scenario_from_stdin(
    elsewhere: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sample_path("normal-day")
    assert path is not None
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    assert main(["sim", "run", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scenario"] == "Normal Tuesday"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"name: x\nbogus: 1\n")))
    assert main(["sim", "run", "-"]) == 2
    assert capsys.readouterr().err.startswith("<stdin>:")


def test_a_manifest_and_a_staffing_plan_read_from_stdin_name_it(
    elsewhere: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"sounds: 5\n")))
    assert main(["greetings", "check", "--manifest", "-"]) == 2
    assert capsys.readouterr().err.startswith("<stdin>:1:9: ")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"x: 1\n")))
    assert main(["sim", "run", "normal-day", "--staffing", "-"]) == 2
    assert "<stdin>:1:1: x: unknown key" in capsys.readouterr().err


def test_the_lock_pins_a_setuptools_that_builds_the_editable_install() -> None:
    """make venv installs lotse with --no-build-isolation: the lock's setuptools builds it."""
    (requirement,) = PYPROJECT["build-system"]["requires"]
    name, _, minimum = requirement.partition(">=")
    pinned = next(
        line.split("==", 1)[1]
        for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if _name(line) == _name(name)
    )
    assert tuple(map(int, pinned.split(".")[:2])) >= tuple(map(int, minimum.split(".")))


def test_the_shipped_dashboards_and_rules_are_the_committed_ones(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the dashboards extra an operator still gets them, as the repository has them."""
    assert main(["dashboards", "shipped", "--out", "D"]) == 0
    written = sorted(p.name for p in (elsewhere / "D").iterdir())
    committed = sorted(
        [p.name for p in (ROOT / "metrics" / "grafana").glob("*.json")] + ["lotse.rules.yml"]
    )
    assert written == committed
    for name in written:
        folder = "prometheus" if name.endswith(".yml") else "grafana"
        assert (elsewhere / "D" / name).read_bytes() == (
            ROOT / "metrics" / folder / name
        ).read_bytes()
