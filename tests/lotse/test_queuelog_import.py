"""Importing Asterisk's queue_log into the journal: once, merged with what AMI told, private."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ami.queuelog import parse_chunk
from cliutil import REPO_ROOT
from lotse.journal import (
    Answered,
    CallArrived,
    Closed,
    Decided,
    Ended,
    Journal,
    Outcome,
    QueueJoined,
    Record,
)
from lotse.journal.report import report
from lotse.queuelog import cli
from lotse.queuelog.importer import ImportResult, import_journeys
from lotse.queuelog.journeys import READY_AFTER_S, SETTLE_S, Folder
from router.config import Config
from router.configload import load_config
from router.numbering import OrtsnetzTable, classify_caller
from router.policy import Action, Decision
from tests.ami.test_queuelog import REAL, needs_real

TABLE = OrtsnetzTable.load()
CONFIG: Config = load_config(REPO_ROOT / "config.yaml", table=TABLE)
KEY = b"k" * 32
T0 = 1796230054  # 2026-12-02 16:47:34 UTC
LATER = datetime.fromtimestamp(T0 + 86400, UTC)


def at(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


async def open_journal(path: Path, now: datetime = LATER) -> Journal:
    return await Journal.open(path, clock=lambda: now, salt=KEY)


async def import_text(
    journal: Journal, text: str, now: datetime = LATER, *, retention_days: int = 90
) -> ImportResult:
    folder = Folder(CONFIG, TABLE, journal.caller_hash)
    chunk = parse_chunk(text.encode())
    assert chunk.bad == 0
    folder.add_all(chunk.lines)
    stamp = int(now.timestamp())
    folder.settle(stamp)
    ready = folder.take(ready_before=stamp - READY_AFTER_S)
    return await import_journeys(journal, ready, not_before=now - timedelta(days=retention_days))


def rows(db: Path, sql: str, args: Iterable[object] = ()) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, tuple(args)))


ANSWERED = f"""\
{T0}|a;2|115-wittenberg|NONE|ENTERQUEUE||03491123456|1
{T0 + 3}|a;2|115-wittenberg|115-wittenberg agent 1|CONNECT|3|{T0}.22|2
{T0 + 23}|a;2|115-wittenberg|115-wittenberg agent 1|COMPLETEAGENT|3|20|1
"""


async def test_a_fallback_call_is_created_with_prefix_hash_home_and_source(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db)
    result = await import_text(journal, ANSWERED)
    await journal.close()
    assert (result.imported, result.skipped, result.new_calls) == (1, 0, ["wittenberg"])
    (row,) = rows(
        db,
        "SELECT arrived_at, ortsnetz_prefix, caller_hash, number_kind, home, queued, "
        "answered_center, wait_s, talk_s, ended_at, ended_cause, source, outcome FROM calls",
    )
    expected_hash = journal.caller_hash("03491123456")
    assert row == (
        "2026-12-02T16:47:34.000000Z",
        "03491",
        expected_hash,
        "landline",
        "wittenberg",
        1,
        "wittenberg",
        3.0,
        20.0,
        "2026-12-02T16:47:57.000000Z",
        "queue_log COMPLETEAGENT",
        "queue_log",
        None,
    )
    kinds = [r[0] for r in rows(db, "SELECT kind FROM call_events ORDER BY seq")]
    assert kinds == ["arrived", "imported", "queued", "answered", "ended"]


async def test_importing_twice_imports_once(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db)
    first = await import_text(journal, ANSWERED)
    second = await import_text(journal, ANSWERED)
    await journal.close()
    assert (first.imported, second.imported, second.skipped) == (1, 0, 1)
    assert rows(db, "SELECT count(*) FROM call_events") == [(5,)]


def ami_records(call_id: str, caller: str, journal: Journal) -> list[Record]:
    """What the controller journals for the ANSWERED call when it sees it all."""
    decision = Decision(
        action=Action.QUEUE,
        origin=classify_caller(caller, TABLE),
        home="wittenberg",
        target="wittenberg",
        queue="115-wittenberg",
        greeting="lotse/greeting-wittenberg",
        announcement=None,
        queue_timeout_s=60,
        reasons=("home",),
    )
    return [
        CallArrived.of(call_id, at(T0 - 2), decision.origin, journal.caller_hash(caller)),
        Decided.of(call_id, at(T0 - 2), decision),
        QueueJoined(call_id, at(T0), "wittenberg", "115-wittenberg", 1),
        Answered(call_id, at(T0 + 3), "wittenberg", "115-wittenberg agent 1", 3.0),
        Ended(call_id, at(T0 + 23), 20.0, "Normal Clearing"),
    ]


async def test_a_call_the_controller_journaled_is_not_doubled(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db)
    for rec in ami_records("a;2", "03491123456", journal):
        journal.record(rec)
    await journal.flush()
    before = rows(db, "SELECT * FROM calls")
    result = await import_text(journal, ANSWERED)
    await journal.close()
    assert (result.imported, result.skipped) == (0, 1)
    assert rows(db, "SELECT * FROM calls") == before
    assert rows(db, "SELECT count(*) FROM call_events WHERE kind = 'answered'") == [(1,)]


async def test_what_the_controller_missed_is_merged_into_its_row(tmp_path: Path) -> None:
    """AMI saw the call queue, then the link dropped: the answer and the end come from the file."""
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db)
    for rec in ami_records("a;2", "03491123456", journal)[:3]:
        journal.record(rec)
    result = await import_text(journal, ANSWERED)
    await journal.close()
    assert (result.imported, result.new_calls) == (1, [])
    (row,) = rows(db, "SELECT arrived_at, home, wait_s, talk_s, ended_cause, source FROM calls")
    assert row == (
        "2026-12-02T16:47:32.000000Z",
        "wittenberg",
        3.0,
        20.0,
        "queue_log COMPLETEAGENT",
        "queue_log",
    )
    kinds = [r[0] for r in rows(db, "SELECT kind FROM call_events ORDER BY seq")]
    assert kinds == ["arrived", "decided", "queued", "imported", "answered", "ended"]


async def test_a_call_closed_as_unknown_is_completed_from_the_queue_log(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db)
    for rec in ami_records("a;2", "03491123456", journal)[:3]:
        journal.record(rec)
    journal.record(Closed("a;2", at(T0 + 600), Outcome.UNKNOWN, "gone at reconcile"))
    await journal.flush()
    assert rows(db, "SELECT outcome FROM calls") == [("unknown",)]
    result = await import_text(journal, ANSWERED)
    await journal.close()
    assert result.imported == 1
    assert rows(db, "SELECT outcome, answered_center, ended_at, ended_cause FROM calls") == [
        (None, "wittenberg", "2026-12-02T16:47:57.000000Z", "queue_log COMPLETEAGENT")
    ]


async def test_a_journey_read_in_parts_is_imported_in_parts_and_never_doubled(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db)
    head, tail = ANSWERED.splitlines(keepends=True)[:2], ANSWERED.splitlines(keepends=True)[2:]
    assert (await import_text(journal, "".join(head))).imported == 1
    # The whole file again, later: only the end is new.
    assert (await import_text(journal, "".join(head + tail))).imported == 1
    assert (await import_text(journal, "".join(head + tail))).imported == 0
    await journal.close()
    kinds = [r[0] for r in rows(db, "SELECT kind FROM call_events ORDER BY seq")]
    assert kinds == ["arrived", "imported", "queued", "answered", "imported", "ended"]


SPILLED = f"""\
{T0}|s;2|115-halberstadt|NONE|ENTERQUEUE||0394112346|1
{T0 + 30}|s;2|115-halberstadt|NONE|EXITWITHTIMEOUT|1|1|30
"""


@pytest.mark.parametrize(("after", "ended"), [(SETTLE_S - 1, False), (SETTLE_S, True)])
async def test_a_call_that_left_its_last_queue_alive_ends_once_settled(
    tmp_path: Path, after: int, ended: bool
) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db)
    # Ready (READY_AFTER_S) long before it settles: the import comes in two steps.
    now = at(T0 + 30 + after)
    await import_text(journal, SPILLED, now)
    await journal.close()
    (row,) = rows(db, "SELECT queued, answered_center, abandoned, ended_at, hops FROM calls")
    assert row[:3] == (1, None, 0)
    assert (row[3] is not None) is ended
    if ended:
        assert row[3] == "2026-12-02T16:48:04.000000Z"


@pytest.mark.parametrize(("age", "imported"), [(READY_AFTER_S - 1, 0), (READY_AFTER_S, 1)])
async def test_fresh_lines_wait_until_the_controller_had_its_say(
    tmp_path: Path, age: int, imported: int
) -> None:
    journal = await open_journal(tmp_path / "j.sqlite")
    result = await import_text(journal, ANSWERED, at(T0 + 23 + age))
    await journal.close()
    assert result.imported == imported


async def test_calls_older_than_the_retention_are_not_imported(tmp_path: Path) -> None:
    journal = await open_journal(tmp_path / "j.sqlite")
    now = at(T0) + timedelta(days=2)
    kept = await import_text(journal, ANSWERED, now, retention_days=3)
    await journal.close()
    journal = await open_journal(tmp_path / "k.sqlite", now)
    old = await import_text(journal, ANSWERED, now, retention_days=1)
    await journal.close()
    assert (kept.imported, old.imported, old.skipped) == (1, 0, 1)


ABANDONED_MOBILE = f"""\
{T0}|m;2|115-bremen|NONE|ENTERQUEUE||015112345678|2
{T0 + 5}|m;2|115-bremen|115-bremen agent 1|RINGCANCELED|576
{T0 + 5}|m;2|115-bremen|NONE|ABANDON|1|2|5
{T0 + 6}|x;2|115-bremen|NONE|ENTERQUEUE|||1
{T0 + 9}|x;2|115-bund|NONE|ENTERQUEUE|||1
"""


async def test_a_caller_without_ortsnetz_belongs_to_the_first_queue(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    journal = await open_journal(db)
    await import_text(journal, ABANDONED_MOBILE)
    await journal.close()
    assert rows(
        db,
        "SELECT call_id, home, number_kind, ortsnetz_prefix, caller_hash IS NULL, abandoned, "
        "wait_s, ended_cause FROM calls ORDER BY call_id",
    ) == [
        ("m;2", "bremen", "mobile", None, 0, 1, 5.0, "queue_log ABANDON"),
        ("x;2", "bremen", "anonymous", None, 1, 0, None, None),
    ]


# --- the real file -------------------------------------------------------------------


def real_call_ids() -> set[str]:
    lines = parse_chunk(REAL.read_bytes()).lines
    return {x.callid for x in lines if x.event == "ENTERQUEUE"}


def real_numbers() -> set[str]:
    lines = parse_chunk(REAL.read_bytes()).lines
    return {x.data[1] for x in lines if x.event == "ENTERQUEUE" and x.data[1]}


def run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch, now: datetime) -> int:
    parser = argparse.ArgumentParser(prog="lotse")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    args = parser.parse_args(argv)
    monkeypatch.setattr(cli, "_now", lambda: now)
    code: int = args.func(args)
    return code


@needs_real
def test_real_file_twice_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "journal.sqlite"
    monkeypatch.setenv("LOTSE_JOURNAL_SALT", "a-key-of-sixteen-bytes-or-more")
    argv = ["journal", "import-queue-log", str(REAL), "--journal", str(db), "--json"]
    ids = real_call_ids()
    assert len(ids) == 91
    assert run_cli(argv, monkeypatch, LATER) == 0
    first = json.loads(capsys.readouterr().out)
    assert run_cli(argv, monkeypatch, LATER) == 0
    second = json.loads(capsys.readouterr().out)
    assert first == {
        "imported": 91,
        "skipped": 0,
        "pending": 0,
        "fallback": 0,  # recorded before the static fallback wrote lines of its own
        "bad_lines": 0,
        "unknown_events": 0,
    }
    assert (second["imported"], second["skipped"]) == (0, 91)
    assert {r[0] for r in rows(db, "SELECT call_id FROM calls")} == ids
    assert rows(db, "SELECT count(*) FROM calls WHERE ended_at IS NULL") == [(0,)]
    assert rows(db, "SELECT count(*) FROM calls WHERE source = 'queue_log'") == [(91,)]

    # The same file on standard input (zcat old.gz | lotse journal import-queue-log -).
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(REAL.read_bytes())))
    assert run_cli([*argv[:2], "-", *argv[3:]], monkeypatch, LATER) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 91

    # The day's report counts every call that entered a queue.
    day = asyncio.run(
        report(db, date(2026, 12, 2), ZoneInfo("Europe/Berlin"), CONFIG.service_level)
    )
    national = day[-1]
    assert (national.calls, national.offered, national.answered, national.abandoned) == (
        91,
        91,
        84,
        7,
    )

    # Not one caller number of the file is anywhere in the journal's bytes.
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(db.name))
    numbers = real_numbers()
    assert len(numbers) > 30
    for number in numbers:
        assert number.encode() not in blob
        assert number.lstrip("+").encode() not in blob


def test_cli_refuses_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["journal", "import-queue-log", str(tmp_path / "nope"), "--journal", str(tmp_path / "j")]
    assert run_cli(argv, monkeypatch, LATER) == 2
    assert "no such queue_log file" in capsys.readouterr().err


def test_cli_text_output_counts_bad_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    qlog = tmp_path / "queue_log"
    qlog.write_text(ANSWERED + "garbage\n" + f"{T0}|a;2|q|NONE|NEWTHING|\n" + f"{T0 + 99}|torn")
    argv = ["journal", "import-queue-log", str(qlog), "--journal", str(tmp_path / "j.sqlite")]
    # Hashes must match the controller's: the import needs the journal key too.
    monkeypatch.delenv("LOTSE_JOURNAL_KEY", raising=False)
    monkeypatch.delenv("LOTSE_JOURNAL_SALT", raising=False)
    assert run_cli(argv, monkeypatch, LATER) == 2
    assert "no journal key" in capsys.readouterr().err
    monkeypatch.setenv("LOTSE_JOURNAL_KEY", "a-key-of-sixteen-bytes-or-more")
    assert run_cli(argv, monkeypatch, LATER) == 0
    out = capsys.readouterr().out
    assert "1 calls imported, 0 skipped" in out
    assert "1 bad lines and 1 unknown events" in out


def test_the_callback_dialers_legs_are_no_calls() -> None:
    text = "1795392800|lotse-cb-0a1b2c3d4e5f;2|115-bremen|NONE|ENTERQUEUE||115|1\n"
    folder = Folder(CONFIG, TABLE, lambda _number: None)
    folder.add_all(parse_chunk(text.encode()).lines)
    assert len(folder) == 0 and folder.stats.passed == 1
    # The same line of a caller is a journey.
    other = Folder(CONFIG, TABLE, lambda _number: None)
    other.add_all(parse_chunk(text.replace("lotse-cb-", "caller-").encode()).lines)
    assert len(other) == 1


def test_the_cli_says_how_many_calls_it_booked_as_the_fallbacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db, log = tmp_path / "journal.sqlite", tmp_path / "queue_log"
    log.write_text(
        f"{T0}|f;2|lotse-fallback|NONE|LOTSEFALLBACK|bremen|direct\n"
        f"{T0}|f;2|lotse-fallback|NONE|LOTSEANNOUNCE|bremen|offhours|lotse/offhours-bremen\n"
        f"{T0}|q;2|115-bremen|NONE|ENTERQUEUE||04211234567|1\n"
        f"{T0 + 3}|q;2|115-bremen|NONE|ABANDON|1|1|3\n"
    )
    monkeypatch.setenv("LOTSE_JOURNAL_SALT", "a-key-of-sixteen-bytes-or-more")
    argv = ["journal", "import-queue-log", str(log), "--journal", str(db), "--json"]
    assert run_cli(argv, monkeypatch, LATER) == 0
    first = json.loads(capsys.readouterr().out)
    assert run_cli(argv, monkeypatch, LATER) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["imported"], first["fallback"]) == (2, 1)
    assert (second["imported"], second["fallback"]) == (0, 0)
    assert rows(db, "SELECT call_id, fallback, announced FROM calls ORDER BY call_id") == [
        ("f;2", 1, 1),
        ("q;2", 0, 0),
    ]
