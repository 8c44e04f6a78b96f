"""The German national numbering plan, as far as 115 routing needs it.

A 115 call is routed by where the caller is: the Ortsnetz (local network,
area code) of a landline caller number, or an Ortsnetz the caller dialled in
front of 115 (``0221 115`` reaches Köln's 115 from anywhere). Everything
else — mobile, anonymous (CLIR), foreign, service numbers — carries no
location and is left to the postal-code prompt or the fallback center.

German numbers are written ``0`` (trunk prefix) + national significant number
(NSN); the NSN of a landline is Ortsnetzkennzahl (2–5 digits, no leading 0)
+ subscriber number. The table of Ortsnetze is generated from libphonenumber's
geocoding data by ``tools/gen_ortsnetze.py``.

Caller numbers are personal data: :attr:`Origin.masked` is the only rendering
of one that may appear in logs, metrics or reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files

import phonenumbers

_DATA_PACKAGE = "router.data"
_DATA_FILE = "ortsnetze.tsv"

# Inputs longer than this are not caller numbers (E.164 has at most 15 digits;
# this leaves room for separators) and are rejected before any parsing.
_MAX_INPUT = 64
# E.164 allows 15 digits including the country code 49.
MAX_NSN = 13
# Shortest subscriber number behind an Ortsnetz code that counts as a caller.
MIN_SUBSCRIBER = 3
# Shortest non-geographic number (118xx directory enquiries).
MIN_NSN = 5

# Characters people and switches put between digits. "(0)" in "+49 (0)421" is
# handled after deletion: a German NSN never starts with 0.
_DELETE_SEPARATORS = str.maketrans("", "", " \t-/.()[]\u00a0")

# How switches spell a suppressed or missing caller ID (CLIR): Asterisk's
# CALLERID(num) is empty or "anonymous", AMI events show "<unknown>", SIP
# carriers send "anonymous", "restricted", "private" ...
_ANONYMOUS_TOKENS = frozenset(
    {
        "",
        "anonymous",
        "anonym",
        "unknown",
        "<unknown>",
        "unbekannt",
        "restricted",
        "private",
        "withheld",
        "unavailable",
        "clir",
        "sip:anonymous@anonymous.invalid",
        "anonymous@anonymous.invalid",
    }
)


def is_anonymous_word(raw: str) -> bool:
    """Whether ``raw`` is one of the switches' words for a suppressed caller ID."""
    return raw.strip().lower() in _ANONYMOUS_TOKENS


# Mobile NSN prefixes: 015x is always 11 digits, 016x/017x 10 or 11.
_MOBILE_11 = ("15",)
_MOBILE_10_11 = ("160", "162", "163", "17")
# Other 01x ranges that reach a service, not a person at a place: 0118xx
# directory enquiries, 0116xxx, 012 innovative services, 0137/0138 mass
# calls, 0164/0168/0169 paging, 018x shared cost and user groups, 019x
# online services.
_SERVICE_1 = ("11", "12", "13", "164", "168", "169", "18", "19")
# Non-geographic ranges outside 01: 031 test numbers, 032 national subscriber
# numbers, 0700 personal numbers, 0800 freephone, 0900 premium rate.
_SERVICE_OTHER = ("31", "32", "700", "800", "900")


@dataclass(frozen=True, slots=True)
class Ortsnetz:
    """A German local network: its code without the trunk 0 and its place name."""

    code: str
    name: str


class NumberKind(StrEnum):
    """What a caller number says about the caller's location."""

    LANDLINE = "landline"
    MOBILE = "mobile"
    ANONYMOUS = "anonymous"
    FOREIGN = "foreign"
    SERVICE = "service"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Origin:
    """A classified caller number.

    ``ortsnetz`` is set exactly when ``kind`` is LANDLINE: a number that has
    the shape of a German landline but whose prefix is no Ortsnetz is INVALID,
    since the table is libphonenumber's own and no switch would place it
    either. ``masked`` is safe for logs: the trunk 0 and the Ortsnetz code
    (``03491…``), the first four digits of a mobile or service number
    (``0171…``, ``0800…``), the country code of a foreign number (``+43…``), or
    ``anonymous`` / ``invalid``; never the subscriber number.
    """

    kind: NumberKind
    ortsnetz: Ortsnetz | None
    masked: str


_ANONYMOUS = Origin(NumberKind.ANONYMOUS, None, "anonymous")
_INVALID = Origin(NumberKind.INVALID, None, "invalid")
# Mobile and service callers are masked to trunk 0 + three digits, which name
# the network or service but not the subscriber. Built once: a constant, not a
# cache, so the hot path allocates nothing.
_PREFIX_ORIGINS = {
    kind: {f"{i:03d}": Origin(kind, None, f"0{i:03d}…") for i in range(1000)}
    for kind in (NumberKind.MOBILE, NumberKind.SERVICE)
}


class OrtsnetzTable:
    """All German Ortsnetze, looked up by code or by longest prefix of an NSN.

    Build it once at startup (:meth:`load`) and pass it to whoever classifies
    numbers; it is immutable after construction.
    """

    __slots__ = ("_by_code", "_landline")

    def __init__(self, ortsnetze: Iterable[Ortsnetz]) -> None:
        by_code: dict[str, Ortsnetz] = {}
        for net in ortsnetze:
            code = net.code
            if not (2 <= len(code) <= 5 and code.isascii() and code.isdigit()):
                raise ValueError(f"Ortsnetz code {code!r}: want 2 to 5 digits")
            if code[0] not in "23456789":
                raise ValueError(f"Ortsnetz code {code!r}: must start with 2-9 (no trunk 0)")
            if not net.name.strip():
                raise ValueError(f"Ortsnetz code {code!r}: empty place name")
            if code in by_code:
                raise ValueError(f"Ortsnetz code {code!r} listed twice")
            by_code[code] = net
        self._by_code = by_code
        # One shared Origin per Ortsnetz: the landline hot path allocates nothing.
        self._landline = {
            code: Origin(NumberKind.LANDLINE, net, f"0{code}…") for code, net in by_code.items()
        }

    @classmethod
    def load(cls) -> OrtsnetzTable:
        """The complete German table packaged as ``router/data/ortsnetze.tsv``."""
        text = files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
        rows: list[tuple[str, str]] = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise ValueError(f"{_DATA_FILE}:{lineno}: want 2 tab-separated fields")
            rows.append((fields[0], fields[1]))
        return cls.from_rows(rows)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> OrtsnetzTable:
        """A table from ``(code, name)`` pairs; codes without the trunk 0."""
        return cls(Ortsnetz(code, name) for code, name in rows)

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Ortsnetz]:
        return iter(sorted(self._by_code.values(), key=lambda net: net.code))

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.get(code) is not None

    def get(self, code: str) -> Ortsnetz | None:
        """The Ortsnetz with this code; ``"421"`` and ``"0421"`` both name Bremen."""
        return self._by_code.get(code[1:] if code[:1] == "0" else code)

    def landline_origin(self, code: str) -> Origin:
        """The shared :class:`Origin` of every landline caller in Ortsnetz ``code``."""
        return self._landline[code]

    def longest_prefix(self, national_significant_digits: str) -> Ortsnetz | None:
        """The Ortsnetz whose code is the longest prefix of an NSN (no trunk 0).

        German codes are prefix-free except where a later code was cut out of
        an older one (0212 Solingen / 02129 Haan), so the longest match wins.
        """
        by_code = self._by_code
        for length in (5, 4, 3, 2):
            net = by_code.get(national_significant_digits[:length])
            if net is not None:
                return net
        return None

    def _landline_origin(self, nsn: str) -> Origin | None:
        landline = self._landline
        for length in (5, 4, 3, 2):
            origin = landline.get(nsn[:length])
            if origin is not None:
                return origin if len(nsn) - length >= MIN_SUBSCRIBER else None
        return None


def classify_caller(
    raw: str, table: OrtsnetzTable, *, assume_national_without_trunk: bool = True
) -> Origin:
    """Classify a caller number as it arrives from a switch; never raises.

    Accepted shapes: national ``0421 1234567``, international ``+49 421 …``,
    ``0049 421 …``, ``+49 (0)421 …``, with spaces, dashes, slashes, dots or
    parentheses. Some trunks strip the trunk 0 (``4211234567``): with
    ``assume_national_without_trunk`` such digit strings are read as an NSN,
    otherwise they are INVALID. (Digits like ``49421…`` — E.164 without the
    plus — are then ambiguous and read as national too.) Empty caller IDs and
    the switches' words for a suppressed one are ANONYMOUS. Country codes
    other than 49 are FOREIGN when libphonenumber finds the number possible.

    The common shapes are handled by hand (a few string operations and dict
    look-ups); only unusual input (unicode digits, ``tel:`` URIs, letters) and
    foreign numbers go through ``phonenumbers``.
    """
    if len(raw) > _MAX_INPUT:
        return _INVALID
    # Switches mostly deliver bare digits, people add spaces; translate() costs
    # more than everything else on this path, so it is the last resort.
    digits = raw
    if not (raw.isascii() and raw.isalnum()):
        digits = raw.replace(" ", "")
        if not (digits[1:].isdigit() and digits.isascii()):
            digits = digits.translate(_DELETE_SEPARATORS)
    if digits.isascii() and digits.isdigit():
        if digits[0] == "0":
            if digits[1:2] != "0":
                return _classify_nsn(digits[1:], table)
            if digits[2:4] == "49":
                return _classify_nsn(_drop_bracketed_trunk(digits[4:]), table)
            return _foreign(digits, table)
        if assume_national_without_trunk:
            return _classify_nsn(digits, table)
        return _INVALID
    if digits[:1] == "+" and digits[1:].isascii() and digits[1:].isdigit():
        if digits[1:3] == "49":
            return _classify_nsn(_drop_bracketed_trunk(digits[3:]), table)
        return _foreign(digits, table)
    if raw.strip().lower() in _ANONYMOUS_TOKENS:
        return _ANONYMOUS
    if not assume_national_without_trunk and not _has_prefix(raw):
        return _INVALID
    return _slow_path(raw, table)


def dialed_ortsnetz(
    dialed: str, table: OrtsnetzTable, *, assume_national_without_trunk: bool = True
) -> Ortsnetz | None:
    """The Ortsnetz a caller dialled in front of 115, if any.

    From any German phone ``0221 115`` (also ``+49 221 115``, ``0049 221 115``)
    reaches the 115 of Köln instead of the caller's own region. Plain ``115``
    and anything whose digits before 115 are not exactly an Ortsnetz code give
    None. Without a trunk 0 (``221115``) the digits count as national when
    ``assume_national_without_trunk`` is set, as for caller numbers.
    """
    if len(dialed) > _MAX_INPUT:
        return None
    digits = dialed.translate(_DELETE_SEPARATORS)
    if digits[:1] == "+":
        digits = "00" + digits[1:]
    if not (digits.isascii() and digits.isdigit() and digits.endswith("115")):
        return None
    if digits[:4] == "0049":
        national = _drop_bracketed_trunk(digits[4:])
    elif digits[:1] == "0":
        national = digits[1:]
    elif assume_national_without_trunk:
        national = digits
    else:
        return None
    code = national[:-3]
    if code[:1] == "0":
        return None
    return table.get(code)


def _has_prefix(raw: str) -> bool:
    """Whether an odd-shaped number starts with +, 00 or the trunk 0."""
    return "+" in raw or phonenumbers.normalize_digits_only(raw)[:1] == "0"


def _drop_bracketed_trunk(nsn: str) -> str:
    # "+49 (0)421" loses its brackets in normalisation; the 0 must go too.
    return nsn[1:] if nsn[:1] == "0" else nsn


def _classify_nsn(nsn: str, table: OrtsnetzTable) -> Origin:
    """Classify a German national significant number (ASCII digits, no trunk 0)."""
    length = len(nsn)
    if length < MIN_NSN or length > MAX_NSN:
        return _INVALID
    first = nsn[0]
    if first == "1":
        if nsn.startswith(_MOBILE_11):
            return _masked(NumberKind.MOBILE, nsn) if length == 11 else _INVALID
        if nsn.startswith(_MOBILE_10_11):
            return _masked(NumberKind.MOBILE, nsn) if length in (10, 11) else _INVALID
        if nsn.startswith(_SERVICE_1):
            return _masked(NumberKind.SERVICE, nsn)
        return _INVALID
    if first == "0":
        return _INVALID
    if nsn.startswith(_SERVICE_OTHER):
        return _masked(NumberKind.SERVICE, nsn)
    return table._landline_origin(nsn) or _INVALID


def _masked(kind: NumberKind, nsn: str) -> Origin:
    return _PREFIX_ORIGINS[kind][nsn[:3]]


def _foreign(digits: str, table: OrtsnetzTable) -> Origin:
    """Numbers with an international prefix and a country code other than 49."""
    return _slow_path("+" + digits[2:] if digits[:2] == "00" else digits, table)


def _slow_path(raw: str, table: OrtsnetzTable) -> Origin:
    """Let libphonenumber make sense of what the hand-written path does not know."""
    try:
        number = phonenumbers.parse(raw, "DE")
        if number.country_code == 49:
            nsn = phonenumbers.national_significant_number(number)
            if nsn.isascii() and nsn.isdigit():
                return _classify_nsn(nsn, table)
            return _INVALID
        if number.country_code and phonenumbers.is_possible_number(number):
            return Origin(NumberKind.FOREIGN, None, f"+{number.country_code}…")
    except Exception:  # NumberParseException, or anything else garbage may trigger
        return _INVALID
    return _INVALID
