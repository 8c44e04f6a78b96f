"""The AMI session against a scripted AMI peer on loopback: login, actions, loss, reconnect."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ami.codec import AmiParser, Message, encode
from ami.events import QueueCallerJoin
from ami.session import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiDisconnected,
    AmiSession,
    Connected,
    Disconnected,
)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SECRET = "s3cret"


class Peer:
    """A minimal AMI server: MD5 challenge, login, scripted replies per action."""

    def __init__(self) -> None:
        self.actions: list[Message] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.on_action: dict[str, Callable[[Message, asyncio.StreamWriter], Awaitable[None]]] = {}
        self.refuse_login = False
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(BANNER)
        parser = AmiParser()
        try:
            while data := await reader.read(4096):
                for msg in parser.feed(data):
                    if isinstance(msg, Message):
                        self.actions.append(msg)
                        await self._answer(msg, writer)
        except ConnectionError:
            pass

    async def _answer(self, msg: Message, writer: asyncio.StreamWriter) -> None:
        aid = msg.action_id or ""
        name = msg.name or ""
        if name in self.on_action:
            await self.on_action[name](msg, writer)
        elif name == "Challenge":
            writer.write(
                encode([("Response", "Success"), ("ActionID", aid), ("Challenge", "123456")])
            )
        elif name == "Login":
            expected = hashlib.md5(b"123456" + SECRET.encode()).hexdigest()
            if self.refuse_login or msg.get("Key") != expected:
                writer.write(
                    encode(
                        [
                            ("Response", "Error"),
                            ("ActionID", aid),
                            ("Message", "Authentication failed"),
                        ]
                    )
                )
                await writer.drain()
                writer.close()
                return
            writer.write(
                encode(
                    [
                        ("Response", "Success"),
                        ("ActionID", aid),
                        ("Message", "Authentication accepted"),
                    ]
                )
            )
        elif name == "Ping":
            writer.write(encode([("Response", "Success"), ("ActionID", aid), ("Ping", "Pong")]))
        else:
            writer.write(
                encode(
                    [
                        ("Response", "Error"),
                        ("ActionID", aid),
                        ("Message", "Invalid/unknown command"),
                    ]
                )
            )
        await writer.drain()

    def drop_all(self) -> None:
        for w in self.writers:
            w.close()
        self.writers.clear()

    async def close(self) -> None:
        self.drop_all()
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    await p.start()
    yield p
    await p.close()


def session_for(port: int, sink: list[object], **kw: object) -> AmiSession:
    return AmiSession(
        "127.0.0.1",
        port,
        "lotse",
        SECRET,
        sink=sink.extend,
        rng=random.Random(1),
        backoff_min_s=0.01,
        backoff_max_s=0.05,
        action_timeout_s=1.0,
        **kw,  # type: ignore[arg-type]
    )


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_md5_login_never_sends_the_secret(peer: Peer) -> None:
    sink: list[object] = []
    port = peer.port
    session = session_for(port, sink)
    session.start()
    await wait_for(lambda: session.connected)
    assert isinstance(sink[0], Connected) and sink[0].banner.startswith("Asterisk Call Manager")
    login = next(a for a in peer.actions if a.name == "Login")
    assert login.get("AuthType") == "MD5" and login.get("Secret") is None
    assert all(SECRET not in v for a in peer.actions for _, v in a.headers)
    await session.stop()


async def test_error_response_and_timeout_are_their_own_errors(peer: Peer) -> None:
    async def never(_msg: Message, _w: asyncio.StreamWriter) -> None:
        return None

    peer.on_action["QueueAdd"] = never
    sink: list[object] = []
    session = session_for(peer.port, sink)
    session.start()
    await wait_for(lambda: session.connected)
    with pytest.raises(AmiActionFailed, match="Invalid/unknown command"):
        await session.action("NoSuchAction")
    with pytest.raises(AmiActionTimeout):
        await session.action("QueueAdd", {"Queue": "115-bremen"}, timeout=0.2)
    await session.stop()


async def test_action_in_flight_fails_on_disconnect_and_is_not_resent(peer: Peer) -> None:
    async def drop(_msg: Message, writer: asyncio.StreamWriter) -> None:
        writer.close()

    peer.on_action["Redirect"] = drop
    sink: list[object] = []
    session = session_for(peer.port, sink)
    session.start()
    await wait_for(lambda: session.connected)
    with pytest.raises(AmiDisconnected):
        await session.action("Redirect", {"Channel": "PJSIP/x", "Context": "c"})
    await wait_for(lambda: sum(isinstance(e, Connected) for e in sink) == 2)
    assert any(isinstance(e, Disconnected) for e in sink)
    await asyncio.sleep(0.1)
    assert sum(a.name == "Redirect" for a in peer.actions) == 1
    await session.stop()


async def test_events_arrive_typed_and_in_order_with_split_utf8(peer: Peer) -> None:
    async def burst(msg: Message, writer: asyncio.StreamWriter) -> None:
        writer.write(encode([("Response", "Success"), ("ActionID", msg.action_id or "")]))
        data = b"".join(
            encode(
                [
                    ("Event", "QueueCallerJoin"),
                    ("Privilege", "agent,all"),
                    ("Channel", f"PJSIP/müller-{n}"),
                    ("ChannelState", "6"),
                    ("ChannelStateDesc", "Up"),
                    ("CallerIDNum", "034911234567"),
                    ("CallerIDName", "Jürgen Müller"),
                    ("ConnectedLineNum", "<unknown>"),
                    ("ConnectedLineName", "<unknown>"),
                    ("Language", "de"),
                    ("AccountCode", ""),
                    ("Context", "lotse-115"),
                    ("Exten", "115"),
                    ("Priority", "8"),
                    ("Uniqueid", f"1.{n}"),
                    ("Linkedid", f"1.{n}"),
                    ("Queue", "115-bremen"),
                    ("Position", str(n)),
                    ("Count", str(n)),
                ]
            )
            for n in range(1, 4)
        ) + encode([("Event", "QueueCallerJoin"), ("Queue", "115-bremen")])  # malformed
        # Byte by byte: every multi-byte character is split across writes.
        for i in range(len(data)):
            writer.write(data[i : i + 1])
        await writer.drain()

    peer.on_action["Trigger"] = burst
    sink: list[object] = []
    malformed: list[str] = []
    session = session_for(
        peer.port,
        sink,
        on_malformed=malformed.append,
    )
    session.start()
    await wait_for(lambda: session.connected)
    await session.action("Trigger")
    await wait_for(lambda: len([e for e in sink if isinstance(e, QueueCallerJoin)]) == 3)
    await wait_for(lambda: len(malformed) == 1)
    joins = [e for e in sink if isinstance(e, QueueCallerJoin)]
    assert [j.position for j in joins] == [1, 2, 3]
    assert [j.channel for j in joins] == [f"PJSIP/müller-{n}" for n in (1, 2, 3)]
    await session.stop()


async def test_refused_login_retries_with_backoff(peer: Peer) -> None:
    peer.refuse_login = True
    sink: list[object] = []
    session = session_for(peer.port, sink)
    session.start()
    await wait_for(lambda: sum(a.name == "Login" for a in peer.actions) >= 3)
    assert not session.connected and sink == []
    peer.refuse_login = False
    await wait_for(lambda: session.connected)
    await session.stop()


async def test_ping_timeout_forces_reconnect(peer: Peer) -> None:
    async def silent(_msg: Message, _w: asyncio.StreamWriter) -> None:
        return None

    sink: list[object] = []
    session = session_for(
        peer.port,
        sink,
        ping_interval_s=0.05,
    )
    session.action_timeout_s = 0.2
    session.start()
    await wait_for(lambda: session.connected)
    peer.on_action["Ping"] = silent
    await wait_for(lambda: any(isinstance(e, Disconnected) for e in sink))
    del peer.on_action["Ping"]
    await wait_for(lambda: sum(isinstance(e, Connected) for e in sink) >= 2)
    await session.stop()


async def test_a_read_s_events_reach_the_sink_together_in_order_before_the_loss(
    peer: Peer,
) -> None:
    async def burst_then_shutdown(msg: Message, writer: asyncio.StreamWriter) -> None:
        joins = [
            encode(
                [
                    ("Event", "QueueCallerJoin"),
                    ("Privilege", "agent,all"),
                    ("Channel", f"PJSIP/carrier-{n:08x}"),
                    ("Uniqueid", f"1700000000.{n}"),
                    ("Linkedid", f"1700000000.{n}"),
                    ("Queue", "q-bremen"),
                    ("Position", str(n)),
                    ("Count", str(n)),
                ]
            )
            for n in range(1, 4)
        ]
        shutdown = encode([("Event", "Shutdown"), ("Privilege", "system,all")])
        # One write: the session reads the four blocks at once.
        writer.write(b"".join(joins) + shutdown)

    peer.on_action["Trigger"] = burst_then_shutdown
    batches: list[list[object]] = []
    session = AmiSession(
        "127.0.0.1",
        peer.port,
        "lotse",
        SECRET,
        sink=batches.append,
        rng=random.Random(1),
        backoff_min_s=5,
        backoff_max_s=5,
        action_timeout_s=1.0,
    )
    session.start()
    try:
        await wait_for(lambda: session.connected)
        with pytest.raises(AmiDisconnected):
            await session.action("Trigger")
        await wait_for(lambda: any(isinstance(b[0], Disconnected) for b in batches))
    finally:
        await session.stop()
    joins = next(b for b in batches if b and isinstance(b[0], QueueCallerJoin))
    assert [e.position for e in joins if isinstance(e, QueueCallerJoin)] == [1, 2, 3]
    # The loss comes after the events that arrived before it, never in between.
    assert batches.index(joins) < next(
        i for i, b in enumerate(batches) if isinstance(b[0], Disconnected)
    )
    assert all(isinstance(b, list) and b for b in batches)
