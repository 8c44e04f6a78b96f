"""res_agi's FastAGI side: what ``AGI(agi://host:port/script,args…)`` does on the wire.

Asterisk 22 (``res/res_agi.c``) connects (giving up after 2 s), sends
``agi_network: yes``, ``agi_network_script: SCRIPT`` and the environment,
one ``agi_key: value`` per line ended by a bare LF, the arguments as
``agi_arg_1`` …, and an empty line; then it reads commands line by line and
answers each (``200 result=1`` for SET VARIABLE). There is no AGI timeout: a
server that accepts and never answers keeps the channel in AGI() until the
socket closes, even after the caller hung up (then Asterisk writes
``HANGUP`` to the socket and keeps waiting). How the session ends sets
``AGISTATUS``: connection refused → ``FAILURE`` at once; the server closes →
``SUCCESS``; a line starting with ``failure`` → ``FAILURE``; the caller hung
up meanwhile → ``HANGUP`` (and AGI() ends the dialplan).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from standin.channels import Channel
from standin.emit import Emitter

AGI_PORT = 4573
MAX_AGI_CONNECT_S = 2.0
ASTERISK_VERSION = "22.10.1"
_MAX_LINE = 8192


class AgiStatus(StrEnum):
    """Values of the AGISTATUS channel variable."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    NOTFOUND = "NOTFOUND"
    HANGUP = "HANGUP"


@dataclass(frozen=True)
class AgiUrl:
    """A parsed ``agi://host[:port][/script]``."""

    host: str
    port: int
    script: str
    raw: str

    @classmethod
    def parse(cls, url: str) -> AgiUrl:
        """Parse an AGI URL; raises ValueError for anything else."""
        if not url.startswith("agi://"):
            raise ValueError("FastAGI URLs start with agi://")
        rest = url[len("agi://") :]
        hostport, _, script = rest.partition("/")
        host, sep, port = hostport.rpartition(":")
        if not sep:
            host, port = hostport, str(AGI_PORT)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("FastAGI URL needs host[:port]")
        return cls(host.strip("[]"), int(port), script, url)


def parse_args(line: str) -> list[str]:
    """Split an AGI command like res_agi's ``parse_args``: blanks, "quotes", backslash escapes."""
    args: list[str] = []
    cur: list[str] = []
    in_quotes = escaped = started = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
            started = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            in_quotes = not in_quotes
            started = True
        elif ch in " \t" and not in_quotes:
            if started:
                args.append("".join(cur))
                cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started:
        args.append("".join(cur))
    return args


def environment(
    url: AgiUrl, ch: Channel, args: Sequence[str], *, dnid: str, thread_id: int
) -> bytes:
    """The lines res_agi sends after connecting, exactly in its order."""
    lines = ["agi_network: yes"]
    if url.script:
        lines.append(f"agi_network_script: {url.script}")
    lines += [
        f"agi_request: {url.raw}",
        f"agi_channel: {ch.name}",
        f"agi_language: {ch.language}",
        f"agi_type: {ch.tech}",
        f"agi_uniqueid: {ch.uniqueid}",
        f"agi_version: {ASTERISK_VERSION}",
        f"agi_callerid: {ch.caller_num or 'unknown'}",
        f"agi_calleridname: {ch.caller_name or 'unknown'}",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        f"agi_dnid: {dnid or 'unknown'}",
        "agi_rdnis: unknown",
        f"agi_context: {ch.context}",
        f"agi_extension: {ch.exten}",
        f"agi_priority: {ch.priority}",
        "agi_enhanced: 0.0",
        f"agi_accountcode: {ch.accountcode}",
        f"agi_threadid: {thread_id}",
    ]
    lines += [f"agi_arg_{i}: {a}" for i, a in enumerate(args, start=1)]
    return ("\n".join(lines) + "\n\n").encode("utf-8", errors="replace")


class FastAgiClient:
    """Runs one AGI() application call against a FastAGI server."""

    def __init__(self, emitter: Emitter, rng: random.Random) -> None:
        self._em = emitter
        self._rng = rng

    async def run(
        self, url: str, ch: Channel, args: Sequence[str], hangup: asyncio.Event, *, dnid: str
    ) -> AgiStatus:
        """Connect, send the environment, serve commands; returns AGISTATUS (also set on ``ch``)."""
        status = await self._session(url, ch, args, hangup, dnid)
        self._em.varset(ch, "AGISTATUS", status.value)
        return status

    async def _session(
        self, url_text: str, ch: Channel, args: Sequence[str], hangup: asyncio.Event, dnid: str
    ) -> AgiStatus:
        try:
            url = AgiUrl.parse(url_text)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(url.host, url.port, limit=_MAX_LINE),
                MAX_AGI_CONNECT_S,
            )
        except (OSError, ValueError, TimeoutError):
            return AgiStatus.FAILURE
        status = AgiStatus.SUCCESS
        dead = False
        try:
            writer.write(
                environment(
                    url, ch, args, dnid=dnid, thread_id=self._rng.randrange(1 << 46, 1 << 47)
                )
            )
            await writer.drain()
            while True:
                line = await self._next_line(reader, hangup, dead)
                if line is None:  # the caller hung up: tell the server, keep waiting
                    dead = True
                    status = AgiStatus.HANGUP
                    with contextlib.suppress(OSError):
                        writer.write(b"HANGUP\n")
                        await writer.drain()
                    continue
                if not line:
                    break
                text = line.decode("utf-8", errors="replace").rstrip("\r\n")
                if text[:7].lower() == "failure":
                    status = AgiStatus.FAILURE
                    break
                reply = self._command(ch, text, dead)
                with contextlib.suppress(OSError):
                    writer.write(reply)
                    await writer.drain()
        except (OSError, asyncio.LimitOverrunError, ValueError):
            if status is AgiStatus.SUCCESS:
                status = AgiStatus.FAILURE
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return status

    @staticmethod
    async def _next_line(
        reader: asyncio.StreamReader, hangup: asyncio.Event, dead: bool
    ) -> bytes | None:
        """The next line from the server; None when the caller hung up first."""
        if dead or hangup.is_set():
            if not dead:
                return None
            return await reader.readline()
        read = asyncio.ensure_future(reader.readline())
        hang = asyncio.ensure_future(hangup.wait())
        try:
            done, _ = await asyncio.wait({read, hang}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hang.cancel()
        if read in done:
            return read.result()
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read
        return None

    def _command(self, ch: Channel, text: str, dead: bool) -> bytes:
        """``agi_handle_command``: AGIExecStart, run, reply, AGIExecEnd."""
        command_id = self._rng.randrange(0, 1 << 31)
        self._em.agi_exec_start(ch, command_id, text)
        argv = parse_args(text)
        words = [a.upper() for a in argv[:2]]
        code, result, reply = 510, "Invalid or unknown command", "510 Invalid or unknown command\n"
        if words == ["SET", "VARIABLE"]:
            if len(argv) != 4:
                code, result = 520, "Usage"
                reply = "520 Invalid command syntax.  Proper usage not available.\n"
            else:
                self._em.varset(ch, argv[2], argv[3])
                code, result, reply = 200, "Success", "200 result=1\n"
        elif words == ["GET", "VARIABLE"] and len(argv) == 3:
            value = ch.get_var(argv[2])
            reply = "200 result=0\n" if value is None else f"200 result=1 ({value})\n"
            code, result = 200, "Success"
        elif argv[:1] and argv[0].upper() in ("NOOP", "VERBOSE"):
            code, result, reply = 200, "Success", "200 result=0\n"
        elif argv[:1] and argv[0].upper() in ("ANSWER", "HANGUP") and dead:
            code, result = 511, "Command Not Permitted on a dead channel or intercept routine"
            reply = f"511 {result}\n"
        elif argv[:1] and argv[0].upper() in ("ANSWER", "HANGUP"):
            code, result, reply = 200, "Success", "200 result=0\n"
        self._em.agi_exec_end(ch, command_id, text, code, result)
        return reply.encode("utf-8", errors="replace")
