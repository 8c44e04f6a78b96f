"""Read a center-state snapshot from a YAML/JSON file, for ``lotse route --state``.

Lets an operator ask "where would this call go if Paderborn had 12 callers
waiting?" without a live controller.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from cliutil import STDIN, STDIN_NAME
from router.state import CenterState, Override, Snapshot

_INT_FIELDS = ("waiting", "agents_logged_in", "agents_available", "agents_busy")
_FLOAT_FIELDS = ("longest_wait_s", "avg_handle_s")


class StateFileError(ValueError):
    """A state file that cannot be used; the message names the file and field."""


def load_snapshot(path: Path) -> Snapshot:
    """Parse a snapshot file: ``{stale: bool, centers: {id: {field: value}}}``.

    ``-`` reads it from standard input.
    """
    stdin = str(path) == STDIN
    if stdin:
        path = Path(STDIN_NAME)
    try:
        data = yaml.safe_load(sys.stdin.read() if stdin else path.read_text(encoding="utf-8"))
    except OSError as err:
        raise StateFileError(f"{path}: cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise StateFileError(f"{path}: not valid YAML/JSON: {err}") from err
    return snapshot_from_data(data, str(path))


def snapshot_from_data(data: Any, source: str) -> Snapshot:
    """Build a snapshot from already parsed data; errors name ``source``."""
    if data is None:
        return Snapshot()
    if not isinstance(data, dict):
        raise StateFileError(f"{source}: expected a mapping with 'centers'")
    unknown = set(data) - {"centers", "stale"}
    if unknown:
        raise StateFileError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    centers_data = data.get("centers") or {}
    if not isinstance(centers_data, dict):
        raise StateFileError(f"{source}: centers: expected a mapping of center id to state")
    centers = {
        str(cid): _center_state(fields, f"{source}: centers.{cid}")
        for cid, fields in centers_data.items()
    }
    stale = data.get("stale", False)
    if not isinstance(stale, bool):
        raise StateFileError(f"{source}: stale: expected true or false")
    return Snapshot(centers=centers, stale=stale)


def _center_state(fields: Any, where: str) -> CenterState:
    if fields is None:
        return CenterState()
    if not isinstance(fields, dict):
        raise StateFileError(f"{where}: expected a mapping")
    known = set(_INT_FIELDS) | set(_FLOAT_FIELDS) | {"override"}
    unknown = set(fields) - known
    if unknown:
        raise StateFileError(
            f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for name in _INT_FIELDS:
        if name in fields:
            v = fields[name]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise StateFileError(f"{where}.{name}: expected a non-negative integer, got {v!r}")
            values[name] = v
    for name in _FLOAT_FIELDS:
        if name in fields:
            v = fields[name]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise StateFileError(f"{where}.{name}: expected a non-negative number, got {v!r}")
            values[name] = float(v)
    if "override" in fields and fields["override"] is not None:
        try:
            values["override"] = Override(str(fields["override"]))
        except ValueError:
            raise StateFileError(f"{where}.override: expected open or closed") from None
    return CenterState(**values)
