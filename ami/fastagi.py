"""lotse's FastAGI service: the per-call routing decision point.

Asterisk has no AGI timeout. A FastAGI server that accepts a connection and
never answers keeps the channel inside AGI() until the socket closes, even
after the caller has hung up. So every accepted connection here is answered
or closed within ``deadline_s``, whatever the peer or the handler does: the
session runs under ``asyncio.timeout``, and a watchdog aborts the transport at
the hard deadline as the last resort (a handler that swallows cancellation,
a peer that stops reading).

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
import inspect
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

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
from dialplans.contract import AGI_SCRIPT

# res_agi: a line starting with "failure" (case-insensitive) ends AGI() with
# AGISTATUS=FAILURE.
FAILURE_LINE = b"FAILURE\n"
# A 520 usage text is a few dozen lines; more is not res_agi talking.
_MAX_CONTINUATION_LINES = 256
_LOG_FIELD_MAX = 64
_UNIQUEID = re.compile(r"[0-9]{1,20}\.[0-9]{1,10}")

_log = structlog.get_logger("ami.fastagi")


class AgiResult(StrEnum):
    """How one FastAGI session ended (the label the controller counts)."""

    OK = "ok"  # every variable set, connection closed: AGISTATUS=SUCCESS
    DEADLINE = "deadline"  # closed unanswered at the deadline (or shutdown)
    MALFORMED = "malformed"  # no AGI environment: garbage, oversize env
    PEER_CLOSED = "peer_closed"  # Asterisk closed before the session ended
    HANGUP = "hangup"  # res_agi reported the caller hung up
    HANDLER_ERROR = "handler_error"  # the routing handler raised or returned junk
    REJECTED = "rejected"  # well-formed request we do not serve (script name)
    COMMAND_FAILED = "command_failed"  # res_agi answered a command with non-200


AgiHandler = Callable[[AgiRequest], AgiReply | Awaitable[AgiReply]]
ResultCallback = Callable[[AgiResult, float], None]


class AgiRejected(Exception):
    """Raised by a handler to refuse a request; the session ends ``rejected``."""


class _EnvTooLarge(Exception):
    pass


class _PeerClosed(Exception):
    pass


@dataclass
class _Session:
    """Mutable bookkeeping of one connection (lives only inside the server)."""

    conn_id: str
    started: float
    aborted: bool = False
    script: str = ""
    commands_sent: int = 0
    reply_code: int | None = None


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
        self._sessions: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    async def start(self, host: str = "127.0.0.1", port: int = 4573) -> None:
        """Listen on ``host:port`` (port 0 picks a free port, see ``address``)."""
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        self._server = await asyncio.start_server(
            self._serve, host, port, limit=self._max_env_bytes, backlog=1024
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
        before ``timeout``; any left afterwards are cancelled and their
        connections aborted (reported as ``deadline``).
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._sessions:
            remaining = end - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(set(self._sessions), timeout=remaining)
        left = set(self._sessions)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=1.0)
        return not left

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        loop = asyncio.get_running_loop()
        session = _Session(conn_id=f"agi-{next(self._ids)}", started=self._clock())
        transport = writer.transport

        def watchdog() -> None:
            session.aborted = True
            transport.abort()

        hard_deadline = loop.time() + self._deadline_s
        watchdog_handle = loop.call_at(hard_deadline, watchdog)
        result = AgiResult.DEADLINE
        try:
            try:
                async with asyncio.timeout(self._deadline_s - self._close_grace_s):
                    result = await self._session(reader, writer, session)
            except TimeoutError:
                result = AgiResult.DEADLINE
            except Exception as exc:  # a bug here must not kill the server
                _log.error("fastagi.internal_error", conn=session.conn_id, error=type(exc).__name__)
                result = AgiResult.HANDLER_ERROR
            if session.aborted:
                result = AgiResult.DEADLINE
            await self._finish(writer, result, hard_deadline)
        except asyncio.CancelledError:
            transport.abort()
            result = AgiResult.DEADLINE
            raise
        finally:
            watchdog_handle.cancel()
            if task is not None:
                self._sessions.discard(task)
            self._report(session, result)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, session: _Session
    ) -> AgiResult:
        try:
            lines = await self._read_env(reader)
        except _EnvTooLarge:
            return AgiResult.MALFORMED
        except _PeerClosed:
            return AgiResult.PEER_CLOSED
        request = parse_env(lines)
        session.script = request.script
        # Each connection is its own task with its own context: everything
        # logged from here on, the handler's lines included, names the call.
        if request.uniqueid:
            structlog.contextvars.bind_contextvars(call_id=log_call_id(request.uniqueid))
        if not request.is_agi:
            return AgiResult.MALFORMED
        if request.script not in self._scripts:
            return AgiResult.REJECTED
        try:
            outcome = self._handler(request)
            reply = await outcome if inspect.isawaitable(outcome) else outcome
        except AgiRejected:
            return AgiResult.REJECTED
        except Exception as exc:
            _log.warning("fastagi.handler_error", conn=session.conn_id, error=type(exc).__name__)
            return AgiResult.HANDLER_ERROR
        if not isinstance(reply, AgiReply):
            _log.warning("fastagi.handler_error", conn=session.conn_id, error="not an AgiReply")
            return AgiResult.HANDLER_ERROR
        if session.aborted:
            return AgiResult.DEADLINE
        return await self._send(reader, writer, reply, session)

    async def _read_env(self, reader: asyncio.StreamReader) -> list[str]:
        """Read environment lines up to the blank line, each decoded whole.

        Lines are cut at LF before decoding, so a UTF-8 character split
        across TCP segments is decoded intact; invalid UTF-8 becomes U+FFFD.
        """
        lines: list[str] = []
        total = 0
        while True:
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:
                raise _EnvTooLarge from exc
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise _PeerClosed from exc
            total += len(raw)
            if total > self._max_env_bytes:
                raise _EnvTooLarge
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                return lines
            lines.append(line)

    async def _send(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        reply: AgiReply,
        session: _Session,
    ) -> AgiResult:
        """Send each SET VARIABLE and wait for its answer; stop at the first non-200."""
        try:
            for line in reply.command_lines():
                writer.write(line)
                await writer.drain()
                session.commands_sent += 1
                response = await self._read_response(reader)
                session.reply_code = response.code
                if response.kind is ResponseKind.HANGUP:
                    return AgiResult.HANGUP
                if response.kind is not ResponseKind.SUCCESS:
                    return AgiResult.COMMAND_FAILED
        except (asyncio.IncompleteReadError, ConnectionError):
            return AgiResult.PEER_CLOSED
        except asyncio.LimitOverrunError:
            return AgiResult.COMMAND_FAILED
        return AgiResult.OK

    async def _read_response(self, reader: asyncio.StreamReader) -> AgiResponse:
        first = classify_reply_line((await reader.readuntil(b"\n")).decode("utf-8", "replace"))
        code = first.response.code
        if not first.continued or code is None:
            return first.response
        for _ in range(_MAX_CONTINUATION_LINES):
            line = (await reader.readuntil(b"\n")).decode("utf-8", "replace")
            if ends_continuation(code, line):
                break
        return first.response

    async def _finish(
        self, writer: asyncio.StreamWriter, result: AgiResult, hard_deadline: float
    ) -> None:
        """Close the connection, writing FAILURE first when the answer is incomplete.

        ``close()`` flushes what is buffered; a peer that does not read would
        keep it open, so the transport is aborted at the hard deadline.
        """
        transport = writer.transport
        if transport.is_closing():
            return
        if result not in (AgiResult.OK, AgiResult.HANGUP, AgiResult.PEER_CLOSED):
            writer.write(FAILURE_LINE)
        transport.close()
        try:
            async with asyncio.timeout_at(hard_deadline):
                await writer.wait_closed()
        except TimeoutError:
            transport.abort()
        except Exception:  # reset by the peer while closing: it is closed either way
            transport.abort()

    def _report(self, session: _Session, result: AgiResult) -> None:
        elapsed = self._clock() - session.started
        _log.info(
            "fastagi.session",
            conn=session.conn_id,
            result=result.value,
            elapsed_ms=round(elapsed * 1000, 1),
            script=_safe(session.script),
            commands=session.commands_sent,
            reply_code=session.reply_code,
        )
        if self._on_result is None:
            return
        try:
            self._on_result(result, elapsed)
        except Exception as exc:  # metrics must never break call handling
            _log.error("fastagi.on_result_error", conn=session.conn_id, error=type(exc).__name__)
