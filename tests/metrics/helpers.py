"""Shared by the metrics tests: the repository's config, promtool, the exported names."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from lotse.callbacks import CallbackMetrics
from lotse.journal.store import JournalStats
from metrics.control import ControlMetrics
from metrics.journal import watch_journal
from metrics.registry import CenterOpenCollector, LotseMetrics, QueueStateCollector
from router.config import Config
from router.configload import load_config
from router.numbering import OrtsnetzTable
from router.policy import Router
from router.state import Snapshot

REPO = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian package prometheus, installed by .ci/system-deps)",
)


def repo_config() -> Config:
    return load_config(REPO / "config.yaml", table=OrtsnetzTable.load())


def exposition(config: Config, at: datetime | None = None) -> str:
    """Everything the controller's registry exposes, in the text format."""
    registry = CollectorRegistry()
    LotseMetrics(registry, config.centers)
    ControlMetrics(registry, config.centers).show_config(config.sha256)
    registry.register(QueueStateCollector(Snapshot, config.centers))
    when = at or datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    router = Router(config, OrtsnetzTable.load())
    registry.register(CenterOpenCollector(router, lambda: when, Snapshot))
    if any(c.callback is not None for c in config.centers.values()):
        callbacks = CallbackMetrics(registry, list(config.centers))
        # One request open, so the deadline gauge has a sample as in operation.
        callbacks.deadline_left.labels(next(iter(config.centers))).set(3600)
    watch_journal(registry, lambda: JournalStats(0, 0, 0, 0, 0))
    return generate_latest(registry).decode()


def sample_names(text: str) -> set[str]:
    """The sample names (with _total, _bucket, ... suffixes) of an exposition."""
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
