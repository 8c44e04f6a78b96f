"""Who calls from a center's region: landline numbers of its Ortsnetze, mobiles, anonymous.

Landline callers get a number in one of the center's Ortsnetze (the trunk 0,
the code and a random subscriber number: ten digits after the 0, as German
numbers mostly have), so the routing policy finds the center by Ortsnetz
exactly as it does for real calls. Mobile and anonymous callers carry no
Ortsnetz; the postal code they key in when asked is drawn from codes the
configuration maps to the center. The numbers are made up and never leave the
engine: reports count calls, they never show a number.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from router.config import Center, Config
from sim.scenario import CallerMix

# Digits after the trunk 0 of a generated landline number.
_NSN_LENGTH = 10
# Sample postal codes kept per center: enough variety, bounded memory.
_POSTAL_SAMPLES = 64


class CallerSource:
    """Draws caller numbers and postal codes for one center's region."""

    __slots__ = ("_codes", "_mix", "_postal", "_rng", "_shapes")

    def __init__(self, center: Center, config: Config, mix: CallerMix, rng: random.Random) -> None:
        self._rng = rng
        self._mix = mix
        # (trunk 0 + code, smallest subscriber number, how many there are)
        self._codes = tuple(
            ("0" + code, 10 ** (width - 1), 9 * 10 ** (width - 1))
            for code in center.ortsnetze
            for width in (max(3, _NSN_LENGTH - len(code)),)
        )
        self._postal = postal_samples(center, config, rng)
        self._shapes: tuple[float, float] = (mix.mobile, mix.mobile + mix.anonymous)
        if not self._codes:
            # No Ortsnetz: everyone calls from a mobile (the loader warns about this).
            self._shapes = (1.0, 1.0)

    def caller(self) -> str:
        """One caller number as a switch would deliver it."""
        draw = self._rng.random
        u = draw()
        mobile, anonymous = self._shapes
        if u < mobile:
            return f"0151{10_000_000 + int(draw() * 90_000_000)}"
        if u < anonymous:
            return "anonymous"
        codes = self._codes
        prefix, lo, span = codes[int(draw() * len(codes))]
        return f"{prefix}{lo + int(draw() * span)}"

    def postal_code(self) -> str:
        """What a caller without Ortsnetz keys in: a code of the region, or nothing (``""``)."""
        rng = self._rng
        if not self._postal or rng.random() >= self._mix.postal_code:
            return ""
        return self._postal[rng.randrange(len(self._postal))]


def postal_samples(center: Center, config: Config, rng: random.Random) -> tuple[str, ...]:
    """Postal codes that the configuration routes to ``center`` (carve-outs excluded)."""
    codes = center.postal_codes
    candidates: list[str] = sorted(codes.exact)
    draw: list[Callable[[], str]] = []
    for prefix in sorted(codes.prefixes):
        draw.append(_in_prefix(prefix, rng))
    for lo, hi in codes.ranges:
        draw.append(_in_range(lo, hi, rng))
    if draw:
        for _ in range(4 * _POSTAL_SAMPLES):
            candidates.append(draw[rng.randrange(len(draw))]())
    mine = [plz for plz in candidates if config.center_for_postal_code(plz) == center.id]
    unique = list(dict.fromkeys(mine))
    return tuple(unique[: max(_POSTAL_SAMPLES, len(codes.exact))])


def _in_prefix(prefix: str, rng: random.Random) -> Callable[[], str]:
    width = 5 - len(prefix)
    return lambda: prefix + str(rng.randrange(10**width)).zfill(width)


def _in_range(lo: str, hi: str, rng: random.Random) -> Callable[[], str]:
    a, b = int(lo), int(hi)
    return lambda: str(rng.randint(a, b)).zfill(5)
