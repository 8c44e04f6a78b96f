"""Following the queue_log: a file appended in pieces, rotated, truncated, missing; the import."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from ami.queuelog import QueueLogLine
from lotse.controller import RunOptions
from lotse.journal import Journal
from lotse.queuelog.follow import READ_GRACE_S, SLICE_BYTES, QueueLogFollower, Tail
from metrics.registry import LotseMetrics
from tests.lotse.test_queuelog_import import CONFIG, KEY, T0, TABLE

LINE = b"1796230054|c;2|115-bremen|NONE|ENTERQUEUE||04211234567|1\n"


def drain(tail: Tail) -> list[QueueLogLine]:
    out: list[QueueLogLine] = []
    while (chunk := tail.read_slice()) is not None:
        out += chunk.lines
    return out


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def test_a_line_written_in_pieces_is_read_once_complete(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    tail = Tail(path)
    assert drain(tail) == []  # no file yet
    append(path, LINE[:20])
    assert drain(tail) == []
    append(path, LINE[20:-1])
    assert drain(tail) == []
    append(path, b"\n" + LINE)
    assert [x.callid for x in drain(tail)] == ["c;2", "c;2"]
    assert tail.position == 2 * len(LINE)
    assert drain(tail) == []


def test_a_big_file_is_read_in_slices(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    n = SLICE_BYTES // len(LINE) * 3
    path.write_bytes(LINE * n)
    tail = Tail(path)
    slices = 0
    lines = 0
    while (chunk := tail.read_slice()) is not None:
        slices += 1
        lines += len(chunk.lines)
    assert lines == n
    assert slices >= 3


def test_rotation_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(LINE)
    tail = Tail(path)
    assert len(drain(tail)) == 1
    append(path, LINE.replace(b"c;2", b"old;2"))
    os.rename(path, tmp_path / "queue_log.1")
    assert drain(tail)[0].callid == "old;2"  # the new file is not there yet
    append(tmp_path / "queue_log.1", LINE.replace(b"c;2", b"late;2") + b"1796230099|torn")
    path.write_bytes(LINE.replace(b"c;2", b"new;2"))
    got = [x.callid for x in drain(tail)]
    assert got == ["late;2", "new;2"]
    assert (tail.rotations, tail.torn, tail.truncations) == (1, 1, 0)


def test_truncation_reads_again_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(LINE * 3)
    tail = Tail(path)
    assert len(drain(tail)) == 3
    # copytruncate: same file, emptied, then written on.
    with path.open("r+b") as f:
        f.truncate(0)
    append(path, LINE.replace(b"c;2", b"after;2"))
    assert [x.callid for x in drain(tail)] == ["after;2"]
    assert tail.truncations == 1


def test_same_size_is_no_truncation(tmp_path: Path) -> None:
    # The boundary: a file exactly as long as what was read has not shrunk.
    path = tmp_path / "queue_log"
    path.write_bytes(LINE + LINE[:10])
    tail = Tail(path)
    assert len(drain(tail)) == 1
    assert tail.truncations == 0
    append(path, LINE[10:])
    assert len(drain(tail)) == 1
    assert tail.truncations == 0


def at(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def q(t: int, call: str, queue: str, agent: str, event: str, *data: str) -> bytes:
    return f"{t}|{call}|{queue}|{agent}|{event}|{'|'.join(data)}\n".encode()


def calls(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(
            conn.execute(
                "SELECT call_id, home, answered_center, ended_cause, source FROM calls "
                "ORDER BY call_id"
            )
        )


async def test_the_follower_imports_appends_rotations_and_what_it_missed(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    path = tmp_path / "queue_log"
    # The controller's wall clock is days off the queue_log's: readiness goes
    # by the file's own clock and the time since its newest line was read.
    wall = at(T0 + 3 * 86400)
    mono = [0.0]
    journal = await Journal.open(db, clock=lambda: wall, salt=KEY)
    registry = CollectorRegistry()
    metrics = LotseMetrics(registry, CONFIG.centers)
    follower = QueueLogFollower(
        path,
        CONFIG,
        TABLE,
        journal,
        wall_clock=lambda: wall,
        mono_clock=lambda: mono[0],
        metrics=metrics,
    )
    assert (await follower.step()).imported == 0  # no file yet

    # The static fallback's calls: its own line, then app_queue's.
    append(path, q(T0, "a;2", "lotse-fallback", "NONE", "LOTSEFALLBACK", "bremen", "direct"))
    append(path, q(T0, "a;2", "115-bremen", "NONE", "ENTERQUEUE", "", "04211234567", "1"))
    append(path, q(T0 + 2, "a;2", "115-bremen", "115-bremen agent 1", "CONNECT", "2", "x.1", "1"))
    append(path, b"garbage\n" + q(T0 + 2, "a;2", "115-bremen", "NONE", "NEWEVENT", "1"))
    assert (await follower.step()).imported == 0
    # Too fresh: the controller's own records of these moments may be on their way.
    mono[0] = 9.0
    assert (await follower.step()).imported == 0
    mono[0] = 10.0
    assert (await follower.step()).imported == 1
    assert calls(db) == [("a;2", "bremen", "bremen", None, "queue_log")]

    append(
        path,
        q(T0 + 22, "a;2", "115-bremen", "115-bremen agent 1", "COMPLETEAGENT", "2", "20", "1"),
    )
    os.rename(path, tmp_path / "queue_log.1")
    append(path, q(T0 + 30, "b;2", "lotse-fallback", "NONE", "LOTSEFALLBACK", "bund", "direct"))
    append(path, q(T0 + 30, "b;2", "115-bund", "NONE", "ENTERQUEUE", "", "015112345678", "1"))
    append(path, q(T0 + 34, "b;2", "115-bund", "NONE", "ABANDON", "1", "1", "4"))
    mono[0] = 20.0
    # Read just now: the controller's own records may be on their way (READ_GRACE_S).
    first = await follower.step()
    mono[0] = 20.0 + READ_GRACE_S
    second = await follower.step()  # a's end is old enough on the file's clock, b's not
    mono[0] = 30.0
    third = await follower.step()
    assert (first.imported, second.imported, second.new_calls) == (0, 1, [])
    assert (third.imported, third.new_calls) == (1, ["bund"])
    assert calls(db) == [
        ("a;2", "bremen", "bremen", "queue_log COMPLETEAGENT", "queue_log"),
        ("b;2", "bund", None, "queue_log ABANDON", "queue_log"),
    ]
    assert registry.get_sample_value("lotse_fallback_calls_total", {"center": "bremen"}) == 1
    assert registry.get_sample_value("lotse_fallback_calls_total", {"center": "bund"}) == 1
    assert registry.get_sample_value("lotse_queue_log_lines_total", {"result": "bad"}) == 1
    assert registry.get_sample_value("lotse_queue_log_lines_total", {"result": "unknown"}) == 1
    assert registry.get_sample_value("lotse_queue_log_lines_total", {"result": "read"}) == 7
    assert registry.get_sample_value("lotse_queue_log_calls_total", {"result": "imported"}) == 3

    # A restarted controller reads the current file from its start: nothing twice.
    append(path, q(T0 + 70, "c;2", "115-bremen", "NONE", "ENTERQUEUE", "", "0421999", "1"))
    follower.tail.close()
    mono[0] = 100.0
    again = QueueLogFollower(
        path, CONFIG, TABLE, journal, wall_clock=lambda: wall, mono_clock=lambda: mono[0]
    )
    early = await again.step()
    mono[0] = 110.0
    late = await again.step()
    await journal.close()
    assert (early.imported, early.skipped) == (0, 0)
    assert (late.imported, late.skipped, late.new_calls) == (1, 1, ["bremen"])
    assert [c[0] for c in calls(db)] == ["a;2", "b;2", "c;2"]
    # c;2 has no line of the static fallback: a call the journal missed, not the fallback's.
    with sqlite3.connect(db) as conn:
        flags = dict(conn.execute("SELECT call_id, fallback FROM calls"))
    assert flags == {"a;2": 1, "b;2": 1, "c;2": 0}


def test_run_options_follow_the_configured_queue_log() -> None:
    assert RunOptions.from_config(CONFIG).queue_log == "/var/log/asterisk/queue_log"
