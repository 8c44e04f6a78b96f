"""The stand-in's shared runtime: clock, randomness, channels, events, queues.

Also the two ways a caller channel ends, as Asterisk reports them:

- the caller hangs up (SIP BYE): chan_pjsip sets the RTPAUDIOQOS* variables
  (if media flowed) and a ``HangupRequest`` without cause is queued at once;
  the running application cleans up, then the PBX emits
  ``SoftHangupRequest`` (cause 16) and ``Hangup`` with cause 0 (Unknown);
- the dialplan hangs up (Hangup(), or Queue() ending after the agent left):
  ``SoftHangupRequest`` (16), the RTPAUDIOQOS* variables, ``Hangup`` with
  cause 16 (Normal Clearing).

Either way the endpoint's device goes ``UNAVAILABLE`` (the carrier endpoint
has no registered contact).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from dialplans.engine import Dialplan, Interpreter
from router.config import Config
from standin.agiclient import FastAgiClient
from standin.calls import Call, CalleeProfile
from standin.channels import Channel, ChannelState, ChannelTable, Frame
from standin.clock import Clock
from standin.emit import Emitter
from standin.queuelog import QueueLog
from standin.queues import Queues

T = TypeVar("T")


class Wake(Enum):
    """Why a wait ended."""

    DONE = "done"
    TIMEOUT = "timeout"
    HANGUP = "hangup"
    REDIRECT = "redirect"


@dataclass(frozen=True)
class DialplanSettings:
    """Where the dialplan's AGI() goes, names, and media durations.

    ``agi_url`` is the FastAGI service (``agi://HOST:PORT/route``) every AGI()
    connects to; with ``agi_from_dialplan`` the URL written in the dialplan is
    used instead. ``None`` means no FastAGI at all: AGI() fails
    (``AGISTATUS=FAILURE``) and calls take the static fallback. Media
    durations are how long a sound plays, in virtual seconds.
    """

    agi_url: str | None = "agi://127.0.0.1:4573/route"
    agi_from_dialplan: bool = False
    entry_context: str = "lotse-115"
    agents_context: str = "agents"
    endpoint: str = "carrier"
    originate_context: str = "originate-115"
    greeting_s: float = 4.0
    announcement_s: float = 8.0
    prompt_s: float = 5.0
    digits_s: float = 4.0


def _no_legs(call: Call) -> None:
    raise RuntimeError("no Pbx runs this core's channels")


class Core:
    """Everything a call coroutine needs, built once by :class:`standin.pbx.Pbx`."""

    def __init__(
        self,
        *,
        config: Config,
        clock: Clock,
        rng: random.Random,
        emitter: Emitter,
        settings: DialplanSettings,
        dialplan: Dialplan,
    ) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng
        self.emitter = emitter
        self.settings = settings
        self.dialplan = dialplan
        self.interpreter = Interpreter(dialplan, zone=config.timezone)
        self.channels = ChannelTable(clock, rng)
        self.queues = Queues(emitter)
        self.agi = FastAgiClient(emitter, rng)
        self.calls: dict[str, Call] = {}  # by caller channel name
        # Asterisk's queue_log (``lotse pbx --queue-log``); by default none is written.
        self.queue_log: QueueLog = QueueLog()
        # How each simulated person (by number) behaves when dialled (a callback).
        self.callees: dict[str, CalleeProfile] = {}
        # Channels a dialler (Dial(), Originate) holds: where their frames go.
        self.dialled: dict[str, asyncio.Queue[tuple[Channel, Frame]]] = {}
        # Runs a channel's dialplan (set by the Pbx, which owns the tasks).
        self.start_leg: Callable[[Call], None] = _no_legs
        self._background: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        """Virtual epoch seconds."""
        return self.clock.now()

    def spawn(self, aw: Awaitable[None]) -> None:
        """Run a fire-and-forget task (wrap-up timers, patience) and keep a reference."""
        task: asyncio.Task[None] = asyncio.ensure_future(aw)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Cancel background tasks."""
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- waiting ------------------------------------------------------------

    async def wait(self, call: Call, seconds: float) -> bool:
        """Let ``seconds`` of virtual time pass; False if the caller hung up (or was redirected)."""
        result = await self.wait_for(call, None, self.now() + max(0.0, seconds))
        return result is Wake.TIMEOUT

    async def wait_for(
        self, call: Call | None, aw: Awaitable[object] | None, until: float | None
    ) -> Wake:
        """Wait for ``aw``, the deadline ``until`` or the caller's hangup, whichever is first."""
        if call is not None and (call.hangup.is_set() or call.interrupt.is_set()):
            if aw is not None and asyncio.iscoroutine(aw):
                aw.close()
            return Wake.HANGUP if call.hangup.is_set() else Wake.REDIRECT
        waiters: dict[asyncio.Future[object], Wake] = {}
        if aw is not None:
            waiters[asyncio.ensure_future(aw)] = Wake.DONE
        if until is not None:
            waiters[asyncio.ensure_future(self.clock.sleep(until - self.now()))] = Wake.TIMEOUT
        if call is not None:
            waiters[asyncio.ensure_future(call.hangup.wait())] = Wake.HANGUP
            waiters[asyncio.ensure_future(call.interrupt.wait())] = Wake.REDIRECT
        if not waiters:
            raise ValueError("nothing to wait for")
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in waiters:
                if not fut.done():
                    fut.cancel()
        # A hangup wins over a simultaneous timeout: the caller is gone.
        for wake in (Wake.HANGUP, Wake.REDIRECT, Wake.DONE, Wake.TIMEOUT):
            if any(waiters[f] is wake for f in done):
                return wake
        return Wake.TIMEOUT

    # -- ending a caller channel --------------------------------------------

    def caller_hangup(self, call: Call) -> None:
        """The caller hangs up now: RTP QoS variables and ``HangupRequest``, then wake the flow."""
        if call.hangup.is_set() or call.channel.hungup:
            return
        ch = call.channel
        if ch.state is ChannelState.UP and ch.tech == "PJSIP":
            self.emitter.rtp_qos(ch, self._tx_packets(call))
        self.emitter.hangup_request(ch)
        call.hangup.set()

    def teardown_request(self, call: Call) -> None:
        """The dialplan ended: ``SoftHangupRequest`` (AST_SOFTHANGUP_APPUNLOAD, 16);
        the ``h`` extension runs after it, :meth:`teardown` follows."""
        if not call.channel.hungup:
            self.emitter.soft_hangup_request(call.channel, 16)

    def teardown(self, call: Call) -> None:
        """The caller channel's last events (see the module docstring)."""
        ch = call.channel
        if ch.hungup:
            return
        em = self.emitter
        if call.hangup.is_set():
            em.hangup(ch, 0)
        else:
            if ch.state is ChannelState.UP and ch.tech == "PJSIP":
                em.rtp_qos(ch, self._tx_packets(call))
            em.hangup(ch, 16)
        self.channels.remove(ch)
        em.device_state(ch.device, "UNAVAILABLE")
        call.ended_at = self.now()
        self.calls.pop(ch.name, None)

    def _tx_packets(self, call: Call) -> int:
        # 50 RTP packets a second from the answer on (20 ms ulaw frames).
        answered = call.channel.created if call.answered_at is None else call.answered_at
        return max(1, int((self.now() - answered) * 50))
