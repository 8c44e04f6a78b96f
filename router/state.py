"""Snapshots of live center state, as the routing policy reads them.

The controller folds AMI events into these values and the simulator updates them
in virtual time; the policy only ever sees an immutable :class:`Snapshot`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Override(StrEnum):
    """A supervisor's manual override of a center's opening state."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class CenterState:
    """What is known about one center's queue right now.

    ``agents_logged_in`` is ``None`` while unknown (no queue status seen yet),
    which the policy treats as "not known to be unstaffed".
    """

    waiting: int = 0
    longest_wait_s: float = 0.0
    agents_logged_in: int | None = None
    agents_available: int = 0
    agents_busy: int = 0
    avg_handle_s: float | None = None
    override: Override | None = None
    # What the supervisor gave as the override's reason (and until when); it
    # appears in every decision the override shapes.
    override_note: str = ""

    def override_closed_reason(self) -> str:
        """Why a closing override closes the center, as decisions name it."""
        return f"closed by override: {self.override_note or 'no reason given'}"

    def override_open_reason(self) -> str:
        """Why an opening override keeps the center open, as decisions name it."""
        return f"open by override: {self.override_note or 'no reason given'}"

    def expected_wait_s(self, default_handle_s: float = 240.0) -> float | None:
        """Expected wait of a caller joining now, or ``None`` when unknown.

        A free agent answers at once; otherwise a new caller waits for the callers
        ahead of them (plus themselves) to be served by the logged-in agents,
        each taking the recent average handle time.
        """
        if self.agents_logged_in is None:
            return None
        if self.agents_available > self.waiting:
            return 0.0
        if self.agents_logged_in == 0:
            return float("inf")
        aht = self.avg_handle_s if self.avg_handle_s is not None else default_handle_s
        ahead = self.waiting - self.agents_available + 1
        return ahead * aht / self.agents_logged_in


_EMPTY: Mapping[str, CenterState] = MappingProxyType({})
UNKNOWN = CenterState()


@dataclass(frozen=True)
class Snapshot:
    """The state of every center at one moment.

    ``stale`` is set when the controller lost its AMI connection and routes on
    the last state it knew.
    """

    centers: Mapping[str, CenterState] = field(default_factory=lambda: _EMPTY)
    stale: bool = False

    def of(self, center_id: str) -> CenterState:
        """The state of a center, or the unknown state if none was reported."""
        return self.centers.get(center_id, UNKNOWN)
