"""What the control socket does with a running controller: status, route, override, reload,
callbacks, report.

Built by ``lotse run`` around its :class:`~lotse.controller.Controller`
before the controller starts, so stored overrides apply from the first
decision. A reload reads and checks the whole file off the event loop; only
a configuration with no problem is swapped in, in one synchronous step between
two decisions (:meth:`Controller.reconfigure`). A refused file changes nothing.

A report is computed here because no other process may open the journal while
the controller has it (:func:`lotse.journal.schema.file_uri`): on a read-only
connection of its own, in a worker thread, one report at a time, so routing
and the journal's writer go on meanwhile. It is a read: not audited.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from lotse import watchdog
from lotse.commands.route import decision_json
from lotse.control import protocol as p
from lotse.control.protocol import Answer, Peer, RequestError
from lotse.control.server import ControlServer
from lotse.controller import Controller
from lotse.journal.callbackstore import StoredRequest
from lotse.journal.overridestore import AuditEntry, CenterOverride, OverrideStore
from lotse.journal.report import parse_day, read_report, report_doc
from lotse.journal.schema import JournalError
from lotse.journal.sidetable import connect_side_table
from lotse.overrides import OverrideBook, OverrideError, OverrideMode
from router.config import Config
from router.configload import ConfigError, load_config
from router.numbering import OrtsnetzTable
from router.opening import Moment
from router.policy import Call, Router, decide

log = structlog.get_logger("lotse.control")

# Settings read once at start-up: a reload that changes them says so.
RESTART_SETTINGS = (
    ("ami", "controller.ami"),
    ("ami_username", "controller.ami_username"),
    ("ami_secret_env", "controller.ami_secret_env"),
    ("ami_secret_file", "controller.ami_secret_file"),
    ("agi_listen", "controller.agi_listen"),
    ("metrics_listen", "controller.metrics_listen"),
    ("agi_deadline_ms", "controller.agi_deadline_ms"),
    ("journal_path", "controller.journal"),
    ("journal_retention_days", "controller.journal_retention_days"),
    ("journal_key_env", "controller.journal_key_env"),
    ("journal_key_file", "controller.journal_key_file"),
    ("journal_salt_env", "controller.journal_salt_env"),
    ("control_socket", "controller.control_socket"),
    ("queue_log", "controller.queue_log"),
)
# The times a request may name: the 115's calendar, not datetime's.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# An override's end: beyond a year it is the configuration's business.
MAX_AHEAD = timedelta(days=366)
_MALFORMED = frozenset({p.BAD_REQUEST, p.TOO_LARGE, p.UNKNOWN_COMMAND, p.FORBIDDEN, p.BUSY})


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: accepted (and the new hash) or refused (and every problem)."""

    accepted: bool
    path: str
    sha256: str = ""
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Operations:
    """Overrides, reloads and the control socket of one running controller."""

    def __init__(
        self,
        controller: Controller,
        store: OverrideStore,
        book: OverrideBook,
        *,
        config_path: Path,
        table: OrtsnetzTable,
        wall_clock: Callable[[], datetime],
        socket_path: str | None,
        socket_mode: int,
        authorize: Callable[[Peer], bool] | None,
    ) -> None:
        self.controller = controller
        self.store = store
        self.book = book
        self.config_path = config_path
        self._table = table
        self._now = wall_clock
        self.loaded_at = wall_clock()
        self._reload_lock = asyncio.Lock()
        # A day's report is seconds of work at most; two at once would only
        # take twice the CPU from routing.
        self._report_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self.server = (
            ControlServer(
                socket_path,
                self.handle,
                mode=socket_mode,
                authorize=authorize,
                on_rejected=self._count_rejected,
            )
            if socket_path
            else None
        )

    @classmethod
    async def open(
        cls,
        controller: Controller,
        *,
        table: OrtsnetzTable,
        wall_clock: Callable[[], datetime],
        config_path: Path | None = None,
        socket_path: str | None = None,
        socket_mode: int = 0o660,
        authorize: Callable[[Peer], bool] | None = None,
    ) -> Operations:
        """Read the stored overrides into the controller's live state (before it starts).

        The controller's journal must be open (it creates the tables).
        """
        config = controller.config
        store = await OverrideStore.open(controller.options.journal_path)
        book = OverrideBook(
            controller.live,
            store,
            controller.control_metrics,
            wall_clock,
            config.centers,
            controller.router.tz,
        )
        try:
            await book.load()
        except BaseException:
            await store.close()
            raise
        return cls(
            controller,
            store,
            book,
            config_path=(config_path or Path(config.source)).absolute(),
            table=table,
            wall_clock=wall_clock,
            socket_path=socket_path,
            socket_mode=socket_mode,
            authorize=authorize,
        )

    async def start(self, expiry_interval_s: float = 1.0) -> None:
        """Listen on the control socket and lift overrides at their end time."""
        self._tasks.append(
            asyncio.create_task(self.book.run_expiry(expiry_interval_s), name="override-expiry")
        )
        if self.server is not None:
            await self.server.start()

    async def close(self) -> None:
        """Stop listening and checking (before the controller stops)."""
        if self.server is not None:
            await self.server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.store.close()

    def reload_soon(self, uid: int | None = None) -> None:
        """Reload in the background (SIGHUP): the outcome goes to the log and the metrics."""
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(self.reload(uid, via="SIGHUP"), name="reload"))

    def _count_rejected(self, kind: str) -> None:
        if kind in _MALFORMED:
            self.controller.metrics.malformed.labels("control").inc()

    # --- the commands ------------------------------------------------------------

    async def handle(self, request: dict[str, Any], peer: Peer) -> Answer:
        """Serve one parsed request from ``peer``."""
        command = request["command"]
        if command == "status":
            return await self._status()
        if command == "route":
            return await self._route(request)
        if command == "override":
            return await self._override(request, peer)
        if command == "report":
            return await self._report(request)
        if command == "callbacks":
            cancel = p.text_arg(request, "cancel")
            if cancel:
                return await self._cancel_callback(cancel, peer)
            return await self._callbacks()
        return await self._reload(peer)

    async def _cancel_callback(self, request_id: str, peer: Peer) -> Answer:
        desk = self.controller.callbacks
        if desk is None:
            raise RequestError(p.BAD_INPUT, "callbacks are not enabled")
        try:
            ended = await desk.cancel(request_id)
        except ValueError as err:
            raise RequestError(p.BAD_INPUT, str(err)) from None
        if ended is None:
            raise RequestError(p.BAD_INPUT, f"no open callback request {request_id!r}")
        await self._audit(
            AuditEntry(self._now(), peer.uid, "callback-cancel", ended.center, detail=request_id)
        )
        return await self._callbacks()

    async def _callbacks(self) -> Answer:
        """The open callback requests, oldest place in line first, without numbers."""
        desk = self.controller.callbacks
        if desk is None:
            return Answer({"enabled": False, "pending": []})
        now = self._now()
        pending = [
            {
                "id": r.id,
                "center": r.center,
                "requested_at": r.requested_at.isoformat(),
                "waiting_s": round(now.timestamp() - r.entered_s, 1),
                "deadline": datetime.fromtimestamp(r.deadline_s, now.tzinfo).isoformat(),
                "deadline_left_s": round(r.deadline_s - now.timestamp(), 1),
                "attempts": r.attempts,
                "in_flight": r.in_flight is not None,
                "locked": r.locked,
                "state": _callback_state(r),
                "ortsnetz_prefix": r.ortsnetz_prefix,
            }
            for r in await desk.pending()
        ]
        # enabled: new requests are taken (there is a current key).
        return Answer({"enabled": desk.store.can_seal, "pending": pending})

    async def _report(self, request: dict[str, Any]) -> Answer:
        """``lotse report`` of the live journal: the same rows as read from the file."""
        text = p.text_arg(request, "day", required=True)
        assert text is not None
        try:
            day = parse_day(text)
        except ValueError as err:
            raise RequestError(p.BAD_REQUEST, f"day: {err}") from None
        config = self.controller.config
        tz = ZoneInfo(config.timezone)
        path = self.controller.options.journal_path
        async with self._report_lock:
            try:
                conn = await connect_side_table(
                    path, "calls", "the calls", pragmas=("query_only=ON",)
                )
                try:
                    rows = await asyncio.to_thread(read_report, conn, day, tz, config.service_level)
                finally:
                    await asyncio.to_thread(conn.close)
            except JournalError as err:
                raise self._report_failed(str(err)) from None
            except sqlite3.Error as err:
                raise self._report_failed(f"{path}: reading the journal failed: {err}") from None
        result = report_doc(rows, day, tz, config.service_level)
        # Whose figures: lotse report asking in its stead checks it is its file.
        result["journal"] = str(Path(path).resolve())
        return Answer(result)

    @staticmethod
    def _report_failed(message: str) -> RequestError:
        log.error("control.report_failed", error=message)
        return RequestError(p.FAILED, message)

    async def _status(self) -> Answer:
        await self.book.expire_due()
        return Answer(self.status())

    def status(self) -> dict[str, Any]:
        """The controller's state as ``lotse ctl status --json`` shows it."""
        c = self.controller
        router = c.router
        now = self._now()
        moment = Moment.of(now.astimezone(router.tz))
        snap = c.live.snapshot()
        registry = c.registry
        connected = registry.get_sample_value("lotse_ami_connected") == 1
        centers = []
        for cid, center in c.config.centers.items():
            state = snap.of(cid)
            why = router.closed_reason(cid, moment, snap)
            override = self.book.current.get(cid)
            wait = state.expected_wait_s()
            centers.append(
                {
                    "id": cid,
                    "name": center.name,
                    "open": why is None,
                    "why": why
                    or (state.override_open_reason() if state.override else "opening hours"),
                    "override": _override_json(override),
                    "waiting": state.waiting,
                    "agents_logged_in": state.agents_logged_in,
                    "agents_available": state.agents_available,
                    "expected_wait_s": None if wait is None or math.isinf(wait) else round(wait),
                }
            )
        drift = c.drift
        return {
            "config": str(self.config_path),
            "config_sha256": c.config.sha256,
            "loaded_at": self.loaded_at.isoformat(),
            "now": now.isoformat(),
            "ami": {"connected": connected, "stale": snap.stale},
            "dialplan": {
                "config_sha256": drift.seen,
                "mismatch": drift.mismatch,
                "hint": drift.hint() if drift.mismatch else None,
            },
            "control_socket": self.server.path if self.server else None,
            "centers": centers,
        }

    async def _route(self, request: dict[str, Any]) -> Answer:
        numbers = request.get("numbers")
        if (
            not isinstance(numbers, list)
            or not numbers
            or not all(isinstance(n, str) for n in numbers)
        ):
            raise RequestError(p.BAD_REQUEST, "numbers: expected a list of strings")
        if len(numbers) > p.MAX_NUMBERS:
            raise RequestError(p.BAD_INPUT, f"numbers: at most {p.MAX_NUMBERS} per request")
        dialed = p.text_arg(request, "dialed") or "115"
        postal = p.text_arg(request, "postal_code")
        visited = tuple(v for v in (p.text_arg(request, "visited") or "").split(",") if v)
        await self.book.expire_due()
        router = self.controller.router
        now = _parse_time(p.text_arg(request, "at"), router, "at") or self._now()
        now = now.astimezone(router.tz)
        snapshot = self.controller.live.snapshot()
        decisions = []
        for number in numbers:
            # Decided like a FastAGI request, but nothing is recorded: no call exists.
            decision = decide(Call(number, dialed, postal, visited), now, snapshot, router)
            decisions.append(decision_json(decision, now))
        return Answer({"decisions": decisions, "stale": snapshot.stale})

    async def _override(self, request: dict[str, Any], peer: Peer) -> Answer:
        center = p.text_arg(request, "center", required=True)
        assert center is not None
        mode_text = p.text_arg(request, "mode", required=True)
        try:
            mode = OverrideMode(mode_text or "")
        except ValueError:
            raise RequestError(p.BAD_INPUT, f"mode {mode_text!r}: closed, open or auto") from None
        until = _parse_time(
            p.text_arg(request, "until"), self.controller.router, "until", self._now()
        )
        reason = p.text_arg(request, "reason") or ""
        if center not in self.controller.config.centers:
            known = ", ".join(self.controller.config.centers)
            raise RequestError(p.UNKNOWN_CENTER, f"unknown center {center!r}; configured: {known}")
        try:
            override = await self.book.change(
                center, mode, until=until, reason=reason, uid=peer.uid
            )
        except OverrideError as err:
            raise RequestError(p.BAD_INPUT, str(err)) from None
        warnings = ["the static fallback in the dialplan does not know overrides"]
        return Answer({"center": center, "override": _override_json(override)}, warnings)

    async def _reload(self, peer: Peer) -> Answer:
        result = await self.reload(peer.uid, via="lotse ctl reload")
        if not result.accepted:
            raise RequestError(
                p.REFUSED,
                f"{result.path}: configuration refused; the old one stays in effect",
                result.problems,
            )
        return Answer({"config": result.path, "config_sha256": result.sha256}, result.warnings)

    # --- reload ------------------------------------------------------------------

    async def reload(self, uid: int | None, *, via: str = "reload") -> ReloadResult:
        """Read and check the configuration file; swap it in only if it has no problem."""
        async with self._reload_lock:
            # systemctl status shows "reloading" until READY=1, whatever the outcome.
            watchdog.notify_reloading()
            try:
                return await self._reload_file(uid, via)
            finally:
                watchdog.notify_ready()

    async def _reload_file(self, uid: int | None, via: str) -> ReloadResult:
        path = self.config_path
        try:
            config = await asyncio.to_thread(load_config, path, table=self._table)
            router = await asyncio.to_thread(Router, config, self._table)
        except ConfigError as err:
            return await self._refused(path, err.lines(), uid, via)
        except OSError as err:
            problem = f"{path}: cannot read configuration: {err.strerror}"
            return await self._refused(path, [problem], uid, via)
        c = self.controller
        old = c.config
        # One synchronous step: no decision runs between these lines.
        c.reconfigure(config, router)
        self.book.reconfigure(config.centers, router.tz)
        self.loaded_at = self._now()
        c.control_metrics.reloads.labels("accepted").inc()
        warnings = (
            _restart_warnings(old, config)
            + _callback_warnings(old, config, dialer=c.callbacks is not None)
            + self._drift_warnings(old, config)
        )
        log.info(
            "config.reloaded",
            config=str(path),
            sha256=config.sha256,
            via=via,
            uid=uid,
            unchanged=old.sha256 == config.sha256,
            warnings=warnings,
        )
        await self._audit(
            AuditEntry(self.loaded_at, uid, "reload", detail=f"{path} sha256 {config.sha256}")
        )
        return ReloadResult(True, str(path), config.sha256, warnings=warnings)

    async def _refused(
        self, path: Path, problems: list[str], uid: int | None, via: str
    ) -> ReloadResult:
        self.controller.control_metrics.reloads.labels("refused").inc()
        log.warning(
            "config.reload_refused",
            config=str(path),
            via=via,
            uid=uid,
            problems=problems,
            kept_sha256=self.controller.config.sha256,
        )
        detail = f"{path}: {len(problems)} problem(s); first: {problems[0] if problems else ''}"
        await self._audit(AuditEntry(self._now(), uid, "reload-refused", detail=detail))
        return ReloadResult(False, str(path), problems=problems)

    async def _audit(self, entry: AuditEntry) -> None:
        try:
            await self.store.audit(entry)
        except Exception as exc:
            # The reload happened (or was refused) either way; say the record is missing.
            log.error("control.audit_failed", action=entry.action, error=str(exc))

    def _drift_warnings(self, old: Config, new: Config) -> list[str]:
        drift = self.controller.drift
        if old.sha256 == new.sha256:
            return []
        if drift.mismatch is None:
            return [
                "the dialplan has not yet said which configuration it was built from; if "
                "queues, hours or partners changed, " + drift.hint()
            ]
        if drift.mismatch:
            return ["Asterisk runs a dialplan built from another configuration: " + drift.hint()]
        return []


def _restart_warnings(old: Config, new: Config) -> list[str]:
    changed = [
        key
        for attr, key in RESTART_SETTINGS
        if getattr(old.controller, attr) != getattr(new.controller, attr)
    ]
    if not changed:
        return []
    return [f"{', '.join(changed)} changed: in effect only after a restart of lotse run"]


def _callback_warnings(old: Config, new: Config, *, dialer: bool) -> list[str]:
    """What of the callback settings a reload cannot apply. The desk takes the
    rest (attempts, retry_interval_s, ring_timeout_s, the offers, hours)."""
    warnings = []
    offering = [cid for cid, c in new.centers.items() if c.callback is not None]
    if offering and not dialer:
        warnings.append(
            f"centers.{offering[0]}.callback: the callback dialer starts only with lotse run "
            "(none ran at its start): no request is taken or dialled until it restarts"
        )
    if old.callback_dial != new.callback_dial:
        warnings.append(
            "callback_dial changed: in effect once the dialplan is rebuilt "
            "(lotse dialplan build) and reloaded in Asterisk"
        )
    return warnings


def _parse_time(
    text: str | None, router: Router, what: str, now: datetime | None = None
) -> datetime | None:
    """``text`` as an aware time (the configuration's zone if it names none), or ``None``.

    Only times a calendar of the 115 can mean: from :data:`EARLIEST` to
    :data:`LATEST`, and with ``now`` at most :data:`MAX_AHEAD` after it (an
    override's end). An empty text is refused, not read as "none": leave
    the argument out for that.
    """
    if text is None:
        return None
    if not text.strip():
        raise RequestError(p.BAD_INPUT, f"{what}: empty; leave it out instead")
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=router.tz)
        # Year 9999 in a zone west of UTC is past what a datetime holds.
        in_utc = moment.astimezone(UTC)
    except ValueError:
        raise RequestError(
            p.BAD_INPUT, f"{what}: {text!r} is not an ISO 8601 time (e.g. 2026-12-24T17:30)"
        ) from None
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc < LATEST:
        raise RequestError(
            p.BAD_INPUT,
            f"{what}: {text!r} is outside {EARLIEST.year}–{LATEST.year - 1}",
        )
    if now is not None and in_utc > now + MAX_AHEAD:
        raise RequestError(
            p.BAD_INPUT,
            f"{what}: {text!r} is more than {MAX_AHEAD.days} days ahead; "
            "for longer, give no end or put closure days in the configuration",
        )
    return moment


def _callback_state(r: StoredRequest) -> str:
    if r.locked:
        return "locked"
    return "dialling" if r.in_flight is not None else "waiting"


def _override_json(override: CenterOverride | None) -> dict[str, Any] | None:
    if override is None:
        return None
    return {
        "mode": str(override.mode),
        "reason": override.reason,
        "until": override.until.isoformat() if override.until else None,
        "set_at": override.set_at.isoformat(),
        "set_by_uid": override.set_by_uid,
    }
