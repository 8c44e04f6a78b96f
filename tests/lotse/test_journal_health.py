"""The journal's health in /metrics: the journal's own counters, read at each scrape."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from lotse.journal import Journal, QueueJoined
from lotse.journal.store import failure_reason
from metrics.journal import FAILURE_REASONS, watch_journal
from tests.lotse.test_journal_store import T0, Clock


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_metrics_show_the_journals_own_counts(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path / "j.sqlite", clock=Clock(), batch_size=3, max_pending=3)
    registry = CollectorRegistry()
    watch_journal(registry, journal.stats)
    try:
        assert sample(registry, "lotse_journal_dropped_total") == 0
        assert sample(registry, "lotse_journal_healthy") == 1
        for reason in FAILURE_REASONS:
            assert sample(registry, "lotse_journal_write_failures_total", reason=reason) == 0
        for i in range(10):  # no await in between: the writer cannot drain
            journal.record(QueueJoined(f"c{i}", T0, "koeln", "115-koeln", 1))
        assert journal.stats().dropped == 7
        assert sample(registry, "lotse_journal_dropped_total") == 7
        await journal.flush()
        assert sample(registry, "lotse_journal_written_total") == 3
        assert sample(registry, "lotse_journal_lag_seconds") == 0
    finally:
        await journal.close()


def _error(code: int) -> sqlite3.Error:
    err = sqlite3.OperationalError("x")
    err.sqlite_errorcode = code
    return err


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (13, "full"),
        (8, "readonly"),
        (10, "io"),
        (10 | (3 << 8), "io"),  # SQLITE_IOERR_WRITE: an extended code, same reason
        (11, "corrupt"),
        (5, "locked"),
        (19, "record"),
        (99, "other"),
    ],
)
def test_failures_are_labelled_by_sqlites_primary_code(code: int, reason: str) -> None:
    assert failure_reason(_error(code)) == reason
    assert reason in FAILURE_REASONS


def test_an_error_without_a_code_is_other() -> None:
    assert failure_reason(sqlite3.InterfaceError("no code")) == "other"
