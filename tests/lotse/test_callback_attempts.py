"""One outcome per callback attempt, from what Asterisk 22.10.1 really sends.

Two sources:

* ``tests/lotse/captures/callback-*.txt``: what the generated
  ``[lotse-callback]`` AMI user (its event filters as generated) received on a
  real Asterisk 22.10.1 loaded with ``lotse dialplan build`` output (the
  callback dial string pointed at Local callees), for one attempt each: the
  callee hangs up first, the agent hangs up first, no answer (ring timeout
  5 s), busy, congestion, and no agent within the queue wait.
* ``../shared/asterisk/dial-*.txt``: Dial() without/with ``g`` as Asterisk
  runs it; they show that the priority after Dial() is skipped when either
  side hangs up after the answer, and that DIALSTATUS is set on the dialling
  channel before its Hangup in every case, which is what the ``h``
  extension's UserEvent reports.

Every stream goes through the controller's own path: typed events
(:func:`ami.events.to_event`), :func:`lotse.callbackattempt.concluded`,
:meth:`lotse.callbacks.CallbackDesk.attempt_ended`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ami.codec import AmiParser, Message
from ami.events import Hangup, LotseCallback, to_event
from ami.transcript import received_bytes
from lotse.callbackattempt import AttemptOutcome, concluded, outcome_of
from lotse.callbacks import CallbackDesk
from tests.ami.replay import messages
from tests.lotse.test_callbacks import Clocks, Dialler, View, agi, desk_on

CAPTURES = Path(__file__).resolve().parent / "captures"
REAL = {
    "callback-callee-hangup.txt": AttemptOutcome.ANSWERED,
    "callback-agent-hangup.txt": AttemptOutcome.ANSWERED,
    "callback-noanswer.txt": AttemptOutcome.NO_ANSWER,
    "callback-busy.txt": AttemptOutcome.BUSY,
    "callback-congestion.txt": AttemptOutcome.CONGESTION,
    "callback-no-agent.txt": AttemptOutcome.FAILED,
}


def _typed(msgs: list[Message]) -> list[object]:
    return [e for e in (to_event(m) for m in msgs) if e is not None]


def _recorded(name: str) -> tuple[str, list[Message]]:
    """(attempt id, the messages the callback user received) of one recording."""
    items = AmiParser().feed(received_bytes(CAPTURES / name))
    msgs = [m for m in items if isinstance(m, Message)]
    (attempt,) = {m.get("ActionID") for m in msgs if m.name == "OriginateResponse"}
    assert attempt is not None
    return attempt, msgs


def _renamed(msgs: list[Message], old: str, new: str) -> list[Message]:
    """``msgs`` with the attempt id ``old`` written as ``new`` wherever it occurs."""
    return [Message(tuple((k, v.replace(old, new)) for k, v in m.headers)) for m in msgs]


async def _book(tmp_path: Path, msgs: list[Message], attempt: str) -> CallbackDesk:
    """A desk with one request whose attempt is in flight, fed ``msgs`` (the
    recorded attempt id ``attempt`` standing for the desk's) as the controller's
    callback-event loop feeds them."""
    clocks = Clocks()
    view = View(clocks, free={"bremen": 1})
    dialler = Dialler()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, dialler)
    booked: list[tuple[str, AttemptOutcome]] = []
    desk._on_attempt = lambda center, outcome: booked.append((center, outcome))
    desk.booked = booked  # type: ignore[attr-defined]
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    assert len(await desk.tick()) == 1
    (leg,) = dialler.legs
    for event in _typed(_renamed(msgs, attempt, leg.attempt_id)):
        ended = concluded(event, desk.attempts)
        if ended is not None:
            await desk.attempt_ended(*ended)
    return desk


@pytest.mark.parametrize("name", sorted(REAL))
async def test_a_real_attempt_books_exactly_one_outcome(tmp_path: Path, name: str) -> None:
    attempt, msgs = _recorded(name)
    desk = await _book(tmp_path, msgs, attempt)
    assert desk.booked == [("bremen", REAL[name])]  # type: ignore[attr-defined]
    assert desk.attempts == {}
    pending = await desk.pending()
    if REAL[name] is AttemptOutcome.ANSWERED:
        # Kept: never dialled again, whoever hung up first.
        assert pending == []
        assert desk.outcomes == [("bremen", "completed")]  # type: ignore[attr-defined]
    else:
        (req,) = pending
        assert req.in_flight is None and req.attempts == 1 and req.not_before_s > 0
        assert await desk.tick() == []  # the retry interval first


@pytest.mark.parametrize("name", sorted(REAL))
def test_the_h_extension_reports_before_the_channel_ends(name: str) -> None:
    attempt, msgs = _recorded(name)
    events = _typed(msgs)
    mine = [
        e
        for e in events
        if (isinstance(e, LotseCallback) and e.attempt == attempt)
        or (isinstance(e, Hangup) and e.uniqueid == attempt)
    ]
    if REAL[name] is AttemptOutcome.FAILED:
        # No agent: the dial context never ran, no UserEvent; the Hangup ends it.
        assert [type(e) for e in mine] == [Hangup]
    else:
        # One UserEvent, then the dialling channel's Hangup.
        assert [type(e) for e in mine] == [LotseCallback, Hangup]


async def test_a_second_report_of_the_same_attempt_books_nothing(tmp_path: Path) -> None:
    attempt, msgs = _recorded("callback-callee-hangup.txt")
    desk = await _book(tmp_path, [*msgs, *msgs], attempt)
    assert desk.booked == [("bremen", AttemptOutcome.ANSWERED)]  # type: ignore[attr-defined]


async def test_the_old_dialplan_s_events_would_have_failed_an_answered_attempt(
    tmp_path: Path,
) -> None:
    # Without the h extension's UserEvent, an answered attempt ends with the
    # channel's Hangup alone: booked as failed and retried (the defect).
    attempt, msgs = _recorded("callback-callee-hangup.txt")
    without = [m for m in msgs if m.get("UserEvent") != "LotseCallback"]
    desk = await _book(tmp_path, without, attempt)
    assert desk.booked == [("bremen", AttemptOutcome.FAILED)]  # type: ignore[attr-defined]


# --- the shared Dial() captures --------------------------------------------------

SHARED = {
    # capture: (dialling channel's Uniqueid, DIALSTATUS at its Hangup, after-Dial ran)
    "dial-callee-hangup.txt": ("cap1a-7001", "ANSWER", False),
    "dial-callee-hangup-g.txt": ("cap2a-7002", "ANSWER", True),
    "dial-caller-hangup.txt": ("cap3a-7003", "ANSWER", False),
    "dial-noanswer.txt": ("cap4a-7004", "NOANSWER", True),
    "dial-busy.txt": ("cap5a-7005", "BUSY", True),
}


def _with_h_extension(msgs: tuple[Message, ...], channel: str) -> list[Message]:
    """The capture as the callback user would see it with the h extension: its
    UserEvent (DIALSTATUS as last set on the dialling channel) right before that
    channel's Hangup, where Asterisk runs h (the recordings above)."""
    out: list[Message] = []
    status = ""
    for m in msgs:
        if (
            m.get("Uniqueid") == channel
            and m.name == "VarSet"
            and m.get("Variable") == "DIALSTATUS"
        ):
            status = m.get("Value") or ""
        if m.name == "Hangup" and m.get("Uniqueid") == channel:
            out.append(
                Message(
                    (
                        ("Event", "UserEvent"),
                        ("Channel", m.get("Channel") or ""),
                        ("Uniqueid", channel),
                        ("Linkedid", channel),
                        ("UserEvent", "LotseCallback"),
                        ("Attempt", channel),
                        ("Status", status or "NONE"),
                    )
                )
            )
        out.append(m)
    return out


@pytest.mark.parametrize("name", sorted(SHARED))
def test_dialstatus_is_set_before_the_dialling_channel_ends(name: str) -> None:
    channel, status, after_dial = SHARED[name]
    msgs = messages(name)
    hangup = next(
        i for i, m in enumerate(msgs) if m.name == "Hangup" and m.get("Uniqueid") == channel
    )
    set_before = [
        m.get("Value")
        for m in msgs[:hangup]
        if m.name == "VarSet" and m.get("Uniqueid") == channel and m.get("Variable") == "DIALSTATUS"
    ]
    assert set_before and set_before[-1] == status
    # The priority after Dial() (its UserEvent) runs only with g or without an
    # answer: the old dialplan's report was lost in the other two cases.
    ran = any(m.name == "UserEvent" and m.get("Uniqueid") == channel for m in msgs)
    assert ran is after_dial


@pytest.mark.parametrize("name", sorted(SHARED))
async def test_each_shared_dial_case_books_one_outcome(tmp_path: Path, name: str) -> None:
    channel, status, _ = SHARED[name]
    # The captures' own after-Dial UserEvent (CapAfterDial) is not lotse's: ignored.
    desk = await _book(tmp_path, _with_h_extension(messages(name), channel), channel)
    assert desk.booked == [("bremen", outcome_of(status))]  # type: ignore[attr-defined]


def test_dialstatus_values() -> None:
    assert outcome_of("ANSWER") is AttemptOutcome.ANSWERED
    assert outcome_of("NOANSWER") is AttemptOutcome.NO_ANSWER
    assert outcome_of("BUSY") is AttemptOutcome.BUSY
    assert outcome_of("CONGESTION") is AttemptOutcome.CONGESTION
    for other in ("CANCEL", "CHANUNAVAIL", "NONE", "", "DONTCALL"):
        assert outcome_of(other) is AttemptOutcome.FAILED


def test_the_dialogue_s_request_event_ends_no_attempt() -> None:
    event = LotseCallback("PJSIP/x-1", "1.1", "1.1", "", "requested", "bremen", "", "a1")
    assert concluded(event, {"a1"}) is None
    assert concluded(replace(event, status="ANSWER"), {"a1"}) == ("a1", AttemptOutcome.ANSWERED)
    assert concluded(replace(event, status="ANSWER"), {"a2"}) is None
