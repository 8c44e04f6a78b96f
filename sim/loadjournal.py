"""What the spawned controller's journal says about the calls a load originated.

Each originated call's caller channel (the Local channel's ``;2`` half, which
runs the 115 flow) has a Uniqueid derived from the ``ChannelId`` the load
chose, and the dialplan hands that Uniqueid to lotse as the call id: so the journal's
rows are matched to the load's calls by key, and a call journaled twice or
not at all shows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def journal_figures(path: Path, call_ids: Iterable[str]) -> dict[str, Any]:
    """Rows of the originated calls: ``calls`` found, ``missing``, ``open``, ``unknown``,
    ``imported`` (from Asterisk's queue_log), and ``other`` rows the load did not originate."""
    wanted = set(call_ids)
    figures = {"calls": 0, "missing": len(wanted), "open": 0, "unknown": 0, "imported": 0}
    if not path.is_file():
        return {**figures, "other": 0}
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
        source = "source" if "source" in columns else "NULL"
        rows = conn.execute(
            f"SELECT call_id, ended_at IS NULL, outcome, {source} FROM calls"
        ).fetchall()
    finally:
        conn.close()
    other = 0
    for call_id, is_open, outcome, src in rows:
        if call_id not in wanted:
            other += 1
            continue
        figures["calls"] += 1
        figures["open"] += bool(is_open)
        figures["unknown"] += outcome == "unknown"
        figures["imported"] += src == "queue_log"
    figures["missing"] = len(wanted) - figures["calls"]
    return {**figures, "other": other}


def callback_outcomes(path: Path) -> dict[str, int] | None:
    """Ended callback requests per outcome in the journal (``None``: no journal or table)."""
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT outcome, count(*) FROM callbacks WHERE outcome IS NOT NULL GROUP BY outcome"
        ).fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return {str(outcome): int(n) for outcome, n in rows}
