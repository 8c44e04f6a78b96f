"""Calls through the stand-in's 115 flow, compared with the real captures, over real TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from ami.codec import Message
from ami.contract import ARG_CALLID, ARG_DIALED, ARG_POSTAL, ARG_VISITED
from ami.events import Malformed, to_event
from standin import OutcomeKind, Pbx, ScaledClock
from standin.agents import AgentProfile, Duration
from standin.staffing import AgentSpec, Staffing
from tests.fixtures.asterisk import FASTAGI_TRANSCRIPT, asterisk_transcript
from tests.standin.kit import (
    MONDAY_10,
    WAIT,
    AgiScript,
    AmiClient,
    call_events,
    fastagi_server,
    header_names,
    login,
    resp,
    small_config,
    transcript_messages,
)

QUICK = AgentProfile(ring=Duration(mean=1.0), handle=Duration(mean=3.0))
WITTENBERG_CALLER = "034911234567"
BREMEN_CALLER = "04211234567"


def route_to(queue: str, timeout: int | None = None, **extra: str) -> list[tuple[str, str]]:
    """The SET VARIABLE commands of a queue decision."""
    out = [("LOTSE_ACTION", "queue"), ("LOTSE_QUEUE", queue)]
    if timeout is not None:
        out.append(("LOTSE_TIMEOUT", str(timeout)))
    out += list(extra.items())
    return out


class Rig:
    """A stand-in with agent1 in 115-wittenberg, a FastAGI script and a logged-in client."""

    def __init__(self, pbx: Pbx, script: AgiScript, client: AmiClient) -> None:
        self.pbx = pbx
        self.script = script
        self.client = client

    async def events_until(self, predicate: Callable[[Message], bool]) -> list[Message]:
        await self.client.wait_for(lambda ms: any(predicate(m) for m in ms))
        return self.client.messages


@pytest.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    manager_vars = getattr(request, "param", ())
    script = AgiScript()
    server, port = await fastagi_server(script)
    pbx = Pbx(
        small_config(),
        staffing=Staffing({"115-wittenberg": (AgentSpec("agent1", QUICK),)}),
        clock=ScaledClock(40.0, start_epoch=MONDAY_10),
        users={"ctl": "ctlsecret"},
        agi_url=f"agi://127.0.0.1:{port}/route",
        manager_vars=manager_vars,
        auth_fail_delay_s=0.0,
    )
    await pbx.start()
    client = await login(pbx.ami_address)
    yield Rig(pbx, script, client)
    await client.close()
    await pbx.close()
    server.close()


def _call_part(msgs: list[Message]) -> list[tuple[str, str]]:
    return call_events(msgs)


def assert_same_call(mine: list[Message], ref: list[Message]) -> None:
    """Same call as captured, allowing the reorderings real Asterisk itself shows.

    Asterisk raises QueueMemberStatus from its device-state thread and tears
    bridges down from several threads, so two captures of the same flow
    (ami-answered, ami-agi-down) interleave those differently: up to the
    bridge the order must match exactly (QueueMemberStatus aside), after it
    the same events must occur.
    """
    a = [e for e in _call_part(mine) if e[0] != "QueueMemberStatus"]
    b = [e for e in _call_part(ref) if e[0] != "QueueMemberStatus"]
    count = sum(1 for e in _call_part(mine) if e[0] == "QueueMemberStatus")
    assert count == sum(1 for e in _call_part(ref) if e[0] == "QueueMemberStatus")
    cut_a = max((i for i, e in enumerate(a) if e[0] == "BridgeEnter"), default=len(a) - 1) + 1
    cut_b = max((i for i, e in enumerate(b) if e[0] == "BridgeEnter"), default=len(b) - 1) + 1
    assert a[:cut_a] == b[:cut_b]
    assert sorted(a[cut_a:]) == sorted(b[cut_b:])


async def test_fastagi_down_takes_the_static_fallback_like_the_capture() -> None:
    pbx = Pbx(
        small_config(),
        staffing=Staffing({"115-bremen": (AgentSpec("agent1", QUICK),)}),
        clock=ScaledClock(40.0, start_epoch=MONDAY_10),
        users={"ctl": "ctlsecret"},
        agi_url="agi://127.0.0.1:1/route",
        manager_vars=(),
        auth_fail_delay_s=0.0,
    )
    await pbx.start()
    try:
        client = await login(pbx.ami_address)
        outcome = await (await pbx.place_call(BREMEN_CALLER)).outcome()
        await client.wait_for(
            lambda ms: any(
                m.name == "Hangup" and (m.get("Channel") or "").startswith("PJSIP") for m in ms
            )
        )
        ref = transcript_messages(asterisk_transcript("ami-agi-down.txt"))
        assert_same_call(client.messages, ref)
        assert outcome.fallback and outcome.agi_statuses == ("FAILURE",)
        assert (outcome.kind, outcome.queue, outcome.center) == (
            OutcomeKind.ANSWERED,
            "115-bremen",
            "bremen",
        )
        assert not any(m.name == "AGIExecStart" for m in client.messages)
        await client.close()
    finally:
        await pbx.close()


async def test_routed_call_is_answered_with_the_captured_event_sequence(rig: Rig) -> None:
    # Three commands, as the capture's FastAGI server sent (no LOTSE_TIMEOUT: no timeout).
    rig.script.variables = route_to("115-wittenberg", __LOTSE_HOME="wittenberg")
    outcome = await (await rig.pbx.place_call(WITTENBERG_CALLER)).outcome()
    msgs = await rig.events_until(
        lambda m: m.name == "Hangup" and (m.get("Channel") or "").startswith("PJSIP")
    )
    ref = transcript_messages(asterisk_transcript("ami-answered.txt"))
    assert _call_part(msgs) == _call_part(ref)
    assert (outcome.kind, outcome.queue, outcome.center, outcome.agent) == (
        OutcomeKind.ANSWERED,
        "115-wittenberg",
        "wittenberg",
        "agent1",
    )
    assert outcome.agi_statuses == ("SUCCESS",) and not outcome.fallback
    assert rig.script.replies == [["200 result=1"] * 3]
    # Every lotse-relevant event carries the captured header names in the captured order.
    for name in (
        "Newchannel",
        "QueueCallerJoin",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "QueueCallerLeave",
        "QueueMemberStatus",
        "Hangup",
        "AGIExecStart",
        "AGIExecEnd",
        "DialBegin",
        "DialEnd",
        "BridgeEnter",
    ):
        mine = next(m for m in msgs if m.name == name)
        theirs = next(m for m in ref if m.name == name)
        assert header_names(mine) == header_names(theirs), name


@pytest.mark.parametrize("rig", [("LOTSE_HOME",)], indirect=True)
async def test_lotse_home_is_a_channel_variable_in_agent_called(rig: Rig) -> None:
    rig.script.variables = route_to("115-wittenberg", __LOTSE_HOME="wittenberg")
    await (await rig.pbx.place_call(WITTENBERG_CALLER)).outcome()
    msgs = await rig.events_until(lambda m: m.name == "AgentComplete")
    called = next(m for m in msgs if m.name == "AgentCalled")
    headers = called.headers
    assert ("ChanVariable", "LOTSE_HOME=wittenberg") in headers
    assert ("DestChanVariable", "LOTSE_HOME=wittenberg") in headers
    # manager_channels.c: after Linkedid of the same snapshot.
    keys = [k for k, _ in headers]
    assert keys[keys.index("Linkedid") + 1] == "ChanVariable"
    assert keys[keys.index("DestLinkedid") + 1] == "DestChanVariable"
    first = next(m for m in msgs if m.name == "Newchannel")
    assert first.get("ChanVariable") == "LOTSE_HOME="


async def test_caller_abandons_like_the_capture(rig: Rig) -> None:
    rig.script.variables = route_to("115-bremen", __LOTSE_HOME="wittenberg")
    handle = await rig.pbx.place_call(BREMEN_CALLER, patience_s=30)
    await rig.events_until(lambda m: m.name == "QueueCallerJoin")
    status = await rig.client.action(
        [("Action", "QueueStatus"), ("Queue", "115-bremen"), ("ActionID", "qs-bremen")],
        until="QueueStatusComplete",
    )
    entry = next(m for m in status if m.name == "QueueEntry")
    ref = transcript_messages(asterisk_transcript("ami-abandon.txt"))
    ref_entry = next(m for m in ref if m.name == "QueueEntry")
    assert header_names(entry) == header_names(ref_entry)
    assert (entry.get("CallerIDName"), entry.get("Position")) == ("unknown", "1")
    handle.hang_up()
    outcome = await handle.outcome()
    msgs = await rig.events_until(lambda m: m.name == "Hangup")
    assert _call_part(msgs) == _call_part(ref)
    abandon = next(m for m in msgs if m.name == "QueueCallerAbandon")
    assert header_names(abandon) == header_names(next(m for m in ref if m.name == abandon.name))
    assert outcome.kind is OutcomeKind.ABANDONED
    assert [v.result for v in outcome.visits] == ["abandoned"]


async def test_queue_timeout_reports_abandon_then_spills(rig: Rig) -> None:
    answers = [
        route_to("115-bremen", 12, LOTSE_TARGET="bremen"),
        [("LOTSE_ACTION", "announce"), ("LOTSE_ANNOUNCEMENT", "lotse/all-busy")],
    ]
    rig.script.per_call = lambda env: answers[len(rig.script.envs) - 1]
    outcome = await (await rig.pbx.place_call(BREMEN_CALLER)).outcome()
    msgs = await rig.events_until(lambda m: m.name == "Hangup")
    ref = transcript_messages(asterisk_transcript("ami-timeout.txt"))
    # The capture's server sent three commands, this decision four: AGIExec* aside.
    timeout_part = [e for e in _call_part(msgs) if not e[0].startswith("AGIExec")]
    cut = timeout_part.index(("VarSet QUEUESTATUS=TIMEOUT", "caller")) + 1
    ref_part = [e for e in _call_part(ref) if not e[0].startswith("AGIExec")]
    ref_cut = ref_part.index(("VarSet QUEUESTATUS=TIMEOUT", "caller")) + 1
    assert timeout_part[:cut] == ref_part[:ref_cut]
    # The spill asks again with the target appended to the visited centers.
    assert [env[f"agi_arg_{ARG_VISITED}"] for env in rig.script.envs] == ["", "bremen"]
    assert (outcome.kind, outcome.announcement) == (OutcomeKind.ANNOUNCEMENT, "lotse/all-busy")
    assert [v.result for v in outcome.visits] == ["timeout"]
    assert outcome.actions == ("queue", "announce")


async def test_fastagi_environment_matches_the_capture(rig: Rig) -> None:
    rig.script.variables = route_to("115-wittenberg", __LOTSE_HOME="wittenberg")
    await (await rig.pbx.place_call(WITTENBERG_CALLER)).outcome()
    captured = [
        line[2:].split(":", 1)[0]
        for line in asterisk_transcript(FASTAGI_TRANSCRIPT).read_text().splitlines()
        if line.startswith("< agi_")
    ]
    lines = rig.script.env_lines[0]
    keys = [line.split(":", 1)[0] for line in lines]
    # The generated AGI() passes the contract's four arguments and the config's sha256.
    assert keys == [*captured, *(f"agi_arg_{n}" for n in range(1, 6))]
    env = rig.script.envs[0]
    assert env["agi_network_script"] == "route"
    assert env["agi_callerid"] == WITTENBERG_CALLER
    assert env["agi_type"] == "PJSIP" and env["agi_version"] == "22.10.1"
    assert env[f"agi_arg_{ARG_DIALED}"] == "115"
    assert env[f"agi_arg_{ARG_POSTAL}"] == ""
    assert env[f"agi_arg_{ARG_CALLID}"] == env["agi_uniqueid"]  # __LOTSE_CALLID=${UNIQUEID}
    assert "agi_accountcode: " in lines  # the trailing blank is on the wire


async def test_silent_fastagi_keeps_the_channel_until_the_socket_closes(rig: Rig) -> None:
    rig.script.hold = True
    handle = await rig.pbx.place_call(WITTENBERG_CALLER, patience_s=2)
    await rig.events_until(lambda m: m.name == "HangupRequest")
    # res_agi tells the server and keeps waiting: the channel is still there.
    async with asyncio.timeout(WAIT):
        while not rig.script.received_after_env:
            await asyncio.sleep(0.01)
    assert rig.script.received_after_env == ["HANGUP\n"]
    assert not handle.done()
    assert rig.pbx.core.channels.get(handle.channel) is not None
    rig.script.released.set()
    outcome = await handle.outcome()
    assert outcome.agi_statuses == ("HANGUP",)
    assert outcome.kind is OutcomeKind.ABANDONED


async def test_postal_code_prompt_asks_again_with_the_digits(rig: Rig) -> None:
    answers = [[("LOTSE_ACTION", "postal")], route_to("115-wittenberg")]
    rig.script.per_call = lambda env: answers[len(rig.script.envs) - 1]
    outcome = await (await rig.pbx.place_call("01711234567", postal_code="06886")).outcome()
    assert [env[f"agi_arg_{ARG_POSTAL}"] for env in rig.script.envs] == ["", "06886"]
    assert outcome.postal_entered == ("06886",)
    assert outcome.kind is OutcomeKind.ANSWERED


async def test_postal_code_prompt_without_digits_sends_none(rig: Rig) -> None:
    answers = [
        [("LOTSE_ACTION", "postal")],
        [("LOTSE_ACTION", "announce"), ("LOTSE_ANNOUNCEMENT", "lotse/x")],
    ]
    rig.script.per_call = lambda env: answers[len(rig.script.envs) - 1]
    outcome = await (await rig.pbx.place_call("01711234567")).outcome()
    assert [env[f"agi_arg_{ARG_POSTAL}"] for env in rig.script.envs] == ["", "none"]
    assert outcome.kind is OutcomeKind.ANNOUNCEMENT


async def test_empty_action_takes_the_fallback(rig: Rig) -> None:
    rig.script.variables = [("__LOTSE_HOME", "wittenberg")]
    outcome = await (await rig.pbx.place_call(WITTENBERG_CALLER)).outcome()
    assert outcome.agi_statuses == ("SUCCESS",) and outcome.fallback
    assert outcome.queue == "115-wittenberg"


async def test_greeting_plays_once_before_the_first_queue(rig: Rig) -> None:
    rig.script.variables = route_to("115-wittenberg", LOTSE_GREETING="lotse/greeting-wittenberg")
    await (await rig.pbx.place_call(WITTENBERG_CALLER)).outcome()
    msgs = await rig.events_until(lambda m: m.name == "Hangup")
    plays = [
        m.get("AppData")
        for m in msgs
        if m.name == "Newexten" and m.get("Application") == "Playback"
    ]
    assert plays == ["lotse/greeting-wittenberg"]
    names = [m.name for m in msgs]
    assert names.index("QueueCallerJoin") > max(
        i for i, m in enumerate(msgs) if m.get("Variable") == "PLAYBACKSTATUS"
    )


async def test_redirect_takes_a_waiting_caller_out_of_the_queue(rig: Rig) -> None:
    answers = [route_to("115-bremen"), route_to("115-wittenberg")]
    rig.script.per_call = lambda env: answers[min(len(rig.script.envs), 2) - 1]
    handle = await rig.pbx.place_call(BREMEN_CALLER)
    await rig.events_until(lambda m: m.name == "QueueCallerJoin")
    reply = await rig.client.action(
        [
            ("Action", "Redirect"),
            ("Channel", handle.channel),
            ("Context", "lotse-115"),
            ("Exten", "115"),
            ("Priority", "1"),
            ("ActionID", "r"),
        ]
    )
    assert resp(reply).get("Message") == "Redirect successful"
    outcome = await handle.outcome()
    assert [v.queue for v in outcome.visits] == ["115-bremen", "115-wittenberg"]
    assert outcome.kind is OutcomeKind.ANSWERED
    assert not any(m.name == "QueueCallerAbandon" for m in rig.client.messages)


async def test_hangup_action_ends_the_call(rig: Rig) -> None:
    rig.script.variables = route_to("115-bremen")
    handle = await rig.pbx.place_call(BREMEN_CALLER)
    await rig.events_until(lambda m: m.name == "QueueCallerJoin")
    reply = await rig.client.action(
        [("Action", "Hangup"), ("Channel", handle.channel), ("ActionID", "h")]
    )
    assert resp(reply).get("Message") == "Channel Hungup"
    assert (await handle.outcome()).kind is OutcomeKind.ABANDONED
    missing = await rig.client.action(
        [("Action", "Hangup"), ("Channel", handle.channel), ("ActionID", "h2")]
    )
    assert resp(missing).get("Message") == "No such channel"


@pytest.mark.parametrize("rig", [("LOTSE_HOME",)], indirect=True)
async def test_every_event_types_cleanly_with_ami_events(rig: Rig) -> None:
    answers = [
        route_to("115-bremen", 5, LOTSE_TARGET="bremen"),
        route_to("115-wittenberg", __LOTSE_HOME="wittenberg"),
    ]
    rig.script.per_call = lambda env: answers[min(len(rig.script.envs), 2) - 1]
    await (await rig.pbx.place_call(BREMEN_CALLER)).outcome()
    await rig.client.action(
        [("Action", "QueueStatus"), ("ActionID", "q")], until="QueueStatusComplete"
    )
    await rig.client.action(
        [("Action", "CoreShowChannels"), ("ActionID", "c")], until="CoreShowChannelsComplete"
    )
    typed = [to_event(m) for m in rig.client.messages if m.kind == "event"]
    assert not [t for t in typed if isinstance(t, Malformed)]
    kinds = {type(t).__name__ for t in typed if t is not None}
    assert {
        "QueueCallerJoin",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "QueueMemberStatus",
        "QueueParams",
        "Hangup",
    } <= kinds
