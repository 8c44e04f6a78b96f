"""A logged-in AMI session that survives Asterisk restarts and network trouble.

Built on panoramisk's ``Manager`` (connection set-up) and ``AMIProtocol``
(transport handling), with the edges of panoramisk 1.4 covered here:

* panoramisk decodes every TCP chunk on its own with errors ignored, which
  loses a multi-byte character (ü in a caller name) split across chunks and,
  with its default ASCII, every non-ASCII character. lotse's protocol hands
  raw bytes to :class:`ami.codec.AmiParser`, which decodes whole lines.
* After a reconnect panoramisk re-sends every action that was in flight, so a
  Redirect or Originate could run twice. Here an action in flight when the
  connection drops fails with :class:`AmiDisconnected`; nothing is re-sent.
* panoramisk infers an action's completion from the reply text, which hangs
  for some actions (QueueAdd, async Originate). Here every action has an
  explicit timeout and its own error, and list actions end at the event whose
  ``EventList`` is ``Complete``.
* panoramisk's keepalive sends Ping but never notices a missing reply; here a
  Ping that times out closes the connection so a reconnect follows.
* A missing header reads as an empty string in panoramisk; nothing raw leaves
  ``ami/``: events are typed by :func:`ami.events.to_event` and go, in wire
  order, to one sink (the controller's ordered consumer).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager

from ami.codec import AmiParser, Message, ParseError, encode
from ami.events import Malformed, to_event

log = structlog.get_logger("lotse.ami")


class AmiError(Exception):
    """An AMI action did not succeed."""


class AmiActionFailed(AmiError):
    """Asterisk answered the action with an error response."""


class AmiLoginRefused(AmiActionFailed):
    """Asterisk refused the login: a wrong user or secret, or a denied address.

    Asterisk answers ``Response: Error`` / ``Message: Authentication failed``
    and closes the connection (capture ``ami-badlogin.txt``: the actions sent
    after it get no answer). Retrying will not heal it by itself.
    """


class AmiActionTimeout(AmiError):
    """No complete answer to the action within its timeout."""


class AmiDisconnected(AmiError):
    """The connection dropped, or was never up, before the action completed."""


@dataclass(frozen=True)
class Connected:
    """Marker in the event stream: logged in; a resync should follow."""

    banner: str


@dataclass(frozen=True)
class Disconnected:
    """Marker in the event stream: the session is down; state is now stale."""

    reason: str


@dataclass(frozen=True)
class ActionResult:
    """An action's answer: the response headers and, for list actions, the item count."""

    response: Message
    items: int = 0


@dataclass
class _Pending:
    future: asyncio.Future[ActionResult]
    is_list: bool = False
    response: Message | None = None
    items: int = 0


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol, with lotse's codec in place of its per-chunk decoding."""

    closed: bool
    parser: AmiParser

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.parser = AmiParser()

    def data_received(self, data: bytes) -> None:
        session: AmiSession | None = getattr(self.factory, "session", None)
        if session is None:
            return
        for item in self.parser.feed(data):
            session._received(item, self.parser.banner)
        session._flush()

    def close(self) -> None:
        # panoramisk would queue in-flight actions here to re-send them after
        # the reconnect; lotse fails them instead (see AmiSession._lost).
        self.responses.clear()
        if not self.closed:
            try:
                self.transport.close()
            finally:
                self.closed = True


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager for connection set-up only: lotse logs in, pings and reconnects."""

    def __init__(self, session: AmiSession, **config: object) -> None:
        super().__init__(protocol_factory=_Protocol, **config)
        self.session = session

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        self.session._lost("connection lost")

    def ping(self) -> None:
        """Disabled: panoramisk's ping never checks the reply; the session pings itself."""


class AmiSession:
    """One AMI login, kept up: connect, log in, ping, reconnect with backoff and jitter.

    Typed events and the :class:`Connected` / :class:`Disconnected` markers go
    to ``sink`` in wire order, a list at a time: the events of one read of the
    socket together, so the consumer wakes once per read, not once per event.
    ``rng`` (jitter), ``sleep`` (the wait between attempts) and the action-id
    source are injected so tests are repeatable. The secret is only ever
    sent, never logged.

    The backoff grows with every attempt that did not log in and starts over
    after every login that succeeded: a peer that drops a good session now
    and then is retried at once, not after minutes.

    A refused login (:class:`AmiLoginRefused`) is retried like a network
    failure (a secret rotated in Asterisk heals once lotse gets the new one),
    but it is an operator's problem: it goes to ``on_login_refused`` with
    Asterisk's message, and is logged as an error at most once per
    ``refused_log_interval_s`` (``clock``), not as a warning per attempt.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        sink: Callable[[list[object]], None],
        rng: random.Random,
        on_malformed: Callable[[str], None] | None = None,
        ping_interval_s: float = 10.0,
        action_timeout_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 30.0,
        action_ids: Iterable[str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_login_refused: Callable[[str], None] | None = None,
        refused_log_interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port = host, port
        self._username = username
        self._secret = secret
        self._sink = sink
        self._batch: list[object] = []
        self._rng = rng
        self._sleep = sleep
        self._on_malformed = on_malformed
        self.ping_interval_s = ping_interval_s
        self.action_timeout_s = action_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._ids = (
            iter(action_ids)
            if action_ids is not None
            else (f"lotse-{n}" for n in itertools.count(1))
        )
        self._pending: dict[str, _Pending] = {}
        self._orphan: Message | None = None
        self._protocol: _Protocol | None = None
        self._lost_event = asyncio.Event()
        self._stopping = False
        self.logged_in = False
        self.ever_logged_in = False
        self.connects = 0
        self.login_refusals = 0
        self._on_login_refused = on_login_refused
        self.refused_log_interval_s = refused_log_interval_s
        self._clock = clock
        self._refused: str | None = None
        self._refused_logged_at: float | None = None
        # Asterisk's message when the latest login was refused; None once one succeeds.
        self.refused_now: str | None = None
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run the session in the background until :meth:`stop`."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name="ami-session")
        return self._task

    async def stop(self) -> None:
        """Log off and close; pending actions fail with :class:`AmiDisconnected`."""
        self._stopping = True
        if self.logged_in:
            with contextlib.suppress(AmiError):
                await self.action("Logoff", timeout=1.0)
        self._close_transport()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        """Connect, log in and stay logged in; reconnect with backoff after every loss."""
        attempt = 0
        while not self._stopping:
            reason, logged_in = await self._one_connection()
            if self._stopping:
                break
            # Asked of the attempt, not of self.logged_in: _lost() has already
            # cleared that by the time the connection's end reaches this point.
            if logged_in:
                attempt = 0
            self.logged_in = False
            delay = self._backoff(attempt)
            attempt += 1
            refused, self._refused = self._refused, None
            if refused is not None:
                self._login_refused(refused, attempt, delay)
            else:
                log.warning(
                    "ami.reconnect",
                    reason=reason,
                    attempt=attempt,
                    retry_in_s=round(delay, 2),
                    host=self.host,
                    port=self.port,
                )
            await self._sleep(delay)

    def _login_refused(self, message: str, attempt: int, delay: float) -> None:
        self.login_refusals += 1
        self.refused_now = message
        now = self._clock()
        last = self._refused_logged_at
        if last is None or now - last >= self.refused_log_interval_s:
            self._refused_logged_at = now
            log.error(
                "ami.login_refused",
                host=self.host,
                port=self.port,
                user=self._username,
                asterisk=message,
                refusals=self.login_refusals,
                attempt=attempt,
                retry_in_s=round(delay, 2),
            )
        if self._on_login_refused is not None:
            self._on_login_refused(message)

    def _backoff(self, attempt: int) -> float:
        # Full jitter: controllers restarted together do not reconnect in step.
        ceiling = min(self.backoff_max_s, self.backoff_min_s * (2**attempt))
        return self.backoff_min_s + self._rng.uniform(0, ceiling)

    async def _one_connection(self) -> tuple[str, bool]:
        """One connection from connect to loss: why it ended, and whether it logged in."""
        loop = asyncio.get_running_loop()
        manager = _Manager(self, host=self.host, port=self.port, loop=loop, ping_delay=1 << 30)
        self._lost_event = asyncio.Event()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                transport_protocol = await loop.create_connection(
                    manager.config["protocol_factory"], self.host, self.port
                )
        except (OSError, TimeoutError) as err:
            return f"connect failed: {type(err).__name__}", False
        _, protocol = transport_protocol
        protocol.factory = manager
        manager.protocol = protocol
        self._protocol = protocol
        self._batch = []  # nothing of an earlier connection that never logged in
        self.connects += 1
        try:
            await self._login()
        except AmiLoginRefused as err:
            self._refused = str(err)
            self._close_transport()
            return f"login refused: {err}", False
        except AmiError as err:
            self._close_transport()
            return f"login failed: {err}", False
        self.logged_in = True
        self.ever_logged_in = True
        self._refused_logged_at = None
        self.refused_now = None
        log.info("ami.logged_in", host=self.host, port=self.port, user=self._username)
        # Asterisk 22 sends FullyBooted right behind the Login response, often in
        # the same read (capture ami-answered.txt); it was held back by _flush so
        # that the session's events follow its Connected marker, in wire order.
        held, self._batch = self._batch, []
        self._sink([Connected(protocol.parser.banner or ""), *held])
        pinger = loop.create_task(self._keepalive(), name="ami-keepalive")
        try:
            await self._lost_event.wait()
        finally:
            pinger.cancel()
        return self._lost_reason, True

    async def _login(self) -> None:
        challenge = await self.action("Challenge", {"AuthType": "MD5"})
        nonce = challenge.response.get("Challenge")
        if nonce:
            # The secret never crosses the wire: only md5(challenge + secret).
            key = hashlib.md5((nonce + self._secret).encode(), usedforsecurity=False).hexdigest()
            fields = {"AuthType": "MD5", "Username": self._username, "Key": key}
        else:
            fields = {"Username": self._username, "Secret": self._secret}
        fields["Events"] = "on"
        try:
            await self.action("Login", fields)
        except AmiActionFailed as err:
            raise AmiLoginRefused(str(err)) from None

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            try:
                await self.action("Ping")
            except AmiError as err:
                log.warning("ami.ping_failed", error=str(err))
                self._close_transport()
                return

    def _close_transport(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
            self._lost("closed by lotse")

    _lost_reason = "not connected"

    def _lost(self, reason: str) -> None:
        """The connection is gone: fail every pending action, tell the consumer once."""
        if self._protocol is None:
            return
        self._protocol = None
        self._lost_reason = reason
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(AmiDisconnected(reason))
        if self.logged_in and not self._stopping:
            self._flush()
            self._sink([Disconnected(reason)])
        self.logged_in = False
        self._lost_event.set()

    # --- actions ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while logged in: the connection-health signal."""
        return self.logged_in and self._protocol is not None

    def next_action_id(self) -> str:
        """A fresh ActionID, e.g. to mark a resync before its answer arrives."""
        return next(self._ids)

    async def action(
        self,
        name: str,
        fields: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        timeout: float | None = None,
        action_id: str | None = None,
    ) -> ActionResult:
        """Send an action and wait for its complete answer.

        List actions (``EventList: start``) complete at their ``…Complete``
        event; their items travel to the sink like any event, in order.
        Raises :class:`AmiActionFailed`, :class:`AmiActionTimeout` or
        :class:`AmiDisconnected`; an action is never sent twice.
        """
        protocol = self._protocol
        if protocol is None:
            raise AmiDisconnected("not connected")
        aid = action_id or self.next_action_id()
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self._pending[aid] = _Pending(future)
        protocol.transport.write(encode([("Action", name), ("ActionID", aid), *pairs]))
        try:
            async with asyncio.timeout(timeout or self.action_timeout_s):
                return await future
        except TimeoutError:
            raise AmiActionTimeout(
                f"{name}: no complete answer within {timeout or self.action_timeout_s:g} s"
            ) from None
        finally:
            self._pending.pop(aid, None)

    # --- input -----------------------------------------------------------------

    def _received(self, item: Message | ParseError, banner: str | None) -> None:
        if isinstance(item, ParseError):
            self._malformed(f"parse: {item.reason}")
            return
        kind = item.kind
        orphan, self._orphan = self._orphan, None
        if kind == "event":
            # Nearly everything: no action waiting, and the event goes straight on.
            if self._pending and self._list_item(item):
                return
            event = to_event(item)
            if event is not None:
                if isinstance(event, Malformed):
                    self._malformed(f"{event.name}: {event.reason}")
                else:
                    self._batch.append(event)
            if item.headers[0][1] == "Shutdown":
                # Asterisk is going away; the socket closes next. Fail fast.
                self._close_transport()
            return
        if kind == "response":
            if item.action_id is None:
                # Seen in captures: "Response: Success" alone, then a block with
                # the ActionID and the rest (Ping). Keep it for the next block.
                self._orphan = item
                return
            self._response(item)
            return
        if kind == "unknown" and orphan is not None:
            self._response(Message(orphan.headers + item.headers))

    def _list_item(self, item: Message) -> bool:
        """Count an item of a list action's answer; True if it completed the list."""
        aid = item.action_id
        pending = self._pending.get(aid) if aid is not None else None
        if pending is None or not pending.is_list:
            return False
        if (item.get("EventList") or "").lower() != "complete":
            pending.items += 1
            return False
        self._deliver(item)
        if not pending.future.done():
            assert pending.response is not None
            count = item.get("ListItems")
            items = int(count) if count and count.isdigit() else pending.items
            pending.future.set_result(ActionResult(pending.response, items))
        return True

    def _deliver(self, item: Message) -> None:
        event = to_event(item)
        if event is None:
            return
        if isinstance(event, Malformed):
            self._malformed(f"{event.name}: {event.reason}")
            return
        self._batch.append(event)

    def _flush(self) -> None:
        """Hand the events of the read just parsed to the sink (once logged in:
        what arrives with the Login response waits for the Connected marker)."""
        if self._batch and self.logged_in:
            batch, self._batch = self._batch, []
            self._sink(batch)

    def _response(self, msg: Message) -> None:
        aid = msg.action_id
        pending = self._pending.get(aid) if aid is not None else None
        if pending is None or pending.future.done():
            return
        status = (msg.get("Response") or "").lower()
        if status in ("success", "goodbye", "follows"):
            if (msg.get("EventList") or "").lower() == "start":
                pending.is_list = True
                pending.response = msg
                return
            pending.future.set_result(ActionResult(msg))
        else:
            pending.future.set_exception(AmiActionFailed(msg.get("Message") or status))

    def _malformed(self, what: str) -> None:
        log.warning("ami.malformed", what=what)
        if self._on_malformed is not None:
            self._on_malformed(what)
