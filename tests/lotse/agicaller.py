"""Asterisk's side of the routing AGI, as res_agi (Asterisk 22.10.1) runs it: one call a connection.

The environment is the captured session's (``fastagi-session.txt``) with the
generated dialplan's five arguments (dialed, visited, postal code, call id,
config hash); each ``SET VARIABLE`` is answered ``200 result=1`` and the
server closing the connection ends the run, as AGI() ends.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

from tests.fixtures.asterisk import ASTERISK_DIR

CAPTURE = ASTERISK_DIR / "fastagi-session.txt"
# Far above a routing answer's milliseconds: only a hung server reaches it.
HANG_GUARD_S = 30.0


@cache
def _environment() -> str:
    lines = []
    for line in CAPTURE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("< "):
            continue
        if line == "< ":
            break
        lines.append(line[2:])
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Run:
    """One AGI() run: the variables the server set, and whether it ended cleanly."""

    variables: tuple[str, ...]
    ok: bool


def call(port: int, seq: int, caller: str, config_sha: str, prefix: str = "load") -> Run:
    """One routing request for call ``prefix-seq`` from ``caller``; blocking."""
    uniqueid = f"1795392628.{prefix}{seq}"
    env = (
        _environment()
        .replace("1795392628.0", uniqueid)
        .replace("PJSIP/carrier-00000000", f"PJSIP/carrier-{seq:08x}")
        .replace("agi_callerid: 034911234567", f"agi_callerid: {caller}")
    )
    args = ("115", "", "", uniqueid, config_sha)
    env += "".join(f"\nagi_arg_{n}: {a}" for n, a in enumerate(args, start=1)) + "\n\n"
    variables: list[str] = []
    ok = True
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_S) as sock:
            sock.sendall(env.encode())
            tail = b""
            while data := sock.recv(65536):
                lines = (tail + data).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    text = line.decode()
                    if text.startswith("SET VARIABLE "):
                        variables.append(text.split(" ", 3)[2])
                        sock.sendall(b"200 result=1\n")
                    elif text.lower().startswith("failure"):
                        ok = False
    except OSError:
        ok = False
    return Run(tuple(variables), ok and bool(variables))


def calls(port: int, first: int, n: int, config_sha: str, workers: int = 8) -> list[Run]:
    """``n`` calls numbered from ``first``, ``workers`` at a time (Köln landlines)."""
    with ThreadPoolExecutor(workers) as pool:
        return list(
            pool.map(
                lambda i: call(port, i, f"0221{1000000 + i}", config_sha), range(first, first + n)
            )
        )
