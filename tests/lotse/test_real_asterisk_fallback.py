"""The static fallback on a real Asterisk 22 (``LOTSE_TEST_ASTERISK``; skipped otherwise).

``lotse run`` is stopped; calls arrive and Asterisk routes them with the
generated static fallback alone (its clock pinned with ``TESTTIME``, which the
generated dialplan and ``GotoIfTime`` honour): queued and answered, one ended
before lotse is back and one still talking when it is, one after hours that
only hears the announcement; one that gives up waiting and one still waiting
at the restart. Started again on the same journal, lotse books every one of
them once: ``lotse_fallback_calls_total`` per home, journal ``fallback = 1``
with the right home and outcome, and ``lotse report``'s fallback column.
Harness and settings: ``tests/lotse/realasterisk.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.lotse.realasterisk import SKIP_REASON, TARGET, Ami, Lotse, metric

pytestmark = pytest.mark.skipif(not TARGET, reason=SKIP_REASON)

BERLIN = ZoneInfo("Europe/Berlin")
# A Monday morning every center is open; a Sunday night every center is closed.
OPEN = int(datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN).timestamp())
CLOSED = int(datetime(2026, 11, 22, 3, 0, tzinfo=BERLIN).timestamp())
# Paderborn is the fourth queue of config.yaml: its members are 1041 and 1042.
PADERBORN_NOANSWER = "NOANSWER_104"


def today() -> str:
    return datetime.now(BERLIN).date().isoformat()


def _local_day(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(BERLIN).date().isoformat()


async def imported(lotse: Lotse, calls: int) -> None:
    """Wait until the restarted controller has imported ``calls`` calls from the
    queue_log (each once its newest line is 10 s old)."""
    await lotse.until_metric("lotse_queue_log_calls_total", {"result": "imported"}, calls)


async def booked(lotse: Lotse, ids: list[str]) -> dict[str, dict[str, Any]]:
    """With lotse stopped: the calls' journal rows, and the report's fallback column
    agreeing with the journal's fallback calls of the day, per home."""
    async with lotse.offline():
        marks = ",".join("?" * len(ids))
        rows = lotse.rows(
            "SELECT call_id, home, fallback, answered_center, announced, abandoned, "
            f"ended_at, outcome FROM calls WHERE call_id IN ({marks})",
            ids,
        )
        every = lotse.rows("SELECT home, arrived_at FROM calls WHERE fallback = 1")
        doc = lotse.report(today())
    per_home: dict[str, int] = {}
    for r in every:
        if _local_day(r["arrived_at"]) == today() and r["home"]:
            per_home[r["home"]] = per_home.get(r["home"], 0) + 1
    report = {r["center"]: r["fallback"] for r in doc["centers"] if r["fallback"]}
    assert report == per_home
    return {r["call_id"]: r for r in rows}


async def test_fallback_calls_while_lotse_is_down_are_booked_once_after_restart(
    real_lotse: Lotse, ami: Ami
) -> None:
    real_lotse.stop()
    try:
        since = ami.mark()
        # Queued in Halberstadt and answered; the caller hangs up before lotse is back.
        ended = await ami.originate(
            ami.call_id(), "039415550031", variables={"TESTTIME": str(OPEN)}
        )
        # Queued in Paderborn and answered; still talking when lotse is back.
        alive = await ami.originate(
            ami.call_id(), "052515550032", variables={"TESTTIME": str(OPEN)}
        )
        # After hours: Wittenberg and its partners closed, the announcement only.
        announced = await ami.originate(
            ami.call_id(), "034915550033", variables={"TESTTIME": str(CLOSED)}
        )
        for call_id, queue in ((ended, "115-halberstadt"), (alive, "115-paderborn")):
            join = await ami.wait_for(since, 60, Event="QueueCallerJoin", Uniqueid=call_id)
            assert join.get("Queue") == queue
            await ami.wait_for(since, 60, Event="AgentConnect", Uniqueid=call_id)
        # The controller was not asked: the dialplan's AGI failed, the fallback routed.
        agi = ami.matching(since, Event="VarSet", Uniqueid=ended, Variable="AGISTATUS")
        assert agi and agi[0].get("Value") == "FAILURE"
        await ami.wait_for(
            since,
            60,
            Event="Newexten",
            Uniqueid=announced,
            Application="Playback",
            AppData="lotse/offhours-wittenberg",
        )
        await ami.wait_for(since, 60, Event="Hangup", Uniqueid=announced)
        phone = await ami.phone(ended.removesuffix(";2"))
        await ami.action("Hangup", Channel=phone)
        await ami.wait_for(since, 30, Event="Hangup", Uniqueid=ended)
    finally:
        real_lotse.start()
        await real_lotse.ready()
    homes = {ended: "halberstadt", alive: "paderborn", announced: "wittenberg"}
    # Counted once each, by home, in the metrics of the restarted controller (the
    # ended ones from the queue_log, 10 s after their last line).
    for home in homes.values():
        await real_lotse.until_metric("lotse_fallback_calls_total", {"center": home}, 1)
    # The call alive at the restart is followed to its end.
    await ami.wait_for(since, 60, Event="Hangup", Uniqueid=alive)
    m = await real_lotse.metrics()
    for home in homes.values():
        assert metric(m, "lotse_fallback_calls_total", center=home) == 1, home
    # The two that ended while lotse was down come from the queue_log: imported
    # once their newest line is 10 s old (the fallback count comes earlier).
    await imported(real_lotse, 2)
    rows = await booked(real_lotse, list(homes))
    for call_id, home in homes.items():
        assert rows[call_id]["home"] == home, rows[call_id]
        assert rows[call_id]["fallback"] == 1, rows[call_id]
    assert rows[ended]["answered_center"] == "halberstadt" and rows[ended]["ended_at"]
    assert rows[alive]["answered_center"] == "paderborn" and rows[alive]["ended_at"]
    # (The import ends an announcement-only call once no queue followed it for
    # 60 s of queue_log time; its row may still be open here.)
    assert rows[announced]["announced"] == 1


async def test_fallback_abandon_and_wait_across_the_restart_are_booked_once(
    real_lotse: Lotse, ami: Ami
) -> None:
    """While lotse is down Paderborn's agents do not answer: one caller gives up in
    the queue, another still waits when lotse is back and is answered after it."""
    await ami.set_global(PADERBORN_NOANSWER, "1")
    real_lotse.stop()
    try:
        since = ami.mark()
        gives_up = await ami.originate(
            ami.call_id(), "052515550041", variables={"TESTTIME": str(OPEN)}
        )
        waits = await ami.originate(
            ami.call_id(), "052515550042", variables={"TESTTIME": str(OPEN)}
        )
        for call_id in (gives_up, waits):
            join = await ami.wait_for(since, 60, Event="QueueCallerJoin", Uniqueid=call_id)
            assert join.get("Queue") == "115-paderborn"
        phone = await ami.phone(gives_up.removesuffix(";2"))
        await ami.action("Hangup", Channel=phone)
        await ami.wait_for(since, 30, Event="QueueCallerAbandon", Uniqueid=gives_up)
    finally:
        real_lotse.start()
        try:
            await real_lotse.ready()
        finally:
            await ami.set_global(PADERBORN_NOANSWER, "0")
    # The caller still waiting is answered now (by Paderborn, or by Bund if the
    # fallback's queue timeout sent it on meanwhile), then hangs up.
    await ami.wait_for(since, 90, Event="AgentConnect", Uniqueid=waits)
    await real_lotse.until_metric("lotse_fallback_calls_total", {"center": "paderborn"}, 2)
    phone = await ami.phone(waits.removesuffix(";2"))
    await ami.action("Hangup", Channel=phone)
    await ami.wait_for(since, 30, Event="Hangup", Uniqueid=waits)
    m = await real_lotse.metrics()
    assert metric(m, "lotse_fallback_calls_total", center="paderborn") == 2
    await imported(real_lotse, 1)  # the one who gave up
    rows = await booked(real_lotse, [gives_up, waits])
    assert rows[gives_up]["home"] == rows[waits]["home"] == "paderborn"
    assert rows[gives_up]["fallback"] == rows[waits]["fallback"] == 1
    assert rows[gives_up]["abandoned"] == 1 and rows[gives_up]["answered_center"] is None
    assert rows[waits]["answered_center"] in ("paderborn", "bund")


# Bremen is the first queue of config.yaml: its members are 1011 and 1012.
BREMEN_NOANSWER = "NOANSWER_101"


async def test_fallback_spill_to_the_partner_while_lotse_is_down(
    real_lotse: Lotse, ami: Ami
) -> None:
    """Bremen's agents do not answer: the static fallback's queue timeout sends the
    caller on to Bund, whose agent answers. Booked once for the home Bremen, as an
    overflow from Bremen answered by Bund."""
    real_lotse.stop()
    try:
        report = {r["center"]: r for r in real_lotse.report(today())["centers"]}
        await ami.set_global(BREMEN_NOANSWER, "1")
        since = ami.mark()
        call = await ami.originate(ami.call_id(), "04215550051", variables={"TESTTIME": str(OPEN)})
        join = await ami.wait_for(since, 60, Event="QueueCallerJoin", Uniqueid=call)
        assert join.get("Queue") == "115-bremen"
        # The fallback's Queue() timeout for Bremen (queue_timeout_s 30), then Bund.
        spill = await ami.wait_for(
            since, 90, Event="QueueCallerJoin", Uniqueid=call, Queue="115-bund"
        )
        assert spill is not None
        await ami.wait_for(since, 60, Event="AgentConnect", Uniqueid=call, Queue="115-bund")
        phone = await ami.phone(call.removesuffix(";2"))
        await ami.action("Hangup", Channel=phone)
        await ami.wait_for(since, 30, Event="Hangup", Uniqueid=call)
    finally:
        await ami.set_global(BREMEN_NOANSWER, "0")
        real_lotse.start()
        await real_lotse.ready()
    await real_lotse.until_metric("lotse_fallback_calls_total", {"center": "bremen"}, 1)
    m = await real_lotse.metrics()
    assert metric(m, "lotse_fallback_calls_total", center="bremen") == 1
    assert metric(m, "lotse_fallback_calls_total", center="bund") == 0
    await imported(real_lotse, 1)
    rows = await booked(real_lotse, [call])
    async with real_lotse.offline():
        after = {r["center"]: r for r in real_lotse.report(today())["centers"]}
    row = rows[call]
    assert (row["home"], row["fallback"], row["answered_center"]) == ("bremen", 1, "bund"), row
    assert row["ended_at"], row
    # One call more for Bremen, answered (by its partner), an overflow out of it.
    for key, more in (("calls", 1), ("answered", 1), ("fallback", 1), ("overflow_out", 1)):
        was = report.get("bremen", {}).get(key, 0)
        assert after["bremen"][key] - was == more, (key, after["bremen"], was)
