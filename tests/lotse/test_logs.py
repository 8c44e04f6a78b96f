"""The controller's logs during real calls: JSON lines, a call id on every call's line,
no caller number and no secret anywhere."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from lotse.journal.privacy import JournalKey, load_key
from lotse.journal.store import Journal
from lotse.logging import configure_logging
from tests.lotse.rig import SECRET, FakeWall, Rig, outcomes, running_rig

# Caller numbers as switches deliver them, and the digits that would give each away.
CALLERS = {
    "04219876543": "4219876543",
    "+49 3491 987654": "3491987654",
    "0049 5251 987653": "5251987653",
    "0171 9876543": "1719876543",
}
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
CALL_EVENTS = re.compile(r"^(call|route)\.|^fastagi\.session$")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("debug", stream=buffer)
    try:
        yield buffer
    finally:
        configure_logging()


async def test_every_line_of_a_call_names_it_and_none_gives_a_number_away(
    rig: Rig, log_lines: io.StringIO
) -> None:
    calls: list[tuple[str, str | None]] = [(n, None) for n in CALLERS]
    calls[-1] = ("0171 9876543", "28195")  # the mobile caller is asked for a postal code
    calls.append(("anonymous", None))
    got = await outcomes(rig, calls)
    assert all(o.answered for o in got)  # type: ignore[attr-defined]
    await rig.controller.stop()

    lines = log_lines.getvalue().splitlines()
    assert lines
    by_call: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        entry = json.loads(line)
        assert {"event", "level", "timestamp"} <= entry.keys(), line
        # A short name; its values are fields, never inside the text.
        assert EVENT_NAME.fullmatch(entry["event"]), line
        assert entry["level"] in {"debug", "info", "warning", "error", "critical"}
        digits = re.sub(r"\D", "", line)
        for given_away in CALLERS.values():
            assert given_away not in digits, f"caller number in log line: {entry['event']}"
        assert SECRET not in line
        if CALL_EVENTS.match(entry["event"]):
            assert entry.get("call_id"), line
            by_call[entry["call_id"]].add(entry["event"])
    # Each call's journey can be followed by its id alone: every call was
    # decided, queued, answered and ended, and its FastAGI session reported.
    journeys = [events for events in by_call.values() if "route.decided" in events]
    assert len(journeys) == len(calls)
    for events in journeys:
        assert {"fastagi.session", "call.queued", "call.answered", "call.ended"} <= events


async def test_neither_the_journal_key_nor_an_old_stored_salt_reaches_a_log_line(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    # A journal an older lotse wrote, with its salt stored inside it.
    path = tmp_path / "journal.sqlite"
    journal = await Journal.open(path, clock=FakeWall())
    await journal.close()
    old_salt = "0ld5a17" * 9
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('caller_hash_salt', ?)", (old_salt,))
    key_text = "the-journal-key-" + "k3y" * 8
    key = load_key("LOTSE_JOURNAL_KEY", None, None, {"LOTSE_JOURNAL_KEY": key_text})
    assert isinstance(key, JournalKey) and key_text not in repr(key)
    async with running_rig(tmp_path, key) as rig:
        got = await outcomes(rig, [("04219876543", None), ("+49 3491 987654", None)])
        assert all(o.answered for o in got)  # type: ignore[attr-defined]
        await rig.controller.stop()
    text = log_lines.getvalue()
    entries = [json.loads(line) for line in text.splitlines()]
    events = [e["event"] for e in entries]
    assert "route.decided" in events
    opened = [e["key_source"] for e in entries if e["event"] == "journal.opened"]
    assert "$LOTSE_JOURNAL_KEY" in opened
    assert "journal.salt_deleted" in events
    for secret in (key_text, key_text.encode().hex(), old_salt):
        assert secret not in text
    # aiosqlite's own debug lines (each statement with its parameters) stay out.
    assert not [e for e in events if e.startswith(("executing", "operation", "returning"))]
    # Nor is the key anywhere in the journal file.
    files = [path, path.with_name(path.name + "-wal")]
    assert not any(key_text.encode() in f.read_bytes() for f in files if f.exists())
