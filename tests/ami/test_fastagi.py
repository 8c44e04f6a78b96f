"""FastAGI server over real TCP on 127.0.0.1, replaying the Asterisk 22.10.1 transcript.

No timed assertions: every wait is bounded generously (``WAIT``) so that a
hang fails the test while CI noise cannot.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from ami.agi_protocol import AgiReply, AgiRequest, parse_env
from ami.contract import AGI_SCRIPT, ARG_CALLID, ARG_DIALED, ARG_POSTAL, ARG_VISITED
from ami.fastagi import AgiMalformed, AgiRejected, AgiResult, FastAgiServer, _AgiSession
from ami.transcript import turns
from tests.fixtures.asterisk import FASTAGI_TRANSCRIPT, asterisk_transcript

WAIT = 5.0
CALLER = "034911234567"


@dataclass(frozen=True)
class Transcript:
    """The FastAGI capture split into what Asterisk sent and what the server did."""

    env: bytes  # environment incl. the blank line, exactly as on the wire (LF)
    commands: tuple[bytes, ...]  # the server's command lines, in order
    replies: tuple[bytes, ...]  # Asterisk's answer to each command


@cache
def session() -> Transcript:
    """The capture as wire bytes (res_agi ends its lines with a bare LF)."""
    first, *rest = turns(asterisk_transcript(FASTAGI_TRANSCRIPT), newline=b"\n")
    assert first.direction == "received"
    assert [t.direction for t in rest] == ["sent", "received"] * (len(rest) // 2)
    return Transcript(
        env=first.data,
        commands=tuple(t.data for t in rest[0::2]),
        replies=tuple(t.data for t in rest[1::2]),
    )


# The variables the transcript's server set, in order, taken from its commands.
TRANSCRIPT_VARS = (
    ("ROUTE_QUEUE", "115-wittenberg"),
    ("ROUTE_TIMEOUT", "12"),
    ("__LOTSE_HOME", "wittenberg"),
)


def env_bytes(*extra: str, script: str = AGI_SCRIPT) -> bytes:
    """A real-looking environment for ``script`` with ``extra`` lines appended."""
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:4573/{script}",
        "agi_channel: PJSIP/carrier-00000007",
        "agi_uniqueid: 1795392700.7",
        f"agi_callerid: {CALLER}",
        *extra,
    ]
    return ("\n".join(lines) + "\n\n").encode()


@dataclass
class Recorder:
    """Collects what the server reports through on_result."""

    results: asyncio.Queue[tuple[AgiResult, float]] = field(default_factory=asyncio.Queue)

    def __call__(self, result: AgiResult, elapsed_s: float) -> None:
        self.results.put_nowait((result, elapsed_s))

    async def next(self) -> AgiResult:
        result, _ = await asyncio.wait_for(self.results.get(), WAIT)
        return result


Handler = Callable[[AgiRequest], AgiReply | Awaitable[AgiReply]]
Factory = Callable[..., Awaitable[tuple[FastAgiServer, Recorder]]]


@pytest.fixture
async def make_server() -> AsyncIterator[Factory]:
    servers: list[FastAgiServer] = []

    async def factory(handler: Handler, **kwargs: Any) -> tuple[FastAgiServer, Recorder]:
        recorder = Recorder()
        server = FastAgiServer(handler, on_result=recorder, **kwargs)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server, recorder

    yield factory
    for server in servers:
        await server.close()
        assert await server.drain(WAIT)


def reply_with(*variables: tuple[str, str]) -> Handler:
    def handler(request: AgiRequest) -> AgiReply:
        return AgiReply(tuple(variables))

    return handler


async def connect(server: FastAgiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = server.address
    return await asyncio.open_connection(host, port)


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (or aborts) the connection."""
    chunks: list[bytes] = []
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), WAIT):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


async def play_asterisk(
    server: FastAgiServer, env: bytes, answer: Callable[[bytes], bytes] | None = None
) -> list[bytes]:
    """Act as res_agi: send ``env``, answer each command, return the commands seen."""
    reader, writer = await connect(server)
    writer.write(env)
    await writer.drain()
    seen: list[bytes] = []
    try:
        while line := await asyncio.wait_for(reader.readline(), WAIT):
            seen.append(line)
            if line.startswith(b"SET VARIABLE"):
                writer.write(answer(line) if answer else b"200 result=1\n")
                await writer.drain()
    except ConnectionResetError:
        pass
    writer.close()
    return seen


def test_transcript_environment_parses() -> None:
    lines = session().env.decode().splitlines()
    request = parse_env(lines)
    assert request.script == AGI_SCRIPT
    assert request.network
    assert request.channel == "PJSIP/carrier-00000000"
    assert request.uniqueid == "1795392628.0"
    assert request.callerid == CALLER
    assert request.dnid == "115"
    assert request.extension == "115"
    assert request.context == "from-carrier"
    assert request.language == "en"
    assert request.version == "22.10.1"
    assert request.args == ()
    assert request.value("agi_accountcode") == ""
    assert request.malformed_lines == 0
    assert len(request.env) == 22


async def test_transcript_replay_sends_the_same_commands(make_server: Factory) -> None:
    server, recorder = await make_server(reply_with(*TRANSCRIPT_VARS))
    reader, writer = await connect(server)
    writer.write(session().env)
    await writer.drain()
    for command, reply in zip(session().commands, session().replies, strict=True):
        assert await asyncio.wait_for(reader.readline(), WAIT) == command
        writer.write(reply)
        await writer.drain()
    assert await read_until_closed(reader) == b""  # closed, nothing more: AGISTATUS=SUCCESS
    writer.close()
    assert await recorder.next() is AgiResult.OK


async def test_arguments_reach_the_handler(make_server: Factory) -> None:
    seen: list[AgiRequest] = []

    async def handler(request: AgiRequest) -> AgiReply:
        seen.append(request)
        return AgiReply((("LOTSE_ACTION", "queue"),))

    server, recorder = await make_server(handler)
    env = env_bytes("agi_arg_1: 115", "agi_arg_2: a+b", "agi_arg_3: ", "agi_arg_4: call-9")
    assert await play_asterisk(server, env) == [b'SET VARIABLE LOTSE_ACTION "queue"\n']
    assert await recorder.next() is AgiResult.OK
    (request,) = seen
    assert request.arg(ARG_DIALED) == "115"
    assert request.arg(ARG_VISITED) == "a+b"
    assert request.arg(ARG_POSTAL) == ""
    assert request.arg(ARG_CALLID) == "call-9"


async def test_values_are_escaped_on_the_wire(make_server: Factory) -> None:
    server, recorder = await make_server(reply_with(("LOTSE_REASON", 'say "hi" \\ bye')))
    assert await play_asterisk(server, env_bytes()) == [
        b'SET VARIABLE LOTSE_REASON "say \\"hi\\" \\\\ bye"\n'
    ]
    assert await recorder.next() is AgiResult.OK


async def test_slow_handler_is_cut_off_with_failure(make_server: Factory) -> None:
    release = asyncio.Event()

    async def handler(request: AgiRequest) -> AgiReply:
        await release.wait()
        return AgiReply((("X", "late"),))

    server, recorder = await make_server(handler, deadline_s=0.2)
    reader, writer = await connect(server)
    writer.write(env_bytes())
    assert await read_until_closed(reader) == b"FAILURE\n"
    assert await recorder.next() is AgiResult.DEADLINE
    release.set()
    writer.close()


async def test_handler_swallowing_cancellation_is_aborted(make_server: Factory) -> None:
    release = asyncio.Event()
    returned = asyncio.Event()

    async def stubborn(request: AgiRequest) -> AgiReply:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # a broken handler: the watchdog must still close
        returned.set()
        return AgiReply((("X", "late"),))

    server, recorder = await make_server(stubborn, deadline_s=0.2)
    reader, writer = await connect(server)
    writer.write(env_bytes())
    # The session ends at the deadline without waiting for the handler.
    assert await read_until_closed(reader) == b"FAILURE\n"
    assert not returned.is_set()  # closed although the handler still runs
    release.set()
    assert await recorder.next() is AgiResult.DEADLINE
    writer.close()


async def test_peer_closing_before_the_blank_line(make_server: Factory) -> None:
    server, recorder = await make_server(reply_with(("X", "1")))
    _reader, writer = await connect(server)
    writer.write(b"agi_network: yes\nagi_channel: PJSIP/x")
    await writer.drain()
    writer.close()
    assert await recorder.next() is AgiResult.PEER_CLOSED
    assert server.in_flight == 0


async def test_peer_that_never_finishes_the_environment(make_server: Factory) -> None:
    server, recorder = await make_server(reply_with(("X", "1")), deadline_s=0.2)
    reader, writer = await connect(server)
    writer.write(b"agi_network: yes\n")
    assert await read_until_closed(reader) == b"FAILURE\n"
    assert await recorder.next() is AgiResult.DEADLINE
    writer.close()


async def test_peer_that_never_answers_a_command(make_server: Factory) -> None:
    server, recorder = await make_server(reply_with(("A", "1"), ("B", "2")), deadline_s=0.2)
    reader, writer = await connect(server)
    writer.write(env_bytes())
    assert await read_until_closed(reader) == b'SET VARIABLE A "1"\nFAILURE\n'
    assert await recorder.next() is AgiResult.DEADLINE
    writer.close()


async def test_peer_closing_while_a_command_is_pending(make_server: Factory) -> None:
    server, recorder = await make_server(reply_with(("A", "1"), ("B", "2")))
    reader, writer = await connect(server)
    writer.write(env_bytes())
    assert await asyncio.wait_for(reader.readline(), WAIT) == b'SET VARIABLE A "1"\n'
    writer.close()
    assert await recorder.next() is AgiResult.PEER_CLOSED


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: lotse\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n",
        b"\n",
    ],
)
async def test_garbage_is_counted_as_malformed(make_server: Factory, garbage: bytes) -> None:
    called: list[AgiRequest] = []

    def handler(request: AgiRequest) -> AgiReply:
        called.append(request)
        return AgiReply()

    server, recorder = await make_server(handler)
    reader, writer = await connect(server)
    writer.write(garbage)
    assert await read_until_closed(reader) == b"FAILURE\n"
    assert await recorder.next() is AgiResult.MALFORMED
    assert called == []
    writer.close()


@pytest.mark.parametrize("env", [b"agi_x: " + b"y" * 5000 + b"\n", b"agi_x: y\n" * 600])
async def test_oversized_environment_is_refused(make_server: Factory, env: bytes) -> None:
    server, recorder = await make_server(reply_with(("X", "1")), max_env_bytes=4096)
    reader, writer = await connect(server)
    writer.write(env)
    assert await read_until_closed(reader) == b"FAILURE\n"
    assert await recorder.next() is AgiResult.MALFORMED
    writer.close()


async def test_wrong_script_is_rejected(make_server: Factory) -> None:
    called: list[AgiRequest] = []

    def handler(request: AgiRequest) -> AgiReply:
        called.append(request)
        return AgiReply()

    server, recorder = await make_server(handler)
    reader, writer = await connect(server)
    writer.write(env_bytes(script="billing"))
    assert await read_until_closed(reader) == b"FAILURE\n"
    assert await recorder.next() is AgiResult.REJECTED
    assert called == []
    writer.close()


async def test_handler_may_reject(make_server: Factory) -> None:
    def handler(request: AgiRequest) -> AgiReply:
        raise AgiRejected("not ours")

    server, recorder = await make_server(handler)
    assert await play_asterisk(server, env_bytes()) == [b"FAILURE\n"]
    assert await recorder.next() is AgiResult.REJECTED


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_handler_may_call_a_request_malformed(
    make_server: Factory, asynchronous: bool
) -> None:
    def refuse(request: AgiRequest) -> AgiReply:
        raise AgiMalformed("agi_uniqueid contains CR, LF or NUL")

    async def refuse_later(request: AgiRequest) -> AgiReply:
        await asyncio.sleep(0)
        return refuse(request)

    server, recorder = await make_server(refuse_later if asynchronous else refuse)
    assert await play_asterisk(server, env_bytes()) == [b"FAILURE\n"]
    assert await recorder.next() is AgiResult.MALFORMED


@pytest.mark.parametrize(
    "handler",
    [
        lambda request: 1 / 0,
        lambda request: AgiReply((("X", "a\nb"),)),  # raises ValueError
        lambda request: {"X": "1"},  # not an AgiReply
    ],
)
async def test_handler_errors_answer_failure(make_server: Factory, handler: Handler) -> None:
    server, recorder = await make_server(handler)
    assert await play_asterisk(server, env_bytes()) == [b"FAILURE\n"]
    assert await recorder.next() is AgiResult.HANDLER_ERROR


async def test_split_multibyte_character_survives(make_server: Factory) -> None:
    seen: list[AgiRequest] = []

    def handler(request: AgiRequest) -> AgiReply:
        seen.append(request)
        return AgiReply()

    server, recorder = await make_server(handler)
    env = env_bytes("agi_calleridname: Jürgen Weiß")
    cut = env.index("ü".encode()) + 1  # between the two bytes of ü
    reader, writer = await connect(server)
    writer.write(env[:cut])
    await writer.drain()
    await asyncio.sleep(0.05)  # let the first half arrive as its own read
    writer.write(env[cut:])
    assert await read_until_closed(reader) == b""
    assert await recorder.next() is AgiResult.OK
    assert seen[0].calleridname == "Jürgen Weiß"
    writer.close()


async def test_invalid_utf8_becomes_replacement_characters(make_server: Factory) -> None:
    seen: list[AgiRequest] = []

    def handler(request: AgiRequest) -> AgiReply:
        seen.append(request)
        return AgiReply()

    server, recorder = await make_server(handler)
    env = env_bytes().replace(b"\n\n", b"\nagi_calleridname: M\xfcller\n\n")
    assert await play_asterisk(server, env) == []
    assert await recorder.next() is AgiResult.OK
    assert seen[0].calleridname == "M\ufffdller"


async def test_hangup_stops_the_command_dialog(make_server: Factory) -> None:
    server, recorder = await make_server(reply_with(("A", "1"), ("B", "2")))
    # res_agi writes HANGUP inline, ahead of the reply to the pending command.
    seen = await play_asterisk(server, env_bytes(), answer=lambda _: b"HANGUP\n200 result=1\n")
    assert seen == [b'SET VARIABLE A "1"\n']
    assert await recorder.next() is AgiResult.HANGUP


@pytest.mark.parametrize(
    "answer",
    [
        b"510 Invalid or unknown command\n",
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b" Usage: SET VARIABLE <variablename> <value>\n"
        b"520 End of proper usage.\n",
        b"what?\n",
    ],
)
async def test_error_reply_stops_with_failure(make_server: Factory, answer: bytes) -> None:
    server, recorder = await make_server(reply_with(("A", "1"), ("B", "2")))
    seen = await play_asterisk(server, env_bytes(), answer=lambda _: answer)
    assert seen == [b'SET VARIABLE A "1"\n', b"FAILURE\n"]
    assert await recorder.next() is AgiResult.COMMAND_FAILED


async def test_empty_reply_just_closes(make_server: Factory) -> None:
    server, recorder = await make_server(reply_with())
    assert await play_asterisk(server, env_bytes()) == []
    assert await recorder.next() is AgiResult.OK


async def test_many_concurrent_sessions(make_server: Factory) -> None:
    async def handler(request: AgiRequest) -> AgiReply:
        await asyncio.sleep(0)
        return AgiReply((("LOTSE_CALLID", request.arg(1)),))

    server, recorder = await make_server(handler, deadline_s=WAIT)
    sessions = [play_asterisk(server, env_bytes(f"agi_arg_1: c{i}")) for i in range(200)]
    seen = await asyncio.gather(*sessions)
    assert sorted(seen) == sorted(
        [[f'SET VARIABLE LOTSE_CALLID "c{i}"\n'.encode()] for i in range(200)]
    )
    results = [await recorder.next() for _ in range(200)]
    assert results == [AgiResult.OK] * 200


async def test_drain_waits_for_sessions_in_flight(make_server: Factory) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: AgiRequest) -> AgiReply:
        entered.set()
        await release.wait()
        return AgiReply((("X", "1"),))

    server, recorder = await make_server(handler, deadline_s=60)
    address = server.address
    session = asyncio.create_task(play_asterisk(server, env_bytes()))
    await asyncio.wait_for(entered.wait(), WAIT)
    await server.close()
    drain = asyncio.create_task(server.drain(60))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not drain.done()
    assert server.in_flight == 1
    release.set()
    assert await asyncio.wait_for(drain, WAIT) is True
    assert await asyncio.wait_for(session, WAIT) == [b'SET VARIABLE X "1"\n']
    assert await recorder.next() is AgiResult.OK
    with pytest.raises(OSError):  # no longer listening
        await asyncio.open_connection(*address)


async def test_drain_timeout_cuts_remaining_sessions(make_server: Factory) -> None:
    entered = asyncio.Event()

    async def handler(request: AgiRequest) -> AgiReply:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    server, recorder = await make_server(handler, deadline_s=60)
    reader, writer = await connect(server)
    writer.write(env_bytes())
    await asyncio.wait_for(entered.wait(), WAIT)
    await server.close()
    assert await server.drain(0.05) is False
    assert await read_until_closed(reader) == b""
    assert await recorder.next() is AgiResult.DEADLINE
    assert server.in_flight == 0
    writer.close()


async def test_elapsed_comes_from_the_injected_clock(make_server: Factory) -> None:
    ticks = iter([100.0, 100.25])
    server, recorder = await make_server(reply_with(), clock=lambda: next(ticks))
    await play_asterisk(server, env_bytes())
    assert await asyncio.wait_for(recorder.results.get(), WAIT) == (AgiResult.OK, 0.25)


async def test_failing_metrics_callback_does_not_break_sessions() -> None:
    def broken(result: AgiResult, elapsed_s: float) -> None:
        raise RuntimeError("metrics down")

    server = FastAgiServer(reply_with(("X", "1")), on_result=broken)
    await server.start("127.0.0.1", 0)
    for _ in range(2):
        assert await play_asterisk(server, env_bytes()) == [b'SET VARIABLE X "1"\n']
    await server.close()
    assert await server.drain(WAIT)


async def test_logs_never_contain_the_caller_number(make_server: Factory) -> None:
    def failing(request: AgiRequest) -> AgiReply:
        raise ValueError(f"no route for {request.callerid}")

    with capture_logs() as logs:
        server, recorder = await make_server(failing)
        await play_asterisk(server, session().env)
        assert await recorder.next() is AgiResult.HANDLER_ERROR
        other, other_recorder = await make_server(reply_with(("X", "1")))
        await play_asterisk(other, env_bytes(script=f"route{CALLER}"))
        assert await other_recorder.next() is AgiResult.REJECTED
    assert logs, "sessions are logged"
    assert all("conn" in entry for entry in logs)
    text = repr(logs)
    assert CALLER not in text
    assert "1234567" not in text


def test_server_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        FastAgiServer(reply_with(), deadline_s=0)
    with pytest.raises(ValueError):
        FastAgiServer(reply_with(), max_env_bytes=10)
    with pytest.raises(RuntimeError):
        _ = FastAgiServer(reply_with()).address


# --- the connection state machine, fed in any chunking ------------------------------


class _Transport(asyncio.Transport):
    """Records what the session writes; closes at once (nothing buffered)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def _feed(data: bytes, cuts: list[int], handler: Handler) -> tuple[bytes, list[AgiResult]]:
    """One connection fed ``data`` cut at ``cuts``; what it wrote and reported."""
    results: list[AgiResult] = []

    async def run() -> bytes:
        server = FastAgiServer(handler, on_result=lambda r, _e: results.append(r))
        session = _AgiSession(server, asyncio.get_running_loop())
        transport = _Transport()
        session.connection_made(transport)
        bounds = [0, *sorted(set(cuts)), len(data)]
        for start, end in itertools.pairwise(bounds):
            session.data_received(data[start:end])
        session.connection_lost(None)
        return bytes(transport.written)

    return asyncio.run(run()), results


_VARS = (("LOTSE_ACTION", "queue"), ("LOTSE_QUEUE", "115-bremen"), ("__LOTSE_HOME", "Bremen ü"))
_LINES = b"".join(
    f'SET VARIABLE {n} "{v}"\n'.encode() for n, v in _VARS
)  # what a complete answer writes


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1), max_size=12))
def test_any_chunking_of_a_session_gives_the_same_answer(cuts: list[int]) -> None:
    # Asterisk's environment, then res_agi's answer to each command; res_agi
    # never answers ahead, but the bytes may arrive cut anywhere, even inside ü.
    env = env_bytes("agi_calleridname: Jürgen")
    data = env + b"200 result=1\n" * len(_VARS)
    written, results = _feed(data, [c % len(data) for c in cuts], reply_with(*_VARS))
    assert (written, results) == (_LINES, [AgiResult.OK])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=1), max_size=8))
def test_any_bytes_end_in_exactly_one_result_and_never_a_partial_answer(
    data: bytes, cuts: list[int]
) -> None:
    written, results = _feed(data, [c % (len(data) or 1) for c in cuts], reply_with(*_VARS))
    assert len(results) == 1
    # Either nothing was answered, or FAILURE follows what was sent: never a
    # silent close after some variables (which res_agi would count a success).
    if results[0] is not AgiResult.OK:
        assert written.endswith(b"FAILURE\n") or results[0] is AgiResult.PEER_CLOSED


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:4573\r\n\r\n", "not_agi"),
        (b"\n", "not_agi"),
        (b"agi_x: " + b"y" * 5000 + b"\n", "oversize"),
        (b"agi_callerid: 04211234567\n" * 600, "oversize"),
    ],
)
async def test_a_malformed_environment_is_logged_with_its_reason_never_a_number(
    make_server: Factory, data: bytes, reason: str
) -> None:
    with capture_logs() as logs:
        server, recorder = await make_server(reply_with(("X", "1")), max_env_bytes=4096)
        reader, writer = await connect(server)
        writer.write(data)
        assert await read_until_closed(reader) == b"FAILURE\n"
        assert await recorder.next() is AgiResult.MALFORMED
        writer.close()
    found = [e for e in logs if e["event"] == "fastagi.malformed_environment"]
    assert [e["reason"] for e in found] == [reason]
    assert "1234567" not in repr(found)


async def test_malformed_environments_are_logged_at_most_once_a_second(
    make_server: Factory,
) -> None:
    now = [100.0]
    with capture_logs() as logs:
        server, recorder = await make_server(reply_with(("X", "1")), clock=lambda: now[0])
        for step in (0.0, 0.5, 0.4, 0.1, 2.0):
            now[0] += step
            reader, writer = await connect(server)
            writer.write(b"hello\n\n")
            assert await read_until_closed(reader) == b"FAILURE\n"
            assert await recorder.next() is AgiResult.MALFORMED
            writer.close()
    found = [e for e in logs if e["event"] == "fastagi.malformed_environment"]
    # At 100, (100.5 and 100.9 held back), 101.0 exactly a second later, 103.0.
    assert [e["suppressed"] for e in found] == [0, 2, 0]
