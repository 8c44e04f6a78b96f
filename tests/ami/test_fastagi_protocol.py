"""FastAGI wire format: environment parsing, SET VARIABLE rendering, reply lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ami.agi_protocol import (
    MAX_COMMAND_BYTES,
    AgiReply,
    ResponseKind,
    classify_reply_line,
    ends_continuation,
    escape_value,
    format_set_variable,
    parse_env,
)
from ami.contract import ARG_CALLID, ARG_DIALED, ARG_POSTAL, ARG_VISITED

CALLER = "034911234567"

ENV = [
    "agi_network: yes",
    "agi_network_script: route",
    "agi_request: agi://127.0.0.1:4573/route",
    "agi_channel: PJSIP/carrier-00000000",
    "agi_uniqueid: 1795392628.0",
    f"agi_callerid: {CALLER}",
    "agi_calleridname: Jürgen",
    "agi_accountcode: ",
    "agi_arg_1: 115",
    "agi_arg_2: wittenberg+dessau",
    "agi_arg_3: ",
    "agi_arg_4: c-17",
]


def parse_args(line: str) -> list[str]:
    """A line-by-line port of res_agi.c parse_args() (Asterisk 22.10.1).

    Used to check that what lotse sends reads back as the intended words.
    """
    argv: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        literal = False
        if ch == '"':
            if escaped:
                literal = True
            else:
                quoted = not quoted
                if quoted and whitespace:
                    cur = []
                    argv.append("")
                    whitespace = False
                escaped = False
        elif ch in " \t":
            if not quoted and not escaped:
                whitespace = True
                if cur is not None:
                    argv[-1] = "".join(cur)
                    cur = None
            else:
                literal = True
        elif ch == "\\":
            if escaped:
                literal = True
            else:
                escaped = True
        else:
            literal = True
        if literal:
            if whitespace:
                cur = []
                argv.append("")
                whitespace = False
            assert cur is not None
            cur.append(ch)
            escaped = False
    if cur is not None:
        argv[-1] = "".join(cur)
    return argv


def test_parse_env_reads_fields_and_arguments_in_order() -> None:
    request = parse_env(ENV)
    assert request.script == "route"
    assert request.network is True
    assert request.request == "agi://127.0.0.1:4573/route"
    assert request.channel == "PJSIP/carrier-00000000"
    assert request.uniqueid == "1795392628.0"
    assert request.callerid == CALLER
    assert request.calleridname == "Jürgen"
    assert request.value("agi_accountcode") == ""
    assert request.args == ("115", "wittenberg+dessau", "", "c-17")
    assert request.arg(ARG_DIALED) == "115"
    assert request.arg(ARG_VISITED) == "wittenberg+dessau"
    assert request.arg(ARG_POSTAL) == ""
    assert request.arg(ARG_CALLID) == "c-17"
    assert request.arg(5) == ""
    assert request.arg(0) == ""
    assert request.malformed_lines == 0


def test_arguments_stop_at_the_first_missing_index() -> None:
    request = parse_env(["agi_arg_1: a", "agi_arg_3: c", "agi_arg_2x: y"])
    assert request.args == ("a",)
    assert request.value("agi_arg_3") == "c"


def test_script_falls_back_to_the_request_url_and_drops_the_query() -> None:
    assert parse_env(["agi_request: agi://h:4573/route?x=1"]).script == "route"
    assert parse_env(["agi_network_script: route?x=1"]).script == "route"
    assert parse_env(["agi_request: agi://h"]).script == ""
    assert parse_env(["agi_request: /var/lib/asterisk/agi-bin/x"]).script == ""


def test_value_may_contain_colon_space_and_be_empty() -> None:
    request = parse_env(["agi_calleridname: a: b", "agi_dnid: "])
    assert request.calleridname == "a: b"
    assert request.dnid == ""


def test_malformed_lines_are_counted_and_skipped() -> None:
    request = parse_env(["garbage", "agi_channel: X", "agi_dnid:115", ": nameless"])
    assert request.malformed_lines == 3
    assert request.channel == "X"
    assert request.dnid == ""


def test_parsing_stops_at_the_blank_line_and_strips_line_ends() -> None:
    request = parse_env(["agi_channel: A\r\n", "\n", "agi_context: after"])
    assert request.channel == "A"
    assert request.context == ""


def test_garbage_is_not_an_agi_environment() -> None:
    assert not parse_env(["GET / HTTP/1.1", "Host: example.org"]).is_agi
    assert parse_env(ENV).is_agi


def test_repr_masks_caller_data() -> None:
    text = repr(parse_env(ENV))
    assert CALLER not in text
    assert "1234567" not in text
    assert "Jürgen" not in text
    assert "route" in text


def test_set_variable_lines_match_the_transcript_form() -> None:
    assert format_set_variable("ROUTE_QUEUE", "115-wittenberg") == (
        b'SET VARIABLE ROUTE_QUEUE "115-wittenberg"\n'
    )
    assert format_set_variable("__LOTSE_HOME", "") == b'SET VARIABLE __LOTSE_HOME ""\n'


def test_quotes_and_backslashes_are_escaped_for_parse_args() -> None:
    assert escape_value('a "b" \\c') == '"a \\"b\\" \\\\c"'
    line = format_set_variable("X", 'a "b" \\c').decode()
    assert parse_args(line.rstrip("\n")) == ["SET", "VARIABLE", "X", 'a "b" \\c']


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b"])
def test_values_with_line_breaks_or_nul_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL") as info:
        format_set_variable("X", value + CALLER)
    assert CALLER not in str(info.value)


@pytest.mark.parametrize("name", ["", "1X", "A B", "CALLERID(num)", "X\n"])
def test_invalid_variable_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="variable name"):
        format_set_variable(name, "v")


def test_command_lines_must_fit_res_agi_buffer() -> None:
    overhead = len(b'SET VARIABLE X ""\n')
    assert len(format_set_variable("X", "v" * (MAX_COMMAND_BYTES - overhead))) == MAX_COMMAND_BYTES
    with pytest.raises(ValueError, match="bytes"):
        format_set_variable("X", "v" * (MAX_COMMAND_BYTES - overhead + 1))


def test_reply_validates_on_construction() -> None:
    with pytest.raises(ValueError):
        AgiReply((("X", "a\nb"),))
    reply = AgiReply.from_mapping({"A": "1", "B": "2"})
    assert reply.command_lines() == (b'SET VARIABLE A "1"\n', b'SET VARIABLE B "2"\n')


def test_reply_lines_are_classified() -> None:
    ok = classify_reply_line("200 result=1\n")
    assert (ok.response.kind, ok.response.code, ok.continued) == (ResponseKind.SUCCESS, 200, False)
    unknown = classify_reply_line("510 Invalid or unknown command\n")
    assert (unknown.response.kind, unknown.response.code) == (ResponseKind.ERROR, 510)
    usage = classify_reply_line("520-Invalid command syntax.  Proper usage follows:\n")
    assert (usage.response.kind, usage.response.code, usage.continued) == (
        ResponseKind.ERROR,
        520,
        True,
    )
    assert ends_continuation(520, "520 End of proper usage.\n")
    assert not ends_continuation(520, " Usage: SET VARIABLE <variablename> <value>\n")
    assert classify_reply_line("HANGUP\n").response.kind is ResponseKind.HANGUP
    assert classify_reply_line("hello\n").response.kind is ResponseKind.GARBLED


@given(st.lists(st.text()))
def test_parse_env_never_raises(lines: list[str]) -> None:
    request = parse_env(lines)
    assert request.malformed_lines <= len(lines)
    assert len(request.env) + request.malformed_lines <= len(lines)


_names = st.from_regex(r"agi_[a-z]{1,12}", fullmatch=True).filter(
    lambda n: not n.startswith("agi_arg_")
)
_values = st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]))


@given(st.dictionaries(_names, _values, max_size=20), st.lists(_values, max_size=10))
def test_well_formed_environments_parse_back(fields: dict[str, str], args: list[str]) -> None:
    lines = [f"{k}: {v}" for k, v in fields.items()]
    lines += [f"agi_arg_{i}: {a}" for i, a in enumerate(args, start=1)]
    request = parse_env(lines)
    assert request.malformed_lines == 0
    assert request.args == tuple(args)
    for key, value in fields.items():
        assert request.value(key) == value


@given(_values.filter(lambda v: "\x00" not in v))
def test_any_sendable_value_reads_back_unchanged(value: str) -> None:
    line = format_set_variable("LOTSE_X", value[:2000]).decode()
    assert parse_args(line.rstrip("\n")) == ["SET", "VARIABLE", "LOTSE_X", value[:2000]]
