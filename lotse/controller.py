"""The composition root: builds every I/O object of ``lotse run`` and wires them.

Flow, in one direction: the AMI session puts typed events on one queue; one
ordered consumer applies each to the live state and the call tracker; the
FastAGI service asks the pure policy with a snapshot of that state; the
decision goes back to Asterisk as channel variables and to the journal and
metrics. Clocks and randomness are injected here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import structlog
from prometheus_client import CollectorRegistry, start_http_server

from ami.agi_protocol import AgiReply, AgiRequest
from ami.contract import AGI_SCRIPT, ARG_CONFIG, CALLBACK_SCRIPT, VAR_CB_OFFER, VAR_CB_RESULT
from ami.fastagi import AgiResult, FastAgiServer
from ami.session import AmiActionFailed, AmiError, AmiSession, Connected, Disconnected
from cliutil import os_reason
from dialplans.manager import callback_username
from lotse import watchdog
from lotse.callbackattempt import concluded
from lotse.callbacks import CallbackDesk, CallbackMetrics, Originate
from lotse.calltrack import CallTracker, ReconcileResult
from lotse.control.drift import DialplanDrift
from lotse.fallbackbook import FallbackBook
from lotse.journal.callbackkeys import CURRENT_ENV, OLDER_ENV, key_ring
from lotse.journal.callbackstore import CallbackStore, StoredRequest
from lotse.journal.privacy import JournalKey, JournalKeyError, load_key
from lotse.journal.schema import JournalError
from lotse.journal.store import Journal
from lotse.livestate import LiveState
from lotse.queuelog.follow import QueueLogFollower
from lotse.routing_service import RoutingRequest, RoutingService
from metrics.control import ControlMetrics
from metrics.journal import watch_journal
from metrics.registry import CenterOpenCollector, LotseMetrics, QueueStateCollector
from metrics.servicelevel import callback_kept
from router.callback import offer_for
from router.config import Config, Endpoint
from router.numbering import OrtsnetzTable, classify_caller
from router.policy import Decision, Router
from router.state import Snapshot

log = structlog.get_logger("lotse.controller")

# What the service level needs of a kept callback's call: home, offered, answered.
_KEPT_CALL = "SELECT home, queued, answered_center FROM calls WHERE call_id = ?"

PURGE_INTERVAL_S = 6 * 3600.0
# The callback key (numbers encrypted at rest) and the callback AMI user's secret.
CALLBACK_KEY_ENV = CURRENT_ENV
CALLBACK_AMI_SECRET_ENV = "LOTSE_CALLBACK_AMI_SECRET"
CALLBACK_TICK_S = 1.0
DRAIN_TIMEOUT_S = 2.0
# Distinct unknown queues named in the log; past that they are only counted.
_UNKNOWN_QUEUES_LOGGED = 100


class SecretError(ValueError):
    """The AMI secret could not be found; the message names where it was looked for."""


class StartupError(Exception):
    """The controller cannot start; the message is one line naming the cause (address, path)."""


class LoginRefusedError(Exception):
    """Asterisk refused the AMI login before it ever succeeded: the user or secret is wrong.

    Bad input, not an outage: ``lotse run`` exits 2 with one line naming the
    address and the user (never the secret), and systemd does not restart it.
    """


def _listen_error(what: str, endpoint: Endpoint, err: OSError) -> StartupError:
    return StartupError(f"cannot listen for {what} on {endpoint}: {os_reason(err)}")


def check_listen(what: str, endpoint: Endpoint) -> None:
    """Bind ``endpoint`` once and let go: a taken address fails here, before anything starts.

    Run before the journal opens, so a port in use costs nothing to undo and
    says so in one line. ``SO_REUSEADDR`` as asyncio's and the metrics
    server's own listeners set it, so a port in TIME_WAIT passes here as it
    would there. The real bind can still lose a race; :meth:`Controller.start`
    reports that the same way.
    """
    try:
        infos = socket.getaddrinfo(
            endpoint.host, endpoint.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as err:
        raise _listen_error(what, endpoint, err) from err


@dataclass(frozen=True)
class RunOptions:
    """Where ``lotse run`` connects and listens; defaults come from the config."""

    ami: Endpoint
    agi_listen: Endpoint
    metrics_listen: Endpoint | None
    journal_path: str
    # The operators' control socket (``lotse ctl``); None: none.
    control_socket: str | None = None
    # Asterisk's queue_log, followed and imported into the journal; None: not read.
    queue_log: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> RunOptions:
        """The config's own controller settings."""
        c = config.controller
        return cls(
            c.ami,
            c.agi_listen,
            c.metrics_listen,
            c.journal_path,
            c.control_socket_path(),
            c.queue_log,
        )


def read_secret(config: Config, environ: dict[str, str] | None = None) -> str:
    """The AMI secret from the configured environment variable, else the secret file.

    Never from the command line, where every user of the machine could read it.
    """
    env = os.environ if environ is None else environ
    c = config.controller
    if c.ami_secret_env and env.get(c.ami_secret_env):
        return env[c.ami_secret_env]
    if c.ami_secret_file:
        try:
            return Path(c.ami_secret_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise SecretError(f"AMI secret file {c.ami_secret_file}: {err.strerror}") from err
    where = f"${c.ami_secret_env}" if c.ami_secret_env else "no variable"
    raise SecretError(f"no AMI secret: set {where} or controller.ami_secret_file in the config")


class Controller:
    """A running controller: session, consumer, FastAGI server, journal, metrics."""

    def __init__(
        self,
        config: Config,
        options: RunOptions,
        *,
        secret: str,
        journal: Journal,
        registry: CollectorRegistry | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        mono_clock: Callable[[], float] = time.monotonic,
        state_clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
        table: OrtsnetzTable | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.router = Router(config, table or OrtsnetzTable.load())
        self.registry = registry or CollectorRegistry()
        centers = list(config.centers)
        self.metrics = LotseMetrics(self.registry, centers)
        # Waits are measured on the state clock: the simulator's virtual time
        # in the demo, the monotonic clock otherwise.
        self.live = LiveState(config.center_by_queue, state_clock or mono_clock)
        self._queue_collector = QueueStateCollector(self.live.snapshot, centers)
        self._open_collector = CenterOpenCollector(self.router, wall_clock, self.live.snapshot)
        self.registry.register(self._queue_collector)
        self.registry.register(self._open_collector)
        self.control_metrics = ControlMetrics(self.registry, centers)
        self.control_metrics.show_config(config.sha256)
        self.drift = DialplanDrift(self.control_metrics, config.sha256, config.source)
        self.journal = journal
        watch_journal(self.registry, journal.stats)
        table = self.router.table
        # One count per fallback call, whether AMI or the queue_log tells it first.
        self.fallback_book = FallbackBook(self.metrics.fallback_calls)
        self.tracker = CallTracker(
            config,
            journal.record,
            self.metrics,
            wall_clock,
            journal.caller_hash,
            classify=lambda raw: classify_caller(raw, table),
            on_reconciled=self._reconciled,
            fallback_book=self.fallback_book,
        )
        self._wall_clock = wall_clock
        self._mono = mono_clock
        self.events: asyncio.Queue[list[object]] = asyncio.Queue()
        self.session = AmiSession(
            options.ami.host,
            options.ami.port,
            config.controller.ami_username,
            secret,
            sink=self.events.put_nowait,
            rng=rng or random.Random(),
            on_malformed=lambda _what: self.metrics.malformed.labels("ami").inc(),
            on_login_refused=self._login_refused,
        )
        # Set when the very first login is refused; serve() then stops with exit 2.
        self.failed = asyncio.Event()
        self.failure: str | None = None
        self.service = RoutingService(self.router, self.live.snapshot, wall_clock, self._decided)
        self.agi = FastAgiServer(
            self._timed_service,
            deadline_s=config.controller.agi_deadline_ms / 1000,
            clock=mono_clock,
            on_result=self._agi_result,
            scripts=frozenset({AGI_SCRIPT, CALLBACK_SCRIPT}),
        )
        # The callback desk, when a center offers callbacks and a callback key is set.
        self.callbacks: CallbackDesk | None = None
        self._secret = secret
        self._rng = rng or random.Random()
        self._state_clock = state_clock or mono_clock
        self._cb_session: AmiSession | None = None
        self._cb_events: asyncio.Queue[list[object]] = asyncio.Queue()
        self.queue_log: QueueLogFollower | None = None
        if options.queue_log:
            self.queue_log = QueueLogFollower(
                options.queue_log,
                config,
                table,
                journal,
                wall_clock=wall_clock,
                mono_clock=mono_clock,
                metrics=self.metrics,
                fallback_book=self.fallback_book,
            )
        self._tasks: list[asyncio.Task[None]] = []
        self._consumer: asyncio.Task[None] | None = None
        self._http: object | None = None
        # Queues of a shared Asterisk that no center owns: each logged once.
        self._unknown_queues: set[str] = set()
        self.metrics.state_stale.set(1)

    def _login_refused(self, message: str) -> None:
        user = self.config.controller.ami_username
        self.metrics.ami_login_failures.inc()
        if self.session.ever_logged_in or self.failure is not None:
            # A secret rotated in Asterisk under a running controller: keep
            # routing on the last known state, keep retrying (the session logs
            # it once a minute; the alert LotseAmiLoginRefused fires).
            return
        ami = self.options.ami
        self.failure = f"AMI {ami.host}:{ami.port}: login refused for user {user} ({message})"
        self.failed.set()

    # --- the FastAGI side --------------------------------------------------------

    def _timed_service(self, request: AgiRequest) -> AgiReply | Awaitable[AgiReply]:
        if request.script == CALLBACK_SCRIPT:
            return self._callback_request(request)
        start = self._mono()
        self.drift.observe(request.arg(ARG_CONFIG))
        reply = self.service(request)
        self.metrics.decision_latency.observe(self._mono() - start)
        offer = self._offer
        if offer:
            reply = AgiReply((*reply.variables, (VAR_CB_OFFER, offer)))
            self._offer = ""
        return reply

    _offer = ""

    async def _callback_request(self, request: AgiRequest) -> AgiReply:
        desk = self.callbacks
        if desk is None:
            return AgiReply(((VAR_CB_RESULT, "unavailable"),))
        return await desk.request(request)

    def _decided(
        self, req: RoutingRequest, decision: Decision, now: datetime, snapshot: Snapshot
    ) -> None:
        self.metrics.decisions.labels("stale" if snapshot.stale else "fresh").inc()
        self.tracker.on_decision(req, decision, now, snapshot)
        if self.callbacks is not None and self.callbacks.store.can_seal:
            # Read back by _timed_service for this same request (it runs inline).
            # Without a current key nothing is offered that could not be taken.
            self._offer = offer_for(decision, self.config.centers, snapshot)

    def _agi_result(self, result: AgiResult, elapsed_s: float) -> None:
        self.metrics.agi_requests.labels(str(result)).inc()
        if result is AgiResult.MALFORMED:
            self.metrics.malformed.labels("agi").inc()

    # --- hot reload ------------------------------------------------------------

    def reconfigure(self, config: Config, router: Router) -> None:
        """Swap in a reloaded configuration, atomically between two decisions.

        Synchronous on the event loop, like every decision, so no decision
        sees half of it. Live queue state, calls being followed, counters and
        overrides are kept. Listen addresses, the AMI login, the journal and
        the AGI deadline stay as started (they need a restart), and so does
        whether the callback dialer runs (started with the controller).
        """
        added = set(config.center_by_queue) - set(self.config.center_by_queue)
        self.config = config
        self.router = router
        self.live.reconfigure(config.center_by_queue)
        self.metrics.follow_centers(config.centers)
        self.tracker.reconfigure(config)
        self.service.use(router)
        self._queue_collector.use_centers(config.centers)
        self._open_collector.use_router(router)
        self.control_metrics.show_config(config.sha256)
        self.drift.expect(config.sha256, config.source)
        if self.callbacks is not None:
            # Attempts, retry interval, ring timeout and opening rule from the next tick.
            self.callbacks.reconfigure(config, router)
            self._cb_metrics.follow_centers(list(config.centers))
        if added and self.session.connected:
            # New queues start empty: ask Asterisk who is in them.
            self._tasks.append(
                asyncio.create_task(self._resync(reconcile=False), name="reload-resync")
            )

    # --- the ordered consumer ----------------------------------------------------

    async def _consume(self) -> None:
        """Apply every AMI event, in wire order, to the state and the call tracker."""
        live, tracker = self.live, self.tracker
        while True:
            batch = await self.events.get()
            for event in batch:
                if isinstance(event, Connected):
                    self.metrics.ami_connected.set(1)
                    self._tasks.append(asyncio.create_task(self._resync(), name="ami-resync"))
                elif isinstance(event, Disconnected):
                    self.metrics.ami_connected.set(0)
                    live.mark_stale()
                    tracker.abort_reconcile()
                    log.warning("state.stale", reason=event.reason)
                else:
                    queue = getattr(event, "queue", None)
                    if queue is not None and queue not in self.config.center_by_queue:
                        self._unknown_queue(queue)
                    try:
                        live.apply(event)
                        tracker.apply(event)
                    except Exception as exc:
                        # One event's failure must not stop the consumer: every
                        # later event, and stop(), depend on it.
                        self.metrics.event_errors.inc()
                        log.error(
                            "state.event_failed",
                            ami_event=type(event).__name__,
                            error=type(exc).__name__,
                        )
            # Once per batch: the gauge follows resyncs and disconnects.
            self.metrics.state_stale.set(1 if live.stale else 0)

    def _unknown_queue(self, queue: str) -> None:
        """An event of a queue no center owns: counted, and logged the first time.

        Either another service's queue on a shared Asterisk (harmless, ignored
        by the state) or a dialplan/queues file out of step with the config.
        """
        self.metrics.unknown_queue_events.inc()
        seen = self._unknown_queues
        if queue not in seen and len(seen) < _UNKNOWN_QUEUES_LOGGED:
            seen.add(queue)
            log.warning("ami.unknown_queue", queue=queue[:64])

    async def _resync(self, reconcile: bool = True) -> None:
        """Rebuild the queue state from QueueStatus after every (re)connect, then reconcile.

        A reload that adds queues asks too, without reconciling (no call was missed).
        """
        action_id = self.session.next_action_id()
        # The consumer handles this call before any list item can arrive,
        # because the items travel through the same queue after it.
        self.live.begin_resync(action_id)
        try:
            result = await self.session.action("QueueStatus", action_id=action_id, timeout=10)
        except AmiError as err:
            log.warning("state.resync_failed", error=str(err))
            return
        self.metrics.resyncs.inc()
        log.info("state.resynced", items=result.items)
        if reconcile:
            await self._reconcile()

    async def _ask_waits(self, calls: tuple[tuple[str, str], ...]) -> None:
        """Ask Asterisk how long each caller answered unseen had waited (QEHOLDTIME)."""
        for call_id, channel in calls:
            action_id = self.session.next_action_id()
            self.tracker.expect_status(action_id, call_id)
            try:
                await self.session.action(
                    "Status",
                    [("Channel", channel), ("Variables", "QEHOLDTIME,MEMBERNAME")],
                    action_id=action_id,
                    timeout=5,
                )
            except AmiError:
                # Gone meanwhile, or the link: the answer is journaled without its wait.
                self.tracker.status_failed(action_id)

    async def _reconcile(self) -> None:
        """Match the journal's open calls (this process's and a killed one's) with
        the channels alive in Asterisk: continue, close or adopt (see calltrack)."""
        try:
            open_calls = await self.journal.open_calls()
        except JournalError as err:
            log.warning("calls.reconcile_failed", error=str(err))
            return
        if not self.session.connected:
            return  # lost again meanwhile: the next Connected reconciles
        action_id = self.session.next_action_id()
        # As for the resync: set up before the answer's items can reach the consumer.
        self.tracker.begin_reconcile(action_id, open_calls)
        try:
            await self.session.action("CoreShowChannels", action_id=action_id, timeout=10)
        except AmiError as err:
            self.tracker.abort_reconcile()
            log.warning("calls.reconcile_failed", error=str(err))

    def _reconciled(self, result: ReconcileResult) -> None:
        self.metrics.reconciles.inc()
        if self.callbacks is not None:
            self._tasks.append(
                asyncio.create_task(self._recover_callbacks(result.channels), name="cb-recover")
            )
        if result.unseen_answers:
            self._tasks.append(
                asyncio.create_task(self._ask_waits(result.unseen_answers), name="ami-status")
            )
        self.metrics.reconciled.labels("alive").inc(result.alive)
        self.metrics.reconciled.labels("closed_known").inc(result.closed - result.unknown)
        self.metrics.reconciled.labels("closed_unknown").inc(result.unknown)
        self.metrics.reconciled.labels("adopted").inc(result.adopted)
        log.info(
            "calls.reconciled",
            alive=result.alive,
            closed=result.closed,
            unknown=result.unknown,
            adopted=result.adopted,
        )

    def _callback_ended(self, stored: StoredRequest, outcome: str, at: datetime) -> None:
        """A kept callback leaves the service level: counted for its call's home and
        for the center whose queue the caller left (docs/service-level.md)."""
        if stored.call_id and callback_kept(outcome, at.timestamp(), stored.deadline_s):
            self._tasks.append(
                asyncio.create_task(self._count_kept(stored.call_id, stored.center), name="cb-kept")
            )

    async def _count_kept(self, call_id: str, center: str) -> None:
        async def read(conn: aiosqlite.Connection) -> tuple[Any, ...] | None:
            async with conn.execute(_KEPT_CALL, (call_id,)) as cur:
                row = await cur.fetchone()
            return None if row is None else tuple(row)

        try:
            row = await self.journal.exclusive(read)
        except (JournalError, sqlite3.Error) as err:
            log.warning("callbacks.kept_unread", error=str(err))
            return
        # Only a call that was offered and nobody answered is in the service level.
        if row is None or not row[1] or row[2] is not None:
            return
        self.metrics.callbacks_kept.labels(center).inc()
        self.metrics.home_callbacks_kept.labels(row[0] or center).inc()

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start serving: FastAGI first (it answers even while AMI is down), then AMI.

        Raises :class:`StartupError` when an address cannot be listened on,
        with nothing of this controller left running (the journal is the
        caller's to close).
        """
        agi = self.options.agi_listen
        try:
            await self.agi.start(agi.host, agi.port)
        except OSError as err:
            raise _listen_error("FastAGI", agi, err) from err
        if self.options.metrics_listen is not None:
            m = self.options.metrics_listen
            try:
                self._http = start_http_server(m.port, addr=m.host, registry=self.registry)
            except OSError as err:
                await self.agi.close()
                raise _listen_error("metrics", m, err) from err
        self._consumer = asyncio.create_task(self._consume(), name="ami-consumer")
        self._tasks.append(self._consumer)
        if self.queue_log is not None:
            # Before AMI: what happened while the controller was down is
            # imported while the session logs in and reconciles.
            self._tasks.append(asyncio.create_task(self.queue_log.run(), name="queue-log"))
        self._tasks.append(self.session.start())
        await self._start_callbacks()
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        interval = watchdog.watchdog_interval_s()
        if interval is not None:
            self._tasks.append(asyncio.create_task(watchdog.feed_watchdog(interval)))
        watchdog.notify_ready()
        host, port = self.agi.address
        log.info(
            "controller.started",
            agi=f"{host}:{port}",
            ami=str(self.options.ami),
            metrics=str(self.options.metrics_listen),
        )

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) the metrics endpoint listens on (port 0 resolved), if serving."""
        if self._http is None:
            return None
        server = self._http[0]  # type: ignore[index]
        return str(server.server_address[0]), int(server.server_port)

    # --- callbacks -----------------------------------------------------------------

    async def _start_callbacks(self) -> None:
        """Open the callback desk and its AMI user, if a center offers callbacks.

        New requests need the current callback key (``$LOTSE_CALLBACK_KEY``, at
        least 16 bytes); without it no callback is offered (the dialogue hears
        ``unavailable`` and the caller stays in the queue), and the log says
        so. The desk runs all the same: the open requests stay listed and
        counted (as ``locked`` where no key of ``$LOTSE_CALLBACK_KEYS`` opens
        them either), so their deadlines are still watched.
        """
        user = callback_username(self.config)
        if user is None:
            return
        ring, problems = key_ring()
        for problem in problems:
            log.warning("callbacks.key_ignored", problem=problem)
        if not ring.can_seal:
            log.warning(
                "callbacks.disabled",
                reason=f"${CURRENT_ENV} unset or too short",
                effect="no new requests; open ones are listed and counted as locked",
            )
        store = await CallbackStore.open(self.options.journal_path, ring, self.journal.hash_key)
        # With no key at all nothing can be dialled: the dialer's AMI user
        # (perhaps never set up) is not logged in to.
        session = (
            AmiSession(
                self.options.ami.host,
                self.options.ami.port,
                user,
                os.environ.get(CALLBACK_AMI_SECRET_ENV) or self._secret,
                sink=self._cb_events.put_nowait,
                rng=self._rng,
                on_login_refused=lambda _msg: self.metrics.ami_login_failures.inc(),
            )
            if ring.can_seal or ring.older
            else None
        )
        self._cb_session = session

        async def originate(leg: Originate) -> bool:
            if session is None:
                return False
            try:
                await session.action("Originate", leg.action(), action_id=leg.attempt_id)
            except AmiActionFailed:
                return False  # refused: nothing was dialled
            except AmiError as err:
                # Sent or not, nobody can tell: the attempt stays in flight.
                raise ConnectionError(str(err)) from err
            return True

        cb_metrics = CallbackMetrics(self.registry, list(self.config.centers))
        self.callbacks = CallbackDesk(
            self.config,
            store,
            self.live,
            wall_clock=self._wall_clock,
            state_clock=self._state_clock,
            table=self.router.table,
            originate=originate,
            on_outcome=cb_metrics.outcome,
            ready=lambda: session is not None and session.connected,
            on_attempt=cb_metrics.attempt,
            router=self.router,
            home_of=self.tracker.home_of,
            on_ended=self._callback_ended,
        )
        self._cb_metrics = cb_metrics
        if session is not None:
            self._tasks.append(session.start())
            self._tasks.append(asyncio.create_task(self._callback_events(), name="callback-events"))
        self._tasks.append(asyncio.create_task(self._callback_loop(), name="callback-dialer"))
        log.info(
            "callbacks.started",
            ami_user=user if session is not None else None,
            current_key=ring.can_seal,
            older_keys=len(ring.older),
            older_keys_from=f"${OLDER_ENV}",
        )

    async def _callback_events(self) -> None:
        """The callback legs' outcomes, from the callback user's session."""
        desk = self.callbacks
        assert desk is not None
        while True:
            for event in await self._cb_events.get():
                try:
                    if isinstance(event, Disconnected):
                        # Their UserEvent or Hangup may pass unseen: the next
                        # reconcile asks Asterisk (an Asterisk restart drops both).
                        desk.connection_lost()
                        continue
                    ended = concluded(event, desk.attempts)
                    if ended is not None:
                        await desk.attempt_ended(*ended)
                except Exception as exc:  # one event must not stop the dialer
                    log.error("callbacks.event_failed", error=type(exc).__name__)

    async def _recover_callbacks(self, channels: frozenset[str]) -> None:
        """Attempts in flight that this process did not start (a restart) or whose
        events the callback session may have missed: one whose leg Asterisk still
        has is followed; one it has not is counted as failed and retried after the
        interval, never re-dialled at once."""
        desk = self.callbacks
        assert desk is not None

        async def alive(attempt: str) -> bool:
            return attempt in channels

        try:
            released = await desk.recover(alive)
        except Exception as exc:
            log.error("callbacks.recover_failed", error=type(exc).__name__)
            return
        if released:
            log.warning("callbacks.recovered", released=released)

    async def _callback_loop(self) -> None:
        desk = self.callbacks
        assert desk is not None
        while True:
            await asyncio.sleep(CALLBACK_TICK_S)
            try:
                await desk.tick()
            except Exception as exc:
                log.error("callbacks.tick_failed", error=type(exc).__name__)
            # Counted even when the dialer cannot work: the deadline alert reads these.
            try:
                self._cb_metrics.show(await desk.pending(), self._wall_clock())
            except Exception as exc:
                log.error("callbacks.metrics_failed", error=type(exc).__name__)

    def status_line(self) -> str:
        """What ``systemctl status lotse`` shows (sd_notify ``STATUS=``): one line."""
        if self.session.connected:
            ami = "AMI connected"
        elif self.session.refused_now is not None:
            ami = "AMI login refused"
        else:
            ami = "AMI down"
        state = "stale state" if self.live.stale else "fresh state"
        centers = len(self.config.centers)
        return (
            f"routing; {ami}, {state}; {centers} center{'' if centers == 1 else 's'}; "
            f"config {self.config.sha256[:12]}"
        )

    async def _housekeeping(self) -> None:
        last_purge = self._mono()
        shown = ""
        while True:
            status = self.status_line()
            if status != shown:
                shown = status
                watchdog.notify_status(status)
            await asyncio.sleep(1.0)
            if self._mono() - last_purge >= PURGE_INTERVAL_S:
                last_purge = self._mono()
                try:
                    purged = await self.journal.purge(self._wall_clock())
                except JournalError as exc:
                    # The journal's own state line says why; the next purge tries again.
                    log.error("journal.purge_failed", error=str(exc))
                    continue
                log.info("journal.purged", calls=purged)

    async def stop(self) -> None:
        """Drain in-flight FastAGI requests, log off, flush the journal (SIGTERM)."""
        watchdog.notify_stopping()
        await self.agi.close()
        await self.agi.drain(DRAIN_TIMEOUT_S)
        await self.session.stop()
        if self._cb_session is not None:
            await self._cb_session.stop()
        # Let the consumer apply what already arrived before the journal closes.
        consumer = self._consumer
        while not self.events.empty() and consumer is not None and not consumer.done():
            await asyncio.sleep(0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Calls that hung up but wait for their talk time end now, without
        # it: their rows must not stay open for the next start to guess at.
        self.tracker.end_pending()
        await self.journal.close()
        if self._http is not None:
            server = self._http[0]  # type: ignore[index]
            server.shutdown()
        log.info("controller.stopped")


def journal_key(config: Config, environ: dict[str, str] | None = None) -> JournalKey:
    """The key of the journal's caller hashes, from the environment or the key file.

    Raises :class:`JournalKeyError` when there is none: a production journal
    is never written with hashes anyone holding the file could reverse.
    """
    c = config.controller
    key = load_key(c.journal_key_env, c.journal_key_file, c.journal_salt_env, environ)
    if key is None:
        raise JournalKeyError(
            f"no journal key: set ${c.journal_key_env} or controller.journal_key_file "
            "in the config (at least 16 random characters; see README, Privacy)"
        )
    return key


async def open_journal(
    config: Config,
    path: str,
    wall_clock: Callable[[], datetime],
    key: JournalKey | None = None,
) -> Journal:
    """Open the journal with ``key``, else the configured one (:func:`journal_key`)."""
    c = config.controller
    key = key or journal_key(config)
    if "deprecated" in key.source:
        # The standard library's logger, like the journal's own: commands that
        # print JSON on stdout (import-queue-log) configure no structlog.
        logging.getLogger("lotse.journal").warning(
            "journal.key_deprecated_name",
            extra={"key_source": key.source, "use": f"${c.journal_key_env}"},
        )
    # The journal's open line says where the key came from, never the key.
    return await Journal.open(
        path,
        clock=wall_clock,
        key=key.secret,
        key_source=key.source,
        retention_days=c.journal_retention_days,
    )
