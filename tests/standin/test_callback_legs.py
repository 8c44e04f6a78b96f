"""The stand-in plays the callback dialer's legs as the Originate flow of the captures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ami.codec import Message
from lotse.callbacks import Originate
from router.callbacknumber import callback_number
from router.configload import load_config_text
from standin import Pbx, ScaledClock
from standin.agents import AgentProfile, Duration
from standin.staffing import AgentSpec, Staffing
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


async def _run_leg(pbx: Pbx, attempt: str) -> tuple[AmiClient, list[Message], Message]:
    client = await login(pbx.ami_address, "ctl", "ctlsecret")
    action = [*_leg(attempt).action().items(), ("ActionID", attempt)]
    answer = await client.action(action)
    await client.wait_for(
        lambda ms: any(m.name == "UserEvent" and m.get("Attempt") == attempt for m in ms)
    )
    await client.wait_for(
        lambda ms: any(m.name == "Hangup" and m.get("Uniqueid") == attempt for m in ms)
    )
    event = next(m for m in client.messages if m.name == "UserEvent")
    return client, answer, event


async def test_the_originate_is_queued_as_asterisk_answers_it(pbx: Pbx) -> None:
    pbx.core.callback_answer[NUMBER.national] = 1.0
    client, answer, _ = await _run_leg(pbx, "cb-1")
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


async def test_agent_first_then_the_caller_answers(pbx: Pbx) -> None:
    pbx.core.callback_answer[NUMBER.national] = 1.0
    client, _, event = await _run_leg(pbx, "cb-2")
    assert (event.get("UserEvent"), event.get("Id"), event.get("Status")) == (
        "LotseCallback",
        "req1",
        "ANSWER",
    )
    # The agent was reached by the leg waiting in the center's queue, first in line.
    joins = [m for m in client.messages if m.name == "QueueCallerJoin"]
    assert joins and (joins[0].get("Channel") or "").startswith("Local/s@lotse-callback-agent-")
    assert joins[0].get("Position") == "1"
    connect = [m for m in client.messages if m.name == "AgentConnect"]
    assert connect and connect[0].get("Queue") == "115-wittenberg"
    # The leg's request id is visible; the number never is.
    assert any(m.name == "VarSet" and m.get("Variable") == "LOTSE_CB_ID" for m in client.messages)
    assert NUMBER.national.encode() not in client.raw
    assert NUMBER.e164[1:].encode() not in client.raw
    await client.close()


async def test_a_caller_who_does_not_answer(pbx: Pbx) -> None:
    pbx.core.callback_answer[NUMBER.national] = 0.0
    client, _, event = await _run_leg(pbx, "cb-3")
    assert event.get("Status") == "NOANSWER"
    assert event.get("Attempt") == "cb-3"
    await client.close()
