"""Simulated agents: how fast they pick up, how long they talk, how long they wrap up.

An agent is a queue member whose interface is a Local channel
(``Local/NAME@agents/n``): ringing it runs the ``agents`` context, which
answers after the ring delay, keeps the line for the handle time and hangs up
(``AgentComplete`` with ``Reason: agent``). Durations are drawn from an
injected ``random.Random``, so a seeded run replays exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum


class DistKind(StrEnum):
    """Shapes of duration distributions."""

    FIXED = "fixed"
    UNIFORM = "uniform"
    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True)
class Duration:
    """A random duration in seconds: ``mean`` (and ``spread``) of a distribution.

    ``uniform`` spans mean ± spread, ``lognormal`` has the given mean and
    standard deviation ``spread``; results are cut to ``[low, high]``.
    """

    kind: DistKind = DistKind.FIXED
    mean: float = 0.0
    spread: float = 0.0
    low: float = 0.0
    high: float = math.inf

    def __post_init__(self) -> None:
        if self.mean < 0 or self.spread < 0 or self.low < 0 or self.high < self.low:
            raise ValueError("durations need mean, spread >= 0 and 0 <= low <= high")

    def sample(self, rng: random.Random) -> float:
        """One draw, in seconds."""
        if self.kind is DistKind.FIXED:
            value = self.mean
        elif self.kind is DistKind.UNIFORM:
            value = rng.uniform(self.mean - self.spread, self.mean + self.spread)
        elif self.kind is DistKind.EXPONENTIAL:
            value = rng.expovariate(1.0 / self.mean) if self.mean > 0 else 0.0
        else:
            if self.mean <= 0:
                value = 0.0
            else:
                sigma2 = math.log(1.0 + (self.spread / self.mean) ** 2)
                mu = math.log(self.mean) - sigma2 / 2.0
                value = rng.lognormvariate(mu, math.sqrt(sigma2))
        return min(max(value, self.low), self.high)

    @classmethod
    def parse(cls, text: str) -> Duration:
        """``"4"``, ``"uniform:4:2"``, ``"exp:180"``, ``"lognormal:180:90"``; a third and
        fourth number cut the result to ``[low, high]`` (``"lognormal:240:150:20"``)."""
        parts = text.strip().split(":")
        aliases = {"exp": DistKind.EXPONENTIAL, "logn": DistKind.LOGNORMAL}
        try:
            if len(parts) == 1:
                return cls(DistKind.FIXED, float(parts[0]))
            kind = aliases.get(parts[0]) or DistKind(parts[0])
            numbers = [float(p) for p in parts[1:]]
        except ValueError:
            raise ValueError(f"not a duration: {text!r} (e.g. 4, uniform:4:2, exp:180)") from None
        if not 1 <= len(numbers) <= 4:
            raise ValueError(f"not a duration: {text!r}")
        spread = numbers[1] if len(numbers) > 1 else 0.0
        low = numbers[2] if len(numbers) > 2 else 0.0
        high = numbers[3] if len(numbers) > 3 else math.inf
        return cls(kind, numbers[0], spread, low, high)

    def render(self) -> str:
        """The text :meth:`parse` reads back as this duration."""
        text = f"{self.kind.value}:{self.mean!r}:{self.spread!r}"
        if self.low or math.isfinite(self.high):
            text += f":{self.low!r}"
        if math.isfinite(self.high):
            text += f":{self.high!r}"
        return text


@dataclass(frozen=True)
class AgentProfile:
    """How an agent behaves on a call.

    ``ring`` is the time from the queue ringing the agent to the answer;
    longer than the queue's member timeout means ring-no-answer.
    ``handle`` is the talk time, ``wrapup`` the after-call work during which
    the agent takes no queue call.
    """

    ring: Duration = field(default_factory=lambda: Duration(DistKind.UNIFORM, 3.0, 2.0))
    handle: Duration = field(
        default_factory=lambda: Duration(DistKind.LOGNORMAL, 180.0, 90.0, low=15.0)
    )
    wrapup_s: float = 0.0


@dataclass(eq=False)
class Agent:
    """One agent device (shared by every queue the agent is a member of).

    ``status`` is the Asterisk device state number of its Local interface:
    1 NOT_INUSE, 2 INUSE (Local channels never report RINGING).
    """

    name: str
    interface: str
    profile: AgentProfile
    status: int = 1
    busy: bool = False  # being rung or on a call
    wrapup_until: float = 0.0
    calls: int = 0
    last_call: float = 0.0

    @property
    def state_interface(self) -> str:
        """The device the queue watches: the interface without ``/n``."""
        return self.interface.removesuffix("/n")

    def free_at(self, now: float) -> bool:
        """Not on a call, not being rung, not in wrap-up."""
        return not self.busy and now >= self.wrapup_until


def local_interface(name: str, context: str = "agents") -> str:
    """The member interface of an agent: ``Local/NAME@agents/n``."""
    return f"Local/{name}@{context}/n"
