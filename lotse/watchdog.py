"""systemd readiness and watchdog notifications, fed by the healthy event loop.

A wedged controller keeps its FastAGI sockets open, and Asterisk has no AGI
timeout, so calls would hang instead of taking the dialplan's static
fallback. With ``WatchdogSec=`` in the unit, systemd kills and restarts a
controller whose event loop stops sending ``WATCHDOG=1``; its sockets close
and Asterisk falls back at once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import structlog

log = structlog.get_logger("lotse.watchdog")


def _notify(message: bytes, environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract socket namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message, address)
        except OSError as err:
            log.warning("watchdog.notify_failed", error=type(err).__name__)
            return False
    return True


def notify_ready() -> bool:
    """Tell systemd the controller is serving (``Type=notify``)."""
    return _notify(b"READY=1")


def notify_reloading() -> bool:
    """Tell systemd a configuration reload began (``READY=1`` ends it).

    ``MONOTONIC_USEC`` as sd_notify(3) asks for with ``RELOADING=1``.
    """
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return _notify(f"RELOADING=1\nMONOTONIC_USEC={usec}".encode())


def notify_status(text: str) -> bool:
    """One line for ``systemctl status`` (``STATUS=``): what the controller does now."""
    return _notify(f"STATUS={text}".encode())


def notify_stopping() -> bool:
    """Tell systemd the controller is shutting down on purpose."""
    return _notify(b"STOPPING=1")


def watchdog_interval_s(environ: dict[str, str] | None = None) -> float | None:
    """Half the ``WatchdogSec`` systemd asked for, or ``None`` without a watchdog."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1e6 / 2


async def feed_watchdog(interval_s: float) -> None:
    """Send ``WATCHDOG=1`` from the event loop for as long as the loop runs freely."""
    while True:
        _notify(b"WATCHDOG=1")
        await asyncio.sleep(interval_s)
