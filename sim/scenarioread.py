"""Readers for the values of a scenario file: durations, weekly tables, staffing.

Each reader takes a YAML node (with its position) and returns the typed value,
recording every problem on the shared :class:`router.confignodes.NodeReader`
so the loader can refuse the file with all of them at once, as
``FILE:LINE:COL: message``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from router.config import WEEKDAYS
from router.confignodes import STR, NodeReader, describe
from router.configvalues import parse_days, parse_time_range
from sim.scenario import DAYS, HALF_HOURS, HOURS, Dist, DistKind, WeekHalfHours, WeekHours

T = TypeVar("T")

_DIST_KEYS = ("dist", "mean_s", "sd_s", "spread_s", "min_s", "max_s")
_DIST_HELP = (
    "a duration: seconds (fixed), 'none', or a mapping such as "
    "{dist: lognormal, mean_s: 240, sd_s: 120}"
)


class ValueReader:
    """Typed scenario values on top of a :class:`NodeReader`."""

    def __init__(self, reader: NodeReader) -> None:
        self.r = reader

    # --- numbers ------------------------------------------------------------------

    def non_negative(self, node: Node | None, path: str, default: float) -> float:
        """A finite number of at least 0."""
        if node is None:
            return default
        before = len(self.r.problems)
        value = self.r.number(node, path, default)
        if value < 0 and len(self.r.problems) == before:
            self.r.report(node, f"{path}: must not be negative, got {value:g}")
            return default
        return value

    def share(self, node: Node | None, path: str, default: float) -> float:
        """A share between 0 and 1 (0.15 = 15 %)."""
        if node is None:
            return default
        before = len(self.r.problems)
        value = self.r.number(node, path, default)
        if not 0.0 <= value <= 1.0 and len(self.r.problems) == before:
            self.r.report(node, f"{path}: must be a share from 0 to 1 (0.15 = 15 %), got {value:g}")
            return default
        return value

    # --- durations ----------------------------------------------------------------

    def dist(self, node: Node | None, path: str, default: Dist) -> Dist:
        """A random duration (see ``_DIST_HELP``)."""
        if node is None:
            return default
        if isinstance(node, ScalarNode) and node.tag == STR:
            if str(node.value).strip() == DistKind.NONE:
                return Dist(DistKind.NONE)
            self.r.report(node, f"{path}: expected {_DIST_HELP}, got {describe(node)}")
            return default
        if isinstance(node, ScalarNode):
            return Dist(DistKind.FIXED, self.non_negative(node, path, default.mean_s))
        f = self.r.fields(node, path, required=("dist",), optional=_DIST_KEYS[1:])
        if not f:
            return default
        kind = self.r.choice(f.get("dist"), f"{path}.dist", DistKind.FIXED, DistKind)
        if kind is DistKind.NONE:
            for key in _DIST_KEYS[1:]:
                if key in f:
                    self.r.report(f[key], f"{path}.{key}: a duration of 'none' takes no {key}")
            return Dist(DistKind.NONE)
        if "mean_s" not in f:
            self.r.report(node, f"{path}: missing required key 'mean_s'")
            return default
        mean = self.non_negative(f["mean_s"], f"{path}.mean_s", default.mean_s)
        spread_key = {DistKind.LOGNORMAL: "sd_s", DistKind.UNIFORM: "spread_s"}.get(kind)
        for key in ("sd_s", "spread_s"):
            if key in f and key != spread_key:
                self.r.report(f[key], f"{path}.{key}: not a parameter of a {kind} duration")
        spread = 0.0
        if spread_key is not None:
            if spread_key not in f:
                self.r.report(node, f"{path}: a {kind} duration needs {spread_key!r}")
            spread = self.non_negative(f.get(spread_key), f"{path}.{spread_key}", 0.0)
        lo = self.non_negative(f.get("min_s"), f"{path}.min_s", 0.0)
        hi = self.non_negative(f.get("max_s"), f"{path}.max_s", math.inf)
        if kind in (DistKind.EXPONENTIAL, DistKind.LOGNORMAL) and mean <= 0 and "mean_s" in f:
            self.r.report(f["mean_s"], f"{path}.mean_s: a {kind} duration needs a mean above 0")
            return default
        if kind is DistKind.UNIFORM and spread > mean:
            self.r.report(
                f.get("spread_s", node),
                f"{path}.spread_s: {spread:g} s would reach below 0 s (mean {mean:g} s)",
            )
            return default
        if hi < lo:
            self.r.report(f.get("max_s", node), f"{path}.max_s: below min_s ({lo:g} s)")
            return default
        return Dist(kind, mean, spread, lo, hi)

    # --- weekly tables ------------------------------------------------------------

    def by_weekday(
        self, node: Node, path: str, read: Callable[[Node, str], T], empty: T
    ) -> list[T]:
        """A mapping of days and day spans (``mon-fri``, ``sat``) to values, per weekday.

        As for opening hours: spans may not overlap, a single day overrides the
        span it is in, and days not named get ``empty``.
        """
        found = self.r.entries(node, path)
        days: list[T] = [empty] * DAYS
        if found is None:
            return days
        span_of: dict[int, str] = {}
        single_of: dict[int, str] = {}
        singles: list[tuple[int, T]] = []
        for key, key_node, value in found:
            kp = f"{path}.{key}"
            try:
                weekdays = parse_days(key)
            except ValueError as err:
                self.r.report(key_node, f"{kp}: {err}")
                continue
            read_value = read(value, kp)
            owner = single_of if len(weekdays) == 1 else span_of
            clash = next((d for d in weekdays if d in owner), None)
            if clash is not None:
                self.r.report(
                    key_node, f"{kp}: {WEEKDAYS[clash]} is already given by {owner[clash]!r}"
                )
                continue
            for day in weekdays:
                owner[day] = key
            if len(weekdays) == 1:
                singles.append((weekdays[0], read_value))
            else:
                for day in weekdays:
                    days[day] = read_value
        for day, read_value in singles:
            days[day] = read_value
        return days

    def hourly(self, node: Node, path: str) -> WeekHours:
        """Calls per hour: one number for every hour, or per day a number or 24 numbers."""
        if isinstance(node, ScalarNode):
            value = self.non_negative(node, path, 0.0)
            return ((value,) * HOURS,) * DAYS
        if not isinstance(node, MappingNode):
            self.r.report(node, f"{path}: expected calls per hour (a number or a mapping of days)")
            return ((0.0,) * HOURS,) * DAYS
        days = self.by_weekday(node, path, self._day_hours, (0.0,) * HOURS)
        return tuple(days)

    def _day_hours(self, node: Node, path: str) -> tuple[float, ...]:
        if isinstance(node, ScalarNode):
            return (self.non_negative(node, path, 0.0),) * HOURS
        items = self.r.items(node, path)
        if isinstance(node, SequenceNode) and len(items) != HOURS:
            self.r.report(node, f"{path}: a day has 24 hours, got {len(items)} numbers")
            return (0.0,) * HOURS
        return tuple(self.non_negative(item, ip, 0.0) for ip, item in items) or (0.0,) * HOURS

    def staffing(self, node: Node, path: str) -> WeekHalfHours:
        """Agents: one number around the clock, or per day a number or half-hour ranges."""
        if isinstance(node, ScalarNode):
            agents = self.r.integer(node, path, 0, minimum=0)
            return ((agents,) * HALF_HOURS,) * DAYS
        days = self.by_weekday(node, path, self._day_staff, (0,) * HALF_HOURS)
        return tuple(days)

    def _day_staff(self, node: Node, path: str) -> tuple[int, ...]:
        if isinstance(node, ScalarNode):
            if node.tag == STR and str(node.value).strip() == "closed":
                return (0,) * HALF_HOURS
            return (self.r.integer(node, path, 0, minimum=0),) * HALF_HOURS
        found = self.r.entries(node, path)
        halves = [0] * HALF_HOURS
        if found is None:
            return tuple(halves)
        claimed: dict[int, str] = {}
        for key, key_node, value in found:
            kp = f"{path}.{key}"
            try:
                rng = parse_time_range(key)
            except ValueError as err:
                self.r.report(key_node, f"{kp}: {err}")
                continue
            lo = rng.start.hour * 60 + rng.start.minute
            hi = (rng.end.hour * 60 + rng.end.minute) or 1440
            if lo % 30 or hi % 30:
                self.r.report(key_node, f"{kp}: staffing changes on the half hour (:00 or :30)")
                continue
            agents = self.r.integer(value, kp, 0, minimum=0)
            for half in range(lo // 30, hi // 30):
                if half in claimed:
                    self.r.report(key_node, f"{kp}: overlaps {claimed[half]!r}")
                    break
                claimed[half] = key
                halves[half] = agents
        return tuple(halves)
