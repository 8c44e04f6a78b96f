"""German numbering plan: Ortsnetz table, caller classification, dialled Ortsnetz + 115."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType, geocoder

from router.numbering import (
    NumberKind,
    Origin,
    Ortsnetz,
    OrtsnetzTable,
    classify_caller,
    dialed_ortsnetz,
)

# Loaded once for the module: hypothesis forbids function-scoped fixtures.
TABLE = OrtsnetzTable.load()
CODES = sorted(net.code for net in TABLE)

BREMEN = Ortsnetz("421", "Bremen")
BREMERHAVEN = Ortsnetz("471", "Bremerhaven")
WITTENBERG = Ortsnetz("3491", "Lutherstadt Wittenberg")
HALBERSTADT = Ortsnetz("3941", "Halberstadt")
PADERBORN = Ortsnetz("5251", "Paderborn")
KOELN = Ortsnetz("221", "Köln")
BERLIN = Ortsnetz("30", "Berlin")
MUENCHEN = Ortsnetz("89", "München")
REAL = [BREMEN, BREMERHAVEN, WITTENBERG, HALBERSTADT, PADERBORN, KOELN, BERLIN, MUENCHEN]

SERVICE_TYPES = {
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.UAN,
    PhoneNumberType.PAGER,
}
MASK = re.compile(r"anonymous|invalid|0\d{2,5}…|\+\d{1,3}…")


def classify(raw: str) -> Origin:
    return classify_caller(raw, TABLE)


def landline(net: Ortsnetz) -> Origin:
    return Origin(NumberKind.LANDLINE, net, f"0{net.code}…")


# --- the table ----------------------------------------------------------------


def test_table_is_complete() -> None:
    assert 5000 < len(TABLE) < 5400
    assert all(TABLE.get(net.code) == net for net in REAL)


def test_table_has_only_geographic_codes() -> None:
    for code in CODES:
        assert 2 <= len(code) <= 5 and code.isdigit() and code[0] in "23456789"
        assert not code.startswith(("31", "32", "700", "800", "900")), code


def test_get_accepts_the_trunk_zero() -> None:
    assert TABLE.get("0421") == BREMEN
    assert "03491" in TABLE and "3491" in TABLE
    assert TABLE.get("4") is None and TABLE.get("") is None and TABLE.get("00421") is None


def test_longest_prefix_prefers_the_longer_code() -> None:
    # 02129 Haan was cut out of 0212 Solingen: Solingen numbers never start with 9.
    assert TABLE.longest_prefix("2129123456") == Ortsnetz("2129", "Haan Rheinland")
    assert TABLE.longest_prefix("212123456") == Ortsnetz("212", "Solingen")
    assert TABLE.longest_prefix("3491123456") == WITTENBERG
    assert TABLE.longest_prefix("301234567") == BERLIN
    assert TABLE.longest_prefix("600123456") is None


def test_from_rows_for_tests() -> None:
    table = OrtsnetzTable.from_rows([("421", "Bremen"), ("471", "Bremerhaven")])
    assert len(table) == 2
    assert list(table) == [BREMEN, BREMERHAVEN]
    assert classify_caller("0471 123456", table) == landline(BREMERHAVEN)
    assert classify_caller("03491 123456", table).kind is NumberKind.INVALID


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("0421", "Bremen")], "must start with 2-9"),
        ([("4", "X")], "want 2 to 5 digits"),
        ([("421000", "X")], "want 2 to 5 digits"),
        ([("42a", "X")], "want 2 to 5 digits"),
        ([("421", " ")], "empty place name"),
        ([("421", "Bremen"), ("421", "Bremen")], "listed twice"),
    ],
)
def test_from_rows_rejects_bad_rows(rows: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrtsnetzTable.from_rows(rows)


# --- caller shapes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "net"),
    [
        ("04211234567", BREMEN),
        ("0421 1234567", BREMEN),
        ("+49 421 1234567", BREMEN),
        ("+494211234567", BREMEN),
        ("0049421 1234567", BREMEN),
        ("0049 (0)421 1234567", BREMEN),
        ("+49 (0)421 1234567", BREMEN),
        ("+49(0)421-123 45 67", BREMEN),
        ("0421/1234567", BREMEN),
        ("(0421) 12 34 56", BREMEN),
        ("4211234567", BREMEN),
        ("0471 9876543", BREMERHAVEN),
        ("03491 123456", WITTENBERG),
        ("+49 3491 66 12 34", WITTENBERG),
        ("3491661234", WITTENBERG),
        ("03941 12345", HALBERSTADT),
        ("05251 882255", PADERBORN),
        ("0221 2210", KOELN),
        ("+49 221 12345678", KOELN),
        ("030 12345678", BERLIN),
        ("+49 30 901820", BERLIN),
        ("089 2330", MUENCHEN),
        ("0049 89 123456789", MUENCHEN),
        ("tel:+49-421-1234567", BREMEN),
        ("０４２１ １２３４５６７", BREMEN),
        ("  04211234567  ", BREMEN),
    ],
)
def test_landline_shapes(raw: str, net: Ortsnetz) -> None:
    assert classify(raw) == landline(net)


@pytest.mark.parametrize("raw", ["", "   ", "anonymous", "Anonymous", "ANONYMOUS", "unknown",
                                 "<unknown>", "<Unknown>", "restricted", "Private",
                                 "sip:anonymous@anonymous.invalid"])  # fmt: skip
def test_anonymous_shapes(raw: str) -> None:
    assert classify(raw) == Origin(NumberKind.ANONYMOUS, None, "anonymous")


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("01711234567", "0171…"),
        ("0171 1234567", "0171…"),
        ("+491711234567", "0171…"),
        ("+49 (0)171 12345678", "0171…"),
        ("004915112345678", "0151…"),
        ("0160 1234567", "0160…"),
        ("1761234567", "0176…"),
    ],
)
def test_mobile_shapes(raw: str, masked: str) -> None:
    assert classify(raw) == Origin(NumberKind.MOBILE, None, masked)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("0800 1234567", "0800…"),
        ("+49 800 1234567", "0800…"),
        ("01801 123456", "0180…"),
        ("01805 123456", "0180…"),
        ("0900 1 123456", "0900…"),
        ("0137 9 123456", "0137…"),
        ("0700 12345678", "0700…"),
        ("11833", "0118…"),
        ("011880", "0118…"),
        ("032 12345678", "0321…"),
        ("0321 2345678901", "0321…"),
    ],
)
def test_service_shapes(raw: str, masked: str) -> None:
    assert classify(raw) == Origin(NumberKind.SERVICE, None, masked)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+43 1 53115", "+43…"),
        ("0043 1 5311512", "+43…"),
        ("+1 212 555 0100", "+1…"),
        ("00421 2 12345678", "+421…"),
        ("+33 1 23 45 67 89", "+33…"),
    ],
)
def test_foreign_shapes(raw: str, masked: str) -> None:
    assert classify(raw) == Origin(NumberKind.FOREIGN, None, masked)


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        "-",
        "+",
        "0",
        "00",
        "0049",
        "+49",
        "4711",  # an extension, not a caller
        "0421 12",  # subscriber number too short
        "0600 123456",  # no Ortsnetz 0600
        "0171 123",  # mobile too short
        "0151 1234567",  # 015x has eleven digits
        "0421 12345678901234",  # longer than E.164 allows
        "+49 0 0421 123456",
        "0102 3456789",  # carrier selection prefix, not a caller
        "x" * 10_000,
        "😀",
    ],
)
def test_invalid_shapes(raw: str) -> None:
    assert classify(raw) == Origin(NumberKind.INVALID, None, "invalid")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("4211234567", NumberKind.INVALID),
        ("４２１１２３４５６７", NumberKind.INVALID),
        ("04211234567", NumberKind.LANDLINE),
        ("０４２１１２３４５６７", NumberKind.LANDLINE),
        ("+4930123456", NumberKind.LANDLINE),
        ("01711234567", NumberKind.MOBILE),
    ],
)
def test_without_trunk_prefix_only_when_allowed(raw: str, kind: NumberKind) -> None:
    assert classify_caller(raw, TABLE, assume_national_without_trunk=False).kind is kind


def test_subranges_of_one_ortsnetz() -> None:
    # libphonenumber places parts of 0621 in Ludwigshafen (Rheinland-Pfalz), the rest in
    # Mannheim (Baden-Württemberg): different 115 centers.
    assert classify("0621 5123456").ortsnetz == Ortsnetz("6215", "Ludwigshafen")
    assert classify("0621 1234567").ortsnetz == Ortsnetz("621", "Mannheim")


# --- dialled Ortsnetz + 115 ----------------------------------------------------


@pytest.mark.parametrize(
    ("dialed", "net"),
    [
        ("0221115", KOELN),
        ("0221 115", KOELN),
        ("+49221115", KOELN),
        ("0049 221 115", KOELN),
        ("+49 (0)221 115", KOELN),
        ("030115", BERLIN),
        ("03491115", WITTENBERG),
        ("05251-115", PADERBORN),
        ("0471 115", BREMERHAVEN),
        ("221115", KOELN),
    ],
)
def test_dialed_ortsnetz(dialed: str, net: Ortsnetz) -> None:
    assert dialed_ortsnetz(dialed, TABLE) == net


@pytest.mark.parametrize(
    "dialed",
    ["115", " 115 ", "0115", "+49115", "", "anonymous", "0221", "0221 1150", "0221 2115",
     "0600115", "+43 1 115", "0043 221 115", "00221115", "02211 115", "x" * 1000],
)  # fmt: skip
def test_no_dialed_ortsnetz(dialed: str) -> None:
    assert dialed_ortsnetz(dialed, TABLE) is None


def test_dialed_without_trunk_only_when_allowed() -> None:
    assert dialed_ortsnetz("221115", TABLE, assume_national_without_trunk=False) is None
    assert dialed_ortsnetz("0221115", TABLE, assume_national_without_trunk=False) == KOELN


# --- properties ----------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=11)


@st.composite
def landline_nsn(draw: st.DrawFn) -> str:
    """An NSN in a known Ortsnetz with a subscriber number of realistic length."""
    code = draw(st.sampled_from(CODES))
    subscriber = draw(st.text(alphabet="0123456789", min_size=3, max_size=11 - len(code)))
    nsn = code + subscriber
    net = TABLE.longest_prefix(nsn)
    # A subscriber number can complete a longer code (0212 9… is 02129 Haan).
    assume(net is not None and len(nsn) - len(net.code) >= 3)
    return nsn


MOBILE_PREFIXES = ["150", "151", "152", "155", "156", "157", "158", "159", "160", "162", "163"]
MOBILE_PREFIXES += [f"17{d}" for d in range(10)]


@st.composite
def mobile_nsn(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(MOBILE_PREFIXES))
    length = 11 if prefix.startswith("15") else draw(st.sampled_from([10, 11]))
    return prefix + draw(st.text(alphabet="0123456789", min_size=length - 3, max_size=length - 3))


# (prefix, digits that follow) of ranges libphonenumber knows as service numbers.
SERVICE_RANGES = [("800", 7), ("9001", 6), ("9005", 6), ("1379", 6), ("1371", 6), ("138", 4),
                  ("180", 7), ("1805", 6), ("700", 8), ("185", 8), ("1681", 6)]  # fmt: skip


@st.composite
def service_nsn(draw: st.DrawFn) -> str:
    prefix, rest = draw(st.sampled_from(SERVICE_RANGES))
    return prefix + draw(st.text(alphabet="0123456789", min_size=rest, max_size=rest))


@st.composite
def spelled(draw: st.DrawFn, nsn: str) -> str:
    """``nsn`` written the ways switches and people write German numbers."""
    prefix = draw(st.sampled_from(["0", "+49", "0049", "+49 ", "+49 (0)", "0049 (0) ", "", "(0"]))
    out = []
    for i, digit in enumerate(nsn):
        if i and draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from([" ", "-", "/", ".", "  "])))
        out.append(digit)
    return (prefix + ")" if prefix == "(0" else prefix) + "".join(out)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() or c == "+" else c for c in text)


def pn_view(nsn: str) -> tuple[bool, int, str]:
    """libphonenumber's classification: valid?, type, German place description."""
    number = phonenumbers.parse("+49" + nsn)
    return (
        phonenumbers.is_valid_number(number),
        phonenumbers.number_type(number),
        geocoder.description_for_number(number, "de"),
    )


@given(st.data(), landline_nsn())
def test_landline_agrees_with_phonenumbers(data: st.DataObject, nsn: str) -> None:
    raw = data.draw(spelled(nsn))
    origin = classify(raw)
    valid, kind, place = pn_view(nsn)
    assert origin.kind is NumberKind.LANDLINE and origin.ortsnetz is not None
    assert (valid, kind, place) == (True, PhoneNumberType.FIXED_LINE, origin.ortsnetz.name)
    # The same number in shapes only libphonenumber's parser understands.
    assert classify(fullwidth(raw)) == origin
    assert classify("tel:" + raw) == origin


@given(st.data(), mobile_nsn())
def test_mobile_agrees_with_phonenumbers(data: st.DataObject, nsn: str) -> None:
    raw = data.draw(spelled(nsn))
    origin = classify(raw)
    valid, kind, _ = pn_view(nsn)
    assert (valid, kind) == (True, PhoneNumberType.MOBILE)
    assert origin == Origin(NumberKind.MOBILE, None, f"0{nsn[:3]}…")
    assert classify(fullwidth(raw)) == origin


@given(st.data(), service_nsn())
def test_service_agrees_with_phonenumbers(data: st.DataObject, nsn: str) -> None:
    raw = data.draw(spelled(nsn))
    valid, kind, _ = pn_view(nsn)
    assert valid and kind in SERVICE_TYPES
    assert classify(raw).kind is NumberKind.SERVICE
    assert classify(fullwidth(raw)) == classify(raw)


@settings(max_examples=500)
@given(st.sampled_from(["", "1", "15", "16", "17", "18", "2", "3", "4", "5", "6", "7", "8", "9",
                        "800", "900", "700", "137"]), digits)  # fmt: skip
def test_arbitrary_digits_agree_with_phonenumbers(head: str, tail: str) -> None:
    """Wherever libphonenumber is definite, the fast path says the same.

    Known, intended differences: 032 numbers are SERVICE here (libphonenumber:
    fixed line); a subscriber number needs three digits; codes libphonenumber
    cannot place ("Deutschland") are INVALID; 0153/0154 count as mobile
    although only parts are assigned; mailbox numbers (voicemail) are INVALID.
    """
    nsn = (head + tail)[:11]
    assume(nsn[:1] not in ("", "0") and len(nsn) >= 5)
    origin = classify("0" + nsn)
    valid, kind, place = pn_view(nsn)
    net = TABLE.longest_prefix(nsn)
    placed = net is not None and len(nsn) - len(net.code) >= 3 and place != "Deutschland"
    if valid and kind == PhoneNumberType.FIXED_LINE and placed and not nsn.startswith("32"):
        assert origin.kind is NumberKind.LANDLINE and origin.ortsnetz is not None
        assert origin.ortsnetz.name == place
    if valid and kind == PhoneNumberType.MOBILE:
        assert origin.kind is NumberKind.MOBILE
    if valid and kind in SERVICE_TYPES and len(nsn) >= 5:
        assert origin.kind is NumberKind.SERVICE
    if origin.kind is NumberKind.LANDLINE:
        assert origin.ortsnetz is not None
        assert (valid, kind, place) == (True, PhoneNumberType.FIXED_LINE, origin.ortsnetz.name)
    if origin.kind is NumberKind.MOBILE and not nsn.startswith(("153", "154")):
        assert (valid, kind) == (True, PhoneNumberType.MOBILE)


@given(st.data(), st.one_of(landline_nsn(), mobile_nsn(), service_nsn()))
def test_masked_never_holds_the_subscriber_number(data: st.DataObject, nsn: str) -> None:
    raw = data.draw(spelled(nsn))
    origin = classify(raw)
    shown = origin.masked.removesuffix("…")
    assert origin.masked.endswith("…")
    assert nsn.startswith(shown[1:]) and len(nsn) - len(shown[1:]) >= 2
    if origin.ortsnetz is not None:
        assert shown == "0" + origin.ortsnetz.code


def revealed(masked: str) -> int:
    return sum(c.isdigit() for c in masked.lstrip("+0"))


@settings(max_examples=300)
@given(st.one_of(st.text(), st.text(alphabet="+0123456789 ()-/.#*abc", max_size=40)))
def test_any_text_yields_a_safe_origin(raw: str) -> None:
    origin = classify(raw)
    assert isinstance(origin.kind, NumberKind)
    assert MASK.fullmatch(origin.masked), origin.masked
    assert (origin.ortsnetz is not None) == (origin.kind is NumberKind.LANDLINE)
    # Letters count: libphonenumber reads vanity numbers (0800-FLOWERS).
    available = sum(c.isdigit() or c.isalpha() for c in raw)
    assert revealed(origin.masked) <= max(0, available - 2)
    dialed = dialed_ortsnetz(raw, TABLE)
    assert dialed is None or TABLE.get(dialed.code) == dialed


@given(st.text(min_size=60, max_size=5000))
def test_long_text_is_invalid(raw: str) -> None:
    assume(len(raw) > 64)
    assert classify(raw).kind is NumberKind.INVALID
    assert dialed_ortsnetz(raw, TABLE) is None
