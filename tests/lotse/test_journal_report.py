"""The daily report on a hand-built day of calls, with figures worked out by hand."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lotse.journal import (
    Abandoned,
    Answered,
    CallArrived,
    Closed,
    Decided,
    Ended,
    Journal,
    JournalError,
    Outcome,
    QueueJoined,
    Record,
    Spilled,
    SpillReason,
)
from lotse.journal.report import (
    CenterReport,
    day_bounds,
    render_csv,
    render_json,
    render_text,
    report,
)
from router.config import ServiceLevel
from router.numbering import NumberKind, Origin, Ortsnetz
from router.policy import Action

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 2, 3)  # a Tuesday in winter: local time is UTC+1
LEVEL = ServiceLevel(threshold_s=30, target=0.75, short_abandon_s=5)
KOELN_CALLER = Origin(NumberKind.LANDLINE, Ortsnetz("221", "Köln"), "0221…")
MOBILE_CALLER = Origin(NumberKind.MOBILE, None, "0171…")


def local(hh: int, mm: int, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=BERLIN)


def later(t: datetime, seconds: float) -> datetime:
    return t + timedelta(seconds=seconds)


def decided(
    cid: str,
    t: datetime,
    home: str | None,
    target: str | None,
    *,
    action: Action = Action.QUEUE,
    offhours: bool = False,
    hop: int = 0,
) -> Decided:
    return Decided(
        cid,
        t,
        action,
        home,
        target,
        f"115-{target}" if target else None,
        f"lotse/greeting-{home}" if home else None,
        None if target or action is Action.ASK_POSTAL_CODE else f"lotse/offhours-{home}",
        30,
        ("test",),
        offhours=offhours,
        overflow=home is not None and target is not None and target != home,
        hop=hop,
    )


def answered_at_home(cid: str, t: datetime, center: str, wait: float) -> list[Record]:
    return [
        CallArrived.of(cid, t, KOELN_CALLER, "h-" + cid),
        decided(cid, t, center, center),
        QueueJoined(cid, later(t, 8), center, f"115-{center}", 1),
        Answered(cid, later(t, 8 + wait), center, "Anna", wait),
        Ended(cid, later(t, 8 + wait + 120), 120.0, "Normal Clearing"),
    ]


def abandoned_at_home(cid: str, t: datetime, center: str, wait: float) -> list[Record]:
    return [
        CallArrived.of(cid, t, KOELN_CALLER, "h-" + cid),
        decided(cid, t, center, center),
        QueueJoined(cid, later(t, 8), center, f"115-{center}", 3),
        Abandoned(cid, later(t, 8 + wait), center, wait, 2),
        Ended(cid, later(t, 8 + wait), None, "Normal Clearing"),
    ]


def the_day() -> list[Record]:
    """Nine calls of 3 February 2026 (and two just outside it)."""
    c5, c6, c7, c9 = local(12, 0), local(19, 30), local(19, 45), local(0, 10)
    return [
        # Köln: answered in 12 s and in 45 s; abandoned after 3 s (short) and 60 s.
        *answered_at_home("c1", local(8, 0), "koeln", 12.0),
        *answered_at_home("c2", local(9, 0), "koeln", 45.0),
        *abandoned_at_home("c3", local(10, 0), "koeln", 3.0),
        *abandoned_at_home("c4", local(11, 0), "koeln", 60.0),
        # Köln: 30 s in Köln's queue, spilled on timeout, answered in Bonn 10 s later.
        CallArrived.of("c5", c5, KOELN_CALLER, "h-c5"),
        decided("c5", c5, "koeln", "koeln"),
        QueueJoined("c5", later(c5, 8), "koeln", "115-koeln", 5),
        Spilled("c5", later(c5, 38), "koeln", "bonn", SpillReason.TIMEOUT, 30.0),
        decided("c5", later(c5, 38), "koeln", "bonn", hop=1),
        QueueJoined("c5", later(c5, 39), "bonn", "115-bonn", 1),
        Answered("c5", later(c5, 49), "bonn", "Ben", 10.0),
        Ended("c5", later(c5, 200), 151.0, "Normal Clearing"),
        # Köln closed at 19:30: the off-hours announcement, then the caller hangs up.
        CallArrived.of("c6", c6, KOELN_CALLER, "h-c6"),
        decided("c6", c6, "koeln", None, action=Action.ANNOUNCE, offhours=True),
        Ended("c6", later(c6, 25), None, "Normal Clearing"),
        # Köln closed at 19:45: handed to the off-hours partner Bonn, answered in 5 s.
        CallArrived.of("c7", c7, KOELN_CALLER, "h-c7"),
        decided("c7", c7, "koeln", "bonn", offhours=True),
        QueueJoined("c7", later(c7, 8), "bonn", "115-bonn", 1),
        Answered("c7", later(c7, 13), "bonn", "Ben", 5.0),
        Ended("c7", later(c7, 100), 87.0, "Normal Clearing"),
        # Bonn's own caller, answered in 20 s.
        *answered_at_home("c8", local(13, 0), "bonn", 20.0),
        # 00:10 local (23:10 UTC the day before): a mobile caller hangs up at the
        # postal-code prompt; no home, so only in the national row.
        CallArrived.of("c9", c9, MOBILE_CALLER, "h-c9"),
        decided("c9", c9, None, None, action=Action.ASK_POSTAL_CODE),
        Ended("c9", later(c9, 9), None, "Normal Clearing"),
        # Outside the local day: 23:50 the evening before, 00:05 the morning after
        # (the latter still 3 February in UTC).
        *answered_at_home("x1", local(23, 50, date(2026, 2, 2)), "koeln", 1.0),
        *answered_at_home("x2", local(0, 5, date(2026, 2, 4)), "koeln", 1.0),
    ]


@pytest.fixture
async def journal_file(tmp_path: Path) -> Path:
    db = tmp_path / "journal.sqlite"
    journal = await Journal.open(db, clock=lambda: local(23, 0), salt=b"s" * 16)
    for rec in the_day():
        journal.record(rec)
    await journal.close()
    return db


EXPECTED = [
    CenterReport(
        center="bonn",
        calls=1,
        offered=1,
        answered=1,
        answered_within=1,
        abandoned=0,
        short_abandoned=0,
        service_level=1.0,
        asa_s=20.0,
        overflow_out=0,
        overflow_in=2,
        overflow_in_answered=2,
        offhours=0,
        announced=0,
    ),
    CenterReport(
        center="koeln",
        calls=7,  # c1-c7
        offered=6,  # c6 only heard the announcement
        answered=4,  # c1, c2, c5 (in Bonn), c7 (in Bonn)
        answered_within=2,  # c1 (12 s), c7 (5 s); c5 waited 30 + 10 s
        abandoned=2,  # c3, c4; the spill of c5 is no abandon
        short_abandoned=1,  # c3
        service_level=2 / (6 - 1),
        asa_s=(12 + 45 + 40 + 5) / 4,
        overflow_out=2,  # c5, c7
        overflow_in=0,
        overflow_in_answered=0,
        offhours=2,  # c6, c7
        announced=1,  # c6
    ),
    CenterReport(
        center="national",
        calls=9,
        offered=7,
        answered=5,
        answered_within=3,
        abandoned=2,
        short_abandoned=1,
        service_level=3 / (7 - 1),
        asa_s=(12 + 45 + 40 + 5 + 20) / 5,
        overflow_out=2,
        overflow_in=2,
        overflow_in_answered=2,
        offhours=2,
        announced=1,
        national=True,
    ),
]


async def test_report_of_a_hand_built_day(journal_file: Path) -> None:
    assert await report(journal_file, DAY, BERLIN, LEVEL) == EXPECTED
    assert EXPECTED[1].service_level == 0.4
    assert EXPECTED[1].asa_s == 25.5


async def test_threshold_and_short_abandon_come_from_the_service_level(
    journal_file: Path,
) -> None:
    # With T = 45 s c2 counts; with short abandons under 2 s c3 is a real abandon.
    rows = await report(journal_file, DAY, BERLIN, ServiceLevel(threshold_s=45, short_abandon_s=2))
    koeln = next(r for r in rows if r.center == "koeln")
    assert (koeln.answered_within, koeln.short_abandoned) == (4, 0)
    assert koeln.service_level == 4 / 6


async def test_neighbouring_days_hold_the_calls_outside(journal_file: Path) -> None:
    before = await report(journal_file, DAY - timedelta(days=1), BERLIN, LEVEL)
    after = await report(journal_file, DAY + timedelta(days=1), BERLIN, LEVEL)
    assert [(r.center, r.calls, r.answered) for r in before] == [
        ("koeln", 1, 1),
        ("national", 1, 1),
    ]
    assert [(r.center, r.calls, r.answered) for r in after] == [("koeln", 1, 1), ("national", 1, 1)]


async def test_empty_day_has_only_a_national_row_without_a_service_level(
    journal_file: Path,
) -> None:
    (national,) = await report(journal_file, date(2026, 1, 1), BERLIN, LEVEL)
    assert (national.center, national.calls, national.service_level, national.asa_s) == (
        "national",
        0,
        None,
        None,
    )


async def test_missing_journal_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal file"):
        await report(tmp_path / "nope.sqlite", DAY, BERLIN, LEVEL)
    assert not (tmp_path / "nope.sqlite").exists()


def test_local_day_bounds_follow_daylight_saving() -> None:
    start, end = day_bounds(date(2026, 3, 29), BERLIN)  # clocks go forward
    # Aware datetimes of one zone subtract as wall time: compare in UTC.
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    assert start.utcoffset() == timedelta(hours=1)
    assert end.utcoffset() == timedelta(hours=2)


def test_text_table_is_aligned() -> None:
    text = render_text(EXPECTED, DAY, BERLIN, LEVEL)
    lines = text.splitlines()
    assert lines[0].startswith("115 service report 2026-02-03 (Europe/Berlin)")
    assert "SL = answered ≤30s / (offered − abandoned <5s − callbacks kept)" in lines[0]
    table = [line for line in lines[2:] if line]  # a blank line before the total
    assert len({len(line) for line in table}) == 1
    header, koeln = table[0], next(line for line in table if line.startswith("koeln"))
    assert header.split()[:6] == ["center", "calls", "offered", "answered", "≤30s", "SL"]
    assert koeln.split()[:7] == ["koeln", "7", "6", "4", "2", "40.0%", "25.5s"]
    # Right-aligned: every figure ends where its heading ends.
    assert header.index("SL") + 2 == koeln.index("40.0%") + len("40.0%")
    assert table[-1].split()[0] == "national"


def test_csv_has_one_row_per_center_and_the_total() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(EXPECTED))))
    assert [r["center"] for r in rows] == ["bonn", "koeln", "national"]
    assert rows[1]["service_level"] == "0.4"
    assert rows[1]["asa_s"] == "25.5"
    assert rows[2]["national"] == "true"


def test_json_separates_centers_and_national_total() -> None:
    doc = json.loads(render_json(EXPECTED, DAY, BERLIN, LEVEL))
    assert doc["day"] == "2026-02-03"
    assert doc["timezone"] == "Europe/Berlin"
    assert doc["service_level"] == {"threshold_s": 30, "target": 0.75, "short_abandon_s": 5}
    assert [c["center"] for c in doc["centers"]] == ["bonn", "koeln"]
    assert doc["national"]["offered"] == 7
    assert doc["national"]["service_level"] == 0.5


async def test_a_call_closed_as_unknown_is_its_own_column_not_an_unanswered_offer(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.sqlite"
    journal = await Journal.open(db, clock=lambda: local(23, 0), salt=b"s" * 16)
    t = local(9, 0)
    for rec in [
        *answered_at_home("c1", t, "koeln", 12.0),
        # Queued when the controller died; gone when it came back.
        *answered_at_home("c2", t, "koeln", 12.0)[:3],
        Closed("c2", later(t, 300), Outcome.UNKNOWN, "gone at reconcile"),
    ]:
        journal.record(rec)
    await journal.close()
    koeln, national = await report(db, DAY, BERLIN, LEVEL)
    assert (koeln.calls, koeln.offered, koeln.answered, koeln.unknown) == (2, 1, 1, 1)
    assert koeln.service_level == 1.0
    assert national.unknown == 1
    assert "unknown" in render_text([koeln, national], DAY, BERLIN, LEVEL).splitlines()[2]


async def test_overflow_counts_once_per_call_and_partner_so_national_in_equals_out(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.sqlite"
    journal = await Journal.open(db, clock=lambda: local(23, 0), salt=b"s" * 16)
    t, u = local(10, 0), local(11, 0)
    records: list[Record] = [
        # Köln -> Bonn -> Bund: two partners' queues, answered at the second.
        CallArrived.of("s1", t, KOELN_CALLER, "h-s1"),
        decided("s1", t, "koeln", "koeln"),
        QueueJoined("s1", later(t, 8), "koeln", "115-koeln", 1),
        Spilled("s1", later(t, 38), "koeln", None, SpillReason.TIMEOUT, 30.0),
        decided("s1", later(t, 38), "koeln", "bonn", hop=1),
        QueueJoined("s1", later(t, 39), "bonn", "115-bonn", 1),
        Spilled("s1", later(t, 69), "bonn", None, SpillReason.TIMEOUT, 30.0),
        decided("s1", later(t, 69), "koeln", "bund", hop=2),
        QueueJoined("s1", later(t, 70), "bund", "115-bund", 1),
        Answered("s1", later(t, 71), "bund", "Berta", 1.0),
        Ended("s1", later(t, 200), 129.0, "Normal Clearing"),
        # Sent to Bonn (overload) but hung up during the greeting: never queued there.
        CallArrived.of("s2", u, KOELN_CALLER, "h-s2"),
        decided("s2", u, "koeln", "bonn"),
        Ended("s2", later(u, 4), None, "Normal Clearing"),
    ]
    for rec in records:
        journal.record(rec)
    await journal.close()
    rows = {r.center: r for r in await report(db, DAY, BERLIN, LEVEL)}
    koeln, national = rows["koeln"], rows["national"]
    assert (koeln.calls, koeln.offered, koeln.answered, koeln.answered_within) == (2, 1, 1, 0)
    assert koeln.asa_s == 61.0  # 30 + 30 + 1 s, summed over the three queues
    assert (koeln.overflow_out, rows["bonn"].overflow_in, rows["bund"].overflow_in) == (2, 1, 1)
    assert (rows["bonn"].overflow_in_answered, rows["bund"].overflow_in_answered) == (0, 1)
    assert national.overflow_in == national.overflow_out == 2
    assert "per home center" in render_text(list(rows.values()), DAY, BERLIN, LEVEL)


async def test_callback_columns_count_the_days_requests_and_their_outcomes(tmp_path: Path) -> None:
    from lotse.journal.callbackstore import CallbackStore, NumberCipher
    from router.callbacknumber import callback_number

    db = tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=lambda: local(23, 0), salt=b"s" * 16)
    await journal.close()
    store = await CallbackStore.open(db, NumberCipher(b"report-key-0123456789"), b"k" * 16)
    number = callback_number("0221 1234567")
    for rid, center, at in (
        ("a", "koeln", local(9, 0)),
        ("b", "koeln", local(10, 0)),
        ("c", "koeln", local(11, 0)),
        ("d", "bonn", local(12, 0)),
        ("e", "koeln", local(9, 0, DAY + timedelta(days=1))),  # the next day
    ):
        await store.add(rid, center, number, entered_s=0.0, deadline_s=1.0, at=at)
    await store.end("a", "completed", local(9, 30))
    await store.end("b", "expired", local(18, 0))
    await store.end("d", "no_answer", local(13, 0))
    await store.close()
    rows = {r.center: r for r in await report(db, DAY, BERLIN, LEVEL)}
    koeln, bonn, nation = rows["koeln"], rows["bonn"], rows["national"]
    assert (koeln.cb_requested, koeln.cb_completed, koeln.cb_expired, koeln.cb_open) == (3, 1, 1, 1)
    assert (bonn.cb_requested, bonn.cb_no_answer, bonn.calls) == (1, 1, 0)
    assert (nation.cb_requested, nation.cb_completed, nation.cb_no_answer) == (4, 1, 1)
    text = render_text(list(rows.values()), DAY, BERLIN, LEVEL)
    assert "cb req" in text and "1234567" not in text


def test_on_a_narrow_terminal_columns_are_left_out_by_priority_never_a_figure_cut() -> None:
    wide = render_text(EXPECTED, DAY, BERLIN, LEVEL)
    for width in (60, 80, 100):
        text = render_text(EXPECTED, DAY, BERLIN, LEVEL, width)
        body = text.splitlines()[2:]
        # Only the note under the table may be longer (the terminal wraps it).
        assert all(len(line) <= width for line in body if not line.startswith("left out"))
        koeln = next(line for line in body if line.startswith("koeln"))
        # The promise's figures stay, whole: offered, answered, SL, ASA.
        for figure in ("6", "4", "40.0%", "25.5s"):
            assert figure in koeln.split()
        assert koeln.split()[0] == "koeln"
        note = next(line for line in body if line.startswith("left out"))
        assert "cb open" in note and "--json or --csv shows them" in note
    assert "left out" not in wide and "cb open" in wide
