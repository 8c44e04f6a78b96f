"""The static fallback on a real Asterisk 22 (``LOTSE_TEST_ASTERISK``; skipped otherwise).

``lotse run`` is stopped; calls arrive and Asterisk routes them with the
generated static fallback alone (its clock pinned with ``TESTTIME``, which the
generated dialplan and ``GotoIfTime`` honour): queued and answered, one ended
before lotse is back and one still talking when it is, and one after hours
that only hears the announcement. Started again on the same journal, lotse
books every one of them once: journal ``fallback = 1`` with the right home and
outcome, ``lotse_fallback_calls_total`` per home, and ``lotse report``.
Harness and settings: ``tests/lotse/realasterisk.py``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.lotse.realasterisk import SKIP_REASON, TARGET, Ami, Lotse, metric

pytestmark = pytest.mark.skipif(not TARGET, reason=SKIP_REASON)

BERLIN = ZoneInfo("Europe/Berlin")
# A Monday morning every center is open; a Sunday night every center is closed.
OPEN = int(datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN).timestamp())
CLOSED = int(datetime(2026, 11, 22, 3, 0, tzinfo=BERLIN).timestamp())


def today() -> str:
    return datetime.now(BERLIN).date().isoformat()


def by_home(lotse: Lotse) -> dict[str, tuple[int, int]]:
    """Per home center: the report's calls and fallback calls today."""
    doc = lotse.report(today())
    return {r["center"]: (r["calls"], r["fallback"]) for r in doc["centers"]}


async def test_fallback_calls_while_lotse_is_down_are_booked_once_after_restart(
    real_lotse: Lotse, ami: Ami
) -> None:
    report_before = by_home(real_lotse)
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
    ids = list(homes)
    rows = await real_lotse.until_rows(
        "SELECT call_id, home, fallback, answered_center, announced, ended_at, outcome "
        "FROM calls WHERE call_id IN (?, ?, ?)",
        ids,
        lambda r: (
            len(r) == 3
            and all(x["fallback"] == 1 for x in r)
            and any(x["call_id"] == ended and x["ended_at"] for x in r)
        ),
        timeout=120,
    )
    by_id = {r["call_id"]: r for r in rows}
    for call_id, home in homes.items():
        assert by_id[call_id]["home"] == home, dict(by_id[call_id])
    assert by_id[ended]["answered_center"] == "halberstadt"
    assert by_id[alive]["answered_center"] == "paderborn"
    assert by_id[announced]["announced"] == 1
    # The call alive at the restart is followed to its end on its row.
    await ami.wait_for(since, 60, Event="Hangup", Uniqueid=alive)
    await real_lotse.until_rows(
        "SELECT ended_at FROM calls WHERE call_id = ?", [alive], lambda r: bool(r[0]["ended_at"])
    )
    # Counted once each, by home, in the metrics of the restarted controller …
    m = await real_lotse.metrics()
    async with asyncio.timeout(60):
        while any(
            metric(m, "lotse_fallback_calls_total", center=home) < 1 for home in homes.values()
        ):
            await asyncio.sleep(0.5)
            m = await real_lotse.metrics()
    for home in homes.values():
        assert metric(m, "lotse_fallback_calls_total", center=home) == 1, home
    # … and in the day's report: one call more for each home, a fallback call.
    after = by_home(real_lotse)
    for home in homes.values():
        calls, fallback = after.get(home, (0, 0))
        calls_0, fallback_0 = report_before.get(home, (0, 0))
        assert (calls - calls_0, fallback - fallback_0) == (1, 1), (home, after, report_before)
