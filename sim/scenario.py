"""What-if scenarios: a period, the calls that arrive, how long they take, who answers.

A :class:`Scenario` is the fully resolved input of the what-if engine
(``sim.engine``): the network (a loaded :class:`router.config.Config`), the
period in local time, and for every center a :class:`CenterPlan` with its
calls per hour of the week, its agents per half hour and the distributions of
handle time, caller patience and ring time. ``sim.scenarioload`` reads the
YAML files of ``sim/scenarios/`` into it; tests build one directly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from router.config import Config
from router.numbering import OrtsnetzTable

HOURS = 24
HALF_HOURS = 48
DAYS = 7

# Calls per hour by weekday (0 = Monday) and hour of the local day.
WeekHours = tuple[tuple[float, ...], ...]
# Agents logged in by weekday and half hour of the local day.
WeekHalfHours = tuple[tuple[int, ...], ...]


class DistKind(StrEnum):
    """Shapes of a random duration."""

    FIXED = "fixed"
    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"
    UNIFORM = "uniform"
    # Never ends: a caller without patience waits until answered.
    NONE = "none"


@dataclass(frozen=True)
class Dist:
    """A random duration in seconds.

    ``spread_s`` is the standard deviation of a lognormal and the half width of
    a uniform distribution; draws are cut to ``[min_s, max_s]``.
    """

    kind: DistKind = DistKind.FIXED
    mean_s: float = 0.0
    spread_s: float = 0.0
    min_s: float = 0.0
    max_s: float = math.inf

    def __post_init__(self) -> None:
        if not (self.mean_s >= 0 and self.spread_s >= 0 and 0 <= self.min_s <= self.max_s):
            raise ValueError("a duration needs mean, spread >= 0 and 0 <= min <= max")
        if self.kind is DistKind.UNIFORM and self.spread_s > self.mean_s:
            raise ValueError("a uniform duration cannot spread below 0 s")

    @property
    def infinite(self) -> bool:
        """True for ``none``: the duration never ends."""
        return self.kind is DistKind.NONE

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A function drawing one duration from ``rng``: built once, called per call."""
        lo, hi = self.min_s, self.max_s
        mean, spread = self.mean_s, self.spread_s
        draw: Callable[[], float]
        if self.kind is DistKind.NONE:
            return lambda: math.inf
        if self.kind is DistKind.FIXED or mean == 0.0:
            value = min(max(mean, lo), hi)
            return lambda: value
        if self.kind is DistKind.EXPONENTIAL:
            expo, rate = rng.expovariate, 1.0 / mean
            draw = lambda: expo(rate)  # noqa: E731
        elif self.kind is DistKind.UNIFORM:
            uniform = rng.uniform
            a, b = mean - spread, mean + spread
            draw = lambda: uniform(a, b)  # noqa: E731
        else:
            sigma2 = math.log(1.0 + (spread / mean) ** 2)
            mu, sigma = math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)
            lognorm = rng.lognormvariate
            draw = lambda: lognorm(mu, sigma)  # noqa: E731
        if lo == 0.0 and hi == math.inf:
            return draw
        return lambda: min(max(draw(), lo), hi)

    def __str__(self) -> str:
        if self.kind is DistKind.NONE:
            return "none"
        if self.kind in (DistKind.FIXED, DistKind.EXPONENTIAL):
            return f"{self.kind} {self.mean_s:g} s"
        return f"{self.kind} {self.mean_s:g}±{self.spread_s:g} s"


@dataclass(frozen=True)
class CenterPlan:
    """Traffic and staffing of one center.

    ``calls_per_hour`` are the calls of callers from the center's region (its
    Ortsnetze and postal codes), by local weekday and hour; where they are
    answered is the routing policy's business. ``agents`` are logged in to the
    center's queue by local weekday and half hour. Without ``staff_holidays``
    nobody works on the center's closure days and its state's public holidays.
    ``min_agents`` and ``can_add_agents`` bind only the staffing planner.
    """

    calls_per_hour: WeekHours = ((0.0,) * HOURS,) * DAYS
    agents: WeekHalfHours = ((0,) * HALF_HOURS,) * DAYS
    handle: Dist = field(default_factory=lambda: Dist(DistKind.LOGNORMAL, 240.0, 120.0))
    patience: Dist = field(default_factory=lambda: Dist(DistKind.EXPONENTIAL, 120.0))
    ring: Dist = field(default_factory=lambda: Dist(DistKind.FIXED, 0.0))
    staff_holidays: bool = False
    # Constraints of the staffing planner (``lotse sim staff``): at least
    # ``min_agents`` in every half hour the center is open; without
    # ``can_add_agents`` never more than ``agents`` says.
    min_agents: int = 0
    can_add_agents: bool = True

    @property
    def calls_per_week(self) -> float:
        """The expected calls of a week without holidays."""
        return sum(sum(day) for day in self.calls_per_hour)


@dataclass(frozen=True)
class CallerMix:
    """Who calls: shares of callers whose number names no Ortsnetz.

    Mobile and anonymous callers are asked for their postal code (when the
    configuration says so); ``postal_code`` of them key in a usable one,
    ``prompt_s`` after the question. The others (nothing keyed in) take the
    prompt's full retry time and go to the fallback center.
    """

    mobile: float = 0.15
    anonymous: float = 0.03
    postal_code: float = 0.9
    prompt_s: float = 8.0


@dataclass(frozen=True)
class CallbackMix:
    """How callers take a callback (scenario key ``callbacks``).

    ``accept`` of the callers offered one request it; ``answer`` of the
    attempts reach the caller (the others are retried as the center's
    ``callback:`` settings say); of those not answered, ``busy`` find the
    line busy, the rest ring out; of the answered ones the caller hangs up
    first in ``hangs_up_first``, else the agent does. Offers follow the
    configuration. ``busy`` and ``hangs_up_first`` shape only the calls
    ``lotse sim load`` places through the stand-in; the what-if engine
    retries a busy attempt like one that rang out.
    """

    accept: float = 0.5
    answer: float = 0.85
    busy: float = 0.3
    hangs_up_first: float = 0.5


@dataclass(frozen=True)
class Scenario:
    """A what-if question: this network, this traffic, this staffing, this period.

    ``start`` is the first local day (from local midnight), ``days`` the length.
    ``holiday_volume`` scales a center's calls on its state's public holidays.
    The service level counts calls answered within ``threshold_s`` among the
    calls offered, leaving out off-hours announcements and callers who hung up
    within ``short_abandon_s``.
    """

    name: str
    config: Config
    table: OrtsnetzTable
    start: date
    days: int
    plans: Mapping[str, CenterPlan]
    callers: CallerMix = field(default_factory=CallerMix)
    # ``None``: callbacks are not modelled (no caller takes an offer).
    callbacks: CallbackMix | None = None
    threshold_s: float = 30.0
    short_abandon_s: float = 5.0
    target: float = 0.75
    holiday_volume: float = 1.0
    description: str = ""
    source: str = "<scenario>"

    def plan(self, center_id: str) -> CenterPlan:
        """The plan of a center; a center without one takes no calls and has no agents."""
        return self.plans.get(center_id, _IDLE)


_IDLE = CenterPlan()


def constant_week(value: float) -> WeekHours:
    """The same number of calls in every hour of the week."""
    return ((float(value),) * HOURS,) * DAYS


def constant_agents(agents: int) -> WeekHalfHours:
    """The same number of agents around the clock."""
    return ((agents,) * HALF_HOURS,) * DAYS
