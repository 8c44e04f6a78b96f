"""A compressed clock for a controller run against a simulated day (``lotse sim load --spawn``).

The load driver runs the Asterisk stand-in on a clock that starts at the
scenario's window and runs ``speed`` times faster than real time. A
controller spawned as its own ``lotse run`` process must read the same time:
both compute it from one reference point on the machine's monotonic clock,
which all processes share, so their clocks agree to the microsecond without
talking to each other.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class SimClock:
    """``epoch0`` (UNIX seconds) at monotonic time ``mono0``, running ``speed`` times real time."""

    epoch0: float
    mono0: float
    speed: float

    @classmethod
    def parse(cls, text: str) -> SimClock:
        """``EPOCH0,MONO0,SPEED`` (as :meth:`render` writes it); ``ValueError`` if not."""
        parts = text.split(",")
        if len(parts) != 3:
            raise ValueError(f"{text!r} is not EPOCH0,MONO0,SPEED")
        epoch0, mono0, speed = (float(p) for p in parts)
        if not all(math.isfinite(x) for x in (epoch0, mono0, speed)) or speed <= 0:
            raise ValueError(f"{text!r}: need finite numbers and a positive speed")
        return cls(epoch0, mono0, speed)

    def render(self) -> str:
        """The text :meth:`parse` reads."""
        return f"{self.epoch0!r},{self.mono0!r},{self.speed!r}"

    def now(self) -> float:
        """The simulated time now, UNIX seconds."""
        return self.epoch0 + (time.monotonic() - self.mono0) * self.speed

    def wall(self) -> datetime:
        """The simulated time now, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)
