"""The call journal's health, read from the journal at each scrape.

The figures are the journal's own counters (``Journal.stats()``), not copies
kept in step by a loop: what ``/metrics`` shows is what the journal counted,
up to the scrape, and the log line the journal writes at SIGTERM has the same
numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Why a write to the journal file failed (SQLite's primary result code): the
# disk is full (or a file size limit was reached), the file or a side file is
# read-only or immutable, an I/O error, the file is damaged, it is locked by
# another process, it was removed (or replaced) under the running controller,
# or the record itself was refused (a bug; never spooled).
FAILURE_REASONS = ("full", "readonly", "io", "corrupt", "locked", "removed", "record", "other")


class JournalFigures(Protocol):
    """What the collector reads (``lotse.journal.store.JournalStats``)."""

    @property
    def written(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def spooled(self) -> int: ...
    @property
    def spool_records(self) -> int: ...
    @property
    def failures(self) -> Mapping[str, int]: ...
    @property
    def lag_s(self) -> float: ...
    @property
    def healthy(self) -> bool: ...


class JournalCollector(Collector):
    """Exports the journal's counters and state from ``read()`` at every scrape."""

    def __init__(self, read: Callable[[], JournalFigures]) -> None:
        self._read = read

    def describe(self) -> Iterator[Metric]:
        # Described without reading: registering must not touch the journal.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        s = self._read()
        written = CounterMetricFamily(
            "lotse_journal_written", "Journal records committed to the journal file"
        )
        written.add_metric([], s.written)
        yield written
        dropped = CounterMetricFamily(
            "lotse_journal_dropped",
            "Journal records lost: the in-memory queue and the spool were both full (or the "
            "journal was closed); Asterisk's queue_log still has these calls",
        )
        dropped.add_metric([], s.dropped)
        yield dropped
        spooled = CounterMetricFamily(
            "lotse_journal_spooled",
            "Journal records written to the spool beside the journal because the journal file "
            "could not take them (unwritable, full, or behind); replayed in order later",
        )
        spooled.add_metric([], s.spooled)
        yield spooled
        failures = CounterMetricFamily(
            "lotse_journal_write_failures",
            "Failed writes (transactions) to the journal file, by reason",
            labels=["reason"],
        )
        for reason in FAILURE_REASONS:
            failures.add_metric([reason], s.failures.get(reason, 0))
        yield failures
        waiting = GaugeMetricFamily(
            "lotse_journal_spool_records",
            "Records in the spool not yet replayed into the journal file",
        )
        waiting.add_metric([], s.spool_records)
        yield waiting
        lag = GaugeMetricFamily(
            "lotse_journal_lag_seconds",
            "Age of the oldest journal record not yet committed to the journal file "
            "(waiting in memory or in the spool)",
        )
        lag.add_metric([], s.lag_s)
        yield lag
        healthy = GaugeMetricFamily(
            "lotse_journal_healthy",
            "1 while the journal file takes writes, 0 since a write to it failed "
            "(records go to the spool until it takes writes again)",
        )
        healthy.add_metric([], 1.0 if s.healthy else 0.0)
        yield healthy


def watch_journal(registry: CollectorRegistry, read: Callable[[], JournalFigures]) -> None:
    """Export the journal's figures from ``read`` on ``registry``."""
    registry.register(JournalCollector(read))
