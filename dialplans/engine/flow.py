"""What an application tells the interpreter: go on, stop, or continue elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Flow(Enum):
    """What the channel does after an application."""

    CONTINUE = "continue"  # the next priority
    HANGUP = "hangup"  # the dialplan ends (hung up, or the caller is gone)


@dataclass(frozen=True)
class Redirect:
    """Continue at ``context,exten,priority`` (a Goto, or an AMI Redirect from outside)."""

    context: str
    exten: str
    priority: str = "1"


Result = Flow | Redirect
