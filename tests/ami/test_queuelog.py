"""The queue_log line parser: the real Asterisk 22 file, torn and garbage lines, unknown events."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ami.queuelog import (
    JOURNEY_EVENTS,
    MAX_LINE_BYTES,
    LineError,
    QueueLogLine,
    format_line,
    parse_chunk,
    parse_line,
)
from tests.fixtures.asterisk import ASTERISK_DIR

REAL = ASTERISK_DIR / "queue_log.txt"
needs_real = pytest.mark.skipif(not REAL.is_file(), reason="real queue_log capture not present")


@needs_real
def test_every_line_of_the_real_file_parses_and_is_written_back_byte_for_byte() -> None:
    raw = REAL.read_bytes()
    chunk = parse_chunk(raw)
    assert (chunk.bad, chunk.unknown, chunk.consumed) == (0, 0, len(raw))
    assert len(chunk.lines) == raw.count(b"\n") == 275
    text = "".join(format_line(line) + "\n" for line in chunk.lines)
    assert text.encode() == raw


@needs_real
def test_real_file_shapes() -> None:
    lines = parse_chunk(REAL.read_bytes()).lines
    start = lines[0]
    assert (start.callid, start.queue, start.event, start.data) == (
        "NONE",
        "NONE",
        "QUEUESTART",
        ("",),
    )
    enter = lines[2]
    assert (enter.time, enter.callid, enter.queue, enter.agent, enter.event) == (
        1796230054,
        "b1-0;2",
        "115-bremen",
        "NONE",
        "ENTERQUEUE",
    )
    assert enter.data == ("", "04211234567", "1")
    assert "04211234567" not in repr(enter)
    connect = next(x for x in lines if x.event == "CONNECT")
    assert connect.agent == "115-bremen agent 1"
    assert (connect.number(0), connect.data[1], connect.number(2)) == (2, "1796230054.22", 2)


def test_a_torn_last_line_is_left_for_the_next_read() -> None:
    whole = b"1796230054|c;2|q|NONE|ENTERQUEUE||0421|1\n1796230056|c;2|q|a|CONNECT|2|x.1|2\n"
    torn = whole[:-5]
    chunk = parse_chunk(torn)
    assert [x.event for x in chunk.lines] == ["ENTERQUEUE"]
    assert chunk.consumed == whole.index(b"\n") + 1
    assert chunk.bad == 0
    # Nothing complete at all: nothing consumed.
    assert parse_chunk(b"1796230054|c;2|q|NONE|ENTER").consumed == 0


def test_garbage_and_unknown_events_are_counted_and_skipped() -> None:
    data = (
        b"hello world\n"
        b"\n"
        b"1796230054|c;2|q|NONE|FROBNICATE|1|2\n"
        b"17962300x4|c;2|q|NONE|ENTERQUEUE||0421|1\n"
        b"1796230054|c;2|q|NONE|enterqueue||0421|1\n"
        b"1796230054||q|NONE|ENTERQUEUE||0421|1\n"
        b"1796230054|c;2|q|NONE|ENTERQUEUE||0421\n"
        b"1796230054|c;2|q|NONE|ENTERQUEUE||0421|first\n"
        b"1796230054|NONE|q|NONE|ENTERQUEUE||0421|1\n"
        b"1796230054|c\x01;2|q|NONE|ENTERQUEUE||0421|1\n"
        b"\xff\xfe|\x00\n"
        b"1796230055|c;2|q|NONE|RINGNOANSWER|15000\n"
    )
    chunk = parse_chunk(data)
    assert chunk.unknown == 1
    assert chunk.bad == 10
    assert [x.event for x in chunk.lines] == ["RINGNOANSWER"]


def test_nul_fill_from_a_crash_is_dropped_before_the_next_line() -> None:
    line = parse_line("\x00\x00\x001796230054|c;2|q|NONE|ABANDON|1|1|4")
    assert (line.time, line.event, line.number(2)) == (1796230054, "ABANDON", 4)
    with pytest.raises(LineError):
        parse_line("\x00\x00\x00")


def test_crlf_line_endings_are_read() -> None:
    chunk = parse_chunk(b"1796230054|c;2|q|NONE|ABANDON|1|1|4\r\n")
    assert chunk.bad == 0 and chunk.lines[0].data == ("1", "1", "4")


@pytest.mark.parametrize(
    ("event", "data", "ok"),
    [
        ("CONNECT", "2|1796.22|2", True),
        ("CONNECT", "2|1796.22", False),
        ("CONNECT", "-2|1796.22|2", False),
        ("COMPLETEAGENT", "2|20|1", True),
        ("COMPLETECALLER", "2||1", False),
        ("EXITWITHTIMEOUT", "1|1|30", True),
        ("EXITWITHKEY", "5|1|1|30", True),
        ("EXITWITHKEY", "5|1|1", False),
        ("BLINDTRANSFER", "100|ctx|3|40|1", True),
        ("BLINDTRANSFER", "100|ctx|3|x|1", False),
        ("ATTENDEDTRANSFER", "BRIDGE|b-1|3|40|1", True),
        ("ENTERQUEUE", "|0421123|1|Erika Mustermann", True),
    ],
)
def test_data_fields_of_journey_events_are_checked(event: str, data: str, ok: bool) -> None:
    text = f"1796230054|c;2|q|a|{event}|{data}"
    if ok:
        assert parse_line(text).event == event
    else:
        with pytest.raises(LineError):
            parse_line(text)


def test_a_line_longer_than_asterisk_writes_without_newline_is_garbage() -> None:
    # At the limit the piece is still a line being written; one byte more is garbage.
    at_limit = b"x" * MAX_LINE_BYTES
    assert parse_chunk(at_limit).consumed == 0
    over = b"1796230054|c;2|q|NONE|ABANDON|1|1|4\n" + b"x" * (MAX_LINE_BYTES + 1)
    chunk = parse_chunk(over)
    assert chunk.consumed == len(over)
    assert chunk.bad == 1
    assert [x.event for x in chunk.lines] == ["ABANDON"]


_fields = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|"),
    max_size=12,
)
_lines = st.builds(
    QueueLogLine,
    time=st.integers(min_value=0, max_value=10**12 - 1),
    callid=_fields.filter(bool).filter(lambda s: s != "NONE"),
    queue=_fields.filter(bool),
    agent=_fields,
    event=st.sampled_from(["RINGNOANSWER", "QUEUESTART", "ADDMEMBER", "PAUSE"]),
    # Asterisk always writes the "|" after the event: at least one (empty) field.
    data=st.lists(_fields, min_size=1, max_size=4).map(tuple),
)


@given(_lines)
def test_written_lines_read_back_the_same(line: QueueLogLine) -> None:
    assert parse_line(format_line(line)) == line


@st.composite
def _journey_line(draw: st.DrawFn) -> str:
    event = draw(st.sampled_from(sorted(JOURNEY_EVENTS)))
    n = JOURNEY_EVENTS[event]
    data = [str(draw(st.integers(0, 10**6))) for _ in range(n)]
    t = draw(st.integers(10**9, 2 * 10**9))
    return f"{t}|call-{draw(st.integers(0, 9))};2|115-bremen|NONE|{event}|{'|'.join(data)}"


@given(st.lists(st.one_of(_journey_line(), st.binary(max_size=40).map(repr)), max_size=20))
def test_valid_journey_lines_survive_among_garbage(parts: list[str]) -> None:
    data = "".join(p + "\n" for p in parts).encode()
    chunk = parse_chunk(data)
    assert chunk.consumed == len(data)
    assert len(chunk.lines) + chunk.bad + chunk.unknown == len(parts)


@settings(max_examples=300)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=6))
def test_reading_in_any_pieces_gives_what_one_read_gives(data: bytes, cuts: list[int]) -> None:
    """Random bytes never crash, and where the file is torn does not matter."""
    whole = parse_chunk(data)
    assert 0 <= whole.consumed <= len(data)
    assert whole.consumed == 0 or data[whole.consumed - 1 : whole.consumed] == b"\n"
    lines, bad, unknown, rest = [], 0, 0, b""
    pos = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        piece = rest + data[pos:cut]
        pos = max(pos, cut)
        chunk = parse_chunk(piece)
        lines += chunk.lines
        bad += chunk.bad
        unknown += chunk.unknown
        rest = piece[chunk.consumed :]
    assert (lines, bad, unknown) == (whole.lines, whole.bad, whole.unknown)
    assert rest == data[whole.consumed :]
