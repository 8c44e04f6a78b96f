"""``lotse run`` against the Asterisk stand-in over real TCP, calls placed end to end.

The stand-in speaks AMI and FastAGI like Asterisk 22; the controller cannot
tell the difference. Wall-clock time for the routing policy is a fake the test
sets per phase (a Tuesday morning, Fronleichnam, a Sunday night), while queue
timings run on the stand-in's compressed clock.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime

from tests.lotse.rig import BERLIN, Rig, outcomes


async def test_calls_reach_their_center_on_a_tuesday_morning(rig: Rig) -> None:
    got = await outcomes(
        rig,
        [
            ("04211234567", None),
            ("+49 3491 123456", None),
            ("05251 123456", None),  # Paderborn has nobody logged in: overflow to bund
            ("0171 2345678", "28195"),  # mobile: asked for the postal code, Bremen
            ("anonymous", None),  # enters nothing: the fallback center
        ],
    )
    centers = [o.center for o in got]  # type: ignore[attr-defined]
    assert centers == ["bremen", "wittenberg", "bund", "bremen", "bund"]
    assert all(o.answered and not o.fallback for o in got)  # type: ignore[attr-defined]
    assert got[3].actions[0] == "postal"  # type: ignore[attr-defined]
    state = rig.controller.live.snapshot()
    assert state.of("paderborn").agents_logged_in == 0
    assert state.of("bremen").agents_logged_in == 2
    await rig.controller.stop()
    rows = (
        sqlite3.connect(rig.journal_path)
        .execute(
            "SELECT home, answered_center, offhours, overflowed FROM calls ORDER BY arrived_at"
        )
        .fetchall()
    )
    assert sorted(rows) == sorted(
        [
            ("bremen", "bremen", 0, 0),
            ("wittenberg", "wittenberg", 0, 0),
            ("paderborn", "bund", 0, 1),
            ("bremen", "bremen", 0, 0),
            ("bund", "bund", 0, 0),
        ]
    )
    raw = rig.journal_path.read_bytes()
    assert b"1234567" not in raw and b"2345678" not in raw


async def test_holiday_and_night(rig: Rig) -> None:
    rig.wall.at = datetime(2027, 5, 27, 10, 0, tzinfo=BERLIN)  # Fronleichnam: NW closed
    holiday = await outcomes(rig, [("05251 123456", None), ("03491 123456", None)])
    assert [o.center for o in holiday] == ["bund", "wittenberg"]  # type: ignore[attr-defined]
    rig.wall.at = datetime(2026, 11, 29, 3, 0, tzinfo=BERLIN)  # Sunday night
    night = await outcomes(rig, [("0421 1234567", None)])
    assert night[0].announcement == "lotse/offhours-bremen"  # type: ignore[attr-defined]
    assert not night[0].answered  # type: ignore[attr-defined]
    await rig.controller.stop()
    rows = (
        sqlite3.connect(rig.journal_path)
        .execute("SELECT home, offhours FROM calls ORDER BY arrived_at")
        .fetchall()
    )
    assert sorted(rows) == [("bremen", 1), ("paderborn", 1), ("wittenberg", 0)]


async def test_controller_down_calls_take_the_static_fallback(rig: Rig) -> None:
    await rig.controller.agi.close()
    await rig.controller.agi.drain(1.0)
    got = await outcomes(rig, [("04211234567", None), ("0171 2345678", None)])
    assert [o.fallback for o in got] == [True, True]  # type: ignore[attr-defined]
    assert [o.center for o in got] == ["bremen", "bund"]  # type: ignore[attr-defined]
    assert all(o.answered for o in got)  # type: ignore[attr-defined]


async def test_ami_drop_mid_load_loses_no_call_and_resyncs(rig: Rig) -> None:
    handles = [await rig.pbx.place_call(f"0421 55500{n}") for n in range(6)]
    await asyncio.sleep(0.2)
    resyncs = rig.controller.metrics.resyncs._value.get()
    await rig.pbx.drop_ami_connections()
    async with asyncio.timeout(60):
        got = [await h.outcome() for h in handles]
    assert all(o.answered for o in got)
    async with asyncio.timeout(10):
        while rig.controller.metrics.resyncs._value.get() <= resyncs:
            await asyncio.sleep(0.05)
    assert not rig.controller.live.stale
    assert rig.controller.live.snapshot().of("bremen").waiting == 0
