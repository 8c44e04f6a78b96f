"""Scripted AMI peers on loopback for session and controller tests."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

from ami.codec import AmiParser, Message, encode

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
PEER_SECRET = "s3cret"


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
            expected = hashlib.md5(b"123456" + PEER_SECRET.encode()).hexdigest()
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


class FlappingPeer(Peer):
    """Accepts every login and drops the connection ``hold_s`` later, ``flaps`` times."""

    def __init__(self, hold_s: float, flaps: int) -> None:
        super().__init__()
        self.hold_s = hold_s
        self.flaps = flaps
        self.logins = 0
        self.dropped = 0

    async def _answer(self, msg: Message, writer: asyncio.StreamWriter) -> None:
        await super()._answer(msg, writer)
        if msg.name == "Login":
            self.logins += 1
            if self.logins <= self.flaps:
                asyncio.get_running_loop().call_later(self.hold_s, self._drop, writer)

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self.dropped += 1
        writer.close()
