"""Callbacks end to end on a real Asterisk 22 (``LOTSE_TEST_ASTERISK``; skipped otherwise).

A citizen (an Originate to ``Local/115@from-trunk`` whose phone side keys DTMF
with ``PlayDTMF``) asks for a callback — from Bremen's queue with a key press,
or after hours from the closed-center offer — and keeps their own number; the
real ``lotse run`` stores it and its dialer calls back: an agent first (a
Local member of ``115-bremen``), then the citizen through the callback leg's
``Dial()``, here a Local "callee" whose extension per number plays the
citizen (hangs up first, talks until the agent hangs up, does not answer, is
busy). Each case checks, from what Asterisk did: the callee was dialled
exactly once per attempt (the watcher's ``DialBegin`` events), and the
request's outcome in the journal, in ``lotse_callback_outcomes_total`` and in
``lotse report``. Harness and settings: ``tests/lotse/realasterisk.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.lotse.realasterisk import (
    CALLEE_AFTER_HOURS,
    CALLEE_BUSY,
    CALLEE_HANGS_UP,
    CALLEE_NO_ANSWER,
    CALLEE_TALKS,
    CB_CENTER,
    CB_NOANSWER,
    CB_QUEUE,
    SKIP_REASON,
    TARGET,
    Ami,
    Lotse,
    metric,
)

pytestmark = pytest.mark.skipif(not TARGET, reason=SKIP_REASON)

DEFAULT_CALLEE = "04215550100"  # the script's [callee]: answers after 2 s, talks 10 s


@pytest.fixture
async def desk(real_lotse: Lotse, ami: Ami) -> AsyncIterator[Lotse]:
    """Bremen open by override (the moment does not matter), its agents answering;
    afterwards every override lifted and any request this test left cancelled."""
    await ami.set_global(CB_NOANSWER, "0")
    real_lotse.ctl("override", CB_CENTER, "open", "--reason", "callback test")
    try:
        yield real_lotse
    finally:
        await ami.set_global(CB_NOANSWER, "0")
        for center in (CB_CENTER, "bund"):
            real_lotse.ctl("override", center, "auto", check=False)
        listed = real_lotse.ctl("--json", "callbacks", check=False)
        if listed.returncode == 0:
            for req in json.loads(listed.stdout).get("pending", []):
                real_lotse.ctl("callbacks", "--cancel", req["id"], check=False)


async def press_at_read(ami: Ami, since: int, call_id: str, phone: str, exten: str) -> None:
    """Key 1 once the dialogue's Read() at ``lotse-callback,exten`` runs."""
    await ami.wait_for(
        since,
        60,
        Event="Newexten",
        Uniqueid=call_id,
        Context="lotse-callback",
        Extension=exten,
        Application="Read",
    )
    await ami.action("PlayDTMF", Channel=phone, Digit="1", Duration="200")


async def stored(lotse: Lotse, call_id: str) -> str:
    rows = await lotse.until_rows(
        "SELECT id, center FROM callbacks WHERE call_id = ?", [call_id], bool, timeout=60
    )
    assert rows[0]["center"] == CB_CENTER
    return str(rows[0]["id"])


async def request_in_queue(lotse: Lotse, ami: Ami, number: str) -> tuple[str, str, int]:
    """The citizen waits in Bremen's queue (its agents ring without answering), keys 1,
    keeps their own number. Returns (call id, request id, the mark before the call)."""
    await ami.set_global(CB_NOANSWER, "1")
    since = ami.mark()
    channel_id = ami.call_id()
    call_id = await ami.originate(channel_id, number)
    phone = await ami.phone(channel_id)
    await ami.wait_for(since, 60, Event="QueueCallerJoin", Uniqueid=call_id, Queue=CB_QUEUE)
    await ami.action("PlayDTMF", Channel=phone, Digit="1", Duration="200")
    await ami.wait_for(since, 30, Event="QueueCallerLeave", Uniqueid=call_id)
    # The agents answer again: the callback's agent leg must find one.
    await ami.set_global(CB_NOANSWER, "0")
    await press_at_read(ami, since, call_id, phone, "request")
    await ami.wait_for(since, 60, Event="UserEvent", UserEvent="LotseCallback", Uniqueid=call_id)
    return call_id, await stored(lotse, call_id), since


def day() -> str:
    return datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()


def report_row(lotse: Lotse) -> dict[str, int]:
    doc = lotse.report(day())
    return next((r for r in doc["centers"] if r["center"] == CB_CENTER), {})


async def outcomes(lotse: Lotse) -> dict[str, float]:
    m = await lotse.metrics()
    return {
        o: metric(m, "lotse_callback_outcomes_total", center=CB_CENTER, outcome=o)
        for o in ("completed", "no_answer", "expired", "cancelled")
    }


def dials(ami: Ami, since: int, number: str) -> list[str]:
    """Uniqueids of the callee legs Asterisk dialled for this number (DialBegin)."""
    return [
        e.get("DestUniqueid") or ""
        for e in ami.matching(
            since, Event="DialBegin", DestChannel=lambda c: c.startswith(f"Local/{number}@")
        )
    ]


async def ended(lotse: Lotse, rid: str, timeout: float = 120) -> dict[str, object]:
    rows = await lotse.until_rows(
        "SELECT outcome, attempts, in_flight FROM callbacks WHERE id = ?",
        [rid],
        lambda r: bool(r) and r[0]["outcome"] is not None,
        timeout=timeout,
    )
    return dict(rows[0])


async def legs_gone(ami: Ami, since: int, number: str) -> None:
    """Every callee leg dialled for this number has hung up (so no second dial hides
    behind a slow hang-up), and the attempts' agent legs too."""
    for uid in dials(ami, since, number):
        await ami.wait_for(since, 90, Event="Hangup", Uniqueid=uid)
    for e in ami.matching(since, Event="OriginateResponse"):
        uid = e.get("Uniqueid") or ""
        if uid.startswith("lotse-cb-"):
            await ami.wait_for(since, 90, Event="Hangup", Uniqueid=uid)


async def check_books(
    lotse: Lotse,
    before: tuple[dict[str, float], dict[str, int]],
    outcome: str,
) -> None:
    """One more request of this outcome in the metrics and in the report."""
    metrics_before, report_before = before
    after = await outcomes(lotse)
    for o, n in after.items():
        assert n - metrics_before[o] == (1 if o == outcome else 0), (o, after, metrics_before)
    row = report_row(lotse)
    key = {"completed": "cb_completed", "no_answer": "cb_no_answer"}[outcome]
    assert row[key] - report_before.get(key, 0) == 1, (row, report_before)
    assert row["cb_requested"] - report_before.get("cb_requested", 0) == 1


async def books_before(lotse: Lotse) -> tuple[dict[str, float], dict[str, int]]:
    return await outcomes(lotse), report_row(lotse)


async def answered_case(lotse: Lotse, ami: Ami, number: str) -> None:
    before = await books_before(lotse)
    _call, rid, since = await request_in_queue(lotse, ami, number)
    row = await ended(lotse, rid)
    await legs_gone(ami, since, number)
    assert row["outcome"] == "completed", row
    assert row["attempts"] == 1
    assert len(dials(ami, since, number)) == 1
    ends = ami.matching(
        since, Event="DialEnd", DestChannel=lambda c: c.startswith(f"Local/{number}@")
    )
    assert [e.get("DialStatus") for e in ends] == ["ANSWER"]
    await check_books(lotse, before, "completed")


async def test_callback_accepted_in_queue(desk: Lotse, ami: Ami) -> None:
    await answered_case(desk, ami, DEFAULT_CALLEE)


async def test_callback_callee_hangs_up_first(desk: Lotse, ami: Ami) -> None:
    await answered_case(desk, ami, CALLEE_HANGS_UP)


async def test_callback_agent_hangs_up_first(desk: Lotse, ami: Ami) -> None:
    await answered_case(desk, ami, CALLEE_TALKS)


async def unanswered_case(lotse: Lotse, ami: Ami, number: str, status: str) -> None:
    before = await books_before(lotse)
    _call, rid, since = await request_in_queue(lotse, ami, number)
    row = await ended(lotse, rid, timeout=180)
    await legs_gone(ami, since, number)
    # attempts: 2 in the test configuration; each one dial, each unanswered.
    assert row["outcome"] == "no_answer", row
    assert row["attempts"] == 2
    assert len(dials(ami, since, number)) == 2
    ends = ami.matching(
        since, Event="DialEnd", DestChannel=lambda c: c.startswith(f"Local/{number}@")
    )
    assert [e.get("DialStatus") for e in ends] == [status, status]
    await check_books(lotse, before, "no_answer")


async def test_callback_no_answer(desk: Lotse, ami: Ami) -> None:
    await unanswered_case(desk, ami, CALLEE_NO_ANSWER, "NOANSWER")


async def test_callback_busy(desk: Lotse, ami: Ami) -> None:
    await unanswered_case(desk, ami, CALLEE_BUSY, "BUSY")


async def test_callback_accepted_after_hours(desk: Lotse, ami: Ami) -> None:
    """Bremen and its off-hours partner closed: the announcement, the offer, a request
    stored for the home center; not dialled while Bremen is closed, dialled once it opens."""
    number = CALLEE_AFTER_HOURS
    desk.ctl("override", CB_CENTER, "closed", "--reason", "callback test")
    desk.ctl("override", "bund", "closed", "--reason", "callback test")
    before = await books_before(desk)
    since = ami.mark()
    channel_id = ami.call_id()
    call_id = await ami.originate(channel_id, number)
    phone = await ami.phone(channel_id)
    await ami.wait_for(
        since,
        60,
        Event="Newexten",
        Uniqueid=call_id,
        Application="Playback",
        AppData="lotse/offhours-bremen",
    )
    await press_at_read(ami, since, call_id, phone, "closed")
    await press_at_read(ami, since, call_id, phone, "request")
    rid = await stored(desk, call_id)
    # While Bremen is closed the dialer leaves it: several of its ticks pass (the
    # oldest-pending gauge, set on every tick, moves on) without a dial.
    m = await desk.metrics()
    first = metric(m, "lotse_callbacks_oldest_pending_seconds", center=CB_CENTER)
    async with asyncio.timeout(30):
        while metric(m, "lotse_callbacks_oldest_pending_seconds", center=CB_CENTER) < first + 3:
            await asyncio.sleep(0.2)
            m = await desk.metrics()
    assert dials(ami, since, number) == []
    assert desk.rows("SELECT attempts FROM callbacks WHERE id = ?", [rid])[0]["attempts"] == 0
    desk.ctl("override", CB_CENTER, "open", "--reason", "callback test")
    row = await ended(desk, rid)
    await legs_gone(ami, since, number)
    assert row["outcome"] == "completed" and row["attempts"] == 1, row
    assert len(dials(ami, since, number)) == 1
    await check_books(desk, before, "completed")
