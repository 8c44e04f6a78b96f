"""The stand-in runs the callback dialer's legs through the generated contexts, as Asterisk."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from ami.codec import Message
from ami.contract import CALLBACK_DIAL_CONTEXT, NEEDED_EVENTS, NEEDED_VARIABLES_REGEX
from lotse.callbacks import Originate
from router.callbacknumber import callback_number
from router.configload import load_config_text
from standin import ManualClock, Pbx, ScaledClock
from standin.agents import AgentProfile, Duration
from standin.calls import CalleeProfile
from standin.staffing import AgentSpec, Staffing
from standin.wire import AmiEvent
from tests.fixtures.asterisk import asterisk_transcript
from tests.standin.kit import (
    CONFIG_YAML,
    MONDAY_10,
    AmiClient,
    header_names,
    login,
    transcript_exchanges,
)

QUICK = AgentProfile(ring=Duration(mean=1.0), handle=Duration(mean=2.0))
NUMBER = callback_number("03491 123456")
CALLBACK_YAML = CONFIG_YAML.replace(
    '    postal_codes: ["06886-06925"]',
    '    postal_codes: ["06886-06925"]\n    callback: {offer_after_wait_s: 60, ring_timeout_s: 20}',
)


@pytest.fixture
async def pbx() -> AsyncIterator[Pbx]:
    p = Pbx(
        load_config_text(CALLBACK_YAML, "<test>"),
        staffing=Staffing({"115-wittenberg": (AgentSpec("agent1", QUICK),)}),
        clock=ScaledClock(40.0, start_epoch=MONDAY_10),
        users={"ctl": "ctlsecret"},
        agi_url="agi://127.0.0.1:1/route",
        manager_vars=(),
        auth_fail_delay_s=0.0,
    )
    await p.start()
    yield p
    await p.close()


def _leg(attempt: str) -> Originate:
    return Originate("req1", attempt, "115-wittenberg", NUMBER, 20)


def _callee(pbx: Pbx, **behaviour: float) -> None:
    """The person behind NUMBER: quick to pick up and to talk (virtual seconds)."""
    pbx.core.callees[NUMBER.national] = CalleeProfile(
        ring_s=(1.0, 2.0), talk_s=(3.0, 4.0), **behaviour
    )


async def _run_leg(pbx: Pbx, attempt: str) -> tuple[AmiClient, list[Message]]:
    """Originate one leg and wait until both of its halves are gone."""
    client = await login(pbx.ami_address, "ctl", "ctlsecret")
    action = [*_leg(attempt).action().items(), ("ActionID", attempt)]
    answer = await client.action(action)
    await client.wait_for(
        lambda ms: (
            {attempt, f"{attempt};2"} <= {m.get("Uniqueid") for m in ms if m.name == "Hangup"}
        )
    )
    return client, answer


def _trunk_dials(client: AmiClient) -> list[str | None]:
    """DialStatus of each DialEnd of lotse-callback-dial's Dial() through the trunk,
    after checking there was one DialBegin for each."""

    def ours(m: Message) -> bool:
        return m.get("Context") == CALLBACK_DIAL_CONTEXT and (
            m.get("DestChannel") or ""
        ).startswith("PJSIP/lotse-callback-trunk-")

    begins = [m for m in client.messages if m.name == "DialBegin" and ours(m)]
    ends = [m.get("DialStatus") for m in client.messages if m.name == "DialEnd" and ours(m)]
    assert len(begins) == len(ends) == 1
    return ends


def _user_events(client: AmiClient) -> list[Message]:
    return [m for m in client.messages if m.name == "UserEvent"]


def _lotse_view(client: AmiClient) -> list[Message]:
    """What lotse's AMI users receive under their generated event filters."""
    wanted = re.compile(NEEDED_VARIABLES_REGEX)
    return [
        m
        for m in client.messages
        if m.name in NEEDED_EVENTS and (m.name != "VarSet" or wanted.match(m.get("Variable") or ""))
    ]


async def test_the_originate_is_queued_as_asterisk_answers_it(pbx: Pbx) -> None:
    _callee(pbx)
    client, answer = await _run_leg(pbx, "cb-1")
    ref = next(
        msgs
        for action, msgs in transcript_exchanges(asterisk_transcript("ami-actions.txt"))
        if action.get("Action") == "Originate"
    )
    assert [(m.get("Response"), m.get("Message")) for m in answer[:1]] == [
        (ref[0].get("Response"), ref[0].get("Message"))
    ]
    assert header_names(answer[0]) == header_names(ref[0])
    await client.close()


async def test_the_leg_reaches_the_agent_first_in_line_then_dials_the_caller_once(
    pbx: Pbx,
) -> None:
    _callee(pbx, answer=1.0, hangs_up_first=1.0)
    client, _ = await _run_leg(pbx, "cb-2")
    # The agent was reached by the leg waiting in the center's queue, first in line.
    joins = [m for m in client.messages if m.name == "QueueCallerJoin"]
    assert joins and (joins[0].get("Channel") or "").startswith("Local/s@lotse-callback-agent-")
    assert joins[0].get("Position") == "1"
    connect = [m for m in client.messages if m.name == "AgentConnect"]
    assert connect and connect[0].get("Queue") == "115-wittenberg"
    # The other half ran lotse-callback-dial: one Dial() through the trunk, answered.
    assert _trunk_dials(client) == ["ANSWER"]
    # The callee hung up first: one UserEvent (the h extension), ANSWER.
    assert [m.get("Status") for m in _user_events(client)] == ["ANSWER"]
    # The leg's request id reaches lotse's users through their filters; the number
    # never in a variable (CB_DIAL has no LOTSE_ prefix).
    view = _lotse_view(client)
    assert any(m.name == "VarSet" and m.get("Variable") == "LOTSE_CB_ID" for m in view)
    values = [m.get("Value") or "" for m in view if m.name == "VarSet"]
    assert not [v for v in values if NUMBER.national in v or NUMBER.e164[1:] in v]
    await client.close()


async def test_the_agent_hangs_up_first(pbx: Pbx) -> None:
    _callee(pbx, answer=1.0, hangs_up_first=0.0)
    client, _ = await _run_leg(pbx, "cb-3")
    complete = [m for m in client.messages if m.name == "AgentComplete"]
    assert [m.get("Reason") for m in complete] == ["agent"]
    # The dialling half is hung up from its other half: Dial() returns -1 and the
    # priority after it does not run, g or not (dial-caller-hangup.txt); the h
    # extension still sends the attempt's one UserEvent, before the Hangup.
    events = [m for m in client.messages if m.name in ("UserEvent", "Hangup")]
    mine = [
        (m.name, m.get("Status"), m.get("Exten"), m.get("Priority"))
        for m in events
        if m.get("Uniqueid") == "cb-3" and (m.name == "Hangup" or m.get("UserEvent"))
    ]
    # As Asterisk 22.10.1 ran the generated context (tests/lotse/captures/
    # callback-agent-hangup.txt): the UserEvent at h,1, the Hangup at h,2.
    assert mine == [("UserEvent", "ANSWER", "h", "1"), ("Hangup", None, "h", "2")]
    await client.close()


async def test_a_caller_who_does_not_answer(pbx: Pbx) -> None:
    _callee(pbx, answer=0.0)
    client, _ = await _run_leg(pbx, "cb-4")
    assert [(m.get("Status"), m.get("Attempt")) for m in _user_events(client)] == [
        ("NOANSWER", "cb-4")
    ]
    complete = [m for m in client.messages if m.name == "AgentComplete"]
    assert [m.get("Reason") for m in complete] == ["caller"]
    await client.close()


async def test_a_busy_caller(pbx: Pbx) -> None:
    _callee(pbx, answer=0.0, busy=1.0)
    client, _ = await _run_leg(pbx, "cb-5")
    assert [m.get("Status") for m in _user_events(client)] == ["BUSY"]
    assert _trunk_dials(client) == ["BUSY"]
    await client.close()


async def test_callees_behave_like_people_every_outcome_comes_up() -> None:
    """Legs dialled one after the other to callees who answer half of the time, are
    busy half of the rest, and hang up first in half of the talks: each outcome
    of an attempt comes up, each attempt reports exactly one."""
    clock = ManualClock(MONDAY_10)
    p = Pbx(
        load_config_text(CALLBACK_YAML, "<test>"),
        staffing=Staffing({"115-wittenberg": (AgentSpec("agent1", QUICK),)}),
        clock=clock,
        agi_url="agi://127.0.0.1:1/route",
        manager_vars=(),
        seed=7,
    )
    p.core.callees[NUMBER.national] = CalleeProfile(
        answer=0.5, busy=0.5, hangs_up_first=0.5, ring_s=(1.0, 5.0), talk_s=(5.0, 20.0)
    )
    seen: list[tuple[str, str]] = []

    def record(event: AmiEvent) -> None:
        fields = dict(event.fields)
        if event.name == "UserEvent" and fields.get("Attempt"):
            seen.append(("status", fields.get("Status") or ""))
        elif event.name == "AgentComplete":
            seen.append(("agent-call-ended-by", fields.get("Reason") or ""))
            seen.append(("with-caller-fields", str("Channel" in fields)))

    p.subscribe(record)
    try:
        for n in range(24):
            action = dict(_leg(f"cb-many-{n}").action())
            assert p.originate(
                action["Channel"],
                "",
                "",
                f"cb-many-{n}",
                caller_id="115",
                uniqueids=(action["ChannelId"], ""),
                variables=dict(v.split("=", 1) for v in action["Variable"].split(",")),
                dialplan_target=(action["Context"], action["Exten"], action["Priority"]),
            )
            await clock.run_until_idle(600.0)
    finally:
        await p.close()
    statuses = [v for k, v in seen if k == "status"]
    assert len(statuses) == 24
    assert {"ANSWER", "NOANSWER", "BUSY"} == set(statuses)
    ended_by = [v for k, v in seen if k == "agent-call-ended-by"]
    assert len(ended_by) == 24 and {"agent", "caller"} == set(ended_by)
    # Some of those whose leg was gone first came without the leg's fields, as
    # Asterisk 22.10.1 sends them now and then (tests/ami/test_events.py).
    assert {v for k, v in seen if k == "with-caller-fields"} == {"True", "False"}
