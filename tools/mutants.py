"""Mutation runs: each module against the tests of its own package only.

    .venv/bin/pip install mutmut==3.8.1      # not in the lock: a tool, not a dependency
    .venv/bin/python tools/mutants.py router    # router/policy.py, router/callback.py
    .venv/bin/python tools/mutants.py metrics   # metrics/servicelevel.py
    .venv/bin/python tools/mutants.py router --results   # the survivors of the last run

mutmut mutates a copy of the checkout under build/mutants/TARGET/ (its own
configuration there, one per target), so the checkout is never touched and
end-to-end tests elsewhere cannot kill a mutant by luck. Every surviving
behavioural mutant is a missing test; the equivalent ones are listed with a
reason in docs/mutants.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# target: (package copied and mutated, modules mutated, tests run, files the tests read)
TARGETS: dict[str, tuple[str, tuple[str, ...], str, tuple[str, ...]]] = {
    "router": ("router", ("router/policy.py", "router/callback.py"), "tests/router", ()),
    "router-rest": (
        "router",
        ("router/opening.py", "router/compiled.py", "router/state.py", "router/decision.py"),
        "tests/router",
        (),
    ),
    "metrics": ("metrics", ("metrics/servicelevel.py",), "tests/metrics", ()),
}
COMMON = ("config.yaml", "pyproject.toml")
# Loaded by pytest from the copy's root. The trampolines mutmut puts into
# every function slow each example down, so hypothesis's deadline would kill
# mutants by chance; examples are derandomized so a verdict does not depend on
# the run, and capped (also where a test sets its own count) so that a run over
# hundreds of mutants ends: a rule a property finds only after many examples
# needs an explicit example anyway.
CONFTEST = """from hypothesis import settings

MAX_EXAMPLES = 20
settings.register_profile("mutants", deadline=None, derandomize=True, max_examples=MAX_EXAMPLES)
settings.load_profile("mutants")


def pytest_collection_modifyitems(items):
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None:
            test._hypothesis_internal_use_settings = settings(
                own, max_examples=min(own.max_examples, MAX_EXAMPLES), deadline=None,
                derandomize=True,
            )
"""


def _setup_cfg(package: str, modules: tuple[str, ...], tests: str, extra: tuple[str, ...]) -> str:
    lines = ["[mutmut]", f"source_paths={package}", "only_mutate="]
    lines += [f"    {m}" for m in modules]
    lines += [f"pytest_add_cli_args_test_selection={tests}"]
    lines += ["pytest_add_cli_args=-p no:cacheprovider -q", "also_copy="]
    lines += [f"    {f}" for f in (*COMMON, *extra, "conftest.py")]
    return "\n".join(lines) + "\n"


def _prepare(target: str) -> Path:
    package, modules, tests, extra = TARGETS[target]
    work = ROOT / "build" / "mutants" / target
    work.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis")
    for name in (package, "tests"):
        # A fresh copy of the sources each run; mutmut's own mutants/ (its
        # cache of results per function hash) is kept between runs.
        shutil.rmtree(work / name, ignore_errors=True)
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    for name in (*COMMON, *extra):
        src = ROOT / name
        if src.is_dir():
            shutil.rmtree(work / name, ignore_errors=True)
            shutil.copytree(src, work / name, ignore=ignore)
        else:
            shutil.copy2(src, work / name)
    (work / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (work / "setup.cfg").write_text(_setup_cfg(package, modules, tests, extra), encoding="utf-8")
    return work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--results", action="store_true", help="list the last run's survivors")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument(
        "names", nargs="*", help="run only these mutants, keeping the other results (default: all)"
    )
    args = parser.parse_args()
    mutmut = Path(sys.executable).parent / "mutmut"
    if not mutmut.exists():
        print("mutmut is not installed: .venv/bin/pip install mutmut==3.8.1", file=sys.stderr)
        return 1
    if args.results:
        work = ROOT / "build" / "mutants" / args.target
        return subprocess.call([str(mutmut), "results"], cwd=work)
    work = _prepare(args.target)
    if not args.names:
        # A full run starts from nothing: cached verdicts may predate the tests.
        shutil.rmtree(work / "mutants", ignore_errors=True)
    # Mutants run on a shared machine: below everything interactive.
    command = ["nice", "-n", "10", str(mutmut), "run", "--max-children", str(args.max_children)]
    command += args.names
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.call(command, cwd=work, env=env)


if __name__ == "__main__":
    sys.exit(main())
