"""Clocks for the Asterisk stand-in: real time sped up, or stepped by hand.

Everything in the stand-in that waits (ring time, talk time, patience, queue
timeouts) waits on a :class:`Clock`, never on ``asyncio.sleep`` directly. The
same clock also gives the wall-clock epoch that Asterisk writes into
Uniqueids (``<epoch>.<n>``), ``LoginTime`` and ``Timestamp`` headers, so a
run compressed ×60 still produces self-consistent times on the wire.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Virtual time: ``now()`` in epoch seconds, ``sleep()`` in virtual seconds."""

    def now(self) -> float:
        """Current virtual time as a UNIX epoch (seconds, fractional)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time."""
        ...


class ScaledClock:
    """Real time multiplied by ``speed`` (``speed=60``: one minute per second).

    ``start_epoch`` is the virtual time at construction (default: the real
    time then), so a simulation can start on a Monday morning at any hour.
    """

    def __init__(
        self, speed: float = 1.0, start_epoch: float | None = None, mono0: float | None = None
    ) -> None:
        if not speed > 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        # ``mono0``: the reference another process chose (the machine's
        # monotonic clock is shared), so both processes read the same time.
        self._t0 = time.monotonic() if mono0 is None else mono0
        self._epoch0 = time.time() if start_epoch is None else start_epoch

    @property
    def reference(self) -> tuple[float, float]:
        """(virtual epoch, ``time.monotonic()``) at construction: another process
        computes the same time from these and the speed (``lotse run --sim-clock``)."""
        return self._epoch0, self._t0

    def now(self) -> float:
        """Virtual epoch: start plus elapsed real time times the speed."""
        return self._epoch0 + (time.monotonic() - self._t0) * self.speed

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds / speed`` of real time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class ManualClock:
    """A clock that only moves when told to: for deterministic tests.

    ``await clock.advance(dt)`` moves time forward in steps, waking every
    sleeper whose deadline has passed in deadline order and letting the event
    loop run their continuations before the next step, so a test can play a
    whole call (ring 3 s, talk 40 s) without real waiting.
    """

    def __init__(self, start_epoch: float = 1_795_392_600.0) -> None:
        self._now = start_epoch
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """The current (manual) epoch."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until :meth:`advance` has moved time past now + ``seconds``."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        await future

    @property
    def next_deadline(self) -> float | None:
        """When the earliest pending sleeper wakes, if any."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers on the way."""
        target = self._now + seconds
        while True:
            await settle()
            self._drop_cancelled()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
        self._now = target
        await settle()

    async def run_until_idle(self, limit_s: float = 86_400.0) -> None:
        """Advance from deadline to deadline until nobody sleeps (or ``limit_s`` passed)."""
        end = self._now + limit_s
        while True:
            await settle()
            nxt = self.next_deadline
            if nxt is None or nxt > end:
                return
            await self.advance(nxt - self._now)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


async def settle(rounds: int = 20) -> None:
    """Let ready callbacks run (a few event-loop turns) without moving any clock."""
    for _ in range(rounds):
        await asyncio.sleep(0)
