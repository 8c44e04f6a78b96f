"""The control socket: a Unix domain socket, never a TCP port.

Access is the file's: the socket is created with mode 0660 (or stricter; never
world-accessible), so only the controller's user and group can connect, which
the kernel enforces. Every connection's peer credentials come from
``SO_PEERCRED`` and the uid is recorded with every change; an ``authorize``
hook may refuse peers on top. A request longer than
:data:`~lotse.control.protocol.MAX_REQUEST_BYTES`, nested too deep, or not a
JSON object gets an error answer; neither, nor a slow or vanished client,
touches routing: the server only awaits its own connections.

The socket is there for a supervisor in an emergency, so nobody can hold it
shut: a connection silent for :data:`IDLE_TIMEOUT_S` is closed, and the slots
are counted per peer uid, root and the controller's own user always getting
one (:mod:`lotse.control.slots`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from lotse.control.protocol import (
    BUSY,
    FAILED,
    FORBIDDEN,
    MAX_REQUEST_BYTES,
    TOO_LARGE,
    Answer,
    Peer,
    RequestError,
    encode_answer,
    encode_error,
    parse_request,
)
from lotse.control.slots import Slots

log = structlog.get_logger("lotse.control")

Handler = Callable[[dict[str, Any], Peer], Awaitable[Answer]]

DEFAULT_MODE = 0o660
# `lotse ctl` sends its request as soon as it is connected and reads the
# answer at once; a few seconds of silence is a holder, not a client.
IDLE_TIMEOUT_S = 5.0
# sun_path holds 108 bytes including the terminating NUL.
MAX_PATH_BYTES = 107
_PEERCRED = struct.Struct("3i")


class ControlSocketError(OSError):
    """The control socket cannot be created; the message says why."""


def peer_of(sock: socket.socket) -> Peer:
    """The connected peer's pid, uid and gid (Linux ``SO_PEERCRED``)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return Peer(pid, uid, gid)


def bind_control_socket(path: str, mode: int = DEFAULT_MODE) -> socket.socket:
    """A listening Unix socket at ``path`` with file mode ``mode``.

    The socket file never exists with a looser mode, not even for a moment
    (the umask is tightened around ``bind``). A stale socket left by a dead
    controller is replaced; a live one, or any other file, is not.
    """
    if mode & 0o007 or mode & ~0o777:
        raise ControlSocketError(f"{path}: control socket mode {mode:o} is world-accessible")
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise ControlSocketError(f"{path}: longer than a Unix socket path may be (107 bytes)")
    target = Path(path)
    if not target.parent.is_dir():
        target.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    _remove_stale(target)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = os.umask(0o777 & ~mode)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, mode)
        sock.listen(16)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        raise ControlSocketError(f"{path}: cannot create the control socket: {err}") from err
    return sock


def check_control_socket(path: str) -> None:
    """Raise :class:`ControlSocketError` now if :func:`bind_control_socket` would refuse ``path``.

    For ``lotse run`` to fail before it opens anything (another controller
    on the socket, a file in its place); the bind itself checks again.
    """
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise ControlSocketError(f"{path}: longer than a Unix socket path may be (107 bytes)")
    target = Path(path)
    if target.parent.is_dir():  # else the bind makes it, or says why not
        _is_stale(target)


def _is_stale(target: Path) -> bool:
    """True for a socket no controller listens on; raises if ``target`` must be kept."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlSocketError(f"{target}: exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(target))
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    finally:
        probe.close()
    raise ControlSocketError(f"{target}: another controller is listening on this control socket")


def _remove_stale(target: Path) -> None:
    if _is_stale(target):
        target.unlink(missing_ok=True)


class ControlServer:
    """Serves control requests on a Unix socket, one JSON line in, one out."""

    def __init__(
        self,
        path: str,
        handle: Handler,
        *,
        mode: int = DEFAULT_MODE,
        authorize: Callable[[Peer], bool] | None = None,
        on_rejected: Callable[[str], None] | None = None,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        slots: Slots[asyncio.Task[None]] | None = None,
    ) -> None:
        self.path = path
        self._handle = handle
        self._mode = mode
        self._authorize = authorize
        self._on_rejected = on_rejected
        self._idle_timeout_s = idle_timeout_s
        # Root and the user the controller runs as: the operators.
        self._slots = slots if slots is not None else Slots(frozenset({0, os.geteuid()}))
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._inode: int | None = None

    async def start(self) -> None:
        """Create the socket and start accepting."""
        sock = bind_control_socket(self.path, self._mode)
        self._inode = os.stat(self.path).st_ino
        self._server = await asyncio.start_unix_server(
            self._connection, sock=sock, limit=MAX_REQUEST_BYTES
        )
        log.info("control.listening", socket=self.path, mode=f"{self._mode:o}")

    async def close(self) -> None:
        """Stop accepting, end open connections, remove the socket file."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(OSError):
            # Only our own socket: a successor may already have bound the path.
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        self._server = None

    def _rejected(self, kind: str, peer: Peer | None, message: str) -> None:
        log.warning(
            "control.rejected",
            error=kind,
            message=message,
            uid=peer.uid if peer else None,
            pid=peer.pid if peer else None,
        )
        if self._on_rejected is not None:
            self._on_rejected(kind)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._converse(task, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._connections.discard(task)
            self._slots.release(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _converse(
        self,
        task: asyncio.Task[None],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        sock = writer.get_extra_info("socket")
        peer = peer_of(sock) if sock is not None else None
        if peer is None or (self._authorize is not None and not self._authorize(peer)):
            err = RequestError(FORBIDDEN, "not allowed to control this controller")
            self._rejected(err.kind, peer, err.message)
            await self._send(writer, encode_error(err))
            return
        admission = self._slots.admit(task, peer.uid, time.monotonic())
        if not admission.admitted:
            err = RequestError(BUSY, "too many control connections; try again")
            self._rejected(err.kind, peer, err.message)
            await self._send(writer, encode_error(err))
            return
        if admission.evict is not None:
            # Its slot is already this one's; the client sees the connection end.
            # Debug only: a holder reconnecting in a loop must not flood the log.
            log.debug("control.idle_closed", uid=peer.uid, why="slot taken by a new connection")
            admission.evict.cancel()
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), self._idle_timeout_s)
            except TimeoutError:
                log.debug("control.idle_closed", uid=peer.uid, why="silent")
                return
            except ValueError:
                # Longer than the limit: what is left of the line cannot be
                # told from a next request, so the connection ends.
                err = RequestError(TOO_LARGE, f"request longer than {MAX_REQUEST_BYTES} bytes")
                self._rejected(err.kind, peer, err.message)
                await self._send(writer, encode_error(err))
                return
            if not line:
                return
            if not line.strip():
                continue
            self._slots.serving(task)
            answer = await self._answer(line, peer)
            await self._send(writer, answer)
            self._slots.idle(task, time.monotonic())

    async def _answer(self, line: bytes, peer: Peer) -> bytes:
        try:
            request = parse_request(line)
            return encode_answer(await self._handle(request, peer))
        except RequestError as err:
            self._rejected(err.kind, peer, err.message)
            return encode_error(err)
        except Exception as exc:
            log.exception("control.failed", uid=peer.uid)
            return encode_error(RequestError(FAILED, f"internal error: {type(exc).__name__}"))

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        # A client that does not read its answers holds its slot no longer
        # than a silent one (TimeoutError ends the connection).
        await asyncio.wait_for(writer.drain(), self._idle_timeout_s)
