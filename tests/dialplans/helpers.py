"""Shared pieces of the dialplan tests: the demo build, asterisklint, small configs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import time
from pathlib import Path
from typing import Any

from dialplans.build import EXTENSIONS, AmiEvents, build, write
from router.config import Center, Config, TimeRange, WeeklyHours
from router.configload import load_config
from router.opening import HolidayCalendar

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "config.yaml"
ASTERISKLINT = Path(sys.executable).parent / "asterisklint"
YEARS = (2026, 2027)
CALENDAR = HolidayCalendar()

# An include file has no [general]/[globals]; asterisklint only hints at that.
INCLUDE_HINTS = ("H_DP_GENERAL_MISPLACED", "H_DP_GLOBALS_MISPLACED")


def demo_config() -> Config:
    """The shipped demo network."""
    return load_config(DEMO_CONFIG)


def build_files(config: Config) -> dict[str, str]:
    """All generated files for ``config``, holidays of :data:`YEARS`."""
    return build(config, YEARS, AmiEvents.from_ami(), CALENDAR)


def asterisklint(path: Path) -> tuple[int, str]:
    """Run the real ``asterisklint dialplan-check`` on ``path``: exit code and report."""
    env = {k: v for k, v in os.environ.items() if k != "ALINT_IGNORE"}
    done = subprocess.run(
        [str(ASTERISKLINT), "dialplan-check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def lint_as_included(files: dict[str, str], directory: Path) -> tuple[int, str]:
    """Write ``files`` and lint them as an operator's extensions.conf including them."""
    write(files, directory)
    main = directory / "extensions.conf"
    main.write_text(
        f"[general]\nstatic=yes\nwriteprotect=no\n\n[globals]\n\n#include {EXTENSIONS}\n",
        encoding="utf-8",
    )
    return asterisklint(main)


def weekdays(start: time, end: time, days: range = range(5)) -> WeeklyHours:
    """The same hours on ``days`` (Monday = 0), closed otherwise."""
    return WeeklyHours(tuple((TimeRange(start, end),) if day in days else () for day in range(7)))


def center(cid: str, **kwargs: object) -> Center:
    """A center with defaults derived from its id."""
    values: dict[str, object] = {
        "id": cid,
        "name": f"Center {cid}",
        "state": "BE",
        "queue": f"115-{cid}",
        "greeting": f"lotse/greeting-{cid}",
        "offhours_announcement": f"lotse/offhours-{cid}",
        "hours": weekdays(time(8), time(18)),
    }
    values.update(kwargs)
    return Center(**values)  # type: ignore[arg-type]


def small_config(*centers: Center, fallback: str | None = None, **kwargs: Any) -> Config:
    """A config of ``centers``; the last one is the fallback center unless named."""
    by_id = {c.id: c for c in centers}
    return Config(centers=by_id, fallback_center=fallback or centers[-1].id, **kwargs)
