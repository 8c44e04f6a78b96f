"""The codec on the real Asterisk 22.10.1 captures: whole, and cut anywhere."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ami.codec import AmiParser, Message
from tests.ami.replay import client_wire, cut, feed_chunks, messages, wire
from tests.fixtures.asterisk import AMI_TRANSCRIPTS, asterisk_transcript

# Small enough to feed hundreds of times; ami-load.txt (1.8 MB) gets one seeded split.
SMALL = tuple(name for name in AMI_TRANSCRIPTS if name != "ami-load.txt")


def block_count(name: str) -> int:
    """Blocks Asterisk sent, counted from the transcript text: runs of non-empty '< ' lines."""
    count = 0
    in_block = False
    for line in asterisk_transcript(name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("<"):
            continue
        if line[2:]:
            count += not in_block
            in_block = True
        else:
            in_block = False
    return count - 1  # the banner


@pytest.mark.parametrize("name", AMI_TRANSCRIPTS)
def test_every_block_parses_without_errors(name: str) -> None:
    parser = AmiParser()
    items = parser.feed(wire(name))
    assert parser.error_count == 0
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert len(items) == block_count(name) == parser.message_count
    assert parser.buffered_bytes == 0


@pytest.mark.parametrize("name", AMI_TRANSCRIPTS)
def test_client_side_parses_as_actions(name: str) -> None:
    parser = AmiParser()
    sent = parser.feed(client_wire(name))
    assert parser.error_count == 0
    assert parser.banner is None
    assert {m.kind for m in sent if isinstance(m, Message)} == {"action"}


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(SMALL),
    cuts=st.lists(st.integers(min_value=0, max_value=70_000), max_size=300),
)
def test_any_cuts_give_the_same_messages(name: str, cuts: list[int]) -> None:
    data = wire(name)
    assert feed_chunks(cut(data, cuts)) == list(messages(name))


def test_byte_by_byte() -> None:
    data = wire("ami-timeout.txt")
    assert feed_chunks(data[i : i + 1] for i in range(len(data))) == list(
        messages("ami-timeout.txt")
    )


def test_load_capture_in_seeded_random_chunks() -> None:
    data = wire("ami-load.txt")
    rng = random.Random(115)
    cuts = []
    position = 0
    while position < len(data):
        position += rng.randint(1, 4096)
        cuts.append(position)
    assert feed_chunks(cut(data, cuts)) == list(messages("ami-load.txt"))


# --- wire facts ------------------------------------------------------------------


def test_response_field_order_and_list_framing() -> None:
    qs = [m for m in messages("ami-answered.txt") if m.action_id == "qs-1"]
    assert [m.name for m in qs] == [
        "Success",
        "QueueParams",
        "QueueParams",
        "QueueMember",
        "QueueStatusComplete",
    ]
    assert [k for k, _ in qs[0].headers] == ["Response", "ActionID", "EventList", "Message"]
    assert qs[0].get("EventList") == "start"
    # List items put ActionID last, the Complete event right after Event.
    assert qs[1].headers[-1] == ("ActionID", "qs-1")
    assert qs[4].headers == (
        ("Event", "QueueStatusComplete"),
        ("ActionID", "qs-1"),
        ("EventList", "Complete"),
        ("ListItems", "3"),
    )


def test_every_answered_action_id_is_echoed() -> None:
    for name in AMI_TRANSCRIPTS:
        if name == "ami-badlogin.txt":
            continue
        sent = {m.action_id for m in AmiParser().feed(client_wire(name)) if isinstance(m, Message)}
        echoed = {m.action_id for m in messages(name) if m.kind in ("response", "unknown")}
        assert sent - {None} == echoed - {None}, name


def test_failed_login_gets_one_error_and_nothing_after_it() -> None:
    (error,) = messages("ami-badlogin.txt")
    assert error.kind == "response"
    assert error.name == "Error"
    assert error.action_id == "badlogin-1"
    assert error.get("Message") == "Authentication failed"


def test_ping_response_is_split_by_an_empty_line() -> None:
    msgs = messages("ami-actions.txt")
    (pong,) = [m for m in msgs if m.get("Ping") == "Pong"]
    before = msgs[msgs.index(pong) - 1]
    assert before.headers == (("Response", "Success"),)
    assert pong.kind == "unknown"
    assert pong.action_id == "ping-2"


def test_getvar_value_arrives_after_the_response() -> None:
    msgs = messages("ami-actions.txt")
    (value,) = [m for m in msgs if m.get("Variable") == "EPOCH"]
    response = msgs[msgs.index(value) - 1]
    assert response.headers == (("Response", "Success"), ("ActionID", "gv-1"))
    assert value.kind == "unknown"
    assert value.action_id is None
    assert value.get("Value") == "1795392724"


def test_errors_and_goodbye() -> None:
    by_id = {m.action_id: m for m in messages("ami-actions.txt") if m.kind == "response"}
    assert by_id["ping-1"].name == "Error"
    assert by_id["ping-1"].get("Message") == "Permission denied"
    assert by_id["ch-1"].get("Challenge") == "145561324"
    assert by_id["bogus-1"].name == "Error"
    assert by_id["qr-2"].get("Message") == "Unable to remove interface: Not there"
    assert by_id["redir-1"].name == "Error"
    assert by_id["bye-1"].name == "Goodbye"
    assert by_id["bye-1"].get("Message") == "Thanks for all the fish."


def test_originate_response_is_an_event_with_a_response_header() -> None:
    (orig,) = [m for m in messages("ami-actions.txt") if m.name == "OriginateResponse"]
    assert orig.kind == "event"
    assert orig.get("Response") == "Success"
    assert orig.action_id == "orig-1"


def test_shutdown_is_the_last_thing_asterisk_says() -> None:
    last = messages("ami-shutdown.txt")[-1]
    assert last.name == "Shutdown"
    assert last.get("Restart") == "True"


@pytest.mark.parametrize(
    "name", [n for n in AMI_TRANSCRIPTS if n not in ("ami-badlogin.txt", "ami-shutdown.txt")]
)
def test_sessions_end_with_goodbye(name: str) -> None:
    last = messages(name)[-1]
    assert (last.kind, last.name, last.action_id) == ("response", "Goodbye", "bye-1")
