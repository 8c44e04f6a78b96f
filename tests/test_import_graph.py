"""The packages' import graph runs downward only, and ``lotse run`` loads no simulator.

Layers, lowest first (a package may import its own layer's leaf modules and
anything below): ``router`` (pure policy) < ``ami`` (wire, contract) <
``dialplans``, ``greetings``, ``metrics``, ``cliutil`` < ``lotse`` (controller)
< ``standin`` (network double of Asterisk) < ``sim`` (what-if engine, load
driver) < ``bench``. ``lotse`` may reach ``standin`` only from the demo, lazily.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> project packages it may import at module level.
ALLOWED: dict[str, set[str]] = {
    "router": set(),
    "ami": {"router"},
    "cliutil": {"router"},
    "dialplans": {"router", "ami", "cliutil"},
    "greetings": {"router", "cliutil"},
    "metrics": {"router", "ami", "cliutil"},
    "lotse": {"router", "ami", "cliutil", "dialplans", "greetings", "metrics"},
    "standin": {"router", "ami", "cliutil", "dialplans"},
}
PROJECT = {*ALLOWED, "sim", "bench"}
# lotse modules that may import the stand-in (the demo and its rig, never `lotse run`).
STANDIN_USERS = {"lotse/rig.py", "lotse/livedemo.py", "lotse/commands/demo.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_downward_only(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        allowed = ALLOWED[package] | {package}
        if rel in STANDIN_USERS:
            allowed = allowed | {"standin"}
        for imported in sorted(_imports(path) - allowed):
            wrong.append(f"{rel} imports {imported}")
    assert wrong == []


def test_layer_table_is_acyclic() -> None:
    """The table itself allows no cycle (a package below never allows one above)."""
    for package, below in ALLOWED.items():
        for other in below:
            assert package not in ALLOWED.get(other, set())


def _modules_loaded(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [m for m in out.split() if m.split(".")[0] in {"sim", "standin", "bench"}]


def test_lotse_run_imports_no_simulator_or_benchmark() -> None:
    code = (
        "import sys\n"
        "from lotse.cli import build_parser, _command\n"
        "args = ['run', '--help']\n"
        "parser = build_parser(_command(args))\n"
        "import lotse.controller, lotse.commands.run\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    assert _modules_loaded(code) == []


def test_lotse_run_help_in_a_process_loads_no_simulator() -> None:
    """The real entry point, as systemd starts it, with ``-X importtime``'s view of imports."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lotse.cli", "run", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    names = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
    assert [n for n in names if n.split(".")[0] in {"sim", "standin", "bench"}] == []
    assert "lotse.controller" in names or "lotse.commands.run" in names


def test_full_help_still_lists_every_command() -> None:
    from lotse.cli import COMMANDS, build_parser

    text = build_parser().format_help()
    for name in COMMANDS:
        assert name in text
