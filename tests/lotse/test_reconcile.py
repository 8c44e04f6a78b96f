"""Reconcile with Asterisk: after a restart and after every AMI reconnect, the
journal's open rows are continued (alive), closed (gone) or added (adopted)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from lotse.controller import Controller
from lotse.journal.store import Journal
from tests.lotse.rig import Rig


def journal_rows(path: Path) -> list[tuple[str, str | None, str | None, str | None]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT call_id, ended_at, outcome, answered_center FROM calls"
        ).fetchall()
    finally:
        conn.close()


async def test_a_restarted_controller_continues_closes_and_adopts(rig: Rig) -> None:
    # Six calls in Bremen (two agents, ~20 s calls at x20): some talk, some
    # wait when the controller goes away, leaving their rows open.
    first = [await rig.pbx.place_call(f"0421 55510{n}") for n in range(6)]
    async with asyncio.timeout(20):
        while True:
            open_calls = await rig.controller.journal.open_calls()
            talking_ids = {c.call_id for c in open_calls if c.answered}
            waiting_ids = {c.call_id for c in open_calls if c.queued and not c.answered}
            if len(open_calls) == 6 and talking_ids and waiting_ids:
                break
            await asyncio.sleep(0.02)
    # Gone without ending a single row (as after a SIGKILL; the journal's
    # queue was flushed above, which a SIGKILL leaves at most 200 ms of).
    await rig.controller.stop()
    assert sum(r[1] is None for r in journal_rows(rig.journal_path)) == 6
    # While it is down two callers hang up (one talking, one waiting) and
    # the static fallback routes two more calls.
    # Chosen and hung up with no await in between: the stand-in's agents keep
    # answering while the controller is down, so "waiting" is what the stand-in
    # says now, not what the journal said before the stop.
    talking = next(h for h in first if h.uniqueid in talking_ids)
    waiting = next(h for h in first if h.uniqueid in waiting_ids and not h.answered())
    talking.hang_up()
    waiting.hang_up()
    down = [await rig.pbx.place_call(f"0421 55520{n}") for n in range(2)]
    await asyncio.sleep(0.5)
    before = {h.uniqueid for h in first if h.done()}
    assert {talking.uniqueid, waiting.uniqueid} <= before

    journal = await Journal.open(rig.journal_path, clock=rig.wall)
    second = Controller(
        rig.config,
        rig.controller.options,
        secret="e2e-secret",
        journal=journal,
        wall_clock=rig.wall,
        table=rig.controller.router.table,
    )
    await second.start()
    try:
        async with asyncio.timeout(60):
            got = [await h.outcome() for h in [*first, *down]]
        async with asyncio.timeout(10):
            while second.tracker.active_calls or second.tracker.reconciling:
                await asyncio.sleep(0.05)
        reconciled = {
            s.labels["result"]: s.value
            for fam in second.metrics.reconciled.collect()
            for s in fam.samples
            if s.name.endswith("_total")
        }
    finally:
        await second.stop()
    rows = {r[0]: r for r in journal_rows(rig.journal_path)}
    ids = [o.uniqueid for o in got]
    # Every call exactly once (call_id is the key), none left open.
    assert len(set(ids)) == 8 and set(ids) <= set(rows)
    assert [r for r in rows.values() if r[1] is None] == []
    # Calls that ended while nobody watched were closed; an answer seen before
    # keeps its outcome, only the unseen ones are unknown.
    assert rows[talking.uniqueid][2:] == (None, "bremen")
    assert rows[waiting.uniqueid][2:] == ("unknown", None)
    for call_id in before:
        assert rows[call_id][2] in (None, "unknown")
    # (More calls may end before the reconcile than had ended at ``before``.)
    closed = reconciled["closed_known"] + reconciled["closed_unknown"]
    assert closed >= len(before)
    assert reconciled["closed_unknown"] >= 1 and reconciled["closed_known"] >= 1
    # The live ones were continued on their rows, the fallback's calls adopted.
    assert 1 <= reconciled["alive"] <= 6 - closed
    assert reconciled["adopted"] == 2
    for h in down:
        assert rows[h.uniqueid][1] is not None


async def test_ami_dropped_again_and_again_leaves_no_open_or_double_row(rig: Rig) -> None:
    handles = []
    resyncs = rig.controller.metrics.resyncs
    for round_ in range(4):
        handles += [await rig.pbx.place_call(f"0421 5553{round_}{n}") for n in range(3)]
        await asyncio.sleep(0.2)
        seen = resyncs._value.get()
        await rig.pbx.drop_ami_connections()
        async with asyncio.timeout(10):
            while resyncs._value.get() <= seen:
                await asyncio.sleep(0.02)
    async with asyncio.timeout(60):
        got = [await h.outcome() for h in handles]
    async with asyncio.timeout(10):
        while rig.controller.tracker.active_calls or rig.controller.tracker.reconciling:
            await asyncio.sleep(0.05)
    await rig.controller.journal.flush()
    rows = journal_rows(rig.journal_path)
    assert sorted(r[0] for r in rows) == sorted(o.uniqueid for o in got)
    assert [r for r in rows if r[1] is None] == []
    assert not rig.controller.live.stale
