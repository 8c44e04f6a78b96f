"""``lotse check`` on runaway files: the problems listed are capped, the work is bounded.

A probe fed a 10 MB closures list: 39 s, 1.3 GB and 900,001 lines of output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lotse.cli import main
from router.configload import MAX_CONFIG_BYTES
from router.confignodes import MAX_LISTED_PROBLEMS, ConfigError, Problem
from tests.lotse.rig import REPO

SHIPPED = (REPO / "config.yaml").read_text(encoding="utf-8")
CLOSURES = "    closures: [2026-12-24, 2026-12-31, 2027-12-24, 2027-12-31]\n"


def check(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, list[str]]:
    code = main(["check", str(path)])
    return code, capsys.readouterr().err.splitlines()


def with_bad_closures(n: int) -> str:
    assert CLOSURES in SHIPPED
    bad = "".join(f"      - 2026-13-{i % 28 + 1:02d}\n" for i in range(n))
    return SHIPPED.replace(CLOSURES, "    closures:\n" + bad, 1)


def test_many_problems_list_the_first_hundred_and_count_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(with_bad_closures(5000))
    code, lines = check(capsys, path)
    assert code == 2
    assert len(lines) == MAX_LISTED_PROBLEMS + 1 == 101
    assert all(line.startswith(f"{path}:") for line in lines[:-1])
    assert lines[-1] == "… and 4900 more problems"
    # File order: the first listed is the first bad date.
    first_line = path.read_text().splitlines().index("      - 2026-13-01") + 1
    assert lines[0].startswith(f"{path}:{first_line}:")


@pytest.mark.parametrize(
    ("count", "trailer"),
    [(100, None), (101, "… and 1 more problem"), (102, "… and 2 more problems")],
)
def test_the_cap_at_its_limit(count: int, trailer: str | None) -> None:
    err = ConfigError([Problem("c.yaml", n, 1, "bad") for n in range(1, count + 1)])
    lines = err.lines()
    assert lines[:100] == [f"c.yaml:{n}:1: bad" for n in range(1, 101)]
    assert lines[100:] == ([trailer] if trailer else [])
    assert str(err) == "\n".join(lines)


def padded(size: int) -> str:
    """The shipped configuration, padded with a comment to exactly ``size`` bytes."""
    head = SHIPPED + "# "
    pad = size - len(head.encode()) - 1
    return head + "x" * pad + "\n"


def test_a_file_of_exactly_the_limit_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "limit.yaml"
    path.write_text(padded(MAX_CONFIG_BYTES))
    assert path.stat().st_size == MAX_CONFIG_BYTES
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: 6 centers")


@pytest.mark.parametrize("size", [MAX_CONFIG_BYTES + 1, 10 * 1024 * 1024])
def test_a_larger_file_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, size: int
) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(padded(size) if size == MAX_CONFIG_BYTES + 1 else with_bad_closures(800_000))
    assert path.stat().st_size > MAX_CONFIG_BYTES
    code, lines = check(capsys, path)
    assert code == 2
    assert lines == [
        f"{path}:1:1: larger than 1024 KiB, the limit for a configuration "
        "(the shipped one is some 13 KiB): is this the right file?"
    ]
