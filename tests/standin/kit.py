"""Helpers for the stand-in tests: a raw AMI client, a tiny FastAGI server, transcript views.

No timed assertions anywhere: every wait is bounded by ``WAIT`` so that a
hang fails a test while a slow machine cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ami.codec import AmiParser, Message
from ami.transcript import received_bytes, turns
from router.config import Config
from router.configload import load_config_text

WAIT = 10.0
# The stand-in runs the generated dialplan, whose static fallback checks opening
# hours: the tests' calls happen on a Monday morning unless they say otherwise.
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()

CONFIG_YAML = """
timezone: Europe/Berlin
fallback_center: wittenberg
controller:
  ami: 127.0.0.1:5038
  ami_username: ctl
  ami_secret_env: LOTSE_AMI_SECRET
  agi_listen: 127.0.0.1:4573
centers:
  bremen:
    name: Bremen
    state: HB
    queue: 115-bremen
    greeting: lotse/greeting-bremen
    offhours_announcement: lotse/offhours-bremen
    hours: {mon-fri: "08:00-18:00"}
    ortsnetze: ["0421"]
    postal_codes: ["28195-28779"]
  wittenberg:
    name: Wittenberg
    state: ST
    queue: 115-wittenberg
    greeting: lotse/greeting-wittenberg
    offhours_announcement: lotse/offhours-wittenberg
    hours: {mon-fri: "08:00-18:00"}
    ortsnetze: ["03491"]
    postal_codes: ["06886-06925"]
"""


def small_config() -> Config:
    """Two centers whose queues are the transcripts' 115-bremen and 115-wittenberg."""
    return load_config_text(CONFIG_YAML, "<test>")


class AmiClient:
    """A raw AMI client over TCP that keeps every message it received, in order."""

    def __init__(self) -> None:
        self.parser = AmiParser()
        self.messages: list[Message] = []
        self.raw = bytearray()
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, address: tuple[str, int]) -> None:
        """Connect and start reading."""
        self._reader, self._writer = await asyncio.open_connection(*address)
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                self.raw += data
                for item in self.parser.feed(data):
                    if isinstance(item, Message):
                        self.messages.append(item)
                self._changed.set()
        except ConnectionError:
            pass
        finally:
            if self._writer is not None:
                self._writer.close()
            self.closed.set()
            self._changed.set()

    def send(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Write one action block."""
        assert self._writer is not None
        body = "".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n"
        self._writer.write(body.encode())

    async def wait_for(self, predicate: Callable[[list[Message]], bool]) -> None:
        """Wait until ``predicate(messages)`` holds (or the connection closed)."""
        async with asyncio.timeout(WAIT):
            while not predicate(self.messages):
                if self.closed.is_set():
                    raise ConnectionError("AMI connection closed")
                self._changed.clear()
                await self._changed.wait()

    async def action(
        self, pairs: Sequence[tuple[str, str]], *, until: str | None = None
    ) -> list[Message]:
        """Send an action and return every message from then until its answer is complete.

        The answer is complete at the first message with its ActionID that is
        a Response (or the ``until`` event, for list actions); for a response
        cut in two (Ping, Getvar) also the part with the rest.
        """
        action_id = dict(pairs)["ActionID"]
        start = len(self.messages)
        self.send(pairs)

        def done(msgs: list[Message]) -> bool:
            for m in msgs[start:]:
                if m.action_id != action_id:
                    continue
                if until is None and (m.kind == "response" or m.kind == "unknown"):
                    return True
                if until is not None and m.name == until:
                    return True
            return False

        await self.wait_for(done)
        return self.messages[start:]

    async def close(self) -> None:
        """Close the connection."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, WAIT)


async def login(
    address: tuple[str, int], user: str = "ctl", secret: str = "ctlsecret"
) -> AmiClient:
    """A logged-in raw client."""
    client = AmiClient()
    await client.connect(address)
    reply = await client.action(
        [("Action", "Login"), ("Username", user), ("Secret", secret), ("ActionID", "login-1")]
    )
    assert any(m.get("Response") == "Success" for m in reply)
    return client


@dataclass
class AgiScript:
    """What the test FastAGI server answers: SET VARIABLE commands, then close."""

    variables: list[tuple[str, str]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)
    env_lines: list[list[str]] = field(default_factory=list)
    replies: list[list[str]] = field(default_factory=list)
    hold: bool = False  # accept and never answer (until the test releases it)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    received_after_env: list[str] = field(default_factory=list)
    per_call: Callable[[dict[str, str]], list[tuple[str, str]]] | None = None


async def fastagi_server(script: AgiScript) -> tuple[asyncio.Server, int]:
    """A FastAGI server on 127.0.0.1 following ``script``; returns (server, port)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines: list[str] = []
        while True:
            line = await reader.readline()
            if line in (b"\n", b""):
                break
            lines.append(line.decode().rstrip("\n"))
        env: dict[str, str] = {}
        for text in lines:
            key, _, value = text.partition(":")
            env[key] = value.removeprefix(" ")
        script.env_lines.append(lines)
        script.envs.append(env)
        if script.hold:
            waiter = asyncio.ensure_future(script.released.wait())
            reading = asyncio.ensure_future(reader.readline())
            done, _ = await asyncio.wait({waiter, reading}, return_when=asyncio.FIRST_COMPLETED)
            if reading in done:
                script.received_after_env.append(reading.result().decode())
                await script.released.wait()
            else:
                reading.cancel()
            waiter.cancel()
            writer.close()
            return
        variables = script.per_call(env) if script.per_call else script.variables
        got: list[str] = []
        for name, value in variables:
            writer.write(f'SET VARIABLE {name} "{value}"\n'.encode())
            await writer.drain()
            got.append((await reader.readline()).decode().rstrip("\n"))
        script.replies.append(got)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


# -- transcript views -----------------------------------------------------------

RELEVANT = frozenset(
    {
        "Newchannel",
        "Newstate",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentRingNoAnswer",
        "DialBegin",
        "DialEnd",
        "QueueMemberStatus",
        "BridgeEnter",
        "BridgeLeave",
        "Hangup",
        "AGIExecStart",
        "AGIExecEnd",
    }
)
STATUS_VARS = frozenset({"AGISTATUS", "QUEUESTATUS", "ABANDONED"})


def role(channel: str) -> str:
    """A channel's part in a call: caller, member;1, member;2."""
    if channel.startswith("PJSIP/"):
        return "caller"
    if channel.startswith("Local/") and ";" in channel:
        return "member;" + channel.rsplit(";", 1)[1]
    return channel


def call_events(messages: Iterable[Message]) -> list[tuple[str, str]]:
    """The lotse-relevant events of a call as (event, role of its channel) pairs."""
    out: list[tuple[str, str]] = []
    for m in messages:
        if m.kind != "event":
            continue
        name = m.name or ""
        if name == "VarSet" and (m.get("Variable") or "") in STATUS_VARS:
            if not m.get("Value"):
                # The generated dialplan clears QUEUESTATUS before each Queue();
                # the captures' hand-written dialplan did not: not a status.
                continue
            label = f"VarSet {m.get('Variable')}={m.get('Value')}"
            out.append((label, role(m.get("Channel") or "")))
        elif name in RELEVANT:
            who = m.get("Channel") or m.get("Interface") or ""
            out.append((name, role(who) if m.get("Channel") else "member"))
    return out


def parse_stream(data: bytes) -> list[Message]:
    """Every message in a byte stream."""
    return [m for m in AmiParser().feed(data) if isinstance(m, Message)]


def transcript_messages(path: Path) -> list[Message]:
    """Every message Asterisk sent in a capture."""
    return parse_stream(received_bytes(path))


def transcript_exchanges(path: Path) -> list[tuple[Message, list[Message]]]:
    """(action, what Asterisk sent until the next action) for each action in a capture."""
    out: list[tuple[Message, list[Message]]] = []
    parser = AmiParser()
    pending: Message | None = None
    for turn in turns(path):
        if turn.direction == "sent":
            for m in AmiParser().feed(turn.data):
                if isinstance(m, Message):
                    pending = m
                    out.append((m, []))
        else:
            got = [m for m in parser.feed(turn.data) if isinstance(m, Message)]
            if pending is not None and out:
                out[-1][1].extend(got)
    return out


def resp(msgs: Iterable[Message]) -> Message:
    """The Response block among the messages an action brought."""
    return next(m for m in msgs if m.kind == "response")


def header_names(m: Message, *, drop: frozenset[str] = frozenset({"ChanVariable"})) -> list[str]:
    """The header names of a message in order (ChanVariable lines left out)."""
    return [k for k, _ in m.headers if k not in drop and not k.endswith("ChanVariable")]
