"""What /metrics exposes: promtool-clean names, safe labels, the open-now gauge."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from metrics.registry import OVERFLOW_REASONS, CenterOpenCollector, LotseMetrics
from router.numbering import OrtsnetzTable
from router.policy import Router
from router.state import CenterState, Override, Snapshot
from tests.metrics.helpers import PROMTOOL, exposition, needs_promtool, repo_config

BERLIN = ZoneInfo("Europe/Berlin")
# Label names a metric may carry: ids, reasons, results. Never anything that
# could hold a caller's number.
ALLOWED_LABELS = {
    "center",
    "type",
    "from_center",
    "to_center",
    "reason",
    "announcement",
    "outcome",
    "result",
    "state",
    "source",
    "mode",
    "sha256",
    "le",
}


@needs_promtool
def test_promtool_check_metrics_is_clean() -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=exposition(repo_config()),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == ""


def test_labels_are_ids_and_reasons_only() -> None:
    text = exposition(repo_config())
    names = set(re.findall(r"[{,]([a-z0-9_]+)=", text))
    assert names <= ALLOWED_LABELS, names - ALLOWED_LABELS


def test_every_overflow_flow_exists_from_the_first_scrape() -> None:
    config = repo_config()
    metrics = LotseMetrics(CollectorRegistry(), config.centers)
    samples = {
        tuple(s.labels[k] for k in ("from_center", "to_center", "reason"))
        for fam in metrics.overflowed.collect()
        for s in fam.samples
        if s.name.endswith("_total")
    }
    n = len(config.centers)
    assert len(samples) == n * (n - 1) * len(OVERFLOW_REASONS)
    assert ("bremen", "bund", "timeout") in samples
    assert not any(src == dst for src, dst, _ in samples)


def open_now(at: datetime, snapshot: Snapshot | None = None) -> dict[str, float]:
    config = repo_config()
    collector = CenterOpenCollector(
        Router(config, OrtsnetzTable.load()), lambda: at, lambda: snapshot or Snapshot()
    )
    (family,) = collector.collect()
    assert family.name == "lotse_center_open"
    return {s.labels["center"]: s.value for s in family.samples}


def test_open_on_a_tuesday_morning() -> None:
    got = open_now(datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN))
    assert set(got.values()) == {1.0}
    assert set(got) == set(repo_config().centers)


def test_closed_on_a_sunday_night() -> None:
    got = open_now(datetime(2026, 11, 29, 3, 0, tzinfo=BERLIN))
    assert set(got.values()) == {0.0}


def test_state_holidays_close_only_their_state() -> None:
    # Fronleichnam is a holiday in NW (Paderborn), not in ST (Wittenberg).
    got = open_now(datetime(2027, 5, 27, 10, 0, tzinfo=BERLIN))
    assert got["paderborn"] == 0.0
    assert got["wittenberg"] == 1.0


def test_opening_hours_are_local_time() -> None:
    # 07:45 in Berlin is 06:45 UTC: Paderborn (from 07:30) is open, Bremen (08:00) not.
    got = open_now(datetime(2026, 11, 24, 6, 45, tzinfo=ZoneInfo("UTC")))
    assert got["paderborn"] == 1.0
    assert got["bremen"] == 0.0


def test_a_supervisor_override_wins() -> None:
    snap = Snapshot(centers={"bremen": CenterState(override=Override.CLOSED)})
    got = open_now(datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN), snap)
    assert got["bremen"] == 0.0
    assert got["bund"] == 1.0
