"""How one callback attempt ended, from the events the callback AMI user sees.

An attempt is one Originate (``ChannelId`` = the attempt id) of
``Local/s@lotse-callback-agent``: its ``;2`` half waits first in the center's
queue for an agent, its ``;1`` half (Uniqueid = the attempt id) then runs
``[lotse-callback-dial]``, whose ``h`` extension sends the attempt's one
``UserEvent(LotseCallback,…,Status: DIALSTATUS)`` whichever side hangs up
first, before that channel's ``Hangup`` (recorded on Asterisk 22.10.1 with the
generated files: tests/lotse/captures/callback-*.txt). An attempt that never
reached the dial context (no agent answered within the wait, the Originate
failed) sends no UserEvent; its ``;1`` Hangup is then the one event that
ends it (callback-no-agent.txt; ../shared/asterisk/originate-failure.txt).

:func:`concluded` folds one event into at most one ``(attempt, outcome)``;
the desk forgets an attempt when it books it, so whatever follows for that
attempt (its Hangup after the UserEvent, the ``;2`` half's Hangup) books
nothing: exactly one outcome per attempt.
"""

from __future__ import annotations

from collections.abc import Container
from enum import StrEnum

from ami.events import Hangup, LotseCallback

#: ``Status`` of the dialogue's UserEvent when a request was taken (no attempt).
STATUS_REQUESTED = "requested"


class AttemptOutcome(StrEnum):
    """How an attempt ended (label of ``lotse_callback_attempts_total``)."""

    ANSWERED = "answered"  # the caller answered: the request is kept
    NO_ANSWER = "no_answer"  # rang for the ring timeout
    BUSY = "busy"
    CONGESTION = "congestion"  # the network could not reach the caller
    FAILED = "failed"  # no agent, no channel, or the agent left before the answer


# app_dial's DIALSTATUS values; anything else (CANCEL: the agent's side hung up
# while the caller's phone rang; CHANUNAVAIL; NONE: Dial never ran) is FAILED.
_BY_DIALSTATUS = {
    "ANSWER": AttemptOutcome.ANSWERED,
    "NOANSWER": AttemptOutcome.NO_ANSWER,
    "BUSY": AttemptOutcome.BUSY,
    "CONGESTION": AttemptOutcome.CONGESTION,
}


def outcome_of(dialstatus: str) -> AttemptOutcome:
    """The outcome a DIALSTATUS stands for."""
    return _BY_DIALSTATUS.get(dialstatus.strip().upper(), AttemptOutcome.FAILED)


def concluded(event: object, in_flight: Container[str]) -> tuple[str, AttemptOutcome] | None:
    """``(attempt, outcome)`` if ``event`` ends an attempt in ``in_flight``, else ``None``.

    The UserEvent carries DIALSTATUS; a Hangup of the attempt's own channel
    (its Uniqueid is the attempt id; the ``;2`` half's is ``<id>;2``) that
    comes without one means the dial context never ran.
    """
    if isinstance(event, LotseCallback):
        if event.status != STATUS_REQUESTED and event.attempt in in_flight:
            return event.attempt, outcome_of(event.status)
        return None
    if isinstance(event, Hangup) and event.uniqueid in in_flight:
        return event.uniqueid, AttemptOutcome.FAILED
    return None
