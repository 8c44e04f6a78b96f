"""sd_notify for systemctl status: READY, a STATUS line, RELOADING around every reload."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lotse import watchdog
from tests.lotse.test_operate import operated_rig, sock_dir  # noqa: F401 (fixture)


@pytest.fixture
def notify(sock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:  # noqa: F811
    """systemd's end of $NOTIFY_SOCKET: a datagram socket the test reads."""
    path = sock_dir / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def _messages(sock: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            return got


def test_reloading_carries_the_monotonic_time_and_status_a_line(notify: socket.socket) -> None:
    assert watchdog.notify_reloading() and watchdog.notify_status("routing; AMI down")
    reloading, status = _messages(notify)
    first, second = reloading.split("\n")
    assert first == "RELOADING=1" and second.startswith("MONOTONIC_USEC=")
    assert int(second.partition("=")[2]) > 0
    assert status == "STATUS=routing; AMI down"


async def test_a_controller_reports_its_state_and_every_reload(
    tmp_path: Path,
    sock_dir: Path,  # noqa: F811
    notify: socket.socket,
) -> None:
    async with operated_rig(tmp_path, sock_dir) as op:
        assert op.controller is not None and op.ops is not None
        async with asyncio.timeout(10):
            while not any(
                "AMI connected, fresh state" in m for m in _messages(notify) if "STATUS=" in m
            ):
                await asyncio.sleep(0.05)
        line = op.controller.status_line()
        assert line == (
            f"routing; AMI connected, fresh state; 6 centers; config "
            f"{op.controller.config.sha256[:12]}"
        )
        # A refused file, then a good one: each reload between RELOADING=1 and READY=1.
        good = op.config_path.read_bytes()
        op.config_path.write_bytes(b"centers: 5\n")
        assert not (await op.ops.reload(None)).accepted
        op.config_path.write_bytes(good)
        assert (await op.ops.reload(None)).accepted
        sent = [m.split("\n")[0] for m in _messages(notify) if not m.startswith("STATUS=")]
        assert sent == ["RELOADING=1", "READY=1", "RELOADING=1", "READY=1"]
