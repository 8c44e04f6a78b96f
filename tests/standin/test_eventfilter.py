"""The stand-in's AMI event filters: manager.c's own cases, and the generated users."""

from __future__ import annotations

import asyncio

import pytest

from ami.codec import AmiParser, Message
from dialplans.manager import LOAD_EVENTS, load_username
from router.configload import load_config
from router.numbering import OrtsnetzTable
from standin import Pbx
from standin.eventfilter import (
    EventFilter,
    FilterError,
    UserPolicy,
    generated_manager_conf,
    parse_manager_conf,
)
from standin.wire import AmiEvent, Category
from tests.lotse.rig import REPO

# manager.c's TEST_EVENT_NEWCHANNEL and TEST_EVENT_VARSET (Asterisk 22.10.1).
NEWCHANNEL = AmiEvent("Newchannel", Category.CALL, (("Channel", "XXX"), ("Someheader", "YYY")))
VARSET = AmiEvent("VarSet", Category.DIALPLAN, (("Channel", "ABC"), ("Someheader", "XXX")))

# manager.c's parsing_filter_tests: (criteria, pattern, event, sent).
VALID = [
    ("eventfilter", "XXX", NEWCHANNEL, True),
    ("eventfilter", "!XXX", VARSET, False),
    ("eventfilter(name(VarSet),method(none))", "", VARSET, True),
    ("eventfilter(name(Newchannel),method(regex))", "X[XYZ]X", NEWCHANNEL, True),
    ("eventfilter(name(Newchannel),method(regex))", "X[abc]X", NEWCHANNEL, False),
    ("eventfilter(action(exclude),name(Newchannel),method(regex))", "X[XYZ]X", NEWCHANNEL, False),
    ("eventfilter(action(exclude),name(Newchannel),method(regex))", "X[abc]X", NEWCHANNEL, True),
    ("eventfilter(action(include),name(VarSet),header(Channel),method(starts_with))", "AB",
     VARSET, True),
    ("eventfilter(action(include),name(VarSet),header(Channel),method(ends_with))", "BC",
     VARSET, True),
    ("eventfilter(action(include),name(VarSet),header(Channel),method(exact))", "ABC",
     VARSET, True),
    ("eventfilter(action(include),name(VarSet),header(Channel),method(exact))", "XXX",
     VARSET, False),
    ("eventfilter(name(VarSet),header(Channel),method(exact))", "!ZZZ", VARSET, True),
    ("eventfilter(action(exclude),name(VarSet),header(Channel),method(exact))", "ZZZ",
     VARSET, True),
    ("eventfilter(action(include),name(VarSet),header(Someheader),method(exact))", "!XXX",
     VARSET, True),
]  # fmt: skip

INVALID = [
    ("eventfilter(nnnn(yyy)", "XXX"),
    ("eventfilter(eader(VarSet)", "XXX"),
    ("eventfilter(ethod(contains)", "XXX"),
    ("eventfilter(name(yyy),heder(VarSet),method(contains)", "XXX"),
    ("eventfilter(name(yyy),header(VarSet),method(coains)", "XXX"),
    ("eventfilter(method(yyy))", "XXX"),
    ("eventfilter", ""),
    ("eventfilter", "!"),
    ("eventfilter()", "XXX"),
    ("eventfilter", "XX[X"),
    ("eventfilter(method(regex))", "XX[X"),
    # Asterisk's default method is none, which takes no pattern.
    ("eventfilter(name(VarSet))", "XXX"),
]


@pytest.mark.parametrize(("criteria", "pattern", "event", "sent"), VALID)
def test_filters_decide_as_manager_c(
    criteria: str, pattern: str, event: AmiEvent, sent: bool
) -> None:
    policy = UserPolicy(filters=(EventFilter.parse(criteria, pattern),))
    assert policy.should_send(event) is sent
    if sent:
        known = event.fields[:1]
        assert policy.may_want(event.name, event.category, known)


@pytest.mark.parametrize(("criteria", "pattern"), INVALID)
def test_filters_asterisk_refuses_are_refused(criteria: str, pattern: str) -> None:
    with pytest.raises(FilterError):
        EventFilter.parse(criteria, pattern)


def test_the_generated_load_user_gets_its_events_and_only_lotse_variables() -> None:
    config = load_config(REPO / "config.yaml", table=OrtsnetzTable.load())
    users = parse_manager_conf(generated_manager_conf(config))
    load = users[load_username(config)]
    for name in LOAD_EVENTS:
        if name not in ("VarSet", "UserEvent"):
            assert load.should_send(AmiEvent(name, Category.CALL, ()))
    assert not load.should_send(AmiEvent("Newexten", Category.DIALPLAN, ()))

    def varset(variable: str) -> AmiEvent:
        return AmiEvent("VarSet", Category.DIALPLAN, (("Variable", variable), ("Value", "1")))

    def user_event(name: str) -> AmiEvent:
        return AmiEvent("UserEvent", Category.USER, (("Channel", "L"), ("UserEvent", name)))

    # The demo network offers callbacks: the load follows their requests too.
    assert load.should_send(user_event("LotseCallback"))
    assert load.should_send(user_event("LotseFallback"))
    assert not load.should_send(user_event("Something"))
    assert load.should_send(varset("__LOTSE_HOME"))
    assert load.should_send(varset("QUEUESTATUS"))
    assert not load.should_send(varset("RTPAUDIOQOS"))
    assert not load.may_want("VarSet", Category.DIALPLAN, (("Variable", "RTPAUDIOQOS"),))
    assert load.may_want("VarSet", Category.DIALPLAN, (("Variable", "AGISTATUS"),))
    # The load user may not read agent events' neighbours it was not given.
    assert not load.may_want("FullyBooted", Category.SYSTEM, ())


async def _events_of(pbx: Pbx, user: str, secret: str, calls: int) -> list[Message]:
    host, port = pbx.ami_address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\n\r\n".encode())
    parser = AmiParser()
    got: list[Message] = []
    hangups = 0
    try:
        async with asyncio.timeout(20):
            for n in range(calls):
                writer.write(
                    "Action: Originate\r\nChannel: Local/115@lotse-115\r\n"
                    f"CallerID: <0421555{n:04d}>\r\nChannelId: f-{n}\r\n"
                    "Application: Wait\r\nData: 1\r\nAsync: true\r\n\r\n".encode()
                )
            while hangups < calls:
                for item in parser.feed(await reader.read(65536)):
                    if isinstance(item, Message) and item.get("Event"):
                        got.append(item)
                        uid = item.get("Uniqueid") or ""
                        if (
                            item.get("Event") == "Hangup"
                            and uid.startswith("f-")
                            and ";" not in uid
                        ):
                            hangups += 1
    finally:
        writer.close()
    return got


async def test_the_generated_load_user_gets_only_its_filtered_events_from_a_stand_in() -> None:
    config = load_config(REPO / "config.yaml", table=OrtsnetzTable.load())
    user = load_username(config)
    pbx = Pbx(
        config,
        users={user: "s"},
        agi_url=None,  # the static fallback routes: no controller needed
        manager_conf=generated_manager_conf(config),
    )
    await pbx.start()
    try:
        events = await _events_of(pbx, user, "s", 3)
    finally:
        await pbx.close()
    names = {e.get("Event") for e in events}
    assert names <= set(LOAD_EVENTS)
    assert {"Newchannel", "Hangup", "VarSet"} <= names
    variables = {e.get("Variable") or "" for e in events if e.get("Event") == "VarSet"}
    assert variables
    assert all(v.lstrip("_").startswith(("LOTSE_", "ROUTE_")) or v in (
        "AGISTATUS", "QUEUESTATUS") for v in variables)  # fmt: skip
