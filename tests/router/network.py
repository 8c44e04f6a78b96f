"""A small, programmatic demo network for policy tests (independent of config.yaml)."""

from __future__ import annotations

from datetime import date, time

from router.config import (
    Center,
    Config,
    PostalCodes,
    Thresholds,
    TimeRange,
    UnknownOrigin,
    UnknownOriginMode,
    WeeklyHours,
)


def hours(weekdays: str, sat: str | None = None) -> WeeklyHours:
    """Same hours Monday to Friday, optional Saturday, closed otherwise."""
    start, end = weekdays.split("-")
    day = (TimeRange(time.fromisoformat(start), time.fromisoformat(end)),)
    saturday: tuple[TimeRange, ...] = ()
    if sat:
        s, e = sat.split("-")
        saturday = (TimeRange(time.fromisoformat(s), time.fromisoformat(e)),)
    return WeeklyHours((day, day, day, day, day, saturday, ()))


def center(cid: str, state: str, nets: tuple[str, ...], **kw: object) -> Center:
    base: dict[str, object] = dict(
        id=cid,
        name=cid.title(),
        state=state,
        queue=f"115-{cid}",
        greeting=f"lotse/greeting-{cid}",
        offhours_announcement=f"lotse/offhours-{cid}",
        hours=hours("08:00-18:00"),
        ortsnetze=nets,
        thresholds=Thresholds(max_waiting=10, max_expected_wait_s=120),
    )
    base.update(kw)
    return Center(**base)  # type: ignore[arg-type]


def demo_config(**kw: object) -> Config:
    centers = [
        center(
            "bremen",
            "HB",
            ("421", "471"),
            postal_codes=PostalCodes(prefixes=frozenset({"28"})),
            closures=frozenset({date(2026, 12, 24)}),
            overflow_partners=("bund",),
            offhours_partners=("bund",),
        ),
        center(
            "wittenberg",
            "ST",
            ("3491", "3537"),
            postal_codes=PostalCodes(ranges=(("06886", "06925"),)),
            overflow_partners=("sachsen-anhalt", "halberstadt"),
            offhours_partners=("sachsen-anhalt",),
        ),
        center(
            "halberstadt",
            "ST",
            ("3941",),
            overflow_partners=("sachsen-anhalt",),
            offhours_partners=("sachsen-anhalt",),
        ),
        center(
            "paderborn",
            "NW",
            ("5251", "5252"),
            postal_codes=PostalCodes(exact=frozenset({"33098", "33100"})),
            overflow_partners=("bund",),
            offhours_partners=("bund",),
        ),
        center(
            "sachsen-anhalt",
            "ST",
            (),
            hours=hours("07:00-20:00"),
            overflow_partners=("bund",),
            offhours_partners=("bund",),
        ),
        center("bund", "BE", (), hours=hours("06:00-22:00", sat="08:00-20:00")),
    ]
    base: dict[str, object] = dict(
        centers={c.id: c for c in centers},
        fallback_center="bund",
        unknown_origin=UnknownOrigin(mode=UnknownOriginMode.POSTAL_CODE),
    )
    base.update(kw)
    return Config(**base)  # type: ignore[arg-type]
