"""The static fallback agrees with the routing policy (the policy is the truth).

For a caller of any kind at any moment, the generated fallback (run by the
interpreter with the controller down, every center staffed, an agent
answering) sends the call to the same queue with the same greeting, or
plays the same announcement, as ``decide()`` with every center staffed and
idle. The fallback cannot ask for a postal code, so a caller the policy
would ask is compared with the policy's answer for a caller who entered
nothing.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dialplans.build import AmiEvents, build, write
from dialplans.engine import Interpreter, load_dialplan
from dialplans.trace import TraceResult, TraceWorld, staffed_and_idle, trace
from router.compiled import Router
from router.config import Config
from router.numbering import OrtsnetzTable
from router.opening import HolidayCalendar
from router.policy import Action, Call, decide
from tests.dialplans.helpers import demo_config

YEARS = range(2026, 2031)
TZ = ZoneInfo("Europe/Berlin")
TABLE = OrtsnetzTable.load()
CONFIG = demo_config()
ROUTER = Router(CONFIG, TABLE)


@pytest.fixture(scope="module")
def interpreter(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    out = tmp_path_factory.mktemp("dialplan")
    write(build(CONFIG, YEARS, AmiEvents.from_ami(), HolidayCalendar()), out)
    return Interpreter(load_dialplan(out), zone=CONFIG.timezone)


def fallback_path(interp: Interpreter, caller: str, dialed: str, at: datetime) -> TraceResult:
    world = TraceWorld(ROUTER, at, agi_down=True)
    return asyncio.run(trace(interp, world, caller, dialed))


def policy(caller: str, dialed: str, at: datetime) -> tuple[str | None, str | None, str | None]:
    snapshot = staffed_and_idle(ROUTER)
    decision = decide(Call(caller, dialed), at, snapshot, ROUTER)
    if decision.action is Action.ASK_POSTAL_CODE:
        decision = decide(Call(caller, dialed, postal_code=""), at, snapshot, ROUTER)
    queue = decision.queue if decision.action is Action.QUEUE else None
    return queue, decision.greeting, decision.announcement


def assert_agrees(interp: Interpreter, caller: str, dialed: str, at: datetime) -> None:
    got = fallback_path(interp, caller, dialed, at)
    assert got.fallback
    assert (got.queue if got.answered else None, got.greeting, got.announcement) == policy(
        caller, dialed, at
    ), f"{caller} dialing {dialed} at {at:%a %Y-%m-%d %H:%M:%S}"


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
