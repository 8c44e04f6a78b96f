"""The live demo behind ``make run``: stand-in Asterisk + controller + a simulated day.

Starts the Asterisk stand-in on loopback, attaches a real controller to it
over AMI and FastAGI exactly as ``lotse run`` attaches to Asterisk, places a
working day of 115 calls from the demo network's Ortsnetze (compressed to a
few minutes), shows a live status per center, serves metrics, and ends with
the day's report from the call journal.
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from cliutil.tables import Column, fit_table, terminal_width
from dialplans.engine import Dialplan
from lotse.controller import Controller
from lotse.journal.privacy import key_from_file, write_key_file
from lotse.journal.report import render_text, report
from lotse.rig import stand_in
from metrics.servicelevel import NATIONAL, PER_HOME_VIEW, service_level
from router.config import Config, Endpoint
from router.numbering import OrtsnetzTable
from standin import CallHandle, Pbx, ScaledClock
from standin.agents import AgentProfile, Duration
from standin.staffing import AgentSpec, Staffing

# Calls per hour at the busiest hour, per center with its own region. The
# national center also takes mobile and anonymous callers and unconnected regions.
PEAK_RATE = {"bremen": 40.0, "wittenberg": 26.0, "halberstadt": 16.0, "paderborn": 30.0}
REGIONLESS_RATE = 12.0
AGENTS = {
    "bremen": 3,
    "wittenberg": 2,
    "halberstadt": 1,
    "paderborn": 3,
    "sachsen-anhalt": 2,
    "bund": 3,
}
# A 115 day: Monday morning peak, a lunch dip, a quieter afternoon (hour → share of peak).
DAY_PROFILE = {
    6: 0.1,
    7: 0.4,
    8: 0.9,
    9: 1.0,
    10: 0.95,
    11: 0.8,
    12: 0.5,
    13: 0.6,
    14: 0.7,
    15: 0.6,
    16: 0.45,
    17: 0.3,
    18: 0.15,
    19: 0.1,
    20: 0.05,
}


def demo_secret() -> str:
    """The AMI secret of one demo run: random, so a process of another run on this
    machine (a second demo, a load test) cannot log in to this run's stand-in."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs: the virtual day and how fast."""

    start: datetime
    hours: float
    speed: float
    seed: int
    metrics: Endpoint | None
    journal: Path
    agi: Endpoint
    # The dialplan the stand-in runs (None: generated from the configuration).
    dialplan: Dialplan | None = None


def staffing(config: Config) -> Staffing:
    """The demo staffing: Halberstadt is short-handed, so its overflow is visible."""
    profile = AgentProfile(
        ring=Duration.parse("uniform:2:4"), handle=Duration.parse("lognormal:180:90"), wrapup_s=10
    )
    return Staffing(
        {
            c.queue: tuple(
                AgentSpec(f"{c.id}-{n}", profile) for n in range(1, AGENTS.get(c.id, 2) + 1)
            )
            for c in config.centers.values()
        }
    )


class Traffic:
    """Poisson arrivals per center following the day profile, on the virtual clock."""

    def __init__(self, config: Config, table: OrtsnetzTable, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.nets = {
            cid: [n for n in c.ortsnetze if table.get(n)]
            for cid, c in config.centers.items()
            if c.ortsnetze
        }

    def caller(self, center: str | None) -> tuple[str, str | None]:
        """A caller number (and the postal code they would enter) for a center's region."""
        rng = self.rng
        if center is None:
            roll = rng.random()
            if roll < 0.5:
                return f"01{rng.choice('567')}{rng.randrange(10**7, 10**8)}", rng.choice(
                    ["28195", "38820", "33098", "06886", None]
                )
            if roll < 0.7:
                return "anonymous", None
            return f"0221{rng.randrange(10**6, 10**7)}", None  # Köln: not connected
        code = rng.choice(self.nets[center])
        return f"0{code}{rng.randrange(10**5, 10**6)}", None

    def rate(self, center: str | None, local: datetime) -> float:
        """Calls per hour now."""
        share = DAY_PROFILE.get(local.hour, 0.02)
        base = PEAK_RATE.get(center, 0.0) if center else REGIONLESS_RATE
        return base * share


async def drive(
    pbx: Pbx,
    traffic: Traffic,
    clock: Callable[[], float],
    speed: float,
    end: float,
    tz: ZoneInfo,
    placed: list[CallHandle],
) -> None:
    """Place calls until the virtual ``end``; arrivals are thinned Poisson processes."""
    sources: list[str | None] = [*traffic.nets, None]
    max_rate = sum(PEAK_RATE.values()) + REGIONLESS_RATE
    rng = traffic.rng
    now = clock()
    while True:
        now += rng.expovariate(max_rate / 3600.0)
        if now >= end:
            return
        await asyncio.sleep(max(0.0, (now - clock()) / speed))
        local = datetime.fromtimestamp(now, tz)
        rates = [traffic.rate(s, local) for s in sources]
        # Thinning: candidates at the peak rate, kept in proportion to the rate now.
        if rng.random() * max_rate > sum(rates):
            continue
        center = rng.choices(sources, weights=rates)[0]
        caller, plz = traffic.caller(center)
        patience = rng.lognormvariate(math.log(90), 0.6)
        placed.append(await pbx.place_call(caller, postal_code=plz, patience_s=patience))


# The live table's columns; on a narrow terminal the highest priority number
# is left out first (0 never): the queue now and the promise stay.
_STATUS_COLUMNS = (
    ("center", 0),
    ("waiting", 0),
    ("agents free/busy/in", 1),
    ("offered", 0),
    ("answered", 2),
    ("abandoned", 2),
    ("SL {t} s", 0),
)


def status_table(
    controller: Controller, local: datetime, placed: int, width: int | None = None
) -> RenderableType:
    """Per center: its queue now, and its region's calls so far per home (as ``lotse report``).

    ``width``: the terminal's; columns are left out by priority to fit, never
    a name or a figure cut.
    """
    reg = controller.registry
    level = controller.config.service_level
    title = (
        f"lotse live demo — {local:%a %d.%m.%Y %H:%M} — {placed} calls placed\n"
        f"queue now: waiting, agents; calls so far {PER_HOME_VIEW}, as the report"
    )
    columns = [
        Column(h.format(t=level.threshold_s), "left" if h == "center" else "right", priority)
        for h, priority in _STATUS_COLUMNS
    ]
    snap = controller.live.snapshot()
    names = (
        "lotse_home_calls_offered_total",
        "lotse_home_calls_answered_total",
        "lotse_home_calls_answered_within_threshold_total",
        "lotse_home_calls_abandoned_total",
        "lotse_home_calls_short_abandoned_total",
        "lotse_home_calls_callbacks_kept_total",
    )
    total = [0] * len(names)
    rows: list[list[str]] = []
    for cid in controller.config.centers:
        s = snap.of(cid)
        counts = [int(reg.get_sample_value(name, {"center": cid}) or 0) for name in names]
        total = [t + c for t, c in zip(total, counts, strict=True)]
        rows.append(
            [
                cid,
                str(s.waiting),
                f"{s.agents_available}/{s.agents_busy}/{s.agents_logged_in or 0}",
                *_calls(counts),
            ]
        )
    rows.append([NATIONAL, "", "", *_calls(total)])
    fitted = fit_table(columns, rows, width, sections=frozenset({len(rows) - 2}), complete="")
    note = fitted.note()
    return Group(Text(title), fitted.table, *([Text(note, style="dim")] if note else []))


def _calls(counts: list[int]) -> tuple[str, str, str, str]:
    """offered, answered, abandoned and the 115 service level (metrics.servicelevel:
    kept callbacks are out of it)."""
    offered, answered, within, abandoned, short, kept = counts
    level = service_level(within, offered, short, kept)
    return (
        str(offered),
        str(answered),
        str(abandoned),
        "-" if level is None else f"{100 * level:.0f} %",
    )


async def run_demo(config: Config, options: DemoOptions, console: Console) -> int:
    """Run the whole demo; returns the exit code."""
    table = OrtsnetzTable.load()
    tz = ZoneInfo(config.timezone)
    clock = ScaledClock(options.speed, start_epoch=options.start.timestamp())
    options.journal.parent.mkdir(parents=True, exist_ok=True)
    options.journal.unlink(missing_ok=True)
    key_path, generated = demo_key(options.journal)
    key = key_from_file(key_path)
    console.print(
        f"Journal key: {key_path} ({'generated' if generated else 'kept'}, mode 0600, "
        "outside the journal; caller hashes are keyed with it)"
    )
    placed: list[CallHandle] = []
    traffic = Traffic(config, table, random.Random(options.seed))
    end = options.start.timestamp() + options.hours * 3600
    async with stand_in(
        config,
        staffing=staffing(config),
        clock=clock,
        secret=demo_secret(),
        journal=options.journal,
        agi=options.agi,
        metrics=options.metrics,
        seed=options.seed,
        table=table,
        journal_key=key,
        dialplan=options.dialplan,
    ) as rig:
        controller = rig.controller
        driver = asyncio.create_task(
            drive(rig.pbx, traffic, clock.now, options.speed, end, tz, placed)
        )
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while not driver.done():
                live.update(
                    Group(
                        status_table(
                            controller,
                            datetime.fromtimestamp(clock.now(), tz),
                            len(placed),
                            terminal_width(console),
                        )
                    )
                )
                await asyncio.sleep(0.25)
            await driver
            # Let the last callers finish (answered or given up) before the report.
            deadline = clock.now() + 1800
            while clock.now() < deadline and not all(h.done() for h in placed):
                live.update(
                    status_table(
                        controller,
                        datetime.fromtimestamp(clock.now(), tz),
                        len(placed),
                        terminal_width(console),
                    )
                )
                await asyncio.sleep(0.25)
            # The last frame stays on screen above the report: show the final counts.
            live.update(
                status_table(
                    controller,
                    datetime.fromtimestamp(clock.now(), tz),
                    len(placed),
                    terminal_width(console),
                )
            )
    day = options.start.astimezone(tz).date()
    rows = await report(options.journal, day, tz, config.service_level)
    # Plain print: the report is already fitted to the terminal (the least
    # important columns left out, never a figure cut) and must not be re-wrapped.
    print(f"\nJournal: {options.journal}")
    print(render_text(rows, day, tz, config.service_level, terminal_width(console)))
    return 0


def demo_key(journal: Path) -> tuple[Path, bool]:
    """The demo journal's key file beside it (``X.key`` for ``X.sqlite``), created if missing.

    Returns the path and whether it was created now. The key lives outside
    the journal, as in production, so the demo's file can be shown around.
    """
    path = journal.with_suffix(".key")
    try:
        write_key_file(path)
    except FileExistsError:
        return path, False
    return path, True


def default_start(tz: ZoneInfo) -> datetime:
    """Monday 23 November 2026, 06:30 local: every run shows the same, reproducible day."""
    return datetime(2026, 11, 23, 6, 30, tzinfo=tz)
