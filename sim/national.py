"""A national 115 network of about 100 centers covering every German Ortsnetz.

Generated, not surveyed: the Ortsnetze are grouped by the first two digits of
their code (the large eastern groups halved by the third), each group served
by a regional center in the federal state that group mostly lies in; a state
service center per state backs its regional centers (overflow and off hours),
and the national center ``bund`` backs the state centers and takes callers
without a region. Postal codes are dealt out by state, three-digit prefix by
prefix, so callers without Ortsnetz find a home too. Opening hours vary a
little from center to center, and the population behind each Ortsnetz (for
splitting a national call volume) is estimated from the length of its code:
big cities have short codes.

Everything is drawn from ``random.Random(seed)``, so a seed always gives the
same network; :func:`render_config` writes it in ``config.yaml`` form.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, time

from router.config import (
    WEEKDAYS,
    Center,
    Config,
    PostalCodes,
    Thresholds,
    TimeRange,
    WeeklyHours,
)
from router.numbering import OrtsnetzTable

GERMANY_POPULATION = 84_400_000

STATE_NAMES = {
    "BB": "Brandenburg",
    "BE": "Berlin",
    "BW": "Baden-Württemberg",
    "BY": "Bayern",
    "HB": "Bremen",
    "HE": "Hessen",
    "HH": "Hamburg",
    "MV": "Mecklenburg-Vorpommern",
    "NI": "Niedersachsen",
    "NW": "Nordrhein-Westfalen",
    "RP": "Rheinland-Pfalz",
    "SH": "Schleswig-Holstein",
    "SL": "Saarland",
    "SN": "Sachsen",
    "ST": "Sachsen-Anhalt",
    "TH": "Thüringen",
}

# The state most of an Ortsnetz group lies in; "a"/"b": third digit 0-4 / 5-9.
_GROUP_STATE = {
    **dict.fromkeys(("20", "21", "22", "23", "24", "25", "27", "28", "29"), "NW"),
    "26": "RP", "30": "BE", "33a": "BB", "33b": "BB", "34a": "SN", "34b": "ST",
    "35a": "SN", "35b": "SN", "36a": "TH", "36b": "TH", "37": "SN", "38a": "MV",
    "38b": "MV", "39a": "ST", "39b": "MV", "40": "HH", "41": "SH", "42": "HB",
    "43": "SH", "44": "NI", "45": "SH", "46": "SH", "47": "NI", "48": "SH", "49": "NI",
    "50": "NI", "51": "NI", "52": "NW", "53": "NI", "54": "NI", "55": "NI", "56": "HE",
    "57": "NW", "58": "NI", "59": "NI", "60": "HE", "61": "HE", "62": "BW", "63": "RP",
    "64": "HE", "65": "RP", "66": "HE", "67": "RP", "68": "SL", "69": "HE",
    **{str(p): "BW" for p in range(70, 80)},
    **{str(p): "BY" for p in range(80, 100)},
}  # fmt: skip
# Groups with this many Ortsnetze are served by two regional centers.
_SPLIT_AT = 150

# The state of each two-digit postal region (Postleitregion); 00, 05, 11, 43
# and 62 are not in use.
_POSTAL_STATE = {
    "01": "SN", "02": "SN", "03": "BB", "04": "SN", "06": "ST", "07": "TH", "08": "SN",
    "09": "SN", "10": "BE", "12": "BE", "13": "BE", "14": "BB", "15": "BB", "16": "BB",
    "17": "MV", "18": "MV", "19": "MV", "20": "HH", "21": "HH", "22": "HH", "23": "SH",
    "24": "SH", "25": "SH", "26": "NI", "27": "NI", "28": "HB", "29": "NI", "30": "NI",
    "31": "NI", "32": "NW", "33": "NW", "34": "HE", "35": "HE", "36": "HE", "37": "NI",
    "38": "NI", "39": "ST", "40": "NW", "41": "NW", "42": "NW", "44": "NW", "45": "NW",
    "46": "NW", "47": "NW", "48": "NW", "49": "NI", "50": "NW", "51": "NW", "52": "NW",
    "53": "NW", "54": "RP", "55": "RP", "56": "RP", "57": "NW", "58": "NW", "59": "NW",
    "60": "HE", "61": "HE", "63": "HE", "64": "HE", "65": "HE", "66": "SL", "67": "RP",
    "68": "BW", "69": "BW", **{str(p): "BW" for p in range(70, 80)},
    **{str(p): "BY" for p in range(80, 88)}, "88": "BW", "89": "BY",
    **{str(p): "BY" for p in range(90, 98)}, "98": "TH", "99": "TH",
}  # fmt: skip

# Rough inhabitants behind an Ortsnetz by the length of its code.
_PEOPLE_BY_CODE_LENGTH = {2: 1_500_000, 3: 250_000, 4: 12_500, 5: 4_000}
_BIG_CITIES = {"30": 3_850_000, "40": 1_900_000, "89": 1_510_000, "69": 770_000}

_REGION_THRESHOLDS = Thresholds(max_waiting=10, max_expected_wait_s=90.0)
_STATE_THRESHOLDS = Thresholds(max_waiting=20, max_expected_wait_s=120.0)
_BUND_THRESHOLDS = Thresholds(max_waiting=60, max_expected_wait_s=180.0)
FALLBACK = "bund"


@dataclass(frozen=True)
class NationalNetwork:
    """The generated configuration and the estimated population each center serves."""

    config: Config
    population: Mapping[str, int]
    seed: int


def national_network(table: OrtsnetzTable, *, seed: int = 115) -> NationalNetwork:
    """The national network for ``seed`` (the same seed, the same network)."""
    rng = random.Random(seed)
    groups: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    for net in table:
        sizes[net.code[:2]] = sizes.get(net.code[:2], 0) + 1
    for net in table:
        key = net.code[:2]
        if sizes[key] >= _SPLIT_AT:
            key += "a" if net.code[2:3] < "5" else "b"
        groups.setdefault(key, []).append(net.code)
    regions: dict[str, tuple[str, str]] = {}  # center id -> (group, state)
    centers: dict[str, Center] = {}
    population: dict[str, int] = {}
    used_ids: set[str] = set()
    for key in sorted(groups):
        codes = sorted(groups[key], key=lambda c: (len(c), c))
        state = _GROUP_STATE.get(key) or _GROUP_STATE[key[:2]]
        place = table.get(codes[0])
        assert place is not None
        cid = _unique(_slug(place.name), used_ids)
        regions[cid] = (key, state)
        population[cid] = sum(_people(code, rng) for code in codes)
        centers[cid] = _regional(cid, place.name, state, tuple(sorted(codes)), rng)
    postal = _postal_prefixes(regions)
    for cid, prefixes in postal.items():
        old = centers[cid]
        centers[cid] = replace(old, postal_codes=PostalCodes(prefixes=prefixes))
    for state in sorted(STATE_NAMES):
        cid = f"land-{state.lower()}"
        centers[cid] = _center(
            cid,
            f"Servicecenter {STATE_NAMES[state]}",
            state,
            _weekly(time(7), time(20), time(18)),
            _STATE_THRESHOLDS,
            45,
            (FALLBACK,),
        )
    long_day = (TimeRange(time(6), time(22)),)
    saturday = (TimeRange(time(8), time(20)),)
    centers[FALLBACK] = _center(
        FALLBACK,
        "Servicecenter des Bundes",
        "BE",
        WeeklyHours((long_day,) * 5 + (saturday, ())),
        _BUND_THRESHOLDS,
        60,
        (),
    )
    scale = GERMANY_POPULATION / sum(population.values())
    people = {cid: round(n * scale) for cid, n in population.items()}
    people.update(dict.fromkeys((c for c in centers if c not in people), 0))
    config = Config(centers=centers, fallback_center=FALLBACK, source=f"<national seed {seed}>")
    return NationalNetwork(config=config, population=people, seed=seed)


def _regional(
    cid: str, place: str, state: str, codes: tuple[str, ...], rng: random.Random
) -> Center:
    opens = rng.choice((time(7), time(7, 30), time(8)))
    closes = rng.choice((time(16), time(17), time(18)))
    friday = rng.choice((time(12), time(13), time(14), time(15)))
    center = _center(
        cid,
        f"Bürgertelefon {place}",
        state,
        _weekly(opens, closes, friday),
        _REGION_THRESHOLDS,
        30,
        (f"land-{state.lower()}",),
    )
    return replace(center, ortsnetze=codes, closures=_closures())


def _center(
    cid: str,
    name: str,
    state: str,
    hours: WeeklyHours,
    thresholds: Thresholds,
    timeout: int,
    partners: tuple[str, ...],
) -> Center:
    return Center(
        id=cid,
        name=name,
        state=state,
        queue=f"115-{cid}",
        greeting=f"lotse/greeting-{cid}",
        offhours_announcement=f"lotse/offhours-{cid}",
        hours=hours,
        thresholds=thresholds,
        queue_timeout_s=timeout,
        overflow_partners=partners,
        offhours_partners=partners,
    )


def _weekly(opens: time, closes: time, friday_closes: time) -> WeeklyHours:
    day = (TimeRange(opens, closes),)
    return WeeklyHours((day,) * 4 + ((TimeRange(opens, friday_closes),), (), ()))


def _closures() -> frozenset[date]:
    return frozenset(date(y, 12, d) for y in (2026, 2027, 2028) for d in (24, 31))


def _people(code: str, rng: random.Random) -> int:
    base = _BIG_CITIES.get(code) or _PEOPLE_BY_CODE_LENGTH.get(len(code), 5_000)
    return round(base * rng.lognormvariate(0.0, 0.35))


def _postal_prefixes(regions: Mapping[str, tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Three-digit postal prefixes of each state, dealt out to its regional centers."""
    by_state: dict[str, list[str]] = {}
    for cid, (_, state) in sorted(regions.items()):
        by_state.setdefault(state, []).append(cid)
    dealt: dict[str, set[str]] = {cid: set() for cid in regions}
    for state, ids in sorted(by_state.items()):
        prefixes = [
            f"{region}{digit}"
            for region, owner in sorted(_POSTAL_STATE.items())
            if owner == state
            for digit in range(10)
        ]
        for i, prefix in enumerate(prefixes):
            dealt[ids[i % len(ids)]].add(prefix)
    return {cid: frozenset(p) for cid, p in dealt.items()}


def _slug(name: str) -> str:
    text = name.lower().replace("ß", "ss")
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue")):
        text = text.replace(umlaut, plain)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(ch if ch.isalnum() else " " for ch in text).split()
    return "-".join(words) or "region"


def _unique(base: str, used: set[str]) -> str:
    cid, n = base, 2
    while cid in used or cid in (FALLBACK,) or cid.startswith("land-"):
        cid, n = f"{base}-{n}", n + 1
    used.add(cid)
    return cid


def render_config(config: Config) -> str:
    """The configuration's network in ``config.yaml`` form (global settings at their defaults)."""
    out = [
        "# Generated by sim/national.py; edit the generator, not this file.",
        f"timezone: {config.timezone}",
        f"fallback_center: {config.fallback_center}",
        f"max_hops: {config.max_hops}",
        "centers:",
    ]
    for c in config.centers.values():
        out += [
            f"  {c.id}:",
            f"    name: {_quote(c.name)}",
            f"    state: {c.state}",
            f"    queue: {c.queue}",
            f"    greeting: {c.greeting}",
            f"    offhours_announcement: {c.offhours_announcement}",
            "    hours:",
        ]
        for day, ranges in zip(WEEKDAYS, c.hours.days, strict=True):
            if ranges:
                out.append(f"      {day}: [{', '.join(_quote(str(r)) for r in ranges)}]")
        if c.closures:
            out.append(f"    closures: [{', '.join(d.isoformat() for d in sorted(c.closures))}]")
        if c.ortsnetze:
            out.append(f"    ortsnetze: [{', '.join(_quote('0' + n) for n in c.ortsnetze)}]")
        codes = [*sorted(c.postal_codes.prefixes), *sorted(c.postal_codes.exact)]
        codes += [f"{lo}-{hi}" for lo, hi in c.postal_codes.ranges]
        if codes:
            out.append(f"    postal_codes: [{', '.join(_quote(p) for p in codes)}]")
        t = c.thresholds
        out.append(
            f"    thresholds: {{max_waiting: {_opt(t.max_waiting)}, "
            f"max_expected_wait_s: {_opt(t.max_expected_wait_s)}, "
            f"no_agents: {'true' if t.no_agents else 'false'}}}"
        )
        out.append(f"    queue_timeout_s: {c.queue_timeout_s}")
        if c.overflow_partners:
            out.append(f"    overflow_partners: [{', '.join(c.overflow_partners)}]")
        if c.offhours_partners:
            out.append(f"    offhours_partners: [{', '.join(c.offhours_partners)}]")
    return "\n".join(out) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _opt(value: float | None) -> str:
    return "null" if value is None else f"{value:g}"
