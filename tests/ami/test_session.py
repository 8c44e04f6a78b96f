"""The AMI session against a scripted AMI peer on loopback: login, actions, loss, reconnect."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Callable

import pytest
import structlog.testing

from ami.codec import Message, encode
from ami.events import FullyBooted, QueueCallerJoin
from ami.session import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiDisconnected,
    AmiSession,
    Connected,
    Disconnected,
)
from tests.ami.peer import PEER_SECRET as SECRET
from tests.ami.peer import FlappingPeer, Peer


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


async def test_fully_booted_sent_with_the_login_answer_follows_connected(peer: Peer) -> None:
    # Asterisk 22.10.1 sends FullyBooted right behind the Login response
    # (capture ami-answered.txt); in one write here, so both arrive in one read.
    async def login(msg: Message, writer: asyncio.StreamWriter) -> None:
        writer.write(
            encode([("Response", "Success"), ("ActionID", msg.action_id or "")])
            + encode(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", "22"),
                    ("LastReload", "22"),
                    ("Status", "Fully Booted"),
                ]
            )
        )
        await writer.drain()

    peer.on_action["Login"] = login
    sink: list[object] = []
    session = session_for(peer.port, sink)
    session.start()
    await wait_for(lambda: any(isinstance(e, FullyBooted) for e in sink))
    assert [type(e) for e in sink] == [Connected, FullyBooted]
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


class MaxJitter(random.Random):
    """Jitter at its ceiling, so each requested delay names its backoff attempt."""

    def uniform(self, a: float, b: float) -> float:
        return b


def attempt_of(delay: float, low: float, high: float) -> int:
    """The backoff attempt whose (max-jitter) delay is ``delay``."""
    attempt = 0
    while low + min(high, low * 2**attempt) < delay - 1e-9:
        attempt += 1
    return attempt


async def test_backoff_starts_over_after_every_login_that_held() -> None:
    # The probe's peer: login accepted, connection dropped 0.3 s later, 8 times.
    # Before the fix the attempts ran 0…7 (waits up to 20 s) although every
    # login succeeded.
    peer = FlappingPeer(hold_s=0.3, flaps=8)
    await peer.start()
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)  # the delay asked for; no wall time spent on it

    sink: list[object] = []
    session = AmiSession(
        "127.0.0.1",
        peer.port,
        "lotse",
        SECRET,
        sink=sink.extend,
        rng=MaxJitter(),
        backoff_min_s=0.2,
        backoff_max_s=30.0,
        action_timeout_s=1.0,
        sleep=fake_sleep,
    )
    session.start()
    try:
        await wait_for(lambda: peer.logins == 9 and session.connected, timeout=15)
    finally:
        await session.stop()
        await peer.close()
    assert peer.dropped == 8
    assert [attempt_of(d, 0.2, 30.0) for d in delays] == [0] * 8
    assert delays == [0.4] * 8
    markers = [type(e).__name__ for e in sink if isinstance(e, Connected | Disconnected)]
    assert markers == ["Connected", "Disconnected"] * 8 + ["Connected"]


async def test_backoff_grows_while_no_login_succeeds() -> None:
    # The other half of the rule: refused logins and refused connects back off.
    peer = Peer()
    await peer.start()
    peer.refuse_login = True
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    session = AmiSession(
        "127.0.0.1",
        peer.port,
        "lotse",
        SECRET,
        sink=lambda _batch: None,
        rng=MaxJitter(),
        backoff_min_s=0.2,
        backoff_max_s=1.0,
        action_timeout_s=1.0,
        sleep=fake_sleep,
    )
    session.start()
    try:
        await wait_for(lambda: len(delays) >= 5)
    finally:
        await session.stop()
        await peer.close()
    # 0.2 + min(1.0, 0.2 * 2**n): 0.4, 0.6, 1.0, then the ceiling 1.2 (a limit example).
    assert [round(d, 6) for d in delays[:5]] == [0.4, 0.6, 1.0, 1.2, 1.2]


async def test_a_refused_login_is_reported_and_logged_once_a_minute(peer: Peer) -> None:
    peer.refuse_login = True
    now = [1000.0]
    refused: list[str] = []
    session = session_for(peer.port, [], on_login_refused=refused.append, clock=lambda: now[0])
    with structlog.testing.capture_logs() as logs:
        session.start()
        await wait_for(lambda: len(refused) >= 3)
        now[0] += 59.999
        await wait_for(lambda: len(refused) >= 5)
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["ami.login_refused"]
        # A minute after the last error line, exactly (the limit), the next one is logged.
        now[0] += 0.001
        await wait_for(lambda: sum(e["log_level"] == "error" for e in logs) == 2)
        await session.stop()
    assert set(refused) == {"Authentication failed"}
    assert not session.ever_logged_in and session.login_refusals >= 6
    errors = [e for e in logs if e["log_level"] == "error"]
    assert errors[0]["user"] == "lotse" and errors[0]["port"] == peer.port
    assert SECRET not in repr(logs)
    # Refusals are not also logged as a warning per attempt.
    assert not any(e["event"] == "ami.reconnect" for e in logs)


async def test_a_network_failure_is_no_refused_login() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))  # bound, never listening: every connect is refused
    refused: list[str] = []
    session = session_for(probe.getsockname()[1], [], on_login_refused=refused.append)
    with structlog.testing.capture_logs() as logs:
        session.start()
        await wait_for(lambda: sum(e["event"] == "ami.reconnect" for e in logs) >= 3)
        await session.stop()
    probe.close()
    assert refused == [] and session.login_refusals == 0
    assert not any(e["log_level"] == "error" for e in logs)
