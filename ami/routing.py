"""The routing decision on the AGI wire: the dialplan's arguments in, variables out.

One copy of the mapping both the controller's FastAGI routing service and
``lotse dialplan trace`` use: :func:`call_from_request` reads the contract's
AGI arguments (``ami.contract``) into a :class:`router.policy.Call`, and
:func:`reply_for` renders a :class:`router.policy.Decision` as the
``SET VARIABLE`` replies the generated dialplan reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ami import contract
from ami.agi_protocol import AgiReply, AgiRequest
from ami.fastagi import AgiMalformed
from router.policy import Action, Call, Decision, Router

# Asterisk variables are not meant for prose; the journal keeps every reason.
MAX_REASON_CHARS = 200

_ACTIONS = {
    Action.QUEUE: contract.AgiAction.QUEUE,
    Action.ANNOUNCE: contract.AgiAction.ANNOUNCE,
    Action.ASK_POSTAL_CODE: contract.AgiAction.POSTAL,
}


@dataclass(frozen=True)
class RoutingRequest:
    """A routing request as the controller sees it: the call and its identity."""

    call_id: str
    call: Call
    channel: str


# Characters no value the routing acts on may hold: they cut a line of the AGI
# dialogue (the call id goes back in a SET VARIABLE) or a journal's text.
_LINE_BREAKING = frozenset("\r\n\x00")
_ROUTING_ARGS = (
    contract.ARG_DIALED,
    contract.ARG_VISITED,
    contract.ARG_POSTAL,
    contract.ARG_CALLID,
)


def _check_values(request: AgiRequest) -> None:
    """Raise :class:`AgiMalformed` if a value the routing uses holds CR, LF or NUL.

    Checked before any decision, so such a request is counted as malformed
    input, answered FAILURE (the dialplan's static fallback) and journaled
    nowhere: no decision exists for a call that took the fallback.
    """
    fields = (
        ("agi_uniqueid", request.uniqueid),
        ("agi_callerid", request.callerid),
        ("agi_channel", request.channel),
        ("agi_dnid", request.dnid),
        ("agi_extension", request.extension),
        *((f"agi_arg_{n}", request.arg(n)) for n in _ROUTING_ARGS),
    )
    for name, value in fields:
        if not _LINE_BREAKING.isdisjoint(value):
            raise AgiMalformed(f"{name} contains CR, LF or NUL")


def call_from_request(request: AgiRequest) -> RoutingRequest:
    """Read the contract's AGI arguments; missing ones fall back to the channel's facts.

    Raises :class:`AgiMalformed` for a value holding CR, LF or NUL.
    """
    _check_values(request)
    dialed = request.arg(contract.ARG_DIALED) or request.extension or request.dnid or "115"
    visited = contract.split_visited(request.arg(contract.ARG_VISITED))
    postal_arg = request.arg(contract.ARG_POSTAL).strip()
    # "" = not asked yet; "none" = asked, nothing usable entered.
    postal: str | None
    if not postal_arg:
        postal = None
    elif postal_arg == contract.POSTAL_NONE:
        postal = ""
    else:
        postal = postal_arg
    call_id = request.arg(contract.ARG_CALLID) or request.uniqueid
    return RoutingRequest(
        call_id=call_id,
        call=Call(caller=request.callerid, dialed=dialed, postal_code=postal, visited=visited),
        channel=request.channel,
    )


def reply_for(decision: Decision, router: Router, call_id: str) -> AgiReply:
    """The channel variables that carry ``decision`` to the dialplan."""
    home = router.config.centers.get(decision.home) if decision.home else None
    reason = decision.reasons[-1] if decision.reasons else ""
    variables = [
        (contract.VAR_ACTION, str(_ACTIONS[decision.action])),
        (contract.VAR_QUEUE, decision.queue or ""),
        (contract.VAR_TIMEOUT, str(decision.queue_timeout_s)),
        (contract.VAR_GREETING, decision.greeting or ""),
        (contract.VAR_ANNOUNCEMENT, decision.announcement or decision.prompt or ""),
        (contract.VAR_TARGET, decision.target or ""),
        (contract.VAR_REASON, reason[:MAX_REASON_CHARS]),
        (contract.VAR_HOME, decision.home or ""),
        (contract.VAR_HOME_NAME, home.name if home else ""),
        (contract.VAR_CALLID, call_id),
    ]
    return AgiReply(tuple(variables))
