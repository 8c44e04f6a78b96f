"""The stand-in's manager interface against the real Asterisk 22.10.1 captures, over real TCP."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable

import pytest
from panoramisk import Manager

from ami.codec import Message
from ami.transcript import received_bytes, turns
from standin import Pbx, ScaledClock
from standin.agents import AgentProfile, Duration
from standin.amiserver import Framing
from standin.staffing import AgentSpec, Staffing
from standin.wire import Category, parse_classes
from tests.fixtures.asterisk import asterisk_transcript
from tests.standin.kit import (
    MONDAY_10,
    WAIT,
    AmiClient,
    header_names,
    login,
    parse_stream,
    resp,
    small_config,
    transcript_exchanges,
)

QUICK = AgentProfile(ring=Duration(mean=1.0), handle=Duration(mean=2.0))


def make_pbx(**kwargs: object) -> Pbx:
    """The transcripts' setup: user ctl/ctlsecret, agent1 a static member of 115-wittenberg."""
    options: dict[str, object] = {
        "staffing": Staffing({"115-wittenberg": (AgentSpec("agent1", QUICK),)}),
        "clock": ScaledClock(40.0, start_epoch=MONDAY_10),
        "users": {"ctl": "ctlsecret"},
        "agi_url": "agi://127.0.0.1:1/route",  # nothing listens: AGISTATUS=FAILURE
        "manager_vars": (),
        "auth_fail_delay_s": 0.0,
    }
    options.update(kwargs)
    return Pbx(small_config(), **options)  # type: ignore[arg-type]


@pytest.fixture
async def pbx() -> AsyncIterator[Pbx]:
    p = make_pbx()
    await p.start()
    yield p
    await p.close()


def _member_named(msgs: list[Message], name: str) -> Message:
    return next(m for m in msgs if m.name == name)


async def test_banner_then_login_like_asterisk(pbx: Pbx) -> None:
    client = AmiClient()
    await client.connect(pbx.ami_address)
    reply = await client.action(
        [("Action", "Login"), ("Username", "ctl"), ("Secret", "ctlsecret"), ("ActionID", "login-1")]
    )
    await client.wait_for(lambda ms: any(m.name == "SuccessfulAuth" for m in ms))
    assert client.parser.banner == "Asterisk Call Manager/11.0.0"
    assert bytes(client.raw).startswith(b"Asterisk Call Manager/11.0.0\r\n\r\n")
    ref = dict(transcript_exchanges(asterisk_transcript("ami-answered.txt"))[0:1])
    ref_msgs = next(iter(ref.values()))
    got = [*reply, *[m for m in client.messages if m.name == "SuccessfulAuth"]]
    assert [header_names(m) for m in got[:3]] == [header_names(m) for m in ref_msgs[:3]]
    assert [m.get("Message") for m in got[:1]] == ["Authentication accepted"]
    await client.close()


def _answer_of(action: Message, msgs: list[Message]) -> list[Message]:
    """The messages that answer ``action``: its ActionID, the cut-off halves, list items."""
    action_id = action.get("ActionID")
    name = (action.get("Action") or "").lower()
    related = {
        "login": ("FullyBooted", "SuccessfulAuth"),
        "nosuchaction": ("RequestBadFormat",),
    }.get(name, ())
    kept: list[Message] = []
    for m in msgs:
        member_event = name.startswith("queue") and (m.name or "").startswith("QueueMember")
        if m.action_id == action_id or m.kind == "unknown" or m.name in related or member_event:
            kept.append(m)
    return kept


def _named(name: str | None) -> Callable[[Message], bool]:
    return lambda m: m.name == name


def _after(start: int, test: Callable[[Message], bool]) -> Callable[[list[Message]], bool]:
    return lambda ms: any(test(m) for m in ms[start:])


def _shape(m: Message) -> tuple[str, str | None, list[str], str | None]:
    return (m.kind, m.name, header_names(m), m.get("Message"))


async def test_action_sequence_matches_ami_actions_transcript(pbx: Pbx) -> None:
    path = asterisk_transcript("ami-actions.txt")
    client = AmiClient()
    await client.connect(pbx.ami_address)
    for action, ref_msgs in transcript_exchanges(path):
        name = (action.get("Action") or "").lower()
        action_id = action.get("ActionID") or ""
        until = {"queuestatus": "QueueStatusComplete", "queuesummary": "QueueSummaryComplete"}.get(
            name
        )
        start = len(client.messages)
        if name == "logoff":
            client.send(action.headers)
            await client.wait_for(_after(start, lambda m: m.name == "Goodbye"))
            await asyncio.wait_for(client.closed.wait(), WAIT)
        else:
            await client.action(action.headers, until=until)
        if name == "originate":
            await client.wait_for(_after(start, lambda m: m.name == "OriginateResponse"))
        if name == "getvar":  # the value half arrives in a second block without ActionID
            await client.wait_for(_after(start, lambda m: bool(m.get("Variable"))))
        if name in ("queueadd", "queuepause", "queueremove") and ref_msgs[-1].name != "Error":
            for wanted in {m.name for m in ref_msgs if (m.name or "").startswith("QueueMember")}:
                await client.wait_for(_after(start, _named(wanted)))
        got = _answer_of(action, client.messages[start:])
        ref = _answer_of(action, ref_msgs)
        assert [_shape(m) for m in got] == [_shape(m) for m in ref], f"{name} ({action_id})"
    assert client.closed.is_set()


async def test_ping_and_getvar_are_cut_in_two_as_captured(pbx: Pbx) -> None:
    client = await login(pbx.ami_address)
    mark = len(client.raw)
    await client.action([("Action", "Ping"), ("ActionID", "ping-2")])
    raw = bytes(client.raw[mark:])
    assert re.fullmatch(
        rb"Response: Success\r\n\r\nActionID: ping-2\r\nPing: Pong\r\n"
        rb"Timestamp: \d+\.\d{6}\r\n\r\n\r\n",
        raw,
    )
    await client.close()


async def test_source_framing_writes_no_extra_empty_lines() -> None:
    p = make_pbx(framing=Framing.SOURCE)
    await p.start()
    try:
        client = await login(p.ami_address)
        mark = len(client.raw)
        await client.action([("Action", "Ping"), ("ActionID", "p")])
        assert re.fullmatch(
            rb"Response: Success\r\nActionID: p\r\nPing: Pong\r\n"
            rb"Timestamp: \d+\.\d{6}\r\n\r\n",
            bytes(client.raw[mark:]),
        )
        await client.close()
    finally:
        await p.close()


async def test_bad_login_answers_once_and_closes_like_the_capture(pbx: Pbx) -> None:
    path = asterisk_transcript("ami-badlogin.txt")
    reader, writer = await asyncio.open_connection(*pbx.ami_address)
    for turn in turns(path):
        if turn.direction == "sent":
            writer.write(turn.data)
    got = await asyncio.wait_for(reader.read(), WAIT)  # until the stand-in closes
    assert got == received_bytes(path)
    writer.close()


async def test_md5_challenge_login(pbx: Pbx) -> None:
    client = AmiClient()
    await client.connect(pbx.ami_address)
    reply = await client.action([("Action", "Challenge"), ("AuthType", "MD5"), ("ActionID", "c")])
    challenge = reply[-1].get("Challenge") or ""
    assert challenge.isdigit()
    key = hashlib.md5((challenge + "ctlsecret").encode()).hexdigest()
    ok = await client.action(
        [
            ("Action", "Login"),
            ("AuthType", "MD5"),
            ("Username", "ctl"),
            ("Key", key),
            ("ActionID", "l"),
        ]
    )
    assert resp(ok).get("Response") == "Success"
    pong = await client.action([("Action", "Ping"), ("ActionID", "p")])
    assert any(m.get("Ping") == "Pong" for m in pong)
    await client.close()


async def test_md5_login_with_wrong_key_fails_and_closes(pbx: Pbx) -> None:
    client = AmiClient()
    await client.connect(pbx.ami_address)
    await client.action([("Action", "Challenge"), ("AuthType", "MD5"), ("ActionID", "c")])
    bad = await client.action(
        [
            ("Action", "Login"),
            ("AuthType", "MD5"),
            ("Username", "ctl"),
            ("Key", "0" * 32),
            ("ActionID", "l"),
        ]
    )
    answer = resp(bad)
    assert (answer.get("Response"), answer.get("Message")) == ("Error", "Authentication failed")
    await asyncio.wait_for(client.closed.wait(), WAIT)


async def test_events_off_stops_events_but_not_responses(pbx: Pbx) -> None:
    client = await login(pbx.ami_address)
    off = await client.action([("Action", "Events"), ("EventMask", "off"), ("ActionID", "e")])
    assert resp(off).get("Events") == "Off"
    watcher = await login(pbx.ami_address)
    # No patience: the caller hangs up only when told below. A patience in
    # virtual seconds ran out before the join on a busy machine (the clock runs
    # 40 times faster than the event loop could keep up with).
    handle = await pbx.place_call("04211234567")
    await watcher.wait_for(lambda ms: any(m.name == "QueueCallerJoin" for m in ms))
    mark = len(client.messages)
    pong = await client.action([("Action", "Ping"), ("ActionID", "p")])
    assert all(m.kind != "event" for m in client.messages[mark:])
    assert any(m.get("Ping") == "Pong" for m in pong)
    handle.hang_up()
    await asyncio.wait_for(handle.outcome(), WAIT)
    # The watcher (events on) saw the call end; the client (events off) saw nothing.
    await watcher.wait_for(lambda ms: any(m.name == "Hangup" for m in ms))
    assert all(m.kind != "event" for m in client.messages[mark:])
    await client.close()
    await watcher.close()


async def test_read_classes_filter_events_and_privilege_header() -> None:
    p = make_pbx(users={"ctl": "ctlsecret"})
    p.server.users["calls"] = p.server.users["ctl"].__class__(
        "calls", "pw", read=parse_classes("call"), write=parse_classes("call")
    )
    await p.start()
    try:
        client = await login(p.ami_address, "calls", "pw")
        handle = await p.place_call("04211234567", patience_s=3)
        await handle.outcome()
        await client.wait_for(lambda ms: any(m.name == "Hangup" for m in ms))
        events = [m for m in client.messages if m.kind == "event"]
        assert {m.get("Privilege") for m in events} == {"call,all"}
        assert not any(m.name in ("VarSet", "QueueCallerJoin", "FullyBooted") for m in events)
        denied = await client.action(
            [
                ("Action", "QueueAdd"),
                ("Queue", "115-bremen"),
                ("Interface", "Local/x@agents/n"),
                ("ActionID", "a"),
            ]
        )
        assert resp(denied).get("Message") == "Permission denied"
        await client.close()
    finally:
        await p.close()


async def test_action_before_login_is_refused_but_connection_stays(pbx: Pbx) -> None:
    client = AmiClient()
    await client.connect(pbx.ami_address)
    no = await client.action([("Action", "QueueStatus"), ("ActionID", "q")])
    assert (resp(no).get("Response"), resp(no).get("Message")) == ("Error", "Permission denied")
    await client.action(
        [("Action", "Login"), ("Username", "ctl"), ("Secret", "ctlsecret"), ("ActionID", "l")]
    )
    await client.close()


async def test_panoramisk_manager_logs_in_lists_and_receives_events(pbx: Pbx) -> None:
    host, port = pbx.ami_address
    manager = Manager(
        host=host,
        port=port,
        username="ctl",
        secret="ctlsecret",
        ping_delay=3600,
        reconnect_timeout=3600,
    )
    seen: list[str] = []
    joined = asyncio.Event()

    def on_event(_: Manager, event: object) -> None:
        name = str(getattr(event, "event", ""))
        seen.append(name)
        if name == "QueueCallerJoin":
            joined.set()

    manager.register_event("*", on_event)
    await asyncio.wait_for(manager.connect(), WAIT)
    status = await asyncio.wait_for(manager.send_action({"Action": "QueueStatus"}), WAIT)
    names = [m.event for m in status if "event" in m]
    assert names[0] == "QueueParams" and names[-1] == "QueueStatusComplete"
    assert "QueueMember" in names
    handle = await pbx.place_call("04211234567", patience_s=30)
    await asyncio.wait_for(joined.wait(), WAIT)
    channels = await asyncio.wait_for(manager.send_action({"Action": "CoreShowChannels"}), WAIT)
    listed = [m for m in channels if m.get("Event") == "CoreShowChannel"]
    # The static fallback finds nobody at bremen and queues at wittenberg, whose
    # agent is being rung: the caller and the member's Local pair are listed.
    assert listed[0].Channel == handle.channel
    assert channels[-1].ListItems == str(len(listed))
    assert {"Newchannel", "VarSet", "Newstate", "QueueCallerJoin"} <= set(seen)
    handle.hang_up()
    await handle.outcome()
    manager.close()


async def test_two_clients_get_the_same_events(pbx: Pbx) -> None:
    a = await login(pbx.ami_address)
    b = await login(pbx.ami_address)
    handle = await pbx.place_call("04211234567", patience_s=2)
    await handle.outcome()
    for c in (a, b):
        await c.wait_for(lambda ms: any(m.name == "Hangup" for m in ms))
    events_a = [m.headers for m in a.messages if m.kind == "event" and m.name != "SuccessfulAuth"]
    events_b = [m.headers for m in b.messages if m.kind == "event" and m.name != "SuccessfulAuth"]
    tail = events_b[-len(events_a) :] if len(events_b) >= len(events_a) else events_b
    assert tail == events_a[-len(tail) :]
    await a.close()
    await b.close()


async def test_shutdown_event_like_the_capture_then_restart(pbx: Pbx) -> None:
    ref = [
        m
        for m in parse_stream(received_bytes(asterisk_transcript("ami-shutdown.txt")))
        if m.name == "Shutdown"
    ]
    client = await login(pbx.ami_address)
    first = await pbx.place_call("04211234567")
    await client.wait_for(lambda ms: any(m.name == "QueueCallerJoin" for m in ms))
    await pbx.shutdown_event()
    await asyncio.wait_for(client.closed.wait(), WAIT)
    got = [m for m in client.messages if m.name == "Shutdown"]
    assert [m.headers for m in got] == [m.headers for m in ref]
    assert (await first.outcome()).kind.value == "abandoned"
    again = await login(pbx.ami_address)
    second = await pbx.place_call("04211234567", patience_s=1)
    assert second.uniqueid.endswith(".0")
    assert second.channel == "PJSIP/carrier-00000000"
    await second.outcome()
    await again.close()


async def test_dropped_connections_can_reconnect(pbx: Pbx) -> None:
    client = await login(pbx.ami_address)
    await pbx.drop_ami_connections()
    await asyncio.wait_for(client.closed.wait(), WAIT)
    again = await login(pbx.ami_address)
    status = await again.action(
        [("Action", "QueueSummary"), ("ActionID", "s")], until="QueueSummaryComplete"
    )
    assert [m.get("Queue") for m in status if m.name == "QueueSummary"] == [
        "115-bremen",
        "115-wittenberg",
    ]
    await again.close()


async def test_queue_member_actions_drive_member_events(pbx: Pbx) -> None:
    client = await login(pbx.ami_address)
    iface = "Local/anna@agents/n"
    added = await client.action(
        [
            ("Action", "QueueAdd"),
            ("Queue", "115-bremen"),
            ("Interface", iface),
            ("MemberName", "Anna"),
            ("ActionID", "a"),
        ]
    )
    assert resp(added).get("Message") == "Added interface to queue"
    again = await client.action(
        [("Action", "QueueAdd"), ("Queue", "115-bremen"), ("Interface", iface), ("ActionID", "a2")]
    )
    assert resp(again).get("Message") == "Unable to add interface: Already there"
    nope = await client.action(
        [("Action", "QueueAdd"), ("Queue", "no-such"), ("Interface", iface), ("ActionID", "a3")]
    )
    assert resp(nope).get("Message") == "Unable to add interface to queue: No such queue"
    static = await client.action(
        [
            ("Action", "QueueRemove"),
            ("Queue", "115-wittenberg"),
            ("Interface", "Local/agent1@agents/n"),
            ("ActionID", "r"),
        ]
    )
    assert resp(static).get("Message") == "Member not dynamic"
    await client.wait_for(lambda ms: any(m.name == "QueueMemberAdded" for m in ms))
    added_event = _member_named(client.messages, "QueueMemberAdded")
    assert (added_event.get("Membership"), added_event.get("MemberName")) == ("dynamic", "Anna")
    assert added_event.get("Privilege") == "agent,all"
    assert Category.AGENT in Category(int(Category.AGENT))
    await client.close()


async def test_status_lists_a_bridged_caller_with_the_queue_variables() -> None:
    # As manager.c's action_status: a list of Status events (ActionID last,
    # the asked Variables before it) and StatusComplete with ListItems/Items.
    slow = AgentProfile(ring=Duration(mean=1.0), handle=Duration(mean=3600.0))
    pbx = make_pbx(staffing=Staffing({"115-wittenberg": (AgentSpec("agent1", slow),)}))
    await pbx.start()
    client = await login(pbx.ami_address)
    try:
        handle = await pbx.place_call("034911234567")
        async with asyncio.timeout(WAIT):
            while not any(
                ch.bridge_id and ch.uniqueid == handle.uniqueid for ch in pbx.core.channels
            ):
                await asyncio.sleep(0.01)
        reply = await client.action(
            [("Action", "Status"), ("Channel", handle.channel),
             ("Variables", "QEHOLDTIME,MEMBERNAME,NOSUCHVAR"), ("ActionID", "st-1")],
            until="StatusComplete",
        )  # fmt: skip
        first = next(m for m in reply if m.action_id == "st-1")
        assert (first.get("Response"), first.get("EventList")) == ("Success", "start")
        (item,) = [m for m in reply if m.name == "Status"]
        assert item.get("Uniqueid") == handle.uniqueid
        assert item.get("Application") == "Queue" and item.get("BridgeID")
        variables = [v for k, v in item.headers if k == "Variable"]
        assert variables[1:] == ["MEMBERNAME=agent1", "NOSUCHVAR="]
        assert variables[0].startswith("QEHOLDTIME=") and variables[0][11:].isdigit()
        assert item.headers[-1] == ("ActionID", "st-1")
        done = next(m for m in reply if m.name == "StatusComplete")
        assert (done.get("ListItems"), done.get("Items")) == ("1", "1")
        gone = await client.action(
            [("Action", "Status"), ("Channel", "PJSIP/nobody-0"), ("ActionID", "st-2")]
        )
        assert next(m for m in gone if m.action_id == "st-2").get("Message") == "No such channel"
        handle.hang_up()
        await handle.outcome()
    finally:
        await client.close()
        await pbx.close()
