"""Staffing plan files: the ``centers: {id: {agents: ...}}`` part of a scenario.

A plan written by ``lotse sim staff --out PLAN.yaml`` is valid scenario YAML
(the ``centers`` section, agents per weekday and half-hour range), so it can
be pasted into any scenario, and ``lotse sim run SCENARIO --staffing
PLAN.yaml`` replaces the scenario's agents with it. Reading checks it against
the scenario's network and refuses it whole, every problem as
``FILE:LINE:COL: message``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from yaml.nodes import MappingNode

from router.config import WEEKDAYS, Config
from router.confignodes import ConfigError, NodeReader, Problem, compose, decode_text, did_you_mean
from sim.scenario import HALF_HOURS, WeekHalfHours
from sim.scenarioread import ValueReader


def render_plan(
    tables: Mapping[str, WeekHalfHours], header: str = "", order: tuple[str, ...] = ()
) -> str:
    """The plan as scenario YAML; ``header`` becomes comment lines on top.

    Days without agents are left out (a day not named has none), equal
    neighbouring half hours are one range, a half hour without agents is in
    no range. Centers come in ``order`` (then the rest by id).
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines.append("centers:")
    ids = [cid for cid in order if cid in tables]
    ids += sorted(cid for cid in tables if cid not in set(ids))
    for cid in ids:
        week = tables[cid]
        days = [(WEEKDAYS[d], _ranges(day)) for d, day in enumerate(week) if any(day)]
        if not days:
            lines.append(f"  {cid}: {{agents: 0}}")
            continue
        lines.append(f"  {cid}:")
        lines.append("    agents:")
        for name, ranges in days:
            lines.append(f"      {name}: {{{', '.join(ranges)}}}")
    return "\n".join(lines) + "\n"


def _ranges(day: tuple[int, ...]) -> list[str]:
    found: list[str] = []
    start = 0
    for half in range(1, HALF_HOURS + 1):
        if half == HALF_HOURS or day[half] != day[start]:
            if day[start]:
                found.append(f'"{_clock(start)}-{_clock(half)}": {day[start]}')
            start = half
    return found


def _clock(half: int) -> str:
    return f"{half // 2:02d}:{30 * (half % 2):02d}"


def load_plan(path: str | Path, config: Config) -> dict[str, WeekHalfHours]:
    """Read a plan file for ``config``'s centers.

    Raises :class:`ConfigError` listing every problem, ``OSError`` if the file
    cannot be read.
    """
    source = str(path)
    text = decode_text(Path(path).read_bytes(), source)
    return load_plan_text(text, config, source)


def load_plan_text(text: str, config: Config, source: str = "<plan>") -> dict[str, WeekHalfHours]:
    """:func:`load_plan` for YAML text."""
    root = compose(text, source)
    reader = NodeReader(source)
    if root is None or not isinstance(root, MappingNode):
        raise ConfigError([Problem(source, 1, 1, "a staffing plan is a mapping with 'centers'")])
    values = ValueReader(reader)
    f = reader.fields(root, "", required=("centers",), optional=("name", "description"))
    tables: dict[str, WeekHalfHours] = {}
    centers = f.get("centers")
    found = reader.entries(centers, "centers") if centers is not None else None
    for key, key_node, value in found or []:
        path = f"centers.{key}"
        if key not in config.centers:
            hint = did_you_mean(key, config.centers) or "; it is not in the scenario's network"
            reader.report(key_node, f"{path}: unknown center {key!r}{hint}")
            continue
        fields = reader.fields(value, path, required=("agents",))
        if "agents" in fields:
            tables[key] = values.staffing(fields["agents"], f"{path}.agents")
    if reader.problems:
        raise ConfigError(reader.sorted_problems())
    return tables
