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
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

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

BERLIN = ZoneInfo("Europe/Berlin")
OUTCOMES = ("completed", "no_answer", "expired", "cancelled")

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


async def stored(lotse: Lotse, ami: Ami, since: int, call_id: str) -> str:
    """The request id lotse answered the dialogue's AGI with (on the caller's channel),
    once ``lotse ctl callbacks`` lists it for the home center."""
    var = await ami.wait_for(since, 60, Event="VarSet", Uniqueid=call_id, Variable="LOTSE_CB_ID")
    rid = var.get("Value") or ""
    listed = {r["id"]: r for r in await lotse.pending()}
    assert listed[rid]["center"] == CB_CENTER, listed
    return rid


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
    return call_id, await stored(lotse, ami, since, call_id), since


def day() -> str:
    return datetime.now(BERLIN).date().isoformat()


async def outcomes(lotse: Lotse) -> dict[str, float]:
    m = await lotse.metrics()
    return {
        o: metric(m, "lotse_callback_outcomes_total", center=CB_CENTER, outcome=o) for o in OUTCOMES
    }


def dials(ami: Ami, since: int, number: str) -> list[str]:
    """Uniqueids of the callee legs Asterisk dialled for this number (DialBegin)."""
    return [
        e.get("DestUniqueid") or ""
        for e in ami.matching(
            since, Event="DialBegin", DestChannel=lambda c: c.startswith(f"Local/{number}@")
        )
    ]


async def ended(lotse: Lotse, rid: str, timeout: float = 120) -> None:
    """Wait until the request is no longer open (``lotse ctl callbacks``)."""
    listed: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                listed = [r["id"] for r in await lotse.pending()]
                if rid not in listed:
                    return
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"request {rid} still open: {listed}") from None


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
    lotse: Lotse, before: dict[str, float], outcomes_: dict[str, int], requests: list[str]
) -> dict[str, dict[str, Any]]:
    """The requests' ends in the metrics (the change since ``before``: ``outcomes_``),
    then, with lotse stopped, in the journal and the day's report (which agrees
    with the journal's callbacks table). Returns the journal rows by id."""
    after = await outcomes(lotse)
    assert {o: after[o] - before[o] for o in OUTCOMES} == {
        o: outcomes_.get(o, 0) for o in OUTCOMES
    }, (after, before)
    async with lotse.offline():
        marks = ",".join("?" * len(requests))
        rows = lotse.rows(
            f"SELECT id, outcome, attempts, in_flight FROM callbacks WHERE id IN ({marks})",
            requests,
        )
        all_rows = lotse.rows(
            "SELECT outcome, requested_at FROM callbacks WHERE center = ?", [CB_CENTER]
        )
        doc = lotse.report(day())
    mine = [r for r in all_rows if _local_day(r["requested_at"]) == day()]
    report = next(r for r in doc["centers"] if r["center"] == CB_CENTER)
    assert report["cb_requested"] == len(mine)
    assert report["cb_completed"] == sum(r["outcome"] == "completed" for r in mine)
    assert report["cb_no_answer"] == sum(r["outcome"] == "no_answer" for r in mine)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == set(requests)
    assert all(r["in_flight"] is None for r in rows)
    return by_id


def _local_day(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(BERLIN).date().isoformat()


async def answered_case(lotse: Lotse, ami: Ami, number: str) -> None:
    before = await outcomes(lotse)
    _call, rid, since = await request_in_queue(lotse, ami, number)
    await ended(lotse, rid)
    await legs_gone(ami, since, number)
    assert len(dials(ami, since, number)) == 1
    ends = ami.matching(
        since, Event="DialEnd", DestChannel=lambda c: c.startswith(f"Local/{number}@")
    )
    assert [e.get("DialStatus") for e in ends] == ["ANSWER"]
    rows = await check_books(lotse, before, {"completed": 1}, [rid])
    assert rows[rid]["outcome"] == "completed" and rows[rid]["attempts"] == 1, rows


async def test_callback_accepted_in_queue(desk: Lotse, ami: Ami) -> None:
    await answered_case(desk, ami, DEFAULT_CALLEE)


async def test_callback_callee_hangs_up_first(desk: Lotse, ami: Ami) -> None:
    await answered_case(desk, ami, CALLEE_HANGS_UP)


async def test_callback_agent_hangs_up_first(desk: Lotse, ami: Ami) -> None:
    await answered_case(desk, ami, CALLEE_TALKS)


async def unanswered_case(lotse: Lotse, ami: Ami, number: str, status: str) -> None:
    before = await outcomes(lotse)
    _call, rid, since = await request_in_queue(lotse, ami, number)
    await ended(lotse, rid, timeout=180)
    await legs_gone(ami, since, number)
    # attempts: 2 in the test configuration; each one dial, each unanswered.
    assert len(dials(ami, since, number)) == 2
    ends = ami.matching(
        since, Event="DialEnd", DestChannel=lambda c: c.startswith(f"Local/{number}@")
    )
    assert [e.get("DialStatus") for e in ends] == [status, status]
    rows = await check_books(lotse, before, {"no_answer": 1}, [rid])
    assert rows[rid]["outcome"] == "no_answer" and rows[rid]["attempts"] == 2, rows


async def test_callback_no_answer(desk: Lotse, ami: Ami) -> None:
    await unanswered_case(desk, ami, CALLEE_NO_ANSWER, "NOANSWER")


async def test_callback_busy(desk: Lotse, ami: Ami) -> None:
    await unanswered_case(desk, ami, CALLEE_BUSY, "BUSY")


async def request_after_hours(lotse: Lotse, ami: Ami, number: str) -> tuple[str, str, int]:
    """Bremen and its off-hours partner closed: the citizen hears the announcement,
    takes the offer and keeps their own number. Returns (call id, request id, mark)."""
    lotse.ctl("override", CB_CENTER, "closed", "--reason", "callback test")
    lotse.ctl("override", "bund", "closed", "--reason", "callback test")
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
    return call_id, await stored(lotse, ami, since, call_id), since


async def test_callback_accepted_after_hours(desk: Lotse, ami: Ami) -> None:
    """Bremen and its off-hours partner closed: the announcement, the offer, a request
    stored for the home center; not dialled while Bremen is closed, dialled once it opens."""
    number = CALLEE_AFTER_HOURS
    before = await outcomes(desk)
    _call, rid, since = await request_after_hours(desk, ami, number)
    # While Bremen is closed the dialer leaves it: several of its ticks pass (the
    # oldest-pending gauge, set on every tick, moves on) without a dial.
    m = await desk.metrics()
    first = metric(m, "lotse_callbacks_oldest_pending_seconds", center=CB_CENTER)
    await desk.until_metric(
        "lotse_callbacks_oldest_pending_seconds", {"center": CB_CENTER}, first + 3, timeout=30
    )
    assert dials(ami, since, number) == []
    listed = {r["id"]: r for r in await desk.pending()}
    assert listed[rid]["attempts"] == 0 and not listed[rid]["in_flight"]
    desk.ctl("override", CB_CENTER, "open", "--reason", "callback test")
    await ended(desk, rid)
    await legs_gone(ami, since, number)
    assert len(dials(ami, since, number)) == 1
    rows = await check_books(desk, before, {"completed": 1}, [rid])
    assert rows[rid]["outcome"] == "completed" and rows[rid]["attempts"] == 1, rows


async def test_callback_attempt_in_flight_survives_a_killed_controller(
    desk: Lotse, ami: Ami
) -> None:
    """lotse is SIGKILLed while the citizen talks to the agent and started again: the
    attempt's legs are still up, so it is followed to its end, never dialled again."""
    number = CALLEE_TALKS
    _call, rid, since = await request_in_queue(desk, ami, number)
    await ami.wait_for(
        since,
        90,
        Event="DialEnd",
        DestChannel=lambda c: c.startswith(f"Local/{number}@"),
        DialStatus="ANSWER",
    )
    desk.kill()
    desk.start()
    await desk.ready()
    # The restarted controller's counters start at zero.
    before = dict.fromkeys(OUTCOMES, 0.0)
    await ended(desk, rid)
    await legs_gone(ami, since, number)
    assert len(dials(ami, since, number)) == 1
    rows = await check_books(desk, before, {"completed": 1}, [rid])
    assert rows[rid]["outcome"] == "completed" and rows[rid]["attempts"] == 1, rows


async def test_callback_two_requests_after_hours_are_each_dialled_once(
    desk: Lotse, ami: Ami
) -> None:
    """Two citizens ask after hours; when Bremen opens, each is called back once and
    both requests complete."""
    before = await outcomes(desk)
    first = await request_after_hours(desk, ami, CALLEE_HANGS_UP)
    second = await request_after_hours(desk, ami, CALLEE_AFTER_HOURS)
    since = first[2]
    assert dials(ami, since, CALLEE_HANGS_UP) == []
    desk.ctl("override", CB_CENTER, "open", "--reason", "callback test")
    for _call, rid, _mark in (first, second):
        await ended(desk, rid)
    for number in (CALLEE_HANGS_UP, CALLEE_AFTER_HOURS):
        await legs_gone(ami, since, number)
        assert len(dials(ami, since, number)) == 1, number
    rows = await check_books(desk, before, {"completed": 2}, [first[1], second[1]])
    assert all(r["outcome"] == "completed" and r["attempts"] == 1 for r in rows.values()), rows


async def key_at(
    ami: Ami,
    since: int,
    call_id: str,
    phone: str,
    read: str,
    digits: str,
    context: str = "lotse-callback",
) -> None:
    """Key ``digits`` once the dialogue's ``Read(<read>,…)`` runs."""
    await ami.wait_for(
        since,
        60,
        Event="Newexten",
        Uniqueid=call_id,
        Context=context,
        Application="Read",
        AppData=lambda d: d.startswith(read),
    )
    for digit in digits:
        await ami.action("PlayDTMF", Channel=phone, Digit=digit, Duration="120")


async def test_callback_to_a_number_keyed_in(desk: Lotse, ami: Ami) -> None:
    """The citizen does not keep the number they call from: they key another one,
    hear it read back and confirm; that number is called back, once, the other never."""
    calls_from, keyed = "04215550107", "04215550108"
    before = await outcomes(desk)
    await ami.set_global(CB_NOANSWER, "1")
    since = ami.mark()
    channel_id = ami.call_id()
    call_id = await ami.originate(channel_id, calls_from)
    phone = await ami.phone(channel_id)
    await ami.wait_for(since, 60, Event="QueueCallerJoin", Uniqueid=call_id, Queue=CB_QUEUE)
    await ami.action("PlayDTMF", Channel=phone, Digit="1", Duration="200")
    await ami.wait_for(since, 30, Event="QueueCallerLeave", Uniqueid=call_id)
    await ami.set_global(CB_NOANSWER, "0")
    await key_at(ami, since, call_id, phone, "LOTSE_CB_KEY,lotse/callback-own-number", "2")
    await key_at(ami, since, call_id, phone, "CB_NUM,", keyed + "#")
    await ami.wait_for(
        since, 60, Event="Newexten", Uniqueid=call_id, Application="SayDigits", AppData=keyed
    )
    await key_at(ami, since, call_id, phone, "LOTSE_CB_KEY,lotse/callback-confirm-number", "1")
    rid = await stored(desk, ami, since, call_id)
    await ended(desk, rid)
    await legs_gone(ami, since, keyed)
    assert len(dials(ami, since, keyed)) == 1
    assert dials(ami, since, calls_from) == []
    rows = await check_books(desk, before, {"completed": 1}, [rid])
    assert rows[rid]["outcome"] == "completed" and rows[rid]["attempts"] == 1, rows


async def test_callback_anonymous_caller_keys_postal_code_and_number(desk: Lotse, ami: Ami) -> None:
    """A caller without a number (CLIR) is asked for the postal code (Bremen's), waits
    in Bremen's queue, asks for a callback and must key the number: it is dialled once."""
    keyed = "04215550109"
    before = await outcomes(desk)
    await ami.set_global(CB_NOANSWER, "1")
    since = ami.mark()
    channel_id = ami.call_id()
    call_id = await ami.originate(channel_id, "")
    phone = await ami.phone(channel_id)
    await key_at(
        ami, since, call_id, phone, "LOTSE_DIGITS,lotse/prompt-postal-code", "28195", "lotse-route"
    )
    await ami.wait_for(since, 60, Event="QueueCallerJoin", Uniqueid=call_id, Queue=CB_QUEUE)
    await ami.action("PlayDTMF", Channel=phone, Digit="1", Duration="200")
    await ami.wait_for(since, 30, Event="QueueCallerLeave", Uniqueid=call_id)
    await ami.set_global(CB_NOANSWER, "0")
    # No number to keep: straight to keying one (no own-number question).
    await key_at(ami, since, call_id, phone, "CB_NUM,", keyed + "#")
    await key_at(ami, since, call_id, phone, "LOTSE_CB_KEY,lotse/callback-confirm-number", "1")
    assert not ami.matching(
        since,
        Event="Newexten",
        Uniqueid=call_id,
        AppData=lambda d: d.startswith("LOTSE_CB_KEY,lotse/callback-own-number"),
    )
    rid = await stored(desk, ami, since, call_id)
    await ended(desk, rid)
    await legs_gone(ami, since, keyed)
    assert len(dials(ami, since, keyed)) == 1
    rows = await check_books(desk, before, {"completed": 1}, [rid])
    assert rows[rid]["outcome"] == "completed" and rows[rid]["attempts"] == 1, rows


async def test_callback_reload_reaches_the_dialer(desk: Lotse, ami: Ami) -> None:
    """``lotse ctl reload`` with Bremen's callback at one attempt ringing 5 s: the next
    request is dialled with the new ring timeout and ends after that one attempt."""
    original = desk.config.read_text()
    doc = yaml.safe_load(original)
    doc["centers"][CB_CENTER]["callback"].update({"attempts": 1, "ring_timeout_s": 5})
    try:
        desk.config.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        done = desk.ctl("reload")
        assert done.returncode == 0, done.stderr
        before = await outcomes(desk)
        number = CALLEE_NO_ANSWER
        _call, rid, since = await request_in_queue(desk, ami, number)
        await ended(desk, rid)
        await legs_gone(ami, since, number)
        dialled = ami.matching(
            since,
            Event="Newexten",
            Context="lotse-callback-dial",
            Application="Dial",
            AppData=lambda d: d.startswith(f"Local/{number}@callee,"),
        )
        assert [d.get("AppData") for d in dialled] == [f"Local/{number}@callee,5,g"]
        assert len(dials(ami, since, number)) == 1
        rows = await check_books(desk, before, {"no_answer": 1}, [rid])
        assert rows[rid]["attempts"] == 1, rows
    finally:
        desk.config.write_text(original)
        desk.ctl("reload", check=False)
