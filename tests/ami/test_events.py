"""Typed events from the real captures, and what happens with broken ones."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ami.codec import Message
from ami.contract import LIST_EVENTS, NEEDED_EVENTS, NEEDED_VARIABLES_REGEX
from ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    ChannelStatus,
    CoreShowChannel,
    CoreShowChannelsComplete,
    DeviceState,
    Event,
    FullyBooted,
    Hangup,
    Malformed,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberRemoved,
    QueueMemberStatus,
    QueueParams,
    QueueStatusComplete,
    Shutdown,
    StatusComplete,
    VarSet,
    to_event,
    wanted_variable,
)
from tests.ami.replay import messages
from tests.fixtures.asterisk import AMI_TRANSCRIPTS


def events(name: str) -> list[Event]:
    typed = [to_event(m) for m in messages(name)]
    assert not [e for e in typed if isinstance(e, Malformed)]
    return [e for e in typed if e is not None and not isinstance(e, Malformed)]


T = TypeVar("T")


def of_type(name: str, cls: type[T]) -> list[T]:
    return [e for e in events(name) if isinstance(e, cls)]


EXPECTED_COUNTS = {
    "ami-abandon.txt": {
        "FullyBooted": 1,
        "Hangup": 1,
        "Newchannel": 1,
        "QueueCallerAbandon": 1,
        "QueueCallerJoin": 1,
        "QueueCallerLeave": 1,
        "QueueEntry": 1,
        "QueueParams": 1,
        "QueueStatusComplete": 1,
        "VarSet": 5,
    },
    "ami-actions.txt": {
        "AgentCalled": 1,
        "AgentComplete": 1,
        "AgentConnect": 1,
        "FullyBooted": 1,
        "Hangup": 4,
        "Newchannel": 4,
        "QueueCallerJoin": 1,
        "QueueCallerLeave": 1,
        "QueueMember": 1,
        "QueueMemberAdded": 1,
        "QueueMemberPause": 2,
        "QueueMemberRemoved": 1,
        "QueueMemberStatus": 2,
        "QueueParams": 1,
        "QueueStatusComplete": 1,
        "VarSet": 4,
    },
    "ami-agi-down.txt": {
        "AgentCalled": 1,
        "AgentComplete": 1,
        "AgentConnect": 1,
        "FullyBooted": 1,
        "Hangup": 3,
        "Newchannel": 3,
        "QueueCallerJoin": 1,
        "QueueCallerLeave": 1,
        "QueueMemberStatus": 2,
        "VarSet": 4,
    },
    "ami-answered.txt": {
        "AgentCalled": 1,
        "AgentComplete": 1,
        "AgentConnect": 1,
        "CoreShowChannel": 3,
        "CoreShowChannelsComplete": 1,
        "FullyBooted": 1,
        "Hangup": 3,
        "Newchannel": 3,
        "QueueCallerJoin": 1,
        "QueueCallerLeave": 1,
        "QueueMember": 2,
        "QueueMemberStatus": 2,
        "QueueParams": 4,
        "QueueStatusComplete": 2,
        "VarSet": 7,
    },
    "ami-badlogin.txt": {},
    "ami-load.txt": {
        "AgentCalled": 30,
        "AgentComplete": 30,
        "AgentConnect": 30,
        "FullyBooted": 1,
        "Hangup": 90,
        "Newchannel": 90,
        "QueueCallerJoin": 30,
        "QueueCallerLeave": 30,
        "QueueMember": 1,
        "QueueMemberStatus": 2,
        "QueueParams": 2,
        "QueueStatusComplete": 1,
        "VarSet": 210,
    },
    "ami-shutdown.txt": {"FullyBooted": 1, "Shutdown": 1},
    "ami-timeout.txt": {
        "FullyBooted": 1,
        "Hangup": 1,
        "Newchannel": 1,
        "QueueCallerAbandon": 1,
        "QueueCallerJoin": 1,
        "QueueCallerLeave": 1,
        "VarSet": 6,
    },
}


@pytest.mark.parametrize("name", AMI_TRANSCRIPTS)
def test_typed_event_counts(name: str) -> None:
    assert Counter(type(e).__name__ for e in events(name)) == EXPECTED_COUNTS[name]


def test_most_of_what_asterisk_sends_is_not_needed() -> None:
    msgs = messages("ami-load.txt")
    needed = [e for e in map(to_event, msgs) if e is not None]
    assert len(msgs) == 4455
    assert len(needed) == 547


# --- one answered call ------------------------------------------------------------


def test_answered_call_joins_once_at_position_one() -> None:
    (join,) = of_type("ami-answered.txt", QueueCallerJoin)
    assert (join.queue, join.position, join.count) == ("115-wittenberg", 1, 1)
    assert join.channel == "PJSIP/carrier-00000000"
    assert join.uniqueid == join.linkedid == "1795392628.0"
    assert join.caller_id_num.startswith("03491")
    (leave,) = of_type("ami-answered.txt", QueueCallerLeave)
    assert (leave.queue, leave.position, leave.count) == ("115-wittenberg", 1, 0)


def test_answered_call_agent_events() -> None:
    (called,) = of_type("ami-answered.txt", AgentCalled)
    (connect,) = of_type("ami-answered.txt", AgentConnect)
    (complete,) = of_type("ami-answered.txt", AgentComplete)
    for event in (called, connect, complete):
        assert event.member == "Local/agent1@agents/n"
        assert event.member_name == "Agent One"
        assert event.dest_uniqueid == "1795392630.1"
        assert event.linkedid == "1795392628.0"
    assert (connect.holdtime, connect.ringtime) == (0.0, 0.0)
    assert (complete.holdtime, complete.talktime, complete.reason) == (0.0, 3.0, "agent")


def test_answered_call_order() -> None:
    names = [type(e).__name__ for e in events("ami-answered.txt")]
    flow = [n for n in names if n.startswith(("QueueCaller", "Agent"))]
    assert flow == [
        "QueueCallerJoin",
        "AgentCalled",
        "QueueCallerLeave",
        "AgentConnect",
        "AgentComplete",
    ]


def test_queue_status_list_before_and_during_the_call() -> None:
    evs = events("ami-answered.txt")
    for action_id, in_call in (("qs-1", False), ("qs-2", True)):
        items = [e for e in evs if getattr(e, "action_id", None) == action_id]
        assert [type(e) for e in items] == [
            QueueParams,
            QueueParams,
            QueueMember,
            QueueStatusComplete,
        ]
        complete = items[-1]
        assert isinstance(complete, QueueStatusComplete)
        assert complete.list_items == 3 == len(items) - 1
        params = items[1]
        assert isinstance(params, QueueParams)
        # During the call the caller is with the agent, no longer in the queue.
        assert (params.queue, params.calls, params.completed) == ("115-wittenberg", 0, 0)
        member = items[2]
        assert isinstance(member, QueueMember)
        assert member.in_call is in_call
        assert member.status == (DeviceState.INUSE if in_call else DeviceState.NOT_INUSE)


def test_queue_member_list_item_and_member_status_event_name_fields_differently() -> None:
    (member, _) = of_type("ami-answered.txt", QueueMember)
    (_, status) = of_type("ami-answered.txt", QueueMemberStatus)
    raw = {m.name: m for m in messages("ami-answered.txt")}
    assert raw["QueueMember"].get("Location") == raw["QueueMemberStatus"].get("Interface")
    assert raw["QueueMember"].get("Interface") is None
    assert raw["QueueMember"].get("Ringinuse") is None
    assert member.member == status.member == "Local/agent1@agents/n"
    assert member.member_name == status.member_name == "Agent One"
    assert member.state_interface == status.state_interface == "Local/agent1@agents"
    assert status.ringinuse is True
    assert (status.calls_taken, status.last_call, status.status) == (1, 1795392633, 1)


def test_core_show_channels_mid_call() -> None:
    channels = of_type("ami-answered.txt", CoreShowChannel)
    assert [c.channel for c in channels] == [
        "PJSIP/carrier-00000000",
        "Local/agent1@agents-00000000;2",
        "Local/agent1@agents-00000000;1",
    ]
    assert {c.linkedid for c in channels} == {"1795392628.0"}
    assert {c.action_id for c in channels} == {"csc-1"}
    caller = channels[0]
    assert (caller.application, caller.application_data) == ("Queue", "115-wittenberg,,,,12")
    assert caller.duration == 2.0
    assert caller.bridge_id == channels[2].bridge_id is not None
    assert channels[1].bridge_id is None
    (complete,) = of_type("ami-answered.txt", CoreShowChannelsComplete)
    assert (complete.list_items, complete.action_id) == (3, "csc-1")


def test_routing_variables_of_the_answered_call() -> None:
    varsets = [(v.variable, v.value) for v in of_type("ami-answered.txt", VarSet)]
    assert varsets == [
        ("__LOTSE_HOME", ""),
        ("ROUTE_QUEUE", "115-wittenberg"),
        ("ROUTE_TIMEOUT", "12"),
        ("__LOTSE_HOME", "wittenberg"),
        ("AGISTATUS", "SUCCESS"),
        # inherited onto both halves of the agent's Local channel
        ("__LOTSE_HOME", "wittenberg"),
        ("__LOTSE_HOME", "wittenberg"),
    ]
    assert {v.linkedid for v in of_type("ami-answered.txt", VarSet)} == {"1795392628.0"}


# --- failure paths ---------------------------------------------------------------


def test_agi_down_shows_only_as_agistatus_failure() -> None:
    varsets = {(v.variable, v.value) for v in of_type("ami-agi-down.txt", VarSet)}
    assert ("AGISTATUS", "FAILURE") in varsets
    assert not any(name.startswith("ROUTE_") for name, _ in varsets)
    assert not [m for m in messages("ami-agi-down.txt") if m.name == "AGIExecStart"]
    (join,) = of_type("ami-agi-down.txt", QueueCallerJoin)
    assert join.queue == "115-wittenberg"  # the dialplan's fallback queue


def test_abandon() -> None:
    evs = events("ami-abandon.txt")
    (entry,) = [e for e in evs if isinstance(e, QueueEntry)]
    assert (entry.queue, entry.position, entry.wait, entry.action_id) == (
        "115-bremen",
        1,
        1.0,
        "qs-bremen",
    )
    (abandon,) = [e for e in evs if isinstance(e, QueueCallerAbandon)]
    assert (abandon.queue, abandon.position, abandon.original_position) == ("115-bremen", 1, 1)
    assert abandon.holdtime == 3.0
    flow = [type(e).__name__ for e in evs if isinstance(e, QueueCallerAbandon | QueueCallerLeave)]
    assert flow == ["QueueCallerAbandon", "QueueCallerLeave"]
    (hangup,) = [e for e in evs if isinstance(e, Hangup)]
    assert (hangup.cause, hangup.cause_txt) == (0, "Unknown")
    names = [m.name for m in messages("ami-abandon.txt")]
    assert names.index("HangupRequest") < names.index("QueueCallerAbandon")
    assert not [v for v in of_type("ami-abandon.txt", VarSet) if v.variable == "QUEUESTATUS"]


def test_timeout_also_reports_an_abandon_then_queuestatus() -> None:
    evs = events("ami-timeout.txt")
    flow = [
        type(e).__name__
        for e in evs
        if isinstance(e, QueueCallerAbandon | QueueCallerLeave)
        or (isinstance(e, VarSet) and e.variable == "QUEUESTATUS")
    ]
    assert flow == ["QueueCallerAbandon", "QueueCallerLeave", "VarSet"]
    (abandon,) = [e for e in evs if isinstance(e, QueueCallerAbandon)]
    assert abandon.holdtime == 12.0
    (status,) = [e for e in evs if isinstance(e, VarSet) and e.variable == "QUEUESTATUS"]
    assert status.value == "TIMEOUT"
    assert "HangupRequest" not in [m.name for m in messages("ami-timeout.txt")]


def test_fully_booted_after_login_and_shutdown() -> None:
    (booted,) = of_type("ami-answered.txt", FullyBooted)
    assert (booted.uptime, booted.status) == (22.0, "Fully Booted")
    (shutdown,) = of_type("ami-shutdown.txt", Shutdown)
    assert (shutdown.shutdown, shutdown.restart) == ("Cleanly", True)


def test_member_management_events() -> None:
    (added,) = of_type("ami-actions.txt", QueueMemberAdded)
    assert (added.queue, added.member, added.membership) == (
        "115-bremen",
        "Local/agent1@agents/n",
        "dynamic",
    )
    assert added.state_interface == added.member
    pauses = of_type("ami-actions.txt", QueueMemberPause)
    assert [(p.paused, p.paused_reason) for p in pauses] == [
        (True, "Nachbearbeitung"),
        (False, ""),
    ]
    (member,) = of_type("ami-actions.txt", QueueMember)
    assert (member.paused, member.paused_reason, member.action_id) == (
        True,
        "Nachbearbeitung",
        "qs-1",
    )
    (removed,) = of_type("ami-actions.txt", QueueMemberRemoved)
    assert removed.member_name == "Agent Bremen"


def test_load_capture_totals() -> None:
    completes = of_type("ami-load.txt", AgentComplete)
    assert len({c.uniqueid for c in completes}) == 30
    assert sum(c.talktime for c in completes) == 110.0
    assert {j.position for j in of_type("ami-load.txt", QueueCallerJoin)} == {1}
    # One member, ringinuse: only the first and last device state change are reported.
    statuses = of_type("ami-load.txt", QueueMemberStatus)
    assert [(s.status, s.calls_taken) for s in statuses] == [(2, 0), (1, 1)]


# --- robustness -------------------------------------------------------------------


def first(name: str, event: str) -> Message:
    return next(m for m in messages(name) if m.name == event)


def without(msg: Message, key: str) -> Message:
    return Message(tuple(h for h in msg.headers if h[0] != key))


def with_value(msg: Message, key: str, value: str) -> Message:
    return Message(tuple((k, value if k == key else v) for k, v in msg.headers))


def test_missing_required_field_is_malformed() -> None:
    join = first("ami-answered.txt", "QueueCallerJoin")
    assert to_event(without(join, "Queue")) == Malformed("QueueCallerJoin", "missing Queue")
    assert to_event(without(join, "Uniqueid")) == Malformed("QueueCallerJoin", "missing Uniqueid")
    assert to_event(with_value(join, "Channel", "")) == Malformed(
        "QueueCallerJoin", "empty Channel"
    )


def test_ill_typed_field_is_malformed_without_its_value() -> None:
    join = first("ami-answered.txt", "QueueCallerJoin")
    result = to_event(with_value(join, "Position", "034911234567x"))
    assert result == Malformed("QueueCallerJoin", "Position is not an integer")
    member = first("ami-answered.txt", "QueueMemberStatus")
    assert to_event(with_value(member, "Paused", "maybe")) == Malformed(
        "QueueMemberStatus", "Paused is not a boolean"
    )
    channel = first("ami-answered.txt", "CoreShowChannel")
    assert to_event(with_value(channel, "Duration", "2s")) == Malformed(
        "CoreShowChannel", "Duration is not HH:MM:SS"
    )
    complete = first("ami-answered.txt", "AgentComplete")
    for bad in ("nan", "inf", "1e3", "", " 3"):
        assert to_event(with_value(complete, "TalkTime", bad)) == Malformed(
            "AgentComplete", "TalkTime is not a number"
        )


# Recorded on Asterisk 22.10.1 with lotse's generated files (callback legs whose
# callee hangs up first, the agent leg a Local queue member): app_queue sends
# AgentComplete without any of the caller's fields when the caller's channel is
# already gone ("Empty caller_snapshot; sending incomplete event"). One in three
# such legs did; the others carried Channel: Local/s@lotse-callback-agent-…;2.
AGENT_COMPLETE_WITHOUT_CALLER = Message(
    (
        ("Event", "AgentComplete"),
        ("Privilege", "agent,all"),
        ("DestChannel", "Local/1011@lotse-agents-00000152;1"),
        ("DestChannelState", "6"),
        ("DestChannelStateDesc", "Up"),
        ("DestCallerIDNum", "115"),
        ("DestCallerIDName", "115"),
        ("DestConnectedLineNum", "115"),
        ("DestConnectedLineName", "115"),
        ("DestLanguage", "de"),
        ("DestAccountCode", ""),
        ("DestContext", "lotse-agents"),
        ("DestExten", "s"),
        ("DestPriority", "1"),
        ("DestUniqueid", "1796704786.666"),
        ("DestLinkedid", "capcb0-3219"),
        ("DestChanVariable", "LOTSE_HOME="),
        ("Queue", "115-bremen"),
        ("Interface", "Local/1011@lotse-agents/n"),
        ("MemberName", "115-bremen agent 1"),
        ("HoldTime", "2"),
        ("TalkTime", "12"),
        ("Reason", "caller"),
    )
)


def test_agent_complete_without_the_caller_is_the_member_s_end_not_malformed() -> None:
    event = to_event(AGENT_COMPLETE_WITHOUT_CALLER)
    assert isinstance(event, AgentComplete)
    assert (event.queue, event.member, event.talktime, event.reason) == (
        "115-bremen",
        "Local/1011@lotse-agents/n",
        12.0,
        "caller",
    )
    assert (event.channel, event.uniqueid) == ("", "")
    assert event.dest_uniqueid == "1796704786.666"
    # Still required: the queue and the member whose call ended.
    assert to_event(without(AGENT_COMPLETE_WITHOUT_CALLER, "Interface")) == Malformed(
        "AgentComplete", "missing Interface"
    )
    # A caller's event still needs every caller field.
    complete = first("ami-answered.txt", "AgentComplete")
    assert to_event(without(complete, "Linkedid")) == Malformed("AgentComplete", "missing Linkedid")


def test_optional_caller_number_may_be_missing() -> None:
    join = to_event(without(first("ami-answered.txt", "QueueCallerJoin"), "CallerIDNum"))
    assert isinstance(join, QueueCallerJoin)
    assert join.caller_id_num == ""


def test_not_needed_messages_are_none() -> None:
    assert to_event(first("ami-answered.txt", "Newexten")) is None
    assert to_event(first("ami-answered.txt", "Success")) is None
    assert to_event(Message((("ActionID", "ping-2"), ("Ping", "Pong")))) is None
    assert to_event(Message(())) is None
    sipdomain = next(m for m in messages("ami-answered.txt") if m.get("Variable") == "SIPDOMAIN")
    assert to_event(sipdomain) is None


def test_event_key_in_other_case() -> None:
    join = first("ami-answered.txt", "QueueCallerJoin")
    lower = Message((("event", "QueueCallerJoin"), *join.headers[1:]))
    assert to_event(lower) == to_event(join)


def test_agent_ring_no_answer_and_dump_built_from_an_agent_called() -> None:
    called = first("ami-answered.txt", "AgentCalled")
    rna = to_event(
        Message((("Event", "AgentRingNoAnswer"), *called.headers[1:], ("RingTime", "15000")))
    )
    assert isinstance(rna, AgentRingNoAnswer)
    assert rna.ringtime == 15.0
    assert rna.member == "Local/agent1@agents/n"
    dump = to_event(Message((("Event", "AgentDump"), *called.headers[1:])))
    assert isinstance(dump, AgentDump)
    assert dump.dest_channel == "Local/agent1@agents-00000000;1"


def test_caller_numbers_stay_out_of_reprs() -> None:
    for name in ("ami-answered.txt", "ami-abandon.txt"):
        for event in events(name):
            assert "1234567" not in repr(event), type(event).__name__
    join = of_type("ami-answered.txt", QueueCallerJoin)[0]
    assert "1234567" not in repr(replace(join, queue="q"))


# Header names of the needed events, as the captures spell them.
_KNOWN_KEYS = [
    "Channel",
    "Uniqueid",
    "Linkedid",
    "CallerIDNum",
    "ChannelState",
    "Context",
    "Exten",
    "Priority",
    "Cause",
    "Cause-txt",
    "Variable",
    "Value",
    "Queue",
    "Position",
    "Count",
    "OriginalPosition",
    "HoldTime",
    "Holdtime",
    "TalkTime",
    "RingTime",
    "Reason",
    "Interface",
    "MemberName",
    "DestChannel",
    "DestUniqueid",
    "Location",
    "Name",
    "StateInterface",
    "Membership",
    "Penalty",
    "CallsTaken",
    "LastCall",
    "LastPause",
    "LoginTime",
    "InCall",
    "Status",
    "Paused",
    "PausedReason",
    "Wrapuptime",
    "Ringinuse",
    "Max",
    "Strategy",
    "Calls",
    "Completed",
    "Abandoned",
    "ServiceLevel",
    "ServicelevelPerf",
    "ServicelevelPerf2",
    "Weight",
    "Wait",
    "ListItems",
    "ActionID",
    "Application",
    "ApplicationData",
    "Duration",
    "BridgeId",
    "Uptime",
    "LastReload",
    "Shutdown",
    "Restart",
]


@given(
    name=st.sampled_from(sorted(NEEDED_EVENTS)),
    headers=st.lists(
        st.tuples(
            st.sampled_from(_KNOWN_KEYS),
            st.one_of(st.text(max_size=12), st.sampled_from(["0", "1", "00:00:01", "True"])),
        ),
        max_size=40,
    ),
)
def test_to_event_never_raises(name: str, headers: list[tuple[str, str]]) -> None:
    result = to_event(Message((("Event", name), *headers)))
    assert result is None or isinstance(result, Malformed) or type(result).__name__ == name


# --- filters ----------------------------------------------------------------------


def test_needed_events_cover_what_lotse_needs() -> None:
    assert {
        "FullyBooted",
        "Shutdown",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentRingNoAnswer",
        "AgentDump",
        "QueueMemberStatus",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "Hangup",
        "Newchannel",
        "VarSet",
        "UserEvent",
    } | LIST_EVENTS == NEEDED_EVENTS
    assert "Newexten" not in NEEDED_EVENTS


@pytest.mark.parametrize(
    ("variable", "wanted"),
    [
        ("LOTSE_CALL", True),
        ("__LOTSE_HOME", True),
        ("_LOTSE_HOME", True),
        ("ROUTE_QUEUE", True),
        ("AGISTATUS", True),
        ("QUEUESTATUS", True),
        ("QUEUESTATUS2", False),
        ("SIPDOMAIN", False),
        ("MEMBERNAME", False),
        ("lotse_x", False),
        ("___LOTSE_X", False),
    ],
)
def test_wanted_variables(variable: str, wanted: bool) -> None:
    assert wanted_variable(variable) is wanted
    assert bool(re.fullmatch(NEEDED_VARIABLES_REGEX, variable)) is wanted


@given(st.text(st.characters(codec="ascii", exclude_characters="\n"), max_size=20))
def test_variable_regex_agrees_with_the_filter(variable: str) -> None:
    assert bool(re.fullmatch(NEEDED_VARIABLES_REGEX, variable)) is wanted_variable(variable)


def test_every_variable_in_the_captures_agrees_with_the_regex() -> None:
    names = {
        m.get("Variable") or "" for n in AMI_TRANSCRIPTS for m in messages(n) if m.name == "VarSet"
    }
    assert len(names) > 40
    for variable in names:
        assert bool(re.fullmatch(NEEDED_VARIABLES_REGEX, variable)) is wanted_variable(variable)


def needed_messages() -> list[Message]:
    names = ("ami-answered.txt", "ami-actions.txt", "ami-abandon.txt", "ami-shutdown.txt")
    return [m for n in names for m in messages(n) if to_event(m) is not None]


@given(data=st.data())
def test_damaged_real_events_are_typed_or_malformed(data: st.DataObject) -> None:
    msg = data.draw(st.sampled_from(needed_messages()))
    index = data.draw(st.integers(min_value=1, max_value=len(msg.headers) - 1))
    key = msg.headers[index][0]
    if data.draw(st.booleans()):
        damaged = without(msg, key)
    else:
        damaged = with_value(msg, key, data.draw(st.text(max_size=8)))
    result = to_event(damaged)
    assert result is None or type(result).__name__ in (msg.name, "Malformed")
    if isinstance(result, Malformed):
        assert key in result.reason


def test_fallback_user_event_is_typed_and_others_ignored() -> None:
    from ami.codec import Message
    from ami.events import LotseFallback, to_event

    base = (
        ("Event", "UserEvent"),
        ("Privilege", "user,all"),
        ("Channel", "PJSIP/c-1"),
        ("Uniqueid", "1.1"),
        ("Linkedid", "1.1"),
        ("CallerIDNum", "034911234567"),
    )
    event = to_event(
        Message(
            (
                *base,
                ("UserEvent", "LotseFallback"),
                ("Center", "wittenberg"),
                ("Reason", "agi-failure"),
            )
        )
    )
    assert isinstance(event, LotseFallback)
    assert (event.center, event.reason, event.uniqueid) == ("wittenberg", "agi-failure", "1.1")
    assert to_event(Message((*base, ("UserEvent", "SomethingElse")))) is None


def test_status_items_carry_the_variables_asked_for() -> None:
    item = Message(
        (
            ("Event", "Status"), ("Privilege", "Call"), ("Channel", "PJSIP/carrier-00000000"),
            ("Uniqueid", "1795392628.0"), ("Linkedid", "1795392628.0"), ("BridgeID", "b-1"),
            ("Application", "Queue"), ("Data", "115-wittenberg,,,,12"), ("Seconds", "14"),
            ("Variable", "QEHOLDTIME=9"), ("Variable", "MEMBERNAME=Agent One"),
            ("Variable", "EMPTY="), ("ActionID", "st-1"),
        )
    )  # fmt: skip
    got = to_event(item)
    assert isinstance(got, ChannelStatus)
    assert got.variable("QEHOLDTIME") == "9" and got.variable("MEMBERNAME") == "Agent One"
    assert got.variable("EMPTY") is None and got.variable("OTHER") is None
    assert (got.bridge_id, got.seconds, got.action_id) == ("b-1", 14.0, "st-1")
    done = Message(
        (("Event", "StatusComplete"), ("ActionID", "st-1"), ("EventList", "Complete"),
         ("ListItems", "1"), ("Items", "1"))
    )  # fmt: skip
    assert to_event(done) == StatusComplete(1, "st-1")
    broken = to_event(Message(tuple(h for h in item.headers if h[0] != "Seconds")))
    assert isinstance(broken, Malformed)
