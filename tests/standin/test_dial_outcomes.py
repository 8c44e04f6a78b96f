"""Dial() outcomes no capture shows, played as app_dial does: congestion, a missing
Local extension (CHANUNAVAIL), the dialling side hanging up while it rings (CANCEL)."""

from __future__ import annotations

from collections.abc import Sequence

from dialplans.engine import parse_text
from standin import ManualClock, Pbx
from standin.wire import AmiEvent
from tests.standin.kit import MONDAY_10, small_config

AFTER = " same => n,UserEvent(After,Status: ${DIALSTATUS})\n"


async def _dial(callee: str, *, hold_s: int = 60) -> tuple[list[AmiEvent], list[float]]:
    """Originate Local/s@dialler (its ;1 holds for ``hold_s``); ;2 dials ``callee``."""
    plan = parse_text(
        f"[dialler]\nexten => s,1,Answer()\n same => n,Dial({callee},20)\n{AFTER}"
        f"[hold]\nexten => s,1,Wait({hold_s})\n"
        "[congested]\nexten => s,1,Congestion()\n"
        "[rings]\nexten => s,1,Ringing()\n same => n,Wait(60)\n",
        "t.conf",
    )
    clock = ManualClock(MONDAY_10)
    pbx = Pbx(small_config(), clock=clock, agi_url=None, dialplan=plan)
    events: list[AmiEvent] = []
    times: list[float] = []

    def record(event: AmiEvent) -> None:
        events.append(event)
        times.append(clock.now())

    pbx.subscribe(record)
    try:
        assert pbx.originate(
            "Local/s@dialler", "", "", "o1", caller_id="115", dialplan_target=("hold", "s", "1")
        )
        await clock.run_until_idle(120.0)
    finally:
        await pbx.close()
    return events, times


def _field(events: Sequence[AmiEvent], name: str, key: str) -> list[str]:
    return [dict(e.fields).get(key, "") for e in events if e.name == name]


async def test_congestion() -> None:
    events, times = await _dial("Local/s@congested")
    assert _field(events, "DialEnd", "DialStatus")[-1] == "CONGESTION"
    assert _field(events, "UserEvent", "Status") == ["CONGESTION"]
    # The called ;2 ends with cause 34; the fall-through indicates congestion 10 s.
    hangups = [dict(e.fields) for e in events if e.name == "Hangup"]
    assert [
        h.get("Cause") for h in hangups if h.get("Channel", "").endswith("congested-00000001;2")
    ] == ["34"]
    user = next(i for i, e in enumerate(events) if e.name == "UserEvent")
    gone = next(
        i
        for i, e in enumerate(events)
        if e.name == "Hangup"
        and dict(e.fields).get("Exten") == "s"
        and dict(e.fields).get("Context") == "dialler"
    )
    assert times[gone] - times[user] == 10.0


async def test_a_missing_local_extension_is_chanunavail_without_dialbegin() -> None:
    events, _ = await _dial("Local/s@nowhere")
    assert _field(events, "UserEvent", "Status") == ["CHANUNAVAIL"]
    assert [d for d in _field(events, "DialBegin", "DialString") if "nowhere" in d] == []
    gone = [
        dict(e.fields)
        for e in events
        if e.name == "Hangup" and "nowhere" in dict(e.fields).get("Channel", "")
    ]
    assert [(h["Channel"][-2:], h["Cause"]) for h in gone] == [(";2", "0"), (";1", "0")]


async def test_the_dialling_side_hanging_up_while_it_rings_cancels() -> None:
    events, _ = await _dial("Local/s@rings", hold_s=5)
    ends = [dict(e.fields) for e in events if e.name == "DialEnd" and dict(e.fields).get("Channel")]
    assert [e.get("DialStatus") for e in ends] == ["CANCEL"]
    # The dialling channel is gone: the priority after Dial() does not run.
    assert _field(events, "UserEvent", "Status") == []
    assert _field(events, "VarSet", "Value")[-1:] != ["ANSWER"]
