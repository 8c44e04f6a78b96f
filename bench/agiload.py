"""The FastAGI load client of ``bench/agi.py``: Asterisk's side, lean, in its own process.

It speaks FastAGI as res_agi (Asterisk 22) does, one connection per AGI()
run: connect, send the channel environment (``agi_*`` lines in the order of
the real session in ``fastagi-session.txt``, then a blank line), answer each
``SET VARIABLE`` with ``200 result=1`` and treat the server closing the
connection as the end of AGI(). A ``FAILURE`` line marks the run failed, as
it would set ``AGISTATUS=FAILURE``.

There is no asyncio here: plain non-blocking sockets on ``epoll`` (throughput)
or ``select`` (the paced phase, whose timeouts need sub-millisecond
resolution: ``epoll`` rounds them up to whole milliseconds), and the garbage
collector off, so the client adds as little as possible to what it measures.
Times are ``time.monotonic()`` (system-wide ``CLOCK_MONOTONIC``).
"""

from __future__ import annotations

import errno
import random
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ami.transcript import turns

JsonDict = dict[str, Any]

_SET = b"SET VARIABLE "
_OK = b"200 result=1\n"
_CONNECTING = (0, errno.EINPROGRESS)

# Ortsnetze of the demo network's centers, and some no center serves (→ bund).
SERVED = ("0421", "0471", "03491", "034921", "03537", "03941", "05251", "05258", "02951")
UNSERVED = ("030", "089", "040", "0221", "0341", "0711")
POSTAL_CODES = ("28195", "27570", "06886", "38820", "33098", "10115")
VISITED = ("wittenberg", "paderborn", "halberstadt", "wittenberg+sachsen-anhalt")


def env_template(capture: Path) -> bytes:
    """The environment of the captured session as a %-template for one request.

    Channel, uniqueid, caller number and the four arguments are filled in per
    request; everything else is what Asterisk 22.10.1 sent, in its order.
    """
    first = next(t for t in turns(capture, newline=b"\n") if t.direction == "received")
    env = first.data.split(b"\n\n", 1)[0].decode()
    fields = {
        "agi_channel": "%(channel)s",
        "agi_uniqueid": "%(uniqueid)s",
        "agi_callerid": "%(callerid)s",
    }
    lines = []
    for line in env.split("\n"):
        name, _, value = line.partition(": ")
        lines.append(f"{name}: {fields.get(name, value.replace('%', '%%'))}")
    lines += [f"agi_arg_{n}: %(arg{n})s" for n in (1, 2, 3, 4)]
    return ("\n".join(lines) + "\n\n").encode()


def caller_mix(rng: random.Random, n: int) -> list[tuple[bytes, bytes, bytes]]:
    """(caller number, visited, postal code) for ``n`` requests, as 115 traffic looks.

    Landlines of served and unserved Ortsnetze in national and international
    shapes; mobiles without (the service asks) and with a postal code (the
    second request); anonymous callers; spills from a first center.
    """
    mix: list[tuple[bytes, bytes, bytes]] = []
    for _ in range(n):
        r = rng.random()
        visited = postal = ""
        if r < 0.08:
            caller = f"01{rng.choice('567')}{rng.randrange(10)}{rng.randrange(10**6, 10**8)}"
            postal = rng.choice(("", *POSTAL_CODES))
        elif r < 0.11:
            caller = "anonymous"
            postal = rng.choice(("", "none", POSTAL_CODES[0]))
        else:
            code = rng.choice(SERVED if r < 0.8 else UNSERVED)
            sub = str(rng.randrange(10 ** (9 - len(code)), 10 ** (10 - len(code))))
            shape = rng.choice(("0{c}{s}", "0{c}{s}", "+49{c}{s}", "0049{c}{s}"))
            caller = shape.format(c=code[1:], s=sub)
            if r > 0.95:
                visited = rng.choice(VISITED)
        mix.append((caller.encode(), visited.encode(), postal.encode()))
    return mix


class Environments:
    """One request's environment after the other: a new channel and call id, the next caller."""

    def __init__(self, capture: Path, seed: int) -> None:
        self._template = env_template(capture)
        self._mix = caller_mix(random.Random(seed), 4096)
        self._seq = 0
        # Uniqueids are epoch.sequence like Asterisk's.
        self._epoch = int(time.time())

    def next(self) -> bytes:
        """The next request's environment, ready to send."""
        seq = self._seq = self._seq + 1
        caller, visited, postal = self._mix[seq % len(self._mix)]
        uniqueid = b"%d.%d" % (self._epoch, seq)
        return self._template % {
            b"channel": b"PJSIP/carrier-%08x" % seq,
            b"uniqueid": uniqueid,
            b"callerid": caller,
            b"arg1": b"115",
            b"arg2": visited,
            b"arg3": postal,
            b"arg4": uniqueid,
        }


class _Run:
    """One AGI() run in flight."""

    __slots__ = ("env", "failed", "sent", "sets", "sock", "start", "tail")

    def __init__(self, sock: socket.socket, env: bytes, start: float) -> None:
        self.sock = sock
        self.env = env
        self.start = start
        self.sent = False
        self.sets = 0
        self.failed = False
        self.tail = b""


@dataclass(frozen=True, slots=True)
class Done:
    """A finished run: when it started and ended, and whether every variable was set."""

    start: float
    end: float
    ok: bool


class AgiClient:
    """Asterisk's side of many concurrent FastAGI runs against one server port."""

    def __init__(self, envs: Environments, port: int, expected_sets: int) -> None:
        self._envs = envs
        self._address = ("127.0.0.1", port)
        self._expected = expected_sets
        self.runs: dict[int, _Run] = {}
        self._epoll = select.epoll()

    def close(self) -> None:
        """Abandon whatever is in flight and release the poller."""
        for run in self.runs.values():
            run.sock.close()
        self.runs.clear()
        self._epoll.close()

    def open(self, now: float) -> Done | None:
        """Start one run (connect; the environment goes out once connected)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if sock.connect_ex(self._address) not in _CONNECTING:
            sock.close()
            return Done(now, time.monotonic(), False)
        run = _Run(sock, self._envs.next(), now)
        self.runs[sock.fileno()] = run
        self._epoll.register(sock.fileno(), select.EPOLLOUT)
        return None

    def poll_epoll(self, timeout: float, done: list[Done]) -> None:
        """Wait up to ``timeout`` s (-1: no limit) with epoll and handle what is ready."""
        for fd, _ in self._epoll.poll(timeout):
            self._ready(fd, done)

    def poll_select(self, timeout: float, done: list[Done]) -> None:
        """Wait up to ``timeout`` s with select (microsecond timeouts) and handle what is ready."""
        runs = self.runs
        reading = [fd for fd, run in runs.items() if run.sent]
        writing = [fd for fd, run in runs.items() if not run.sent]
        readable, writable, _ = select.select(reading, writing, [], max(0.0, timeout))
        for fd in writable:
            self._ready(fd, done)
        for fd in readable:
            self._ready(fd, done)

    def _ready(self, fd: int, done: list[Done]) -> None:
        run = self.runs[fd]
        if not run.sent:
            if run.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self._end(fd, run, False, done)
                return
            run.sock.send(run.env)  # a few hundred bytes: the socket buffer takes them
            run.sent = True
            self._epoll.modify(fd, select.EPOLLIN)
            return
        try:
            data = run.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._end(fd, run, False, done)
            return
        if not data:
            self._end(fd, run, run.sets == self._expected and not run.failed, done)
            return
        lines = (run.tail + data).split(b"\n")
        run.tail = lines.pop()
        answers = 0
        for line in lines:
            if line.startswith(_SET):
                answers += 1
            elif line[:7].lower() == b"failure":
                run.failed = True
        if answers:
            run.sets += answers
            run.sock.send(_OK * answers)

    def _end(self, fd: int, run: _Run, ok: bool, done: list[Done]) -> None:
        end = time.monotonic()
        self._epoll.unregister(fd)
        del self.runs[fd]
        run.sock.close()
        done.append(Done(run.start, end, ok))


def closed_loop(
    envs: Environments, port: int, expected: int, concurrency: int, duration: float, warmup: float
) -> JsonDict:
    """``concurrency`` runs back to back; completions counted after ``warmup`` for ``duration``."""
    client = AgiClient(envs, port, expected)
    done: list[Done] = []
    cpu0 = time.process_time()
    now = time.monotonic()
    measure_from, stop_at = now + warmup, now + warmup + duration
    for _ in range(concurrency):
        if (failed := client.open(time.monotonic())) is not None:
            done.append(failed)
    ok = errors = 0
    while client.runs:
        finished: list[Done] = []
        client.poll_epoll(1.0, finished)
        now = time.monotonic()
        for d in finished:
            if measure_from <= d.end <= stop_at:
                ok, errors = ok + d.ok, errors + (not d.ok)
            if now < stop_at and (failed := client.open(now)) is not None:
                finished.append(failed)
        done.extend(finished)
    cpu = time.process_time() - cpu0
    client.close()
    return {
        "completed": ok,
        "errors": errors,
        "per_s": ok / duration,
        "client_cpu": cpu / (time.monotonic() - measure_from + warmup),
    }


def paced(envs: Environments, port: int, expected: int, rate: float, duration: float) -> JsonDict:
    """Start a run every 1/``rate`` s for ``duration`` s, whatever the answers do (open loop).

    Latency is from the connect to the server's close, in ms. The lag of each
    start behind its schedule is reported too: a client that cannot keep its
    schedule would hide the server's queueing.
    """
    client = AgiClient(envs, port, expected)
    total = int(rate * duration)
    begin = time.monotonic() + 0.05
    lags: list[float] = []
    done: list[Done] = []
    started = 0
    deadline = begin + duration + 10.0
    while started < total or client.runs:
        now = time.monotonic()
        while started < total and begin + started / rate <= now:
            lags.append((now - (begin + started / rate)) * 1000)
            if (failed := client.open(now)) is not None:
                done.append(failed)
            started += 1
        if now > deadline:
            break
        wait = begin + started / rate - now if started < total else 0.5
        client.poll_select(wait, done)
    lost = len(client.runs)
    client.close()
    lags.sort()
    return {
        "completed": sum(d.ok for d in done),
        "errors": sum(not d.ok for d in done) + lost,
        "latencies_ms": [round((d.end - d.start) * 1000, 4) for d in done if d.ok],
        "schedule_lag_p99_ms": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 3)
        if lags
        else 0.0,
    }
