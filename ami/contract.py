"""The contract between the generated dialplan and the controller's FastAGI service.

The dialplan asks ``AGI(agi://HOST:PORT/route,DIALED,VISITED,POSTAL,CALLID,CONFIG)`` and
the controller answers with ``SET VARIABLE`` replies for the names below. Both
the dialplan generator and the FastAGI service import these names, so the two
sides cannot drift apart; the Asterisk stand-in (``standin/``) runs the generated dialplan.
"""

from __future__ import annotations

from enum import StrEnum

AGI_SCRIPT = "route"

# AGI arguments, in order (agi_arg_1 … agi_arg_5).
ARG_DIALED = 1
ARG_VISITED = 2
ARG_POSTAL = 3
ARG_CALLID = 4
# The sha256 of the configuration file the dialplan was built from, written
# into the dialplan as a literal: the controller compares it with its own to
# notice Asterisk running a dialplan of another configuration. Empty (or
# missing, from an older dialplan) means unknown.
ARG_CONFIG = 5

# The postal-code argument: empty until the caller was asked; this value when
# the prompt ran but the caller entered no usable five digits.
POSTAL_NONE = "none"

# Center ids are [a-z0-9-]; '+' cannot occur in them, and unlike ',' or '|' it
# needs no escaping inside an AGI() argument list.
VISITED_SEPARATOR = "+"

# Variables the controller sets on the channel.
VAR_ACTION = "LOTSE_ACTION"
VAR_QUEUE = "LOTSE_QUEUE"
VAR_TIMEOUT = "LOTSE_TIMEOUT"
VAR_GREETING = "LOTSE_GREETING"
VAR_ANNOUNCEMENT = "LOTSE_ANNOUNCEMENT"
VAR_TARGET = "LOTSE_TARGET"
VAR_REASON = "LOTSE_REASON"
# Inherited ("__" prefix) so the queue member's channel sees the caller's
# municipality: a partner center answers on the municipality's behalf.
VAR_HOME = "__LOTSE_HOME"
VAR_HOME_NAME = "__LOTSE_HOME_NAME"
VAR_VISITED = "__LOTSE_VISITED"
VAR_CALLID = "__LOTSE_CALLID"

# LOTSE_TIMEOUT of "0" (or empty) means the last queue: Queue() without a
# timeout, the call does not come back. On a spill the dialplan appends
# LOTSE_TARGET to the visited list and asks again.

# Channel variables the dialplan keeps across spills.
DIALPLAN_DIALED = "LOTSE_DIALED"
DIALPLAN_VISITED = "LOTSE_VISITED"
DIALPLAN_POSTAL = "LOTSE_PLZ"
DIALPLAN_CALLID = "LOTSE_CALLID"
DIALPLAN_HOME = "LOTSE_HOME"


class AgiAction(StrEnum):
    """What the dialplan does next with the call."""

    QUEUE = "queue"
    ANNOUNCE = "announce"
    POSTAL = "postal"


def join_visited(centers: tuple[str, ...]) -> str:
    """Render the visited centers as one AGI argument."""
    return VISITED_SEPARATOR.join(centers)


def split_visited(arg: str) -> tuple[str, ...]:
    """Parse the visited-centers AGI argument; empty parts are dropped."""
    return tuple(p for p in arg.strip().split(VISITED_SEPARATOR) if p)


# The static fallback announces itself with UserEvent(LotseFallback,Center:…,Reason:…)
# so the controller can count calls it did not route; the reasons it gives:
FALLBACK_USER_EVENT = "LotseFallback"
# ... and writes its own lines into Asterisk's queue_log with QueueLog(), so a
# call it handled while no controller listened (the UserEvent went nowhere) is
# still counted once the controller reads the file: every call of the static
# fallback, queued or only announced. The "queue" of these lines is the
# fallback's context, not a queue; the agent is NONE (app_queue's "no member").
FALLBACK_QUEUE_LOG_QUEUE = "lotse-fallback"
#: A call the static fallback routed: data ``center|reason`` (center empty for
#: a region no center serves; no caller number, as in every event lotse makes).
FALLBACK_QUEUE_LOG_ROUTED = "LOTSEFALLBACK"
#: The static fallback plays a final announcement: data ``center|kind|sound``
#: (kind ``offhours``, ``busy`` or ``unconnected``).
FALLBACK_QUEUE_LOG_ANNOUNCED = "LOTSEANNOUNCE"
FALLBACK_ANNOUNCE_KINDS = ("offhours", "busy", "unconnected")
FALLBACK_REASONS = (
    "agi-failure",  # AGISTATUS was not SUCCESS: controller down or refused
    "no-action",  # the controller closed without setting LOTSE_ACTION
    "unknown-action",
    "bad-reply",  # an action without the variables it needs
    "ask-limit",  # the controller kept asking for more rounds than hops allow
    "direct",
)


# What the controller wants from AMI. Kept here, not derived from ``ami.events``,
# so the dialplan generator (manager_lotse.conf's event filters) imports only
# this leaf module; ``ami.events`` refuses to load if its builders differ.

#: Every event name ``ami.events.to_event`` types. Feed these to the AMI user's
#: ``eventfilter`` lines; everything else is dropped by lotse anyway.
NEEDED_EVENTS: frozenset[str] = frozenset(
    {
        "FullyBooted",
        "Shutdown",
        "Newchannel",
        "Hangup",
        "VarSet",
        "UserEvent",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentRingNoAnswer",
        "AgentConnect",
        "AgentComplete",
        "AgentDump",
        "QueueMemberStatus",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMember",
        "QueueParams",
        "QueueEntry",
        "QueueStatusComplete",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "Status",
        "StatusComplete",
    }
)

#: Events that only come as items of an action's result list. Asterisk sends
#: these to the asking session directly; AMI event filters do not apply.
LIST_EVENTS: frozenset[str] = frozenset(
    {
        "QueueParams",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "Status",
        "StatusComplete",
    }
)

#: The VarSet variables lotse reads, as a regular expression on ``Variable``
#: (for an eventfilter narrower than "all VarSet"; same set as
#: ``ami.events.wanted_variable``).
NEEDED_VARIABLES_REGEX = r"^(_{0,2}LOTSE_.*|ROUTE_.*|AGISTATUS|QUEUESTATUS)$"

# --- callbacks (dialplans.callback writes them, lotse.callbacks reads them) ---
#: The FastAGI script of the callback dialogue:
#: ``AGI(agi://HOST:PORT/callback,CALLID,CENTER,NUMBER,KIND)``.
CALLBACK_SCRIPT = "callback"
#: KIND: left a queue with a key press / offered before queueing / every center closed.
CALLBACK_KIND_QUEUE, CALLBACK_KIND_WAIT, CALLBACK_KIND_CLOSED = "queue", "wait", "closed"
#: The reply: ``ok``, ``refused`` (ask for the number again) or ``unavailable``.
VAR_CB_RESULT = "LOTSE_CB_RESULT"
#: Set by the route reply: ``wait`` (offer before the final queue) or ``closed``
#: (offer after the off-hours announcement); empty: no offer.
VAR_CB_OFFER = "LOTSE_CB_OFFER"
CALLBACK_KEY_CONTEXT = "lotse-callback-key"
CALLBACK_CONTEXT = "lotse-callback"
CALLBACK_AGENT_CONTEXT = "lotse-callback-agent"
CALLBACK_DIAL_CONTEXT = "lotse-callback-dial"
#: Variables of the dialer's legs. The number to dial has no LOTSE_ prefix so
#: the AMI users' VarSet filters never pass it on.
VAR_CB_ID, VAR_CB_ATTEMPT, VAR_CB_QUEUE = "LOTSE_CB_ID", "LOTSE_CB_ATTEMPT", "LOTSE_CB_QUEUE"
VAR_CB_RING = "LOTSE_CB_RING"
VAR_CB_DIAL = "CB_DIAL"
#: The keyed number in the dialogue (no LOTSE_ prefix either).
VAR_CB_NUMBER = "CB_NUM"
#: ``UserEvent(LotseCallback,...)``: ``Status: requested`` (with ``Center``) when
#: a request was taken, else the caller leg's DIALSTATUS with ``Id`` and ``Attempt``.
CALLBACK_USER_EVENT = "LotseCallback"
#: The dialer names each attempt's Local channel (``ChannelId``) with this prefix,
#: so its legs (``<id>;2`` in a queue, in the queue_log) are known as no call.
CALLBACK_ATTEMPT_PREFIX = "lotse-cb-"
#: The PJSIP endpoint the dialer dials callers through (the operator's trunk).
CALLBACK_TRUNK = "lotse-callback-trunk"
