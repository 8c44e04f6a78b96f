"""The control socket over a real Unix socket: file mode, peers, bounds, bad requests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from lotse.control.protocol import (
    MAX_DEPTH,
    MAX_REQUEST_BYTES,
    Answer,
    Peer,
    nesting_depth_exceeds,
)
from lotse.control.server import ControlServer, ControlSocketError, bind_control_socket
from lotse.control.slots import Slots

NOBODY = 65534
# The second user runs a system interpreter: the test's own may live where
# only root can read (a venv under /root).
SYSTEM_PYTHON = "/usr/bin/python3"


async def echo(request: dict[str, Any], peer: Peer) -> Answer:
    return Answer({"command": request["command"], "uid": peer.uid})


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # A short path every user may traverse, so only the socket's own mode decides.
    d = Path(tempfile.mkdtemp(prefix="lotse-ctl-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
async def server(sock_dir: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(str(sock_dir / "ctl.sock"), echo)
    await srv.start()
    yield srv
    await srv.close()


async def exchange(path: str, *lines: bytes) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_unix_connection(path, limit=1 << 20)
    answers = []
    try:
        for line in lines:
            writer.write(line)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readline(), 10)
            if not answer:
                break
            answers.append(json.loads(answer))
    finally:
        writer.close()
    return answers


async def test_the_socket_is_0660_and_never_world_accessible(server: ControlServer) -> None:
    mode = stat.S_IMODE(os.stat(server.path).st_mode)
    assert stat.S_ISSOCK(os.stat(server.path).st_mode)
    assert mode == 0o660
    assert mode & 0o007 == 0


def test_a_world_accessible_mode_is_refused(sock_dir: Path) -> None:
    for mode in (0o666, 0o661, 0o1660):
        with pytest.raises(ControlSocketError):
            bind_control_socket(str(sock_dir / "x.sock"), mode)
    # The limit itself: group access is fine, stricter too.
    for mode in (0o660, 0o600):
        sock = bind_control_socket(str(sock_dir / f"{mode:o}.sock"), mode)
        sock.close()
        assert stat.S_IMODE(os.stat(sock_dir / f"{mode:o}.sock").st_mode) == mode


def test_the_socket_file_is_never_looser_than_its_mode(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bind() under a permissive umask would create the file 0777 & ~umask, and
    # a chmod after it leaves a moment of that: the mode must come from bind.
    monkeypatch.setattr(os, "chmod", lambda *_a, **_k: None)
    old = os.umask(0)
    try:
        sock = bind_control_socket(str(sock_dir / "u.sock"), 0o600)
    finally:
        os.umask(old)
    sock.close()
    assert stat.S_IMODE(os.stat(sock_dir / "u.sock").st_mode) == 0o600
    assert os.umask(old) == old  # the process umask is restored


async def test_peer_credentials_come_from_the_kernel(server: ControlServer) -> None:
    [answer] = await exchange(server.path, b'{"command": "status"}\n')
    assert answer == {
        "ok": True,
        "result": {"command": "status", "uid": os.getuid()},
        "warnings": [],
    }


async def test_garbage_gets_an_error_and_the_connection_goes_on(server: ControlServer) -> None:
    answers = await exchange(
        server.path,
        b"hello\n",
        b"[1, 2]\n",
        b'{"command": "format c:"}\n',
        b"\xff\xfe\n",
        b'{"command": "status"}\n',
    )
    assert [a["ok"] for a in answers] == [False, False, False, False, True]
    assert [a.get("error") for a in answers[:4]] == [
        "bad_request",
        "bad_request",
        "unknown_command",
        "bad_request",
    ]


async def test_an_oversized_request_gets_an_error(server: ControlServer) -> None:
    big = b'{"command": "status", "x": "' + b"a" * MAX_REQUEST_BYTES + b'"}\n'
    [answer] = await exchange(server.path, big)
    assert answer["ok"] is False and answer["error"] == "too_large"
    # The server goes on serving others.
    [answer] = await exchange(server.path, b'{"command": "status"}\n')
    assert answer["ok"] is True


async def test_a_request_at_the_limit_is_served(server: ControlServer) -> None:
    head, tail = b'{"command": "status", "x": "', b'"}'
    # The limit counts the line without its newline.
    exact = head + b"a" * (MAX_REQUEST_BYTES - len(head) - len(tail)) + tail
    assert len(exact) == MAX_REQUEST_BYTES
    [answer] = await exchange(server.path, exact + b"\n")
    assert answer["ok"] is True
    [answer] = await exchange(server.path, exact[:-2] + b'a"}\n')
    assert answer["error"] == "too_large"


async def test_the_authorize_hook_refuses_a_peer(sock_dir: Path) -> None:
    seen: list[Peer] = []

    def only_uid_4242(peer: Peer) -> bool:
        seen.append(peer)
        return peer.uid == 4242

    srv = ControlServer(str(sock_dir / "a.sock"), echo, authorize=only_uid_4242)
    await srv.start()
    try:
        [answer] = await exchange(srv.path, b'{"command": "status"}\n')
    finally:
        await srv.close()
    assert answer["ok"] is False and answer["error"] == "forbidden"
    assert seen and seen[0].uid == os.getuid() and seen[0].pid == os.getpid()


def _connect_as(path: str, uid: int, gid: int) -> subprocess.CompletedProcess[str]:
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"try:\n    s.connect({path!r})\n"
        "except PermissionError:\n    sys.exit(13)\n"
        's.sendall(b\'{"command": "status"}\\n\')\n'
        "print(s.makefile().readline())\n"
    )
    return subprocess.run(
        [SYSTEM_PYTHON, "-c", code],
        user=uid,
        group=gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON),
    reason="a second user needs root to switch to (the authorize hook test covers the check)",
)
async def test_a_second_user_without_permission_cannot_connect(server: ControlServer) -> None:
    path = server.path
    outsider = await asyncio.to_thread(_connect_as, path, NOBODY, NOBODY)
    assert outsider.returncode == 13, outsider.stderr
    # The same user in the socket's group may: the mode is what keeps the outsider out.
    member = await asyncio.to_thread(_connect_as, path, NOBODY, os.stat(path).st_gid)
    assert member.returncode == 0, member.stderr
    assert json.loads(member.stdout)["result"]["uid"] == NOBODY
    # And the test can fail: world-accessible, the outsider gets in.
    os.chmod(path, 0o666)
    opened = await asyncio.to_thread(_connect_as, path, NOBODY, NOBODY)
    assert opened.returncode == 0, opened.stderr


async def test_a_stale_socket_is_replaced_a_live_one_is_not(sock_dir: Path) -> None:
    path = sock_dir / "s.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # left behind by a killed controller: nobody listens
    srv = ControlServer(str(path), echo)
    await srv.start()
    try:
        with pytest.raises(ControlSocketError, match="another controller"):
            await ControlServer(str(path), echo).start()
    finally:
        await srv.close()
    assert not path.exists()


def test_another_file_at_the_path_is_left_alone(sock_dir: Path) -> None:
    path = sock_dir / "config.yaml"
    path.write_text("precious")
    with pytest.raises(ControlSocketError, match="not a socket"):
        bind_control_socket(str(path))
    assert path.read_text() == "precious"


def test_a_path_too_long_for_a_unix_socket_is_refused(sock_dir: Path) -> None:
    with pytest.raises(ControlSocketError, match="107 bytes"):
        bind_control_socket(str(sock_dir / ("x" * 120)))


async def test_nine_idle_holders_do_not_keep_an_operator_out(server: ControlServer) -> None:
    # The test runs as the server's own user: an operator, as `lotse ctl` is.
    holders = [await asyncio.open_unix_connection(server.path) for _ in range(9)]
    try:
        [answer] = await exchange(server.path, b'{"command": "status"}\n')
        assert answer["ok"] is True
    finally:
        for _, writer in holders:
            writer.close()


async def test_a_silent_connection_is_closed(sock_dir: Path) -> None:
    srv = ControlServer(str(sock_dir / "i.sock"), echo, idle_timeout_s=0.1)
    await srv.start()
    try:
        reader, writer = await asyncio.open_unix_connection(srv.path)
        # Only the server ends it: the wait is a hang guard far above the timeout.
        assert await asyncio.wait_for(reader.read(), 30) == b""
        writer.close()
    finally:
        await srv.close()


async def test_a_user_whose_slots_all_serve_is_told_busy(sock_dir: Path) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow(request: dict[str, Any], peer: Peer) -> Answer:
        entered.set()
        await release.wait()
        return Answer({})

    # Nobody privileged here, and one slot per uid.
    srv = ControlServer(str(sock_dir / "b.sock"), slow, slots=Slots(frozenset(), per_uid=1))
    await srv.start()
    try:
        reader, writer = await asyncio.open_unix_connection(srv.path)
        writer.write(b'{"command": "status"}\n')
        await entered.wait()
        [busy] = await exchange(srv.path, b'{"command": "status"}\n')
        assert busy["ok"] is False and busy["error"] == "busy"
        release.set()
        assert json.loads(await asyncio.wait_for(reader.readline(), 10))["ok"] is True
        writer.close()
    finally:
        await srv.close()


async def test_deep_nesting_is_a_bad_request_not_a_crash(server: ControlServer) -> None:
    deep = b"[" * 60000
    assert len(deep) < MAX_REQUEST_BYTES
    with capture_logs() as logs:
        [answer] = await exchange(server.path, deep + b"\n")
    assert answer["ok"] is False and answer["error"] == "bad_request"
    assert "nested deeper" in answer["message"]
    assert [e["event"] for e in logs] == ["control.rejected"]
    assert not any("exc_info" in e or "exception" in e for e in logs)
    # The limit itself is served; one level more is not.
    at_limit = b'{"command": "status", "x": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    [answer] = await exchange(server.path, at_limit + b"}\n")
    assert answer["ok"] is True
    over = b'{"command": "status", "x": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    [answer] = await exchange(server.path, over + b"}\n")
    assert answer["error"] == "bad_request" and "nested deeper" in answer["message"]


async def test_brackets_inside_strings_are_not_nesting(server: ControlServer) -> None:
    text = '\\"' + "[" * 1000 + "\\\\" + "{" * 1000
    line = json.dumps({"command": "status", "reason": text}).encode()
    [answer] = await exchange(server.path, line + b"\n")
    assert answer["ok"] is True


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\u00e9'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner, max_size=3)
    ),
    max_leaves=30,
)


@given(_JSON, st.integers(0, 8))
def test_the_depth_check_agrees_with_the_decoder(value: object, limit: int) -> None:
    line = json.dumps(value, ensure_ascii=False).encode()
    assert nesting_depth_exceeds(line, limit) == (_depth(value) > limit)


async def test_a_failing_handler_answers_failed_without_its_traceback(sock_dir: Path) -> None:
    async def broken(request: dict[str, Any], peer: Peer) -> Answer:
        if request["command"] == "reload":
            raise RuntimeError("detail of /etc/lotse/secret")
        return Answer({})

    srv = ControlServer(str(sock_dir / "f.sock"), broken)
    await srv.start()
    try:
        failed, served = await exchange(
            srv.path, b'{"command": "reload"}\n', b'{"command": "status"}\n'
        )
    finally:
        await srv.close()
    assert failed == {
        "ok": False,
        "error": "failed",
        "message": "internal error: RuntimeError",
        "problems": [],
    }
    assert served["ok"] is True


def _hold_as(path: str, uid: int, gid: int, count: int) -> subprocess.Popen[str]:
    """A process of ``uid`` holding ``count`` silent connections until its stdin closes."""
    code = (
        "import socket, sys\n"
        f"held = [socket.socket(socket.AF_UNIX) for _ in range({count})]\n"
        f"for s in held:\n    s.connect({path!r})\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    return subprocess.Popen(
        [SYSTEM_PYTHON, "-c", code],
        user=uid,
        group=gid,
        extra_groups=[],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON),
    reason="a second user needs root to switch to (test_control_slots covers the rule)",
)
async def test_another_users_holders_keep_neither_the_operator_nor_each_other_out(
    sock_dir: Path,
) -> None:
    slots: Slots[asyncio.Task[None]] = Slots(frozenset({0, os.geteuid()}), per_uid=2, max_shared=3)
    srv = ControlServer(str(sock_dir / "u.sock"), echo, slots=slots)
    await srv.start()
    gid = os.stat(srv.path).st_gid
    holder = _hold_as(srv.path, NOBODY, gid, 9)
    try:
        assert holder.stdout is not None
        assert await asyncio.to_thread(holder.stdout.readline) == "held\n"
        # The kernel's uid decides: nobody's 9 connections share its 2 slots.
        async with asyncio.timeout(30):
            while slots.held_by(NOBODY) < 2:
                await asyncio.sleep(0.01)
        [answer] = await exchange(srv.path, b'{"command": "status"}\n')
        assert answer["ok"] is True
        # A second unprivileged user fits beside it: 2 + 1 is the shared ceiling.
        other = await asyncio.to_thread(_connect_as, srv.path, NOBODY - 1, gid)
        assert json.loads(other.stdout)["result"]["uid"] == NOBODY - 1
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
        await srv.close()
