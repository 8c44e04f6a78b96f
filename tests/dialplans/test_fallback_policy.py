"""The static fallback agrees with the routing policy (the policy is the truth).

For a caller of any kind at any moment, the generated fallback (run by the
interpreter with the controller down, every center staffed, an agent
answering) sends the call to the same queue with the same greeting, or
plays the same announcement, as ``decide()`` with every center staffed and
idle. A caller the policy asks for a postal code (mobile, anonymous, foreign,
invalid) is asked by the fallback too; what they key in (a code inside the
network, outside it, malformed, nothing) is compared with the policy's
answer for a call carrying that postal code.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dialplans.build import AmiEvents, build, write
from dialplans.engine import Interpreter, load_dialplan
from dialplans.trace import TraceResult, TraceWorld, staffed_and_idle, trace
from router.compiled import Router
from router.config import (
    Config,
    PostalCodes,
    UnconnectedMode,
    UnknownOrigin,
    UnknownOriginMode,
)
from router.numbering import OrtsnetzTable
from router.opening import HolidayCalendar
from router.policy import Action, Call, decide
from tests.dialplans.helpers import center as make_center
from tests.dialplans.helpers import demo_config, small_config

YEARS = range(2026, 2031)
TZ = ZoneInfo("Europe/Berlin")
TABLE = OrtsnetzTable.load()
CONFIG = demo_config()
ROUTER = Router(CONFIG, TABLE)


def _interpreter(config: Config, out: Path) -> Interpreter:
    write(build(config, YEARS, AmiEvents.from_ami(), HolidayCalendar()), out)
    return Interpreter(load_dialplan(out), zone=config.timezone)


@pytest.fixture(scope="module")
def interpreter(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    return _interpreter(CONFIG, tmp_path_factory.mktemp("dialplan"))


def fallback_path(
    interp: Interpreter,
    caller: str,
    dialed: str,
    at: datetime,
    postal: str | None = None,
    router: Router = ROUTER,
) -> TraceResult:
    world = TraceWorld(router, at, agi_down=True, postal_code=postal)
    return asyncio.run(trace(interp, world, caller, dialed))


def policy(
    caller: str,
    dialed: str,
    at: datetime,
    postal: str | None = None,
    router: Router = ROUTER,
) -> tuple[str | None, str | None, str | None]:
    snapshot = staffed_and_idle(router)
    decision = decide(Call(caller, dialed), at, snapshot, router)
    if decision.action is Action.ASK_POSTAL_CODE:
        # What the caller keys in when asked; nothing at all is an empty input.
        typed = Call(caller, dialed, postal_code=postal or "")
        decision = decide(typed, at, snapshot, router)
    queue = decision.queue if decision.action is Action.QUEUE else None
    return queue, decision.greeting, decision.announcement


def assert_agrees(
    interp: Interpreter,
    caller: str,
    dialed: str,
    at: datetime,
    postal: str | None = None,
    router: Router = ROUTER,
) -> TraceResult:
    got = fallback_path(interp, caller, dialed, at, postal, router)
    want = policy(caller, dialed, at, postal, router)
    where = f"{caller} dialing {dialed} at {at:%a %Y-%m-%d %H:%M:%S}, postal code {postal!r}"
    assert (got.queue if got.answered else None, got.greeting, got.announcement) == want, where
    # Every call the fallback routes to a center is counted (UserEvent).
    assert got.fallback or got.announcement == router.config.unconnected_announcement, where
    assert_booked(got, where)
    return got


def assert_booked(got: TraceResult, where: str) -> None:
    """The fallback's queue_log lines: one LOTSEFALLBACK for the call (its home, none
    for an unconnected region), one LOTSEANNOUNCE naming the announcement it ends with."""
    lines = [e.text for entry in got.path for e in entry.events if e.kind == "queue-log"]
    routed = [x for x in lines if x.startswith("LOTSEFALLBACK (lotse-fallback) ")]
    announced = [x for x in lines if x.startswith("LOTSEANNOUNCE (lotse-fallback) ")]
    assert len(routed) == 1 and len(routed) + len(announced) == len(lines), (where, lines)
    if got.announcement is None:
        assert announced == [], (where, lines)
    else:
        assert len(announced) == 1 and announced[0].endswith("|" + got.announcement), where
    home = routed[0].split(" ", 2)[2].split("|")[0]
    assert (home == "") == (not got.fallback), (where, lines)


def read_prompts(got: TraceResult) -> list[str]:
    """The Read() events of a traced call."""
    return [e.text for entry in got.path for e in entry.events if e.kind == "read"]


def landline(config: Config, cid: str, subscriber: str) -> str:
    code = sorted(config.centers[cid].ortsnetze)[0]
    return f"0{code}{subscriber}"


# -- strategies -----------------------------------------------------------------

CENTER_IDS = sorted(CONFIG.centers)


@st.composite
def callers(draw: st.DrawFn) -> str:
    kinds = ["landline", "plus49", "0049", "trunkless", "mobile", "anonymous", "foreign", "digits"]
    kind = draw(st.sampled_from(kinds))
    if kind == "digits":
        # Any length, any shape: too short, too long, a code with too few digits behind it.
        prefix = draw(st.sampled_from(["0", "+49", "0049", "", "00"]))
        cid = draw(st.sampled_from(CENTER_IDS))
        codes = sorted(CONFIG.centers[cid].ortsnetze) or ["30"]
        code = draw(st.sampled_from([*codes, "171", "800", "1"]))
        return prefix + code + draw(st.from_regex(r"[0-9]{0,11}", fullmatch=True))
    if kind in ("landline", "plus49", "0049", "trunkless"):
        cid = draw(st.sampled_from(CENTER_IDS))
        codes = sorted(CONFIG.centers[cid].ortsnetze)
        if not codes:
            return "anonymous"
        code = draw(st.sampled_from(codes))
        subscriber = draw(st.from_regex(r"[2-9][0-9]{4,5}", fullmatch=True))
        national = f"{code}{subscriber}"
        return {"landline": "0", "plus49": "+49 ", "0049": "0049", "trunkless": ""}[kind] + national
    if kind == "mobile":
        prefix = draw(st.sampled_from(["0151", "0160", "0171", "0176"]))
        return prefix + draw(st.from_regex(r"[1-9][0-9]{6}", fullmatch=True))
    if kind == "anonymous":
        return draw(st.sampled_from(["", "anonymous"]))
    return draw(st.sampled_from(["+43 1 5131234", "+1 212 5551234", "0033 1 42681234"]))


def _boundaries() -> list[datetime]:
    """Opening and closing minutes of every center in a sample week, with a minute around."""
    out: list[datetime] = []
    monday = date(2026, 11, 23)
    for center in CONFIG.centers.values():
        for weekday in range(7):
            day = monday + timedelta(days=weekday)
            for r in center.hours.ranges(weekday):
                start = datetime.combine(day, r.start, TZ)
                end = (
                    datetime.combine(day, r.end, TZ)
                    if r.end != time(0)
                    else datetime.combine(day + timedelta(days=1), time(0), TZ)
                )
                out += [start - timedelta(seconds=1), start, end - timedelta(seconds=1), end]
    return sorted(set(out))


BOUNDARIES = _boundaries()
# Public holidays of the centers' states and the configured closures, in YEARS.
HOLIDAYS = sorted(
    {
        day
        for center in CONFIG.centers.values()
        for year in YEARS
        for day in (date(year, 1, 1) + timedelta(days=n) for n in range(365))
        if HolidayCalendar().holiday(center.state, day) is not None
    }
    | {day for center in CONFIG.centers.values() for day in center.closures}
)


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    kind = draw(st.sampled_from(["any", "boundary", "holiday"]))
    if kind == "boundary":
        base = draw(st.sampled_from(BOUNDARIES))
        weeks = draw(st.integers(0, 52 * 4))
        return (base + timedelta(weeks=weeks)).astimezone(TZ)
    if kind == "holiday":
        day = draw(st.sampled_from(HOLIDAYS))
        clock = draw(st.times()).replace(microsecond=0)
        return datetime.combine(day, clock, TZ)
    seconds = draw(st.integers(0, int(timedelta(days=365 * 5 - 1).total_seconds())))
    return datetime(2026, 1, 1, tzinfo=TZ) + timedelta(seconds=seconds)


def _inside(config: Config) -> list[str]:
    """Postal codes some center serves: exact codes, range ends, codes under a prefix."""
    out: list[str] = []
    for c in config.centers.values():
        codes = c.postal_codes
        out += sorted(codes.exact)
        for lo, hi in codes.ranges:
            out += [lo, hi, f"{(int(lo) + int(hi)) // 2:05d}"]
        out += [(p + "00000")[:5] for p in sorted(codes.prefixes)]
        out += [(p + "99999")[:5] for p in sorted(codes.prefixes)]
    return out


@st.composite
def postal_codes(draw: st.DrawFn, config: Config = CONFIG) -> str | None:
    """What a caller keys in when asked: a served code, any code, a malformed one, nothing."""
    kind = draw(st.sampled_from(["inside", "any", "malformed", "none"]))
    if kind == "inside":
        return draw(st.sampled_from(_inside(config)))
    if kind == "any":
        return draw(st.from_regex(r"[0-9]{5}", fullmatch=True))
    if kind == "malformed":
        # Too short, or a key that is no digit (Read() takes at most five keys).
        return draw(st.from_regex(r"[0-9]{0,4}|[0-9*#]{5}", fullmatch=True))
    return None


NO_REGION = ["01711234567", "01512345678", "", "anonymous", "+43 1 5131234", "0033 1 42681234"]
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(caller=st.sampled_from(NO_REGION), at=moments(), postal=postal_codes())
@example(caller="01711234567", at=MONDAY_10, postal="28195")
@example(caller="", at=MONDAY_10, postal="28779")  # the ends of a range
@example(caller="", at=MONDAY_10, postal="28780")
@example(caller="", at=MONDAY_10, postal="28194")
@example(caller="+43 1 5131234", at=MONDAY_10, postal="06869")
@example(caller="anonymous", at=MONDAY_10, postal="10115")  # outside the network
@example(caller="01711234567", at=MONDAY_10, postal="2819")
@example(caller="01711234567", at=MONDAY_10, postal="28*95")
@example(caller="01711234567", at=MONDAY_10, postal=None)
@example(caller="01711234567", at=datetime(2026, 11, 28, 10, 0, tzinfo=TZ), postal="38820")
def test_fallback_asks_for_the_postal_code_like_the_policy(
    interpreter: Interpreter, caller: str, at: datetime, postal: str | None
) -> None:
    got = assert_agrees(interpreter, caller, "115", at, postal)
    assert read_prompts(got), "the caller is asked"


def test_a_landline_caller_is_not_asked(interpreter: Interpreter) -> None:
    for caller in (landline(CONFIG, "bremen", "1234567"), "0301234567"):  # served, unconnected
        got = assert_agrees(interpreter, caller, "115", MONDAY_10, "38820")
        assert not read_prompts(got)


def test_a_caller_not_keying_in_is_asked_again_then_sent_to_the_fallback(
    interpreter: Interpreter,
) -> None:
    got = assert_agrees(interpreter, "01711234567", "115", MONDAY_10, None)
    attempts = CONFIG.unknown_origin.attempts
    assert len(read_prompts(got)) == attempts
    assert CONFIG.unknown_origin.retry_prompt in read_prompts(got)[-1]
    assert got.queue == CONFIG.centers[CONFIG.fallback_center].queue


# Carve-outs (an exact code in a range, a range in a prefix, a longer prefix in
# a shorter one) and unconnected regions announced.
CARVED = small_config(
    make_center("nord", postal_codes=PostalCodes(prefixes=frozenset({"2"}))),
    make_center(
        "stadt",
        postal_codes=PostalCodes(prefixes=frozenset({"281"}), ranges=(("28195", "28199"),)),
    ),
    make_center("insel", postal_codes=PostalCodes(exact=frozenset({"28197"}))),
    make_center("bund"),
    unconnected=UnconnectedMode.ANNOUNCEMENT,
)
CARVED_ROUTER = Router(CARVED, TABLE)


@pytest.fixture(scope="module")
def carved(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    return _interpreter(CARVED, tmp_path_factory.mktemp("carved"))


@pytest.mark.parametrize(
    ("postal", "home"),
    [
        ("28197", "insel"),  # exact beats range
        ("28195", "stadt"),  # the ends of the range
        ("28199", "stadt"),
        ("28194", "stadt"),  # the longer prefix 281
        ("28200", "nord"),  # only the prefix 2
        ("29999", "nord"),
        ("30000", None),  # unconnected: announced
        ("2819", "bund"),  # unusable: the fallback center
        (None, "bund"),
    ],
)
def test_postal_carve_outs_and_unconnected(
    carved: Interpreter, postal: str | None, home: str | None
) -> None:
    got = assert_agrees(carved, "01711234567", "115", MONDAY_10, postal, CARVED_ROUTER)
    if home is None:
        assert got.announcement == CARVED.unconnected_announcement
    else:
        assert got.queue == f"115-{home}"


def test_carved_postal_codes_agree_with_the_policy(carved: Interpreter) -> None:
    rng = random.Random(115)
    for _ in range(60):
        digits = rng.randrange(100000) if rng.random() < 0.5 else 20000 + rng.randrange(10000)
        assert_agrees(carved, "anonymous", "115", MONDAY_10, f"{digits:05d}", CARVED_ROUTER)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(caller=callers(), at=moments(), dial_ortsnetz=st.booleans())
@example(caller="04211234567", at=datetime(2026, 11, 23, 10, 0, tzinfo=TZ), dial_ortsnetz=False)
@example(caller="034911234567", at=datetime(2026, 12, 24, 10, 0, tzinfo=TZ), dial_ortsnetz=False)
@example(caller="039411234567", at=datetime(2026, 11, 25, 12, 30, tzinfo=TZ), dial_ortsnetz=False)
@example(caller="034911234567", at=datetime(2026, 11, 28, 10, 0, tzinfo=TZ), dial_ortsnetz=False)
def test_fallback_routes_like_the_policy(
    interpreter: Interpreter, caller: str, at: datetime, dial_ortsnetz: bool
) -> None:
    dialed = "115"
    if dial_ortsnetz:
        code = sorted(CONFIG.centers[CENTER_IDS[at.minute % len(CENTER_IDS)]].ortsnetze)
        dialed = f"0{code[0]}115" if code else "115"
    assert_agrees(interpreter, caller, dialed, at)


@pytest.mark.parametrize("at", BOUNDARIES, ids=lambda m: m.strftime("%a-%H%M%S"))
def test_fallback_at_every_opening_and_closing_minute(
    interpreter: Interpreter, at: datetime
) -> None:
    for cid in CENTER_IDS:
        if CONFIG.centers[cid].ortsnetze:
            assert_agrees(interpreter, landline(CONFIG, cid, "1234567"), "115", at)
    assert_agrees(interpreter, "01711234567", "115", at)


@pytest.mark.parametrize(
    "caller",
    [
        "0421" + "1" * 10,  # NSN of 13 digits: the longest there is
        "0421" + "1" * 11,  # 14: not a number, the fallback center
        "+49421" + "1" * 11,
        "0421123",  # three digits behind the Ortsnetz: a subscriber
        "042112",  # two: not a number
        "034903123",  # the same behind a five-digit Ortsnetz
        "03490312",
        "4211234567",  # no trunk 0: national, as the policy reads it
        "+4904211234567",
    ],
)
def test_number_length_limits_match_the_policy(interpreter: Interpreter, caller: str) -> None:
    assert_agrees(interpreter, caller, "115", datetime(2026, 11, 23, 10, 0, tzinfo=TZ))


@pytest.mark.parametrize(
    ("caller", "dialed"),
    [
        ("0301234567", "115"),  # a landline of an Ortsnetz no center serves: not asked
        ("01711234567", "030115"),  # a dialed Ortsnetz no center serves
    ],
)
def test_unconnected_ortsnetz_is_announced_without_asking(
    carved: Interpreter, caller: str, dialed: str
) -> None:
    got = assert_agrees(carved, caller, dialed, MONDAY_10, "28197", CARVED_ROUTER)
    assert got.announcement == CARVED.unconnected_announcement
    assert not read_prompts(got)


def test_unknown_origin_mode_fallback_does_not_ask(tmp_path: Path) -> None:
    config = replace(CARVED, unknown_origin=UnknownOrigin(mode=UnknownOriginMode.FALLBACK))
    router = Router(config, TABLE)
    interp = _interpreter(config, tmp_path)
    for postal in ("28197", None):
        got = assert_agrees(interp, "01711234567", "115", MONDAY_10, postal, router)
        assert got.queue == "115-bund" and not read_prompts(got)


def test_too_short_behind_the_longest_ortsnetz_is_no_landline(carved: Interpreter) -> None:
    # 02129 (Haan) is the longest Ortsnetz prefix; two digits behind it make no
    # number, so it is not read as 0212 (Solingen) + 912 but asked like a mobile.
    got = assert_agrees(carved, "0212912", "115", MONDAY_10, "28197", CARVED_ROUTER)
    assert got.queue == "115-insel" and read_prompts(got)
