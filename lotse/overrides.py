"""Supervisor overrides: a center closed now, or kept open outside its hours.

The book is the one place overrides change. Each change is stored in the
journal file with its audit record *before* it takes effect (so what a
supervisor was told survives a restart), then handed to the live state, where
the routing policy reads it with every snapshot and names it in the
decision's reasons ("closed by override: staff meeting"). An override with an
end time lifts itself at that time; the controller checks every second, and
``lotse ctl status``/``route`` check before they answer. The static fallback
in the dialplan cannot know overrides: it routes by the calendar alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from enum import StrEnum
from types import MappingProxyType

import structlog

from lotse.journal.overridestore import AuditEntry, CenterOverride, OverrideStore
from lotse.livestate import LiveState
from metrics.control import ControlMetrics
from router.state import Override

log = structlog.get_logger("lotse.overrides")

# Reasons are typed by people and end up in every decision's reasons.
MAX_REASON_CHARS = 200
EXPIRY_CHECK_S = 1.0


class OverrideMode(StrEnum):
    """What a supervisor asks for: closed, open, or auto (back to the calendar)."""

    CLOSED = "closed"
    OPEN = "open"
    AUTO = "auto"


class OverrideError(ValueError):
    """A request the supervisor must fix (unknown center, end time in the past, ...)."""


def note(override: CenterOverride, tz: tzinfo) -> str:
    """How decisions name the override: the reason, and until when (local time)."""
    text = override.reason or "no reason given"
    if override.until is not None:
        text += f" (until {override.until.astimezone(tz):%Y-%m-%d %H:%M %Z})"
    return text


class OverrideBook:
    """The overrides in effect, kept in the journal and in the live state."""

    def __init__(
        self,
        live: LiveState,
        store: OverrideStore,
        metrics: ControlMetrics,
        wall_clock: Callable[[], datetime],
        centers: Iterable[str],
        tz: tzinfo,
    ) -> None:
        self._live = live
        self._store = store
        self._metrics = metrics
        self._now = wall_clock
        self._centers = frozenset(centers)
        self._tz = tz
        self._by_center: dict[str, CenterOverride] = {}
        # One change at a time: store, then apply, in the order asked.
        self._lock = asyncio.Lock()

    @property
    def current(self) -> Mapping[str, CenterOverride]:
        """The overrides in effect (and those kept for centers not configured now)."""
        return MappingProxyType(self._by_center)

    async def load(self) -> None:
        """Read the stored overrides (at start-up); those past their end are lifted."""
        for override in await self._store.load():
            self._by_center[override.center] = override
            if override.center not in self._centers:
                log.warning("override.center_not_configured", center=override.center)
        await self.expire_due()
        for center in self._by_center:
            self._apply(center)

    async def change(
        self,
        center: str,
        mode: OverrideMode,
        *,
        until: datetime | None,
        reason: str,
        uid: int | None,
    ) -> CenterOverride | None:
        """Set ``center``'s override (``auto`` lifts it); returns the one now in effect.

        Raises :class:`OverrideError` for an unknown center, an end time not
        in the future, or an end time given with ``auto``.
        """
        if center not in self._centers:
            known = ", ".join(sorted(self._centers))
            raise OverrideError(f"unknown center {center!r} (configured: {known})")
        reason = " ".join(reason.split())
        if len(reason) > MAX_REASON_CHARS:
            raise OverrideError(f"reason longer than {MAX_REASON_CHARS} characters")
        now = self._now()
        if until is not None:
            if until.tzinfo is None:
                raise OverrideError("until: give a time zone or let the client add the local one")
            if mode is OverrideMode.AUTO:
                raise OverrideError("until: auto has no end time (it is the calendar)")
            if until <= now:
                raise OverrideError(f"until {until.isoformat()} is not in the future")
        async with self._lock:
            override = None
            if mode is not OverrideMode.AUTO:
                override = CenterOverride(center, Override(mode.value), reason, until, now, uid)
            audit = AuditEntry(now, uid, "override", center, mode.value, until, reason)
            await self._store.change(center, override, audit)
            if override is None:
                self._by_center.pop(center, None)
            else:
                self._by_center[center] = override
            self._apply(center)
        log.info(
            "override.changed",
            center=center,
            mode=mode.value,
            until=until.isoformat() if until else None,
            reason=reason,
            uid=uid,
        )
        return override

    async def expire_due(self) -> list[str]:
        """Lift every override whose end time has come; returns their centers."""
        now = self._now()
        due = [c for c, o in self._by_center.items() if o.until is not None and o.until <= now]
        if not due:
            return []
        async with self._lock:
            lifted = []
            for center in due:
                override = self._by_center.get(center)
                if override is None or override.until is None or override.until > now:
                    continue
                audit = AuditEntry(
                    now, None, "expire", center, "auto", override.until, override.reason
                )
                await self._store.change(center, None, audit)
                del self._by_center[center]
                self._apply(center)
                lifted.append(center)
                log.info("override.expired", center=center, until=override.until.isoformat())
        return lifted

    async def run_expiry(self, interval_s: float = EXPIRY_CHECK_S) -> None:
        """Lift overrides at their end time, checking every ``interval_s`` (a task)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.expire_due()
            except Exception as exc:
                # A locked or full disk must not end the checks; the next one retries.
                log.error("override.expiry_failed", error=str(exc))

    def reconfigure(self, centers: Iterable[str], tz: tzinfo) -> None:
        """Follow a reloaded configuration: overrides of removed centers rest, kept."""
        old = self._centers
        self._centers = frozenset(centers)
        self._tz = tz
        for center in old - self._centers:
            self._live.set_override(center, None)
            self._metrics.forget_center(center)
        for center in self._centers:
            self._apply(center)

    def _apply(self, center: str) -> None:
        if center not in self._centers:
            return
        override = self._by_center.get(center)
        if override is None:
            self._live.set_override(center, None)
            self._metrics.show_override(center, OverrideMode.AUTO.value)
        else:
            self._live.set_override(center, override.mode, note(override, self._tz))
            self._metrics.show_override(center, override.mode.value)
