"""Replay of the Dial, Originate and queue-position captures: the stand-in says what Asterisk said.

Each test gives the stand-in the capture's actions with the capture's
contexts loaded (``config/extensions_capture.conf``) and compares (see
:mod:`tests.standin.replaykit`): every channel's events in order, the events
that tie the channels together in order, and which priorities ran
(``NAME.full.log``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.standin.replaykit import (
    Replay,
    capture_actions,
    capture_events,
    capture_priorities,
    per_channel,
    priorities,
    projections,
    tying,
)

DIALLER = "Local/s@cap-agent;1"


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    r = Replay()
    yield r
    await r.close()


async def _play(replay: Replay, name: str, step_s: float | None = None) -> None:
    """Every action of the capture; between them time runs until all is quiet
    (or ``step_s`` passes, for captures whose calls outlive the next action)."""
    capture = capture_events(name)
    for action in capture_actions(name):
        await replay.act(action, capture)
        if step_s is None:
            await replay.idle()
        else:
            await replay.advance(step_s)
    await replay.idle(200.0)


def _by_channel(seq: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for channel, what in seq:
        out.setdefault(channel, []).append(what)
    return out


DIAL_CAPTURES = [
    # the callee hangs up first: the priority after Dial() does not run
    ("dial-callee-hangup.txt", "Local/s@cap-agent;1"),
    # the same with g: it runs (UserEvent), then the fall-through at priority 3
    ("dial-callee-hangup-g.txt", "Local/s@cap-agent;1"),
    # the dialling side hangs up 3 s into the talk
    ("dial-caller-hangup.txt", "Local/s@cap-agent-short;1"),
    # no answer within Dial's 5 s: NOANSWER, causes 0
    ("dial-noanswer.txt", "Local/s@cap-agent;1"),
    # Busy(): BUSY, the callee's ;2 with cause 17, busy for 10 s at the fall-through
    ("dial-busy.txt", "Local/s@cap-agent;1"),
    # chan_local refuses a missing context or extension; a callee that hangs up at once
    ("originate-failure.txt", ""),
]


@pytest.mark.parametrize(("name", "dialler"), DIAL_CAPTURES)
async def test_each_channel_says_what_asterisk_said(
    replay: Replay, name: str, dialler: str
) -> None:
    await _play(replay, name)
    want = projections(capture_events(name))
    got = projections(replay.recorded())
    assert per_channel(got) == per_channel(want)
    assert tying(got, dialler) == tying(want, dialler)


@pytest.mark.parametrize(("name", "dialler"), DIAL_CAPTURES)
async def test_the_same_priorities_run_as_in_full_log(
    replay: Replay, name: str, dialler: str
) -> None:
    await _play(replay, name)
    assert _by_channel(priorities(replay.recorded())) == _by_channel(capture_priorities(name))


async def test_without_g_the_priority_after_dial_does_not_run(replay: Replay) -> None:
    await _play(replay, "dial-callee-hangup.txt")
    ran = [what for channel, what in priorities(replay.recorded()) if channel == DIALLER]
    assert ran == ["cap-dial,s,1 Dial"]
    ends = [dict(f) for n, f in replay.recorded() if n == "Hangup"]
    dialler = next(f for f in ends if f.get("Uniqueid") == "cap1a-7001")
    assert (dialler.get("Priority"), dialler.get("Cause")) == ("1", "16")


async def test_with_g_it_runs_and_the_fall_through_hangs_up_at_the_next_priority(
    replay: Replay,
) -> None:
    await _play(replay, "dial-callee-hangup-g.txt")
    ran = [what for channel, what in priorities(replay.recorded()) if channel == DIALLER]
    assert ran == ["cap-dial-g,s,1 Dial", "cap-dial-g,s,2 UserEvent"]
    user = [dict(f) for n, f in replay.recorded() if n == "UserEvent"]
    assert [(u.get("UserEvent"), u.get("Status")) for u in user] == [("CapAfterDial", "ANSWER")]
    hangup = next(
        dict(f)
        for n, f in replay.recorded()
        if n == "Hangup" and dict(f).get("Uniqueid") == "cap2a-7002"
    )
    assert (hangup.get("Priority"), hangup.get("Cause")) == ("3", "16")


async def test_answered_and_dialed_time_measure_the_dialling_channel(replay: Replay) -> None:
    await _play(replay, "dial-callee-hangup.txt")
    want = {
        dict(f).get("Variable"): dict(f).get("Value")
        for n, f in capture_events("dial-callee-hangup.txt")
        if n == "VarSet" and dict(f).get("Uniqueid") == "cap1a-7001"
    }
    got = {
        dict(f).get("Variable"): dict(f).get("Value")
        for n, f in replay.recorded()
        if n == "VarSet" and dict(f).get("Uniqueid") == "cap1a-7001"
    }
    for name in ("ANSWEREDTIME", "DIALEDTIME", "DIALSTATUS"):
        assert got[name] == want[name]
    for name in ("ANSWEREDTIME_MS", "DIALEDTIME_MS"):
        # The capture's 5509/6513 ms: the stand-in's Answer waits its 500 ms exactly.
        assert abs(int(got[name] or 0) - int(want[name] or 0)) < 100


async def test_dial_end_answer_comes_once(replay: Replay) -> None:
    await _play(replay, "dial-callee-hangup.txt")
    ends = [dict(f) for n, f in replay.recorded() if n == "DialEnd" and dict(f).get("Channel")]
    assert [e.get("DialStatus") for e in ends] == ["ANSWER"]


async def test_noanswer_hangs_up_with_cause_zero(replay: Replay) -> None:
    await _play(replay, "dial-noanswer.txt")
    causes = {
        dict(f).get("Channel", "")[-2:] + dict(f).get("Context", ""): dict(f).get("Cause")
        for n, f in replay.recorded()
        if n == "Hangup"
    }
    assert set(causes.values()) == {"0"}
    soft = {dict(f).get("Cause") for n, f in replay.recorded() if n == "SoftHangupRequest"}
    assert soft == {"16"}


async def test_busy_plays_busy_for_ten_seconds_at_the_fall_through(replay: Replay) -> None:
    await _play(replay, "dial-busy.txt")
    events = replay.recorded()
    user = next(i for i, (n, _) in enumerate(events) if n == "UserEvent")
    gone = next(
        i
        for i, (n, f) in enumerate(events)
        if n == "Hangup" and dict(f).get("Uniqueid") == "cap5a-7005"
    )
    assert replay.times[gone] - replay.times[user] == pytest.approx(10.0)
    callee2 = [
        dict(f)
        for n, f in events
        if n == "Hangup" and dict(f).get("Channel", "").endswith("busy-00000001;2")
    ]
    assert [f.get("Cause") for f in callee2] == ["17"]


async def test_queue_position_nine_arguments_first_ten_arguments_last(replay: Replay) -> None:
    name = "queue-position.txt"
    await _play(replay, name, step_s=0.5)
    want = projections(capture_events(name), timed=False)
    got = projections(replay.recorded(), timed=False)
    assert per_channel(got) == per_channel(want)

    def entries(messages: list[tuple[str, str | None]]) -> list[list[str | None]]:
        lists: list[list[str | None]] = []
        for event, uid in messages:
            if event == "QueueParams":
                lists.append([])
            elif event == "QueueEntry":
                lists[-1].append(uid)
        return lists

    theirs = entries([(n, dict(f).get("Uniqueid")) for n, f in capture_events(name)])
    ours = entries([(m.name or "", m.get("Uniqueid")) for m in replay.replies])
    assert ours == theirs
    # Nine arguments: the third caller first; ten: the fourth at the end, Position 4.
    assert theirs[-1] == ["capq3a-6102", "capq1a-6100", "capq2a-6101", "capq4a-6103"]


async def test_originate_failure_responses(replay: Replay) -> None:
    await _play(replay, "originate-failure.txt")
    got = [dict(f) for n, f in replay.recorded() if n == "OriginateResponse"]
    assert [
        (r.get("Response"), r.get("Reason"), r.get("Channel"), r.get("Uniqueid")) for r in got
    ] == [
        ("Failure", "0", "Local/s@cap-nosuchcontext", "capf1a-5101"),
        ("Failure", "0", "Local/nosuchexten@cap-hangup", "capf2a-5102"),
        ("Failure", "0", "Local/s@cap-hangup", "capf3a-5103"),
    ]
    # No DialBegin when the context or extension is missing: only for the third.
    begins = [dict(f).get("DialString") for n, f in replay.recorded() if n == "DialBegin"]
    assert begins == ["s@cap-hangup"]


async def test_a_dial_option_the_stand_in_does_not_play_is_an_error_at_its_line() -> None:
    from structlog.testing import capture_logs

    from dialplans.engine import parse_text
    from standin import ManualClock, Pbx
    from tests.standin.kit import MONDAY_10, small_config

    plan = parse_text(
        "[dialler]\nexten => s,1,Answer()\n same => n,Dial(Local/s@callee,20,L(60000))\n"
        "[callee]\nexten => s,1,Answer()\n[hold]\nexten => s,1,Wait(30)\n",
        "ops.conf",
    )
    clock = ManualClock(MONDAY_10)
    pbx = Pbx(small_config(), clock=clock, agi_url=None, dialplan=plan)
    try:
        with capture_logs() as logs:
            pbx.originate("Local/s@dialler", "", "", "o1", dialplan_target=("hold", "s", "1"))
            await clock.run_until_idle(60.0)
    finally:
        await pbx.close()
    errors = [e["error"] for e in logs if e.get("event") == "dialplan.error"]
    assert errors == ["ops.conf:3: Dial option 'L' is not modelled by the stand-in"]
