"""``lotse run`` attached to the Asterisk stand-in, both in this process, on one clock.

The live demo (``make run``) and ``lotse sim load --spawn`` both need the same
rig: the stand-in listening for AMI on loopback, a real :class:`Controller`
logged in to it and serving FastAGI exactly as ``lotse run`` does against
Asterisk. The controller's wall clock and state clock are the stand-in's
compressed clock, so opening hours, holidays and queue waits are those of the
simulated day, whatever the real time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from dialplans.engine import Dialplan
from lotse.controller import Controller, RunOptions
from lotse.journal.store import Journal
from router.config import Config, Endpoint
from router.numbering import OrtsnetzTable
from standin import Pbx, ScaledClock
from standin.staffing import Staffing

# On one machine with the stand-in and the callers, a decision may take a while.
AGI_DEADLINE_MS = 2000


@dataclass
class StandIn:
    """The running pair; ``ami`` is where AMI clients (the load) log in, with ``secret``."""

    pbx: Pbx
    controller: Controller
    clock: ScaledClock
    ami: Endpoint
    secret: str
    controller_running: bool = True

    def wall(self) -> datetime:
        """The simulated wall-clock time (UTC)."""
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def stop_controller(self) -> None:
        """Stop the controller (once); calls then take the static fallback."""
        if self.controller_running:
            self.controller_running = False
            await self.controller.stop()


@asynccontextmanager
async def stand_in(
    config: Config,
    *,
    staffing: Staffing,
    clock: ScaledClock,
    secret: str,
    journal: Path,
    agi: Endpoint,
    metrics: Endpoint | None,
    seed: int,
    table: OrtsnetzTable,
    journal_key: bytes | None = None,
    dialplan: Dialplan | None = None,
) -> AsyncIterator[StandIn]:
    """Start the stand-in and the controller; stop both (controller first) on exit.

    The AMI user is the config's ``controller.ami_username`` with ``secret``;
    the stand-in asks the controller's FastAGI service at ``agi`` (port 0: a
    free port the controller binds and keeps); the
    controller serves Prometheus metrics on ``metrics`` (``None``: none) and
    writes its journal to ``journal``, its caller hashes keyed with
    ``journal_key``. Raises :class:`~lotse.controller.StartupError` when an
    address is taken, with nothing left running.
    """
    config = replace(config, controller=replace(config.controller, agi_deadline_ms=AGI_DEADLINE_MS))
    pbx = Pbx(
        config,
        staffing=staffing,
        table=table,
        clock=clock,
        seed=seed,
        users={config.controller.ami_username: secret},
        # Port 0: no AGI() until the controller has bound its port (below).
        agi_url=f"agi://{agi}/route" if agi.port else None,
        dialplan=dialplan,
    )
    await pbx.start()
    try:

        def wall() -> datetime:
            return datetime.fromtimestamp(clock.now(), UTC)

        host, port = pbx.ami_address
        ami = Endpoint(host, port)
        opened = await Journal.open(journal, clock=wall, key=journal_key)
        try:
            controller = Controller(
                config,
                RunOptions(ami, agi, metrics, str(journal)),
                secret=secret,
                journal=opened,
                wall_clock=wall,
                state_clock=clock.now,
                table=table,
            )
            await controller.start()
            if agi.port == 0:
                # Port 0: the controller bound a free port and keeps it; the
                # stand-in's AGI() goes there (no port picked, closed and
                # reused, which another process could take meanwhile).
                bound_host, bound_port = controller.agi.address
                pbx.core.settings = replace(
                    pbx.core.settings, agi_url=f"agi://{bound_host}:{bound_port}/route"
                )
        except BaseException:
            # A failed start (an address in use) leaves no journal thread
            # behind to keep the process alive.
            await opened.close()
            raise
        rig = StandIn(pbx, controller, clock, ami, secret)
        try:
            yield rig
        finally:
            await rig.stop_controller()
    finally:
        await pbx.close()
