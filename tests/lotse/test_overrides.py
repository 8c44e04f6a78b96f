"""Supervisor overrides: stored before they apply, named in decisions, lifted at their end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from lotse.journal.overridestore import OverrideStore
from lotse.journal.store import Journal
from lotse.livestate import LiveState
from lotse.overrides import OverrideBook, OverrideError, OverrideMode
from metrics.control import ControlMetrics
from router.state import Override

BERLIN = ZoneInfo("Europe/Berlin")
CENTERS = {"115-bremen": "bremen", "115-bund": "bund"}


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Books:
    path: Path
    clock: Clock
    registry: CollectorRegistry
    live: LiveState

    async def open(self) -> tuple[OverrideBook, OverrideStore]:
        store = await OverrideStore.open(self.path)
        metrics = ControlMetrics(CollectorRegistry(), CENTERS.values())
        book = OverrideBook(self.live, store, metrics, self.clock, CENTERS.values(), BERLIN)
        await book.load()
        return book, store


@pytest.fixture
async def books(tmp_path: Path) -> AsyncIterator[Books]:
    path = tmp_path / "journal.sqlite"
    clock = Clock()
    journal = await Journal.open(path, clock=clock)
    yield Books(path, clock, CollectorRegistry(), LiveState(CENTERS, lambda: 0.0))
    await journal.close()


async def test_an_override_reaches_the_snapshot_with_its_reason(books: Books) -> None:
    book, store = await books.open()
    until = books.clock.at + timedelta(hours=2)
    await book.change("bremen", OverrideMode.CLOSED, until=until, reason="staff  meeting", uid=1000)
    state = books.live.snapshot().of("bremen")
    assert state.override is Override.CLOSED
    assert state.override_closed_reason() == (
        "closed by override: staff meeting (until 2026-11-24 12:00 CET)"
    )
    await book.change("bremen", OverrideMode.AUTO, until=None, reason="", uid=1000)
    assert books.live.snapshot().of("bremen").override is None
    trail = await store.audit_trail()
    assert [(e.action, e.center, e.mode, e.uid) for e in trail] == [
        ("override", "bremen", "closed", 1000),
        ("override", "bremen", "auto", 1000),
    ]
    assert trail[0].until == until and trail[0].reason == "staff meeting"
    await store.close()


async def test_an_override_survives_a_restart_and_expires_at_its_end(books: Books) -> None:
    book, store = await books.open()
    until = books.clock.at + timedelta(minutes=30)
    await book.change("bremen", OverrideMode.OPEN, until=until, reason="crisis", uid=7)
    await store.close()

    # A new controller: fresh live state, same journal file.
    books.live = LiveState(CENTERS, lambda: 0.0)
    book, store = await books.open()
    assert books.live.snapshot().of("bremen").override is Override.OPEN
    assert book.current["bremen"].set_by_uid == 7

    books.clock.at = until - timedelta(microseconds=1)
    assert await book.expire_due() == []
    assert books.live.snapshot().of("bremen").override is Override.OPEN
    books.clock.at = until  # the end itself: lifted
    assert await book.expire_due() == ["bremen"]
    assert books.live.snapshot().of("bremen").override is None
    trail = await store.audit_trail()
    assert (trail[-1].action, trail[-1].uid, trail[-1].center) == ("expire", None, "bremen")
    await store.close()

    # Lifted for good: the next start finds nothing.
    books.live = LiveState(CENTERS, lambda: 0.0)
    book, store = await books.open()
    assert book.current == {}
    await store.close()


async def test_an_override_past_its_end_while_down_is_lifted_at_start(books: Books) -> None:
    book, store = await books.open()
    until = books.clock.at + timedelta(minutes=5)
    await book.change("bund", OverrideMode.CLOSED, until=until, reason="", uid=0)
    await store.close()
    books.clock.at = until + timedelta(hours=1)
    books.live = LiveState(CENTERS, lambda: 0.0)
    book, store = await books.open()
    assert book.current == {}
    assert books.live.snapshot().of("bund").override is None
    await store.close()


async def test_bad_requests_change_nothing(books: Books) -> None:
    book, store = await books.open()
    now = books.clock.at
    bad = [
        ("nowhere", OverrideMode.CLOSED, None, "unknown center"),
        ("bremen", OverrideMode.CLOSED, now, "not in the future"),
        ("bremen", OverrideMode.AUTO, now + timedelta(hours=1), "auto has no end"),
        ("bremen", OverrideMode.CLOSED, datetime(2030, 1, 1), "time zone"),
    ]
    for center, mode, until, message in bad:
        with pytest.raises(OverrideError, match=message):
            await book.change(center, mode, until=until, reason="x", uid=0)
    with pytest.raises(OverrideError, match="reason longer"):
        await book.change("bremen", OverrideMode.CLOSED, until=None, reason="x" * 201, uid=0)
    await book.change("bremen", OverrideMode.CLOSED, until=None, reason="x" * 200, uid=0)
    await book.change("bremen", OverrideMode.AUTO, until=None, reason="", uid=0)
    assert [e.action for e in await store.audit_trail()] == ["override", "override"]
    await store.close()


async def test_the_gauge_shows_one_mode_per_center(books: Books) -> None:
    registry = CollectorRegistry()
    store = await OverrideStore.open(books.path)
    metrics = ControlMetrics(registry, CENTERS.values())
    book = OverrideBook(books.live, store, metrics, books.clock, CENTERS.values(), BERLIN)
    await book.load()

    def modes(center: str) -> dict[str, float | None]:
        return {
            m: registry.get_sample_value("lotse_center_override", {"center": center, "mode": m})
            for m in ("closed", "open", "auto")
        }

    assert modes("bremen") == {"closed": 0.0, "open": 0.0, "auto": 1.0}
    await book.change("bremen", OverrideMode.CLOSED, until=None, reason="", uid=0)
    assert modes("bremen") == {"closed": 1.0, "open": 0.0, "auto": 0.0}
    book.reconfigure(["bund"], BERLIN)
    assert modes("bremen") == {"closed": None, "open": None, "auto": None}
    assert books.live.snapshot().of("bremen").override is None
    # Kept for when the center comes back.
    book.reconfigure(CENTERS.values(), BERLIN)
    assert modes("bremen")["closed"] == 1.0
    await store.close()
