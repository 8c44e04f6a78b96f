"""A real Prometheus scrapes a real controller under simulated load; every dashboard query answers.

The Asterisk stand-in and the controller talk over TCP as in production; the
controller serves /metrics on a loopback port; the Debian ``prometheus``
binary scrapes it every second with lotse.rules.yml loaded. Calls cover every
outcome the dashboards show: answered, short and long abandons, a spill after
the queue timeout, overload and off-hours overflow, an off-hours announcement.
Then each panel query of each generated dashboard (template variables filled
in) must return at least one finite sample.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lotse.controller import Controller, RunOptions
from lotse.journal.store import Journal
from metrics.grafana.base import Settings
from metrics.grafana.build import DASHBOARDS, RULES_FILE, artefacts, panel_queries
from router.config import Config, Endpoint, Thresholds
from router.configload import load_config
from router.numbering import OrtsnetzTable
from standin import Pbx
from standin.agents import AgentProfile, Duration
from standin.calls import CallHandle
from standin.clock import ScaledClock
from standin.staffing import AgentSpec, Staffing
from tests.lotse.rig import FakeWall, free_port

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the prometheus binary is not installed (Debian package prometheus, "
    "installed by .ci/system-deps)",
)

REPO = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")
SPEED = 20.0  # virtual seconds per real second: the 30 s queue timeout takes 1.5 s
# Grafana's variables, as the dashboards would fill them for "today so far".
VARIABLES = {"__range": "10m", "__rate_interval": "1m", "__interval": "15s"}
# The center dashboard's queries must answer for one of these (bremen passes
# calls to partners, bund takes them).
CENTERS = ("bremen", "bund")


def live_config() -> Config:
    config = load_config(REPO / "config.yaml", table=OrtsnetzTable.load())
    centers = dict(config.centers)
    # One agent per center: without the expected-wait limit a second Bremen
    # caller queues behind the first instead of overflowing at once.
    for cid in ("bremen", "bund"):
        centers[cid] = replace(centers[cid], thresholds=Thresholds(max_waiting=10))
    controller = replace(config.controller, agi_deadline_ms=3000)
    return replace(config, centers=centers, controller=controller)


def staffing(config: Config) -> Staffing:
    profile = AgentProfile(ring=Duration.parse("1"), handle=Duration.parse("60"), wrapup_s=0)
    return Staffing(
        queues={
            c.queue: (AgentSpec(f"{c.id}-agent", profile),)
            for c in config.centers.values()
            if c.id != "paderborn"  # nobody there: its calls overflow
        }
    )


# --- Prometheus -------------------------------------------------------------------


@contextmanager
def prometheus(tmp: Path, target: str, rules: Path) -> Iterator[str]:
    """A Prometheus on loopback scraping ``target`` every second; yields its base URL."""
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{rules}']\n"
        "scrape_configs:\n"
        f"  - job_name: lotse\n    static_configs:\n      - targets: ['{target}']\n",
        encoding="utf-8",
    )
    log = (tmp / "prometheus.log").open("wb")
    assert PROMETHEUS is not None
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


async def query(base: str, promql: str) -> list[dict[str, Any]]:
    """Instant query; the result vector (empty on any error, which the caller reports)."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        body = await asyncio.to_thread(_get, url)
    except OSError:
        return []
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(r["value"][1])) for r in result)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> bool:
    """Poll ``check`` until it is true; False if it is still false after ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.25)
    except TimeoutError:
        return False
    return True


def fill(expr: str, center: str) -> str:
    values = dict(VARIABLES, center=center)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], expr)


# --- the rig ------------------------------------------------------------------------


@asynccontextmanager
async def running(tmp: Path) -> AsyncIterator[tuple[Pbx, Controller, FakeWall]]:
    config = live_config()
    table = OrtsnetzTable.load()
    agi = Endpoint("127.0.0.1", free_port())
    pbx = Pbx(
        config,
        staffing=staffing(config),
        table=table,
        clock=ScaledClock(SPEED),
        seed=11,
        # The controller's user and the callback dialer's (the config offers callbacks).
        users={"lotse": "live-secret", "lotse-callback": "live-secret"},
        agi_url=f"agi://{agi}/route",
    )
    await pbx.start()
    wall = FakeWall()
    journal = await Journal.open(tmp / "journal.sqlite", clock=wall)
    host, port = pbx.ami_address
    options = RunOptions(
        ami=Endpoint(host, port),
        agi_listen=agi,
        metrics_listen=Endpoint("127.0.0.1", free_port()),
        journal_path=str(tmp / "journal.sqlite"),
    )
    controller = Controller(
        config, options, secret="live-secret", journal=journal, wall_clock=wall, table=table
    )
    try:
        await controller.start()
        async with asyncio.timeout(10):
            while controller.live.stale:
                await asyncio.sleep(0.02)
        yield pbx, controller, wall
    finally:
        await controller.stop()
        await pbx.close()


async def place_load(pbx: Pbx, controller: Controller, wall: FakeWall) -> list[CallHandle]:
    m = controller.metrics
    calls = [await pbx.place_call("0421 1111111")]  # answered at once at Bremen
    await asyncio.sleep(0.1)
    calls += [
        await pbx.place_call("0421 2222222"),  # waits 30 s, spills to bund (timeout)
        await pbx.place_call("0421 3333333", patience_s=2),  # short abandon
        await pbx.place_call("0421 4444444", patience_s=12),  # abandon within 30 s
        await pbx.place_call("05251 123456"),  # Paderborn unstaffed: overload to bund
        await pbx.place_call("03491 123456"),  # Wittenberg, answered
    ]
    async with asyncio.timeout(60):
        for handle in calls:
            await handle.outcome()
    wall.at = datetime(2026, 11, 28, 10, 0, tzinfo=BERLIN)  # Saturday: Bremen closed, bund open
    calls.append(await pbx.place_call("0421 5555555"))
    assert await until(_counter_at_least(m.offhours.labels("bremen"), 1)), "Saturday call"
    wall.at = datetime(2026, 11, 29, 3, 0, tzinfo=BERLIN)  # Sunday night: all closed
    calls.append(await pbx.place_call("0421 6666666"))
    assert await until(_counter_at_least(m.offhours.labels("bremen"), 2)), "Sunday call"
    return calls


def _counter_at_least(counter: Any, n: float) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return float(counter._value.get()) >= n

    return check


async def test_every_dashboard_query_returns_data_from_a_live_prometheus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Callbacks on, so their panels have series.
    monkeypatch.setenv("LOTSE_CALLBACK_KEY", "live-callback-key-0123456789")
    files = artefacts(Settings.of(live_config()))
    rules = tmp_path / RULES_FILE
    rules.write_text(files[RULES_FILE], encoding="utf-8")
    async with running(tmp_path) as (pbx, controller, wall):
        assert controller.options.metrics_listen is not None
        with prometheus(tmp_path, str(controller.options.metrics_listen), rules) as base:

            async def scraped() -> bool:
                return finite(await query(base, 'up{job="lotse"} == 1'))

            assert await until(scraped), "Prometheus never scraped the controller"
            calls = await place_load(pbx, controller, wall)
            async with asyncio.timeout(30):
                for handle in calls:
                    await handle.outcome()

            queries = [
                (name, title, expr)
                for name in DASHBOARDS
                for title, expr in panel_queries(json.loads(files[name]))
            ]

            async def answers(expr: str) -> bool:
                for center in CENTERS if "$center" in expr else CENTERS[:1]:
                    if finite(await query(base, fill(expr, center))):
                        return True
                return False

            async def all_answer() -> bool:
                for _, _, expr in queries:
                    if not await answers(expr):
                        return False
                return True

            if not await until(all_answer, timeout=25):
                missing = [(n, t, e) for n, t, e in queries if not await answers(e)]
                pytest.fail(f"{len(missing)} panel queries return no data: {missing}")
            # The scenario did what the panels are meant to show.
            flows = await query(
                base,
                "sum by (from_center, to_center, reason) "
                "(increase(lotse_calls_overflowed_total[10m])) > 0",
            )
            seen = {
                (r["metric"]["from_center"], r["metric"]["to_center"], r["metric"]["reason"])
                for r in flows
            }
            assert seen >= {
                ("bremen", "bund", "timeout"),
                ("paderborn", "bund", "overload"),
                ("bremen", "bund", "offhours"),
            }
            open_now = await query(base, 'lotse_center_open{center="bremen"}')
            assert [r["value"][1] for r in open_now] == ["0"]  # Sunday night
