"""The values a routing decision is made of: the call's facts and the decision.

Kept apart from the policy so the compiled router (``router/compiled.py``) can
hold precomputed homes without importing the policy that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from router.config import Center
from router.numbering import Origin


class Action(StrEnum):
    """What happens to the call next."""

    QUEUE = "queue"
    ANNOUNCE = "announce"
    ASK_POSTAL_CODE = "postal"


@dataclass(frozen=True)
class Call:
    """The facts of one routing request.

    ``caller`` is personal data: it is classified here and never copied into
    the decision. ``postal_code`` is ``None`` until the caller was asked; an
    empty string means they were asked and gave nothing usable.
    """

    caller: str
    dialed: str = "115"
    postal_code: str | None = None
    visited: tuple[str, ...] = ()


class Decision(NamedTuple):
    """Where the call goes, and the reasons in the order they were found.

    Immutable like a frozen dataclass, but a ``NamedTuple``: one is built for
    every routing request, and a frozen dataclass's ``__init__`` costs five
    times as much on that path (``bench/routing.py``).
    """

    action: Action
    origin: Origin
    home: str | None
    target: str | None
    queue: str | None
    greeting: str | None
    announcement: str | None
    queue_timeout_s: int
    reasons: tuple[str, ...]
    prompt: str | None = None
    # How the home was found: "dialed", "postal_code", "ortsnetz" or "fallback".
    home_via: str = ""
    # The Ortsnetz dialed in front of 115 (without the leading 0), if any.
    dialed_ortsnetz: str | None = None
    # The home center was closed (off-hours, holiday, closure, override).
    offhours: bool = False

    @property
    def final(self) -> bool:
        """True when the call will not come back for another decision."""
        return self.action is not Action.QUEUE or self.queue_timeout_s == 0


def homeless(
    action: Action,
    origin: Origin,
    reason: str,
    *,
    announcement: str | None = None,
    prompt: str | None = None,
) -> Decision:
    """A decision made before any center is the call's home (prompt, unconnected region)."""
    return Decision(
        action=action,
        origin=origin,
        home=None,
        target=None,
        queue=None,
        greeting=None,
        announcement=announcement,
        queue_timeout_s=0,
        reasons=(reason,),
        prompt=prompt,
    )


class Home(NamedTuple):
    """The municipality a call belongs to, as the policy's first step finds it.

    ``early`` is a complete decision when no center needs choosing (a postal
    code prompt, a region that is not connected).
    """

    origin: Origin
    center: Center | None
    reasons: tuple[str, ...]
    early: Decision | None = None
    via: str = ""
    dialed: str | None = None
