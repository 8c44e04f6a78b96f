"""lotse's FastAGI service: the per-call routing decision point.

Asterisk has no AGI timeout. A FastAGI server that accepts a connection and
never answers keeps the channel inside AGI() until the socket closes, even
after the caller has hung up. So every accepted connection here is answered
or closed within ``deadline_s``, whatever the peer or the handler does: a
little before the deadline the session ends with ``FAILURE`` and a close,
without waiting for the handler; at the deadline a connection that is still
not closed (a peer that stops reading) is aborted.

Each connection is an :class:`asyncio.Protocol`, not a stream reader and a
task: the environment is cut into lines from the bytes received, the handler
runs as soon as the blank line arrives (a sync handler inline, an async one as
a task), each ``SET VARIABLE`` goes out when the answer to the one before
comes in. One timer per connection enforces the deadline. On a busy
controller this is most of what a routing decision costs, so it is kept lean.

How res_agi (Asterisk 22) turns the end of a session into ``AGISTATUS``:
the server closing the socket ends AGI() with ``SUCCESS`` — also when no
command was sent at all; a line starting with ``failure`` makes it
``FAILURE``; a caller hangup during AGI() makes it ``HANGUP`` (and AGI()
returns -1, ending the dialplan). So whenever lotse could not give a complete
answer (deadline, malformed request, rejected script, handler error, command
error), the server writes ``FAILURE`` before closing: ``AGISTATUS`` is then
``SUCCESS`` only when all variables were set, and the dialplan's fallback
branch covers everything else, exactly as when no FastAGI server listens.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import math
import re
import time
from collections.abc import Awaitable, Callable
from enum import Enum, StrEnum
from typing import Any

import structlog

from ami.agi_protocol import (
    AgiReply,
    AgiRequest,
    AgiResponse,
    ResponseKind,
    classify_reply_line,
    ends_continuation,
    parse_env,
)
from ami.contract import AGI_SCRIPT

# res_agi: a line starting with "failure" (case-insensitive) ends AGI() with
# AGISTATUS=FAILURE.
FAILURE_LINE = b"FAILURE\n"
# A 520 usage text is a few dozen lines; more is not res_agi talking.
_MAX_CONTINUATION_LINES = 256
_LOG_FIELD_MAX = 64
# Malformed environments logged at most this often (the rest counted in the next line).
_MALFORMED_LOG_EVERY_S = 1.0
_UNIQUEID = re.compile(r"[0-9]{1,20}\.[0-9]{1,10}")

_log = structlog.get_logger("ami.fastagi")


class AgiResult(StrEnum):
    """How one FastAGI session ended (the label the controller counts)."""

    OK = "ok"  # every variable set, connection closed: AGISTATUS=SUCCESS
    DEADLINE = "deadline"  # closed unanswered at the deadline (or shutdown)
    MALFORMED = "malformed"  # no AGI environment: garbage, oversize env, unusable values
    PEER_CLOSED = "peer_closed"  # Asterisk closed before the session ended
    HANGUP = "hangup"  # res_agi reported the caller hung up
    HANDLER_ERROR = "handler_error"  # the routing handler raised or returned junk
    REJECTED = "rejected"  # well-formed request we do not serve (script name)
    COMMAND_FAILED = "command_failed"  # res_agi answered a command with non-200


AgiHandler = Callable[[AgiRequest], AgiReply | Awaitable[AgiReply]]
ResultCallback = Callable[[AgiResult, float], None]

# Results after which AGI() already ends as it should without a FAILURE line.
_NO_FAILURE_LINE = frozenset({AgiResult.OK, AgiResult.HANGUP, AgiResult.PEER_CLOSED})


class AgiRejected(Exception):
    """Raised by a handler to refuse a request; the session ends ``rejected``."""


class AgiMalformed(Exception):
    """Raised by a handler for a request whose content it cannot use.

    E.g. a CR or NUL inside a value it would act on or send back. The session
    ends ``malformed`` (counted like a garbled environment, answered
    ``FAILURE`` so the dialplan takes its fallback). The message names the
    field and the problem, never the value: it is logged.
    """


def _safe(text: str) -> str:
    """A peer-supplied string shortened and with digits masked for logging.

    A misconfigured dialplan could put a caller number into the AGI URL, so
    nothing taken from the wire reaches a log line with its digits.
    """
    return "".join("#" if ch.isdigit() else ch for ch in text[:_LOG_FIELD_MAX])


def log_call_id(text: str) -> str:
    """A call id fit for a log line: a channel uniqueid (``epoch.sequence``,
    not personal) as it is, anything else masked like other peer input."""
    return text if _UNIQUEID.fullmatch(text) else _safe(text)


class FastAgiServer:
    """An asyncio FastAGI server calling ``handler`` once per connection.

    ``handler(request)`` returns an :class:`AgiReply` (or an awaitable of
    one); its variables are set with ``SET VARIABLE`` and the connection is
    closed. ``on_result(result, elapsed_s)`` is called exactly once per
    accepted connection (elapsed measured with the injected ``clock``).
    Sync handlers run on the event loop and must not block: nothing can
    pre-empt them.
    """

    def __init__(
        self,
        handler: AgiHandler,
        *,
        deadline_s: float = 0.3,
        max_env_bytes: int = 16384,
        clock: Callable[[], float] = time.monotonic,
        on_result: ResultCallback | None = None,
        scripts: frozenset[str] = frozenset({AGI_SCRIPT}),
    ) -> None:
        if deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        if max_env_bytes < 64:
            raise ValueError("max_env_bytes must be at least 64")
        self._handler = handler
        self._deadline_s = deadline_s
        # The session body stops a little before the hard deadline so the
        # FAILURE line and an orderly close still fit inside it.
        self._close_grace_s = min(0.05, deadline_s / 4)
        self._max_env_bytes = max_env_bytes
        self._clock = clock
        self._on_result = on_result
        self._scripts = scripts
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._sessions: set[_AgiSession] = set()
        self._idle: asyncio.Event | None = None
        self._ids = itertools.count(1)
        self._malformed_logged_at = -math.inf
        self._malformed_suppressed = 0

    async def start(self, host: str = "127.0.0.1", port: int = 4573) -> None:
        """Listen on ``host:port`` (port 0 picks a free port, see ``address``)."""
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _AgiSession(self, loop), host, port, backlog=1024
        )
        sockname = self._server.sockets[0].getsockname()
        self._address = (str(sockname[0]), int(sockname[1]))

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) listened on (port 0 resolved; kept after close)."""
        if self._address is None:
            raise RuntimeError("FastAGI server was never started")
        return self._address

    @property
    def in_flight(self) -> int:
        """Sessions accepted and not yet finished."""
        return len(self._sessions)

    async def close(self) -> None:
        """Stop accepting connections; sessions in flight continue (see drain)."""
        if self._server is not None:
            self._server.close()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for in-flight sessions; True if all ended.

        Sessions are bounded by the deadline, so this normally returns well
        before ``timeout``; any left afterwards are aborted (reported as
        ``deadline``).
        """
        if await self._wait_idle(timeout):
            return True
        for session in list(self._sessions):
            session.abort()
        await self._wait_idle(1.0)
        return False

    async def _wait_idle(self, timeout: float) -> bool:
        if not self._sessions:
            return True
        self._idle = idle = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await idle.wait()
        except TimeoutError:
            return not self._sessions
        return True

    # --- called by the sessions -------------------------------------------------

    def _opened(self, session: _AgiSession) -> None:
        self._sessions.add(session)

    def _gone(self, session: _AgiSession) -> None:
        self._sessions.discard(session)
        if not self._sessions and self._idle is not None:
            self._idle.set()

    def _log_malformed(self, **fields: object) -> None:
        """A warning per malformed environment, at most one a second: a flood of garbage
        connections must not flood the log (each is counted all the same)."""
        now = self._clock()
        if now - self._malformed_logged_at < _MALFORMED_LOG_EVERY_S:
            self._malformed_suppressed += 1
            return
        _log.warning(
            "fastagi.malformed_environment", suppressed=self._malformed_suppressed, **fields
        )
        self._malformed_logged_at = now
        self._malformed_suppressed = 0

    def _report(
        self, ids: dict[str, str], result: AgiResult, elapsed: float, script: str, commands: int,
        reply_code: int | None,
    ) -> None:  # fmt: skip
        _log.info(
            "fastagi.session",
            **ids,
            result=result.value,
            elapsed_ms=round(elapsed * 1000, 1),
            script=_safe(script),
            commands=commands,
            reply_code=reply_code,
        )
        if self._on_result is None:
            return
        try:
            self._on_result(result, elapsed)
        except Exception as exc:  # metrics must never break call handling
            _log.error("fastagi.on_result_error", **ids, error=type(exc).__name__)


class _Phase(Enum):
    ENV = 1  # reading the environment
    HANDLING = 2  # the handler decides
    COMMANDS = 3  # a SET VARIABLE is out, its answer awaited
    DONE = 4  # result reported, connection closing or closed


class _AgiSession(asyncio.Protocol):
    """One FastAGI connection, from accept to close, as a state machine."""

    def __init__(self, server: FastAgiServer, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._phase = _Phase.ENV
        self._buffer = bytearray()
        self._scan = 0  # where the search for the next LF resumes
        self._env: list[str] = []
        self._env_bytes = 0
        self._commands: tuple[bytes, ...] = ()
        self._sent = 0
        self._reply_code: int | None = None
        self._continued_code: int | None = None  # inside a multi-line NNN- answer
        self._continued_lines = 0
        self._first_of_answer: AgiResponse | None = None
        self._script = ""
        self._call_id: str | None = None
        self._task: asyncio.Future[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._hard_deadline = 0.0
        # Each connection logs in its own context: the call id bound for one
        # call never shows on another's lines.
        self._context = contextvars.copy_context()
        self._conn = f"agi-{next(server._ids)}"
        self._started = server._clock()

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server._opened(self)
        server = self._server
        self._hard_deadline = self._loop.time() + server._deadline_s
        self._timer = self._loop.call_at(
            self._hard_deadline - server._close_grace_s, self._deadline
        )

    def data_received(self, data: bytes) -> None:
        if self._phase is _Phase.DONE:
            return
        self._buffer += data
        if len(self._buffer) > self._server._max_env_bytes:
            # An environment, or one answer line, longer than any res_agi sends.
            if self._phase is _Phase.ENV:
                self._malformed_env("oversize")
            else:
                self._finish(AgiResult.COMMAND_FAILED)
            return
        self._lines()

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost ends the session

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._gone(self)
        self._finish(AgiResult.PEER_CLOSED)

    # --- the dialogue ---------------------------------------------------------------

    def _lines(self) -> None:
        """Take every complete line in the buffer, as far as the phase allows."""
        buffer = self._buffer
        while self._phase is _Phase.ENV or self._phase is _Phase.COMMANDS:
            end = buffer.find(b"\n", self._scan)
            if end < 0:
                self._scan = len(buffer)
                return
            # Lines are cut at LF before decoding, so a UTF-8 character split
            # across TCP segments is decoded intact; invalid UTF-8 becomes U+FFFD.
            line = buffer[:end].decode("utf-8", errors="replace")
            del buffer[: end + 1]
            self._scan = 0
            if self._phase is _Phase.ENV:
                self._env_line(line.rstrip("\r"), end + 1)
            else:
                self._answer_line(line)

    def _env_line(self, line: str, size: int) -> None:
        self._env_bytes += size
        if self._env_bytes > self._server._max_env_bytes:
            self._malformed_env("oversize")
        elif line:
            self._env.append(line)
        else:
            self._phase = _Phase.HANDLING
            self._context.run(self._dispatch)

    def _dispatch(self) -> None:
        """Hand the request to the handler (in this connection's context)."""
        request = parse_env(self._env)
        self._script = request.script
        if request.uniqueid:
            self._call_id = log_call_id(request.uniqueid)
            structlog.contextvars.bind_contextvars(call_id=self._call_id)
        if not request.is_agi:
            self._malformed_env("not_agi")
            return
        if request.script not in self._server._scripts:
            self._finish(AgiResult.REJECTED)
            return
        try:
            outcome = self._server._handler(request)
        except AgiRejected:
            self._finish(AgiResult.REJECTED)
            return
        except AgiMalformed as exc:
            self._malformed_request(str(exc))
            return
        except Exception as exc:
            self._handler_error(type(exc).__name__)
            return
        if not inspect.isawaitable(outcome):
            self._replied(outcome)
            return
        task: asyncio.Future[Any] = (
            self._loop.create_task(outcome, context=self._context)
            if inspect.iscoroutine(outcome)
            else asyncio.ensure_future(outcome)
        )
        self._task = task
        task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Future[Any]) -> None:
        self._task = None
        if task.cancelled():
            self._finish(AgiResult.DEADLINE)
            return
        exc = task.exception()
        if self._phase is not _Phase.HANDLING:
            return  # the deadline or the peer ended the session meanwhile
        if isinstance(exc, AgiRejected):
            self._finish(AgiResult.REJECTED)
        elif isinstance(exc, AgiMalformed):
            self._malformed_request(str(exc))
        elif exc is not None:
            self._handler_error(type(exc).__name__)
        else:
            self._replied(task.result())
            if self._buffer:
                self._lines()  # answers the peer sent ahead

    def _malformed_env(self, reason: str) -> None:
        """No usable environment: more bytes than res_agi ever sends, or no ``agi_`` line
        (another protocol, a port scan). Logged (the first line, masked) and counted
        ``malformed``; the peer gets ``FAILURE``."""
        first = self._env[0] if self._env else bytes(self._buffer[:64]).decode("utf-8", "replace")
        self._server._log_malformed(
            reason=reason,
            env_lines=len(self._env),
            env_bytes=self._env_bytes + len(self._buffer),
            first_line=_safe(first.splitlines()[0] if first else ""),
            **self._log_ids(),
        )
        self._finish(AgiResult.MALFORMED)

    def _malformed_request(self, reason: str) -> None:
        _log.warning("fastagi.malformed_request", reason=_safe(reason), **self._log_ids())
        self._finish(AgiResult.MALFORMED)

    def _handler_error(self, error: str) -> None:
        _log.warning("fastagi.handler_error", error=error, **self._log_ids())
        self._finish(AgiResult.HANDLER_ERROR)

    def _replied(self, reply: object) -> None:
        if self._phase is not _Phase.HANDLING:
            return
        if not isinstance(reply, AgiReply):
            self._handler_error("not an AgiReply")
            return
        self._commands = reply.command_lines()
        self._phase = _Phase.COMMANDS
        self._next_command()

    def _next_command(self) -> None:
        if self._sent == len(self._commands):
            self._finish(AgiResult.OK)
            return
        assert self._transport is not None
        self._transport.write(self._commands[self._sent])
        self._sent += 1
        # An answer may already be waiting (it never is from res_agi, but a
        # peer may send ahead); it is taken by the caller's line loop.

    def _answer_line(self, line: str) -> None:
        code = self._continued_code
        if code is not None:
            # Inside a multi-line answer: only its end matters.
            self._continued_lines += 1
            if ends_continuation(code, line) or self._continued_lines >= _MAX_CONTINUATION_LINES:
                self._continued_code = None
                assert self._first_of_answer is not None
                self._answered(self._first_of_answer)
            return
        first = classify_reply_line(line)
        if first.continued and first.response.code is not None:
            self._continued_code = first.response.code
            self._continued_lines = 0
            self._first_of_answer = first.response
            self._reply_code = first.response.code
            return
        self._answered(first.response)

    def _answered(self, response: AgiResponse) -> None:
        self._reply_code = response.code
        if response.kind is ResponseKind.HANGUP:
            self._finish(AgiResult.HANGUP)
        elif response.kind is not ResponseKind.SUCCESS:
            self._finish(AgiResult.COMMAND_FAILED)
        else:
            self._next_command()

    # --- the end ----------------------------------------------------------------------

    def _deadline(self) -> None:
        self._timer = None
        self._finish(AgiResult.DEADLINE)

    def _finish(self, result: AgiResult) -> None:
        """End the session once: FAILURE when the answer is incomplete, close, report.

        A peer that does not read keeps a closing connection open while its
        buffer is not flushed; it is aborted at the hard deadline.
        """
        if self._phase is _Phase.DONE:
            return
        self._phase = _Phase.DONE
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()  # a handler that ignores this is simply not waited for
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if result not in _NO_FAILURE_LINE:
                transport.write(FAILURE_LINE)
            transport.close()
            if transport.get_write_buffer_size():
                self._loop.call_at(self._hard_deadline, transport.abort)
        self._report(result)

    def abort(self) -> None:
        """Shutdown: drop the connection now, without a word (reported as ``deadline``)."""
        if self._phase is not _Phase.DONE:
            self._phase = _Phase.DONE
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._task is not None:
                self._task.cancel()
            self._report(AgiResult.DEADLINE)
        if self._transport is not None:
            self._transport.abort()

    def _log_ids(self) -> dict[str, str]:
        """The connection and, once known, the call: named explicitly, since a
        session's end may be logged outside its own context."""
        if self._call_id is None:
            return {"conn": self._conn}
        return {"conn": self._conn, "call_id": self._call_id}

    def _report(self, result: AgiResult) -> None:
        server = self._server
        elapsed = server._clock() - self._started
        server._report(self._log_ids(), result, elapsed, self._script, self._sent, self._reply_code)
