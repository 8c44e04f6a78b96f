"""Who calls from a center's region: landline numbers of its Ortsnetze, mobiles, anonymous.

Landline callers get a number in one of the center's Ortsnetze (the trunk 0,
the code and a random subscriber number: ten digits after the 0, as German
numbers mostly have), so the routing policy finds the center by Ortsnetz
exactly as it does for real calls. Mobile and anonymous callers carry no
Ortsnetz; the postal code they key in when asked is drawn from codes the
configuration maps to the center. The numbers are made up and never leave the
engine: reports count calls, they never show a number.

The policy reads a caller number only for its :class:`router.numbering.Origin`,
so the engine draws a :class:`CallerClass` per call (an Ortsnetz, mobile,
anonymous) and keeps its routing decisions per class; a number is written out
only when the policy itself is asked.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from router.config import Center, Config
from router.numbering import OrtsnetzTable, classify_caller
from sim.scenario import CallerMix

# Digits after the trunk 0 of a generated landline number.
_NSN_LENGTH = 10
# Sample postal codes kept per center: enough variety, bounded memory.
_POSTAL_SAMPLES = 64


class CallerClass:
    """Callers whose numbers the policy cannot tell apart (one Origin).

    ``first`` and ``decisions`` belong to the engine's decision cache
    (``sim.engine.decisions``): the latest decision of a first routing, the
    latest by (postal code, visited centers), and all kept ones by (postal
    code, visited centers, opening facts).
    """

    __slots__ = ("decisions", "first", "label", "make")

    def __init__(self, label: str, make: Callable[[random.Random], str]) -> None:
        self.label = label  # safe to print: the masked origin
        self.make = make
        self.first: Any = None
        self.decisions: dict[tuple[Any, ...], Any] = {}

    def number(self, rng: random.Random) -> str:
        """A caller number of this class, drawn from ``rng``."""
        return self.make(rng)


def _mobile_number(rng: random.Random) -> str:
    return f"0151{10_000_000 + int(rng.random() * 90_000_000)}"


def _landline_maker(prefix: str, lo: int, span: int) -> Callable[[random.Random], str]:
    return lambda rng: f"{prefix}{lo + int(rng.random() * span)}"


@lru_cache(maxsize=4)
def _cut_codes(table: OrtsnetzTable) -> frozenset[str]:
    """Codes that a longer code of the table starts with (0212 Solingen, 02129 Haan)."""
    return frozenset(net.code[:n] for net in table for n in range(2, len(net.code)))


class CallerSource:
    """Draws caller numbers and postal codes for one center's region."""

    __slots__ = (
        "_anonymous",
        "_classes",
        "_codes",
        "_landline",
        "_landline_from",
        "_mix",
        "_mobile",
        "_mobile_to",
        "_postal",
        "_random",
        "_refined",
        "_rng",
        "_scale",
        "_shapes",
        "_table",
    )

    def __init__(
        self,
        center: Center,
        config: Config,
        mix: CallerMix,
        rng: random.Random,
        table: OrtsnetzTable | None = None,
    ) -> None:
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
        self._random = rng.random
        self._table = table
        self._mobile = CallerClass("0151…", _mobile_number)
        self._anonymous = CallerClass("anonymous", lambda rng: "anonymous")
        self._mobile_to, self._landline_from = self._shapes
        cut = _cut_codes(table) if table is not None else frozenset()
        # None: a code a longer code cuts into; its callers are classified one by one.
        self._landline: tuple[CallerClass | None, ...] = tuple(
            None if prefix[1:] in cut else CallerClass(prefix + "…", _landline_maker(*shape))
            for shape in self._codes
            for prefix in (shape[0],)
        )
        self._classes = len(self._landline)
        share = 1.0 - self._landline_from
        self._scale = self._classes / share if share > 0.0 else 0.0
        self._refined: dict[str, CallerClass] = {}

    def draw(self) -> CallerClass:
        """The class of the next caller (with :meth:`caller`'s shares).

        Needs the Ortsnetz ``table`` the source was built with.
        """
        u = self._random()
        if u < self._landline_from:
            return self._mobile if u < self._mobile_to else self._anonymous
        n = self._classes
        i = int((u - self._landline_from) * self._scale)
        if i >= n:
            i = n - 1
        found = self._landline[i]
        if found is not None:
            return found
        # A code that a longer one cuts into: the number decides (rare).
        prefix, lo, span = self._codes[i]
        number = f"{prefix}{lo + int(self._random() * span)}"
        assert self._table is not None
        origin = classify_caller(number, self._table)
        refined = self._refined.get(origin.masked)
        if refined is None:
            refined = CallerClass(origin.masked, lambda rng: number)
            self._refined[origin.masked] = refined
        return refined

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
