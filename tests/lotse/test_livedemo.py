"""The live demo's table shows the per-home view, the one the day's report prints."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry
from rich.console import Console

from cliutil import default_config_path
from lotse.livedemo import demo_secret, status_table
from metrics.registry import LotseMetrics
from router.configload import load_config
from router.state import CenterState, Snapshot


def _render(controller: Any) -> list[str]:
    console = Console(width=200, record=True)
    local = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    console.print(status_table(controller, local, placed=7))
    return console.export_text().splitlines()


def test_the_live_table_counts_per_home_not_per_queue() -> None:
    config = load_config(default_config_path())
    registry = CollectorRegistry()
    m = LotseMetrics(registry, config.centers)
    # Bremen's region: 4 calls offered, 3 answered (2 in time), 1 hung up within 5 s.
    m.home_offered.labels("bremen").inc(4)
    m.home_answered.labels("bremen").inc(3)
    m.home_answered_in_sl.labels("bremen").inc(2)
    m.home_abandoned.labels("bremen").inc(1)
    m.home_short_abandoned.labels("bremen").inc(1)
    m.home_offered.labels("bund").inc(1)
    # Bund's region: that caller took a callback, kept in time: out of the figure.
    m.home_callbacks_kept.labels("bund").inc(1)
    # Per queue Bremen saw other numbers (partners' overflow in): not this table's view.
    m.offered.labels("bremen", "overflow_in").inc(10)
    m.answered.labels("bremen").inc(9)
    idle = CenterState(agents_logged_in=3, agents_available=3)
    snapshot = Snapshot(centers={cid: idle for cid in config.centers})
    controller = SimpleNamespace(
        registry=registry, config=config, live=SimpleNamespace(snapshot=lambda: snapshot)
    )
    lines = _render(controller)
    assert any("per home center" in line for line in lines[:3])
    bremen = next(line for line in lines if line.startswith("bremen ")).split()
    assert bremen[3:] == ["4", "3", "1", "67", "%"]  # 2 / (4 - 1)
    national = next(line for line in lines if line.startswith("national ")).split()
    assert national[1:] == ["5", "3", "1", "67", "%"]  # 2 / (5 - 1 - 1)
    bund = next(line for line in lines if line.startswith("bund ")).split()
    assert bund[3:] == ["1", "0", "0", "-"]  # 0 / (1 - 1): no figure


def test_on_a_narrow_terminal_the_live_table_keeps_names_and_the_promise() -> None:
    config = load_config(default_config_path())
    idle = CenterState(agents_logged_in=3, agents_available=3)
    snapshot = Snapshot(centers={cid: idle for cid in config.centers})
    controller: Any = SimpleNamespace(
        registry=CollectorRegistry(),
        config=config,
        live=SimpleNamespace(snapshot=lambda: snapshot),
    )
    local = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    console = Console(width=50, record=True)
    console.print(status_table(controller, local, placed=7, width=50))
    text = console.export_text()
    assert "halberstadt" in text and "sachsen-anhalt" in text  # no name cut
    assert max(len(line) for line in text.splitlines()) <= 50
    note = " ".join(text[text.index("left out") :].split())
    assert note.startswith("left out for the terminal's width: agents free/busy/in, answered")
    heading = next(line for line in text.splitlines() if line.startswith("center  "))
    assert heading.split() == ["center", "waiting", "offered", "SL", "30", "s"]


def test_every_demo_run_has_a_secret_of_its_own() -> None:
    """A demo's stand-in takes only its own run's controller: no fixed secret to guess."""
    first, second = demo_secret(), demo_secret()
    assert first != second and len(first) >= 32
