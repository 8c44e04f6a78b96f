"""The manager interface (AMI) of the stand-in: TCP server and sessions.

Session behaviour follows ``main/manager.c`` (Asterisk 22):

- the banner ``Asterisk Call Manager/11.0.0`` on connect;
- before login only Login, Logoff and Challenge are served, anything else is
  answered ``Permission denied``; an unauthenticated session is dropped
  after ``authtimeout`` (30 s);
- a failed login is answered ``Authentication failed`` after a one-second
  pause and the connection is closed;
- events reach a session when its user's read classes and its event mask
  cover the event's class; events raised while an action runs are sent after
  its response (``process_events`` at the end of ``process_message``);
- ``Logoff`` answers ``Goodbye`` and closes; the ``Shutdown`` event closes
  every session.

Framing. The captures in ``shared/asterisk/`` show an extra empty line after
each chunk Asterisk wrote (and the Ping and Getvar responses cut in two);
``Framing.CAPTURE`` (the default) reproduces that on the wire,
``Framing.SOURCE`` writes what the C source writes (no extra empty lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from ami.codec import AmiParser, Message
from standin.clock import Clock
from standin.emit import EventBus
from standin.eventfilter import EventFilter, UserPolicy
from standin.wire import ALL_CLASSES, AmiEvent, Category, render

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
_READ_CHUNK = 65536
# A client that stops reading would make Asterisk's write time out and drop it.
_MAX_BUFFERED = 32 * 1024 * 1024

_log = logging.getLogger("standin.ami")


class Framing(StrEnum):
    """Which wire framing to produce (see the module docstring)."""

    CAPTURE = "capture"
    SOURCE = "source"


@dataclass(frozen=True)
class AmiUser:
    """A manager.conf user: secret and read/write class masks."""

    username: str
    secret: str
    read: int = ALL_CLASSES
    write: int = ALL_CLASSES
    # The user's eventfilter lines (manager.conf), applied as Asterisk does.
    filters: tuple[EventFilter, ...] = ()

    @property
    def policy(self) -> UserPolicy:
        """Read classes and filters as one (what reaches this user)."""
        return UserPolicy(self.read, self.write, self.filters)


@dataclass
class Reply:
    """An action's answer: the chunks Asterisk writes, and whether to close afterwards."""

    chunks: list[bytes] = field(default_factory=list)
    close: bool = False
    delay_s: float = 0.0


ActionHandler = Callable[["Session", Message], Awaitable[Reply]]


def tv(epoch: float) -> str:
    """Asterisk's ``EventTV``/``SessionTV`` format: ``2026-11-23T00:12:10.376+0000``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class Session:
    """One manager connection."""

    def __init__(
        self,
        server: AmiServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session_id: str,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.session_id = session_id
        self.authenticated = False
        self.user: AmiUser | None = None
        self.send_events = 0
        self.challenge = ""
        self.started = server.clock.now()
        self.real_start = asyncio.get_running_loop().time()
        self.closed = False
        self._pending: list[bytes] = []
        self._in_action = False
        self._flush_scheduled = False
        self._unsubscribe: Callable[[], None] | None = None
        self._policy = UserPolicy()
        local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        self.local_address = f"IPV4/TCP/{local[0]}/{local[1]}"
        self.remote_address = f"IPV4/TCP/{peer[0]}/{peer[1]}"

    @property
    def writeperm(self) -> int:
        """The user's write classes (0 before login)."""
        return self.user.write if self.user else 0

    # -- output -------------------------------------------------------------

    def logged_in(self, user: AmiUser) -> None:
        """The login succeeded: from now on events reach the session through the
        user's filters."""
        self.user = user
        self.authenticated = True
        self._policy = user.policy

    def wants(self, name: str, category: int, known: tuple[tuple[str, str], ...]) -> bool:
        """Whether an event of ``name`` (fields ``known`` so far) may reach this session."""
        if self.closed or not self.authenticated:
            return False
        if (self.send_events & category) != category:
            return False
        return self._policy.may_want(name, category, known)

    def on_event(self, event: AmiEvent) -> None:
        """Bus subscriber: queue the event if this session may see it."""
        if self.closed or not self.authenticated:
            return
        if (self.send_events & event.category) != event.category:
            return
        if not self._policy.should_send(event):
            return
        self._pending.append(event.data)
        if not self._in_action and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_events)

    def _flush_events(self) -> None:
        self._flush_scheduled = False
        if self._in_action or not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self.write_chunks([data])

    def write_chunks(self, chunks: list[bytes]) -> None:
        """Write chunks as separate writes (capture framing: each followed by an empty line)."""
        if self.closed or self.writer.is_closing():
            return
        extra = b"\r\n" if self.server.framing is Framing.CAPTURE else b""
        self.writer.write(b"".join(c + extra for c in chunks if c))
        transport = self.writer.transport
        if transport.get_write_buffer_size() > _MAX_BUFFERED:
            _log.warning(
                "ami.session_dropped", extra={"session": self.session_id, "why": "stopped reading"}
            )
            self.abort()

    def abort(self) -> None:
        """Close the connection without ceremony."""
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    # -- input --------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes."""
        self._unsubscribe = self.server.bus.subscribe(self.on_event, self.wants)
        parser = AmiParser()
        self.write_chunks([BANNER])
        try:
            while not self.closed:
                data = await self._read()
                if not data:
                    break
                for item in parser.feed(data):
                    if isinstance(item, Message) and not await self._handle(item):
                        return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()

    async def _read(self) -> bytes:
        if self.authenticated:
            return await self.reader.read(_READ_CHUNK)
        loop_now = asyncio.get_running_loop().time()
        remaining = self.server.auth_timeout_s - (loop_now - self.real_start)
        if remaining <= 0:
            return b""
        try:
            return await asyncio.wait_for(self.reader.read(_READ_CHUNK), remaining)
        except TimeoutError:
            return b""

    async def _handle(self, msg: Message) -> bool:
        """Run one action; False when the session must close."""
        # Like do_message(): pending events go out before the next action runs.
        self._flush_events()
        self._in_action = True
        try:
            reply = await self.server.dispatch(self, msg)
        finally:
            self._in_action = False
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        chunks = list(reply.chunks) or [b""]
        if self._pending:
            chunks[-1] = chunks[-1] + b"".join(self._pending)
            self._pending.clear()
        self.write_chunks(chunks)
        if reply.close:
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()
            self.close()
            return False
        return True

    def close(self) -> None:
        """Unsubscribe and close the socket (idempotent)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()
        self.server.forget(self)


class AmiServer:
    """Listens for manager clients; actions are dispatched to ``actions``."""

    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        rng: random.Random,
        users: dict[str, AmiUser],
        actions: dict[str, tuple[int, ActionHandler]],
        framing: Framing = Framing.CAPTURE,
        auth_fail_delay_s: float = 1.0,
        auth_timeout_s: float = 30.0,
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.rng = rng
        self.users = users
        self.actions = actions
        self.framing = framing
        self.auth_fail_delay_s = auth_fail_delay_s
        self.auth_timeout_s = auth_timeout_s
        self.started = clock.now()
        self.sessions: set[Session] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, sock: socket.socket | None = None
    ) -> tuple[str, int]:
        """Start listening (on ``sock``, already bound, if given); returns the bound address."""
        if sock is not None:
            self._server = await asyncio.start_server(self._accept, sock=sock, limit=_READ_CHUNK)
        else:
            self._server = await asyncio.start_server(self._accept, host, port, limit=_READ_CHUNK)
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session_id = f"0x{self.rng.randrange(0x7F0000000000, 0x7FFFFFFFFFFF):x}"
        session = Session(self, reader, writer, session_id)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        except asyncio.CancelledError:
            # asyncio's start_server callback would log a cancelled handler as an error.
            session.abort()
        finally:
            if task is not None:
                self._tasks.discard(task)

    def forget(self, session: Session) -> None:
        """Drop a closed session from the bookkeeping."""
        self.sessions.discard(session)

    async def dispatch(self, session: Session, msg: Message) -> Reply:
        """``process_message``: permission checks, then the action's handler."""
        action = (msg.get("Action") or "").strip()
        if not action:
            self.security_event(
                session,
                "RequestBadFormat",
                Category.SECURITY,
                ("Severity", "Error"),
                request_type="NONE",
            )
            return error(msg, "Missing action in request")
        name = action.lower()
        if not session.authenticated and name not in ("login", "logoff", "challenge"):
            return error(msg, "Permission denied")
        entry = self.actions.get(name)
        if entry is None:
            if session.authenticated:
                self.security_event(
                    session,
                    "RequestBadFormat",
                    Category.SECURITY,
                    ("Severity", "Error"),
                    request_type=f"Action: {action}",
                )
            return error(
                msg,
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands.",
            )
        authority, handler = entry
        if authority and not (session.writeperm & authority):
            return error(msg, "Permission denied")
        return await handler(session, msg)

    def security_event(
        self,
        session: Session,
        name: str,
        category: int,
        *fields: tuple[str, str],
        request_type: str | None = None,
    ) -> None:
        """Publish a security event about ``session`` (SuccessfulAuth, RequestBadFormat)."""
        now = self.clock.now()
        body: list[tuple[str, str]] = [
            ("EventTV", tv(now)),
            *fields,
            ("Service", "AMI"),
            ("EventVersion", "1"),
        ]
        if name == "SuccessfulAuth":
            body += [
                ("AccountID", session.user.username if session.user else ""),
                ("SessionID", session.session_id),
                ("LocalAddress", session.local_address),
                ("RemoteAddress", session.remote_address),
                ("UsingPassword", "0"),
                ("SessionTV", tv(session.started)),
            ]
        else:
            body += [
                ("SessionID", session.session_id),
                ("LocalAddress", session.local_address),
                ("RemoteAddress", session.remote_address),
                ("RequestType", request_type or ""),
                ("SessionTV", tv(session.started)),
                ("AccountID", session.user.username if session.user else ""),
            ]
        self.bus.publish(AmiEvent(name, category, tuple(body)))

    async def drop_connections(self) -> None:
        """Close every manager connection abruptly (a network failure)."""
        for session in list(self.sessions):
            session.abort()
            session.close()
        await asyncio.sleep(0)

    async def shutdown(self, *, restart: bool = True) -> None:
        """Send ``Shutdown`` to everyone (Cleanly, Restart) and close all connections."""
        event = AmiEvent(
            "Shutdown",
            Category.SYSTEM,
            (("Shutdown", "Cleanly"), ("Restart", "True" if restart else "False")),
        )
        self.bus.publish(event)
        await asyncio.sleep(0)
        for session in list(self.sessions):
            session._flush_events()
            with contextlib.suppress(ConnectionError):
                await session.writer.drain()
            session.close()
        self.started = self.clock.now()

    async def close(self) -> None:
        """Stop listening and close all sessions."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.abort()
            session.close()
        # Closing the transports ends the session tasks; cancelling them would
        # trip asyncio's start_server callback on Python 3.11.
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None


def response(msg: Message, status: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    """``Response: X`` and the ActionID (if the action had one), then ``extra``."""
    fields = [("Response", status)]
    action_id = msg.get("ActionID")
    if action_id:
        fields.append(("ActionID", action_id))
    return fields + list(extra)


def ack(msg: Message, message: str) -> Reply:
    """``astman_send_ack``: Success with a Message."""
    return Reply([render(response(msg, "Success", ("Message", message)))])


def error(msg: Message, message: str) -> Reply:
    """``astman_send_error``: Error with a Message."""
    return Reply([render(response(msg, "Error", ("Message", message)))])
