"""Who sits in which queue: ``--agents N`` or a staffing file.

A staffing file is YAML::

    defaults:                 # optional, for every agent
      ring: uniform:3:2       # seconds until the agent picks up
      handle: lognormal:180:90
      wrapup_s: 10
    queues:                   # by queue name or center id
      bremen: 4               # four agents with the defaults
      115-wittenberg:
        - name: anna          # or agents one by one
          handle: exp:240
        - name: ben
          paused: true

Agent names become the Local channel extension (``Local/anna@agents/n``)
and must be unique; without names, agents are called ``<queue>-<n>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from router.config import Config
from standin.agents import AgentProfile, Duration


class StaffingError(ValueError):
    """A staffing file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class AgentSpec:
    """One agent to log in at start."""

    name: str
    profile: AgentProfile
    paused: bool = False


@dataclass(frozen=True)
class Staffing:
    """Agents per queue name."""

    queues: Mapping[str, tuple[AgentSpec, ...]]

    @classmethod
    def uniform(cls, config: Config, agents: int, profile: AgentProfile | None = None) -> Staffing:
        """``agents`` agents with the same profile in every center's queue."""
        if agents < 0:
            raise StaffingError("--agents must not be negative")
        prof = profile or AgentProfile()
        return cls(
            {
                c.queue: tuple(AgentSpec(f"{c.id}-{i}", prof) for i in range(1, agents + 1))
                for c in config.centers.values()
            }
        )


def _profile(base: AgentProfile, data: Mapping[str, Any], where: str) -> AgentProfile:
    out = base
    try:
        if "ring" in data:
            out = replace(out, ring=Duration.parse(str(data["ring"])))
        if "handle" in data:
            out = replace(out, handle=Duration.parse(str(data["handle"])))
        if "wrapup_s" in data:
            out = replace(out, wrapup_s=float(data["wrapup_s"]))
    except (TypeError, ValueError) as err:
        raise StaffingError(f"{where}: {err}") from None
    return out


def _queue_name(config: Config, key: str, where: str) -> str:
    if key in config.centers:
        return config.centers[key].queue
    if key in config.center_by_queue:
        return key
    raise StaffingError(f"{where}: {key!r} is neither a center id nor a queue of the config")


def load_staffing(path: str | Path, config: Config) -> Staffing:
    """Read a staffing file (see the module docstring); raises StaffingError."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise StaffingError(f"{source}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise StaffingError(f"{source}: not YAML: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("queues"), dict):
        raise StaffingError(f"{source}: needs a 'queues' mapping")
    unknown = set(data) - {"defaults", "queues"}
    if unknown:
        raise StaffingError(f"{source}: unknown keys {sorted(unknown)}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise StaffingError(f"{source}: 'defaults' must be a mapping")
    base = _profile(AgentProfile(), defaults, f"{source}: defaults")
    queues: dict[str, tuple[AgentSpec, ...]] = {}
    seen: set[str] = set()
    for key, value in data["queues"].items():
        where = f"{source}: queues.{key}"
        queue = _queue_name(config, str(key), where)
        specs: list[AgentSpec] = []
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            specs = [AgentSpec(f"{key}-{i}", base) for i in range(1, value + 1)]
        elif isinstance(value, list):
            for n, item in enumerate(value, start=1):
                if not isinstance(item, dict):
                    raise StaffingError(f"{where}[{n}]: an agent is a mapping")
                name = str(item.get("name") or f"{key}-{n}")
                specs.append(
                    AgentSpec(
                        name, _profile(base, item, f"{where}[{n}]"), bool(item.get("paused", False))
                    )
                )
        else:
            raise StaffingError(f"{where}: a number of agents or a list of agents")
        for spec in specs:
            if not spec.name.replace("-", "").replace("_", "").isalnum():
                raise StaffingError(f"{where}: agent name {spec.name!r} must be [A-Za-z0-9_-]")
            if spec.name in seen:
                raise StaffingError(f"{where}: agent {spec.name!r} staffed twice")
            seen.add(spec.name)
        queues[queue] = tuple(specs)
    return Staffing(queues)
