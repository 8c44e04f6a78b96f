"""Typed AMI events: the only place where raw AMI headers become lotse values.

:func:`to_event` runs for every event Asterisk sends, and a single 115 call
produces dozens lotse does not need (Newexten, DeviceStateChange, Bridge*,
most VarSet …), so it answers ``None`` for those after one dict lookup on the
event name. A known event whose required fields are missing or ill-typed
becomes a :class:`Malformed` value; nothing here raises on wire content.

Field names follow one vocabulary across events although Asterisk's does not:
the member interface is ``member`` whether the wire calls it ``Interface``
(events) or ``Location`` (the QueueStatus list), its name ``member_name``
(``MemberName`` / ``Name``). Durations are float seconds, whatever unit the
wire uses (AgentRingNoAnswer's RingTime is milliseconds, CoreShowChannel's
Duration ``HH:MM:SS``). ``caller_id_num`` is the caller's number as Asterisk
has it: personal data, kept raw for routing, left out of every repr; log
only ``router.numbering``'s masked form.

Wire facts behind these types (Asterisk 22.10.1 captures):

- FullyBooted is sent to every session right after login (Uptime 22 s in
  one capture), not only when Asterisk has just started: it means "this
  session is ready", not "Asterisk restarted". A restart shows as Shutdown
  (``Restart: True``) and then the connection closes.
- QueueCallerAbandon is also sent when Queue() gives up at its timeout
  (``HoldTime: 12`` in ami-timeout), not only when the caller hangs up.
  A timeout is told apart by the ``QUEUESTATUS=TIMEOUT`` VarSet that follows
  QueueCallerLeave; an abandon by a HangupRequest for the caller's channel
  *before* QueueCallerAbandon. Both are followed by QueueCallerLeave.
- After AgentConnect the caller is no longer in the queue: QueueParams then
  counts ``Calls: 0`` and QueueStatus has no QueueEntry for it.
- QueueMemberStatus is a device-state change of the member's StateInterface;
  a member taking overlapping calls (ringinuse) sends none in between, and its
  CallsTaken lags (1 after 30 calls in ami-load). Count calls from
  AgentComplete, not from member counters.
- Inherited variables (``__LOTSE_HOME``) are set again on every channel the
  call creates, so one call yields several VarSet for one variable: key by
  ``linkedid`` (the call) rather than ``uniqueid`` (the channel).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeAlias, TypeVar

from ami.codec import Message
from ami.contract import (
    CALLBACK_USER_EVENT,
    FALLBACK_USER_EVENT,
    NEEDED_EVENTS,
)


class DeviceState(IntEnum):
    """Asterisk device states, the ``Status`` of queue members."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


@dataclass(frozen=True, slots=True)
class Malformed:
    """A known event that could not be typed; ``reason`` names the field, never its value."""

    name: str
    reason: str


# --- system -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FullyBooted:
    """The session is logged in and Asterisk has finished starting (see module notes)."""

    uptime: float
    last_reload: float
    status: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Asterisk is stopping; ``restart`` says whether it will come back by itself."""

    shutdown: str  # "Cleanly" or "Uncleanly"
    restart: bool


# --- channels ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """Fields of every event about one channel (Asterisk's channel snapshot)."""

    channel: str
    uniqueid: str  # the channel
    linkedid: str  # the call: uniqueid of its oldest channel
    caller_id_num: str = field(repr=False)  # personal data


@dataclass(frozen=True, slots=True)
class Newchannel(ChannelEvent):
    """A channel was created: for lotse, a 115 call arriving (or a queue's agent leg)."""

    channel_state: int
    context: str
    exten: str


@dataclass(frozen=True, slots=True)
class Hangup(ChannelEvent):
    """A channel is gone; ``cause`` is the Q.850 cause (16 normal, 0 in the abandon capture)."""

    cause: int
    cause_txt: str


@dataclass(frozen=True, slots=True)
class LotseFallback(ChannelEvent):
    """The static fallback dialplan routed a call (``UserEvent(LotseFallback,…)``).

    Carries only the home center id and why the controller was not used, never
    the caller number, so the controller can count fallback routing.
    """

    center: str
    reason: str


@dataclass(frozen=True, slots=True)
class LotseCallback(ChannelEvent):
    """The callback dialogue or a callback leg reports (``UserEvent(LotseCallback,…)``).

    ``status`` is ``requested`` (a request was taken, for ``center``) or the
    caller leg's DIALSTATUS for the attempt ``attempt`` of request
    ``request``. Never a number.
    """

    status: str
    center: str
    request: str
    attempt: str


@dataclass(frozen=True, slots=True)
class VarSet(ChannelEvent):
    """A dialplan variable lotse cares about was set (LOTSE_*, ROUTE_*, AGISTATUS, QUEUESTATUS).

    ``AGISTATUS=FAILURE`` is how an unreachable FastAGI server shows: no
    AGIExec events at all, just this, and the dialplan's fallback branch.
    """

    variable: str
    value: str


# --- callers in queues --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueCallerJoin(ChannelEvent):
    """A caller entered ``queue`` at ``position`` (1 = next); ``count`` callers now wait."""

    queue: str
    position: int
    count: int


@dataclass(frozen=True, slots=True)
class QueueCallerLeave(ChannelEvent):
    """A caller left ``queue`` (answered, abandoned or timed out); ``count`` remain."""

    queue: str
    position: int
    count: int


@dataclass(frozen=True, slots=True)
class QueueCallerAbandon(ChannelEvent):
    """A caller left without an agent: hung up, *or Queue() timed out* (see module notes)."""

    queue: str
    position: int
    original_position: int
    holdtime: float


# --- agents (queue members) serving callers -------------------------------------


@dataclass(frozen=True, slots=True)
class AgentEvent(ChannelEvent):
    """A queue member and a caller: channel fields are the caller's, ``dest_*`` the member leg's."""

    queue: str
    member: str  # wire: Interface
    member_name: str
    dest_channel: str
    dest_uniqueid: str


@dataclass(frozen=True, slots=True)
class AgentCalled(AgentEvent):
    """The queue rings a member for this caller (needs ``eventwhencalled``)."""


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer(AgentEvent):
    """The member did not answer within the queue's ring timeout."""

    ringtime: float  # wire: milliseconds


@dataclass(frozen=True, slots=True)
class AgentConnect(AgentEvent):
    """The member answered; the caller has left the queue (QueueCallerLeave came first)."""

    holdtime: float
    ringtime: float


@dataclass(frozen=True, slots=True)
class AgentComplete(AgentEvent):
    """The call between member and caller ended; ``reason`` is caller, agent or transfer."""

    holdtime: float
    talktime: float
    reason: str


@dataclass(frozen=True, slots=True)
class AgentDump(AgentEvent):
    """The member hung up while it was being rung for the caller."""


# --- queue members ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberState:
    """A queue member as Asterisk reports it (events and the QueueStatus list alike)."""

    queue: str
    member: str  # Interface / Location: what the queue dials
    member_name: str
    state_interface: str  # device whose state is the member's status
    membership: str  # static, dynamic, realtime
    penalty: int
    calls_taken: int
    last_call: int  # epoch seconds, 0 = never
    last_pause: int  # epoch seconds, 0 = never
    login_time: int  # epoch seconds
    in_call: bool
    status: int  # DeviceState code
    paused: bool
    paused_reason: str
    wrapuptime: int


@dataclass(frozen=True, slots=True)
class MemberEvent(MemberState):
    """A member event; events, unlike the QueueMember list item, carry ``ringinuse``."""

    ringinuse: bool


@dataclass(frozen=True, slots=True)
class QueueMemberStatus(MemberEvent):
    """The member's device changed state (see module notes: not a call counter)."""


@dataclass(frozen=True, slots=True)
class QueueMemberAdded(MemberEvent):
    """A member was added (QueueAdd, dynamic membership)."""


@dataclass(frozen=True, slots=True)
class QueueMemberRemoved(MemberEvent):
    """A member was removed (QueueRemove)."""


@dataclass(frozen=True, slots=True)
class QueueMemberPause(MemberEvent):
    """A member was paused or unpaused; ``paused_reason`` as given to QueuePause."""


# --- action result lists (carry the action's ActionID) ---------------------------


@dataclass(frozen=True, slots=True)
class QueueMember(MemberState):
    """QueueStatus list item for a member; wire names Name/Location, no Ringinuse."""

    action_id: str | None


@dataclass(frozen=True, slots=True)
class QueueParams:
    """QueueStatus list item for a queue: counters since the queue was loaded."""

    queue: str
    max_callers: int  # wire: Max, 0 = unlimited
    strategy: str
    calls: int  # callers waiting now (not those talking to an agent)
    holdtime: float  # average
    talktime: float  # average
    completed: int
    abandoned: int  # timeouts included
    service_level: int  # threshold in seconds
    service_level_perf: float  # percent
    service_level_perf2: float  # percent
    weight: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """QueueStatus list item for a waiting caller (there is no Linkedid here)."""

    queue: str
    position: int
    channel: str
    uniqueid: str
    caller_id_num: str = field(repr=False)  # personal data
    wait: float
    priority: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class QueueStatusComplete:
    """End of a QueueStatus list; ``list_items`` counts QueueParams, QueueMember, QueueEntry."""

    list_items: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class CoreShowChannel:
    """CoreShowChannels list item: one live channel (for resync after reconnect)."""

    channel: str
    uniqueid: str
    linkedid: str
    caller_id_num: str = field(repr=False)  # personal data
    channel_state: int
    context: str
    exten: str
    priority: int
    application: str
    application_data: str
    duration: float
    bridge_id: str | None
    action_id: str | None


@dataclass(frozen=True, slots=True)
class CoreShowChannelsComplete:
    """End of a CoreShowChannels list."""

    list_items: int
    action_id: str | None


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """Status list item: one live channel and the variables the action asked for.

    ``variables`` holds each ``Variable: NAME=value`` line (an unset variable
    reads empty): after an answer, app_queue's ``QEHOLDTIME`` (the caller's
    wait, with ``setqueueentryvar``) and ``MEMBERNAME`` (``setinterfacevar``).
    """

    channel: str
    uniqueid: str
    application: str
    bridge_id: str | None
    seconds: float
    variables: tuple[tuple[str, str], ...]
    action_id: str | None

    def variable(self, name: str) -> str | None:
        """A variable's value, ``None`` when not asked for or empty."""
        return next((v for n, v in self.variables if n == name and v), None)


@dataclass(frozen=True, slots=True)
class StatusComplete:
    """End of a Status list."""

    list_items: int
    action_id: str | None


Event: TypeAlias = (
    FullyBooted
    | Shutdown
    | Newchannel
    | Hangup
    | VarSet
    | LotseFallback
    | LotseCallback
    | QueueCallerJoin
    | QueueCallerLeave
    | QueueCallerAbandon
    | AgentCalled
    | AgentRingNoAnswer
    | AgentConnect
    | AgentComplete
    | AgentDump
    | QueueMemberStatus
    | QueueMemberAdded
    | QueueMemberRemoved
    | QueueMemberPause
    | QueueMember
    | QueueParams
    | QueueEntry
    | QueueStatusComplete
    | CoreShowChannel
    | CoreShowChannelsComplete
    | ChannelStatus
    | StatusComplete
)


# --- field readers ------------------------------------------------------------
#
# Readers take ``Message.fields`` (lower-case names) and the wire name of the
# field, which is what an error names. Whole-number fields, nearly all of
# them plain digits, skip the regular expression.


class _FieldError(Exception):
    """A required field is missing or ill-typed; the message names the field only."""


Fields: TypeAlias = Mapping[str, str]

_INT = re.compile(r"-?[0-9]{1,18}")
_DECIMAL = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,18})?")
_HMS = re.compile(r"([0-9]{1,9}):([0-5][0-9]):([0-5][0-9])")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _plain_digits(value: str) -> bool:
    """``[0-9]{1,18}``, without a regular expression."""
    return value.isdigit() and value.isascii() and len(value) <= 18


def _str(f: Fields, key: str) -> str:
    value = f.get(key.lower())
    if value is None:
        raise _FieldError(f"missing {key}")
    return value


def _nonempty(f: Fields, key: str) -> str:
    value = _str(f, key)
    if not value:
        raise _FieldError(f"empty {key}")
    return value


def _int(f: Fields, key: str) -> int:
    value = _str(f, key)
    if not (_plain_digits(value) or _INT.fullmatch(value)):
        raise _FieldError(f"{key} is not an integer")
    return int(value)


def _seconds(f: Fields, key: str, scale: float = 1.0) -> float:
    value = _str(f, key)
    if not (_plain_digits(value) or _DECIMAL.fullmatch(value)):
        raise _FieldError(f"{key} is not a number")
    return float(value) * scale


def _bool(f: Fields, key: str) -> bool:
    value = _str(f, key).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _FieldError(f"{key} is not a boolean")


def _hms(f: Fields, key: str) -> float:
    match = _HMS.fullmatch(_str(f, key))
    if match is None:
        raise _FieldError(f"{key} is not HH:MM:SS")
    hours, minutes, seconds = (int(part) for part in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def _channel(f: Fields) -> tuple[str, str, str, str]:
    channel = f.get("channel")
    uniqueid = f.get("uniqueid")
    linkedid = f.get("linkedid")
    if not (channel and uniqueid and linkedid):
        # Name the first field that is missing or empty.
        channel = _nonempty(f, "Channel")
        uniqueid = _nonempty(f, "Uniqueid")
        linkedid = _nonempty(f, "Linkedid")
    return channel, uniqueid, linkedid, f.get("calleridnum") or ""


def _agent(f: Fields) -> tuple[str, str, str, str, str, str, str, str, str]:
    return (
        *_channel(f),
        _nonempty(f, "Queue"),
        _nonempty(f, "Interface"),
        f.get("membername") or "",
        f.get("destchannel") or "",
        f.get("destuniqueid") or "",
    )


_MemberFields: TypeAlias = tuple[
    str, str, str, str, str, int, int, int, int, int, bool, int, bool, str, int
]


def _member_state(f: Fields, member_key: str, name_key: str) -> _MemberFields:
    return (
        _nonempty(f, "Queue"),
        _nonempty(f, member_key),
        f.get(name_key.lower()) or "",
        f.get("stateinterface") or "",
        f.get("membership") or "",
        _int(f, "Penalty"),
        _int(f, "CallsTaken"),
        _int(f, "LastCall"),
        _int(f, "LastPause"),
        _int(f, "LoginTime"),
        _bool(f, "InCall"),
        _int(f, "Status"),
        _bool(f, "Paused"),
        f.get("pausedreason") or "",
        _int(f, "Wrapuptime"),
    )


# --- builders -----------------------------------------------------------------


def _fully_booted(msg: Message) -> FullyBooted:
    f = msg.fields
    return FullyBooted(_seconds(f, "Uptime"), _seconds(f, "LastReload"), f.get("status") or "")


def _shutdown(msg: Message) -> Shutdown:
    f = msg.fields
    return Shutdown(f.get("shutdown") or "", _bool(f, "Restart"))


def _newchannel(msg: Message) -> Newchannel:
    f = msg.fields
    return Newchannel(*_channel(f), _int(f, "ChannelState"), _str(f, "Context"), _str(f, "Exten"))


def _hangup(msg: Message) -> Hangup:
    f = msg.fields
    return Hangup(*_channel(f), _int(f, "Cause"), f.get("cause-txt") or "")


def _user_event(msg: Message) -> LotseFallback | LotseCallback | None:
    f = msg.fields
    name = f.get("userevent")
    if name == CALLBACK_USER_EVENT:
        return LotseCallback(
            *_channel(f),
            _nonempty(f, "Status"),
            f.get("center") or "",
            f.get("id") or "",
            f.get("attempt") or "",
        )
    if name != FALLBACK_USER_EVENT:
        return None
    return LotseFallback(*_channel(f), _nonempty(f, "Center"), f.get("reason") or "")


_VARIABLE_PREFIXES = ("LOTSE_", "_LOTSE_", "__LOTSE_", "ROUTE_")
_VARIABLES = frozenset({"AGISTATUS", "QUEUESTATUS"})


def wanted_variable(name: str) -> bool:
    """Whether lotse tracks a channel variable of this name (VarSet filter)."""
    return name in _VARIABLES or name.startswith(_VARIABLE_PREFIXES)


def _varset(msg: Message) -> VarSet | None:
    f = msg.fields
    variable = f.get("variable")
    if variable is None:
        raise _FieldError("missing Variable")
    if not wanted_variable(variable):
        return None
    return VarSet(*_channel(f), variable, _str(f, "Value"))


def _queue_caller(f: Fields) -> tuple[str, str, str, str, str, int]:
    return (*_channel(f), _nonempty(f, "Queue"), _int(f, "Position"))


def _caller_join(msg: Message) -> QueueCallerJoin:
    f = msg.fields
    return QueueCallerJoin(*_queue_caller(f), _int(f, "Count"))


def _caller_leave(msg: Message) -> QueueCallerLeave:
    f = msg.fields
    return QueueCallerLeave(*_queue_caller(f), _int(f, "Count"))


def _caller_abandon(msg: Message) -> QueueCallerAbandon:
    f = msg.fields
    return QueueCallerAbandon(
        *_queue_caller(f), _int(f, "OriginalPosition"), _seconds(f, "HoldTime")
    )


def _agent_called(msg: Message) -> AgentCalled:
    f = msg.fields
    return AgentCalled(*_agent(f))


def _agent_ring_no_answer(msg: Message) -> AgentRingNoAnswer:
    f = msg.fields
    return AgentRingNoAnswer(*_agent(f), _seconds(f, "RingTime", 0.001))


def _agent_connect(msg: Message) -> AgentConnect:
    f = msg.fields
    return AgentConnect(*_agent(f), _seconds(f, "HoldTime"), _seconds(f, "RingTime"))


def _agent_complete(msg: Message) -> AgentComplete:
    f = msg.fields
    if f.get("channel") is None and f.get("uniqueid") is None:
        # Asterisk 22.10.1's app_queue sends AgentComplete without the caller's
        # fields when the caller's channel is already gone ("Empty caller_snapshot;
        # sending incomplete event"), recorded on a callback leg whose callee hung
        # up first (tests/ami/test_events.py). The member's side, the queue and
        # the times are there: the member's call ended and its talk time counts.
        agent = (
            "",
            "",
            "",
            "",
            _nonempty(f, "Queue"),
            _nonempty(f, "Interface"),
            f.get("membername") or "",
            f.get("destchannel") or "",
            f.get("destuniqueid") or "",
        )
    else:
        agent = _agent(f)
    return AgentComplete(
        *agent,
        _seconds(f, "HoldTime"),
        _seconds(f, "TalkTime"),
        f.get("reason") or "",
    )


def _agent_dump(msg: Message) -> AgentDump:
    f = msg.fields
    return AgentDump(*_agent(f))


_M = TypeVar("_M", QueueMemberStatus, QueueMemberAdded, QueueMemberRemoved, QueueMemberPause)


def _member_event(cls: type[_M]) -> Callable[[Message], _M]:
    def build(msg: Message) -> _M:
        f = msg.fields
        state = _member_state(f, "Interface", "MemberName")
        return cls(*state, _bool(f, "Ringinuse"))

    return build


def _queue_member(msg: Message) -> QueueMember:
    f = msg.fields
    state = _member_state(f, "Location", "Name")
    return QueueMember(*state, f.get("actionid"))


def _queue_params(msg: Message) -> QueueParams:
    f = msg.fields
    return QueueParams(
        _nonempty(f, "Queue"),
        _int(f, "Max"),
        f.get("strategy") or "",
        _int(f, "Calls"),
        _seconds(f, "Holdtime"),
        _seconds(f, "TalkTime"),
        _int(f, "Completed"),
        _int(f, "Abandoned"),
        _int(f, "ServiceLevel"),
        _seconds(f, "ServicelevelPerf"),
        _seconds(f, "ServicelevelPerf2"),
        _int(f, "Weight"),
        f.get("actionid"),
    )


def _queue_entry(msg: Message) -> QueueEntry:
    f = msg.fields
    return QueueEntry(
        _nonempty(f, "Queue"),
        _int(f, "Position"),
        _nonempty(f, "Channel"),
        _nonempty(f, "Uniqueid"),
        f.get("calleridnum") or "",
        _seconds(f, "Wait"),
        _int(f, "Priority"),
        f.get("actionid"),
    )


def _queue_status_complete(msg: Message) -> QueueStatusComplete:
    f = msg.fields
    return QueueStatusComplete(_int(f, "ListItems"), f.get("actionid"))


def _core_show_channel(msg: Message) -> CoreShowChannel:
    f = msg.fields
    return CoreShowChannel(
        *_channel(f),
        _int(f, "ChannelState"),
        _str(f, "Context"),
        _str(f, "Exten"),
        _int(f, "Priority"),
        f.get("application") or "",
        f.get("applicationdata") or "",
        _hms(f, "Duration"),
        f.get("bridgeid") or None,
        f.get("actionid"),
    )


def _core_show_channels_complete(msg: Message) -> CoreShowChannelsComplete:
    f = msg.fields
    return CoreShowChannelsComplete(_int(f, "ListItems"), f.get("actionid"))


def _status(msg: Message) -> ChannelStatus:
    f = msg.fields
    variables = []
    for key, value in msg.headers:
        if key.lower() == "variable":
            name, _, val = value.partition("=")
            variables.append((name, val))
    return ChannelStatus(
        _nonempty(f, "Channel"),
        _nonempty(f, "Uniqueid"),
        f.get("application") or "",
        f.get("bridgeid") or None,
        _seconds(f, "Seconds"),
        tuple(variables),
        f.get("actionid"),
    )


def _status_complete(msg: Message) -> StatusComplete:
    f = msg.fields
    return StatusComplete(_int(f, "ListItems"), f.get("actionid"))


_BUILDERS: dict[str, Callable[[Message], Event | None]] = {
    "FullyBooted": _fully_booted,
    "Shutdown": _shutdown,
    "Newchannel": _newchannel,
    "Hangup": _hangup,
    "VarSet": _varset,
    "UserEvent": _user_event,
    "QueueCallerJoin": _caller_join,
    "QueueCallerLeave": _caller_leave,
    "QueueCallerAbandon": _caller_abandon,
    "AgentCalled": _agent_called,
    "AgentRingNoAnswer": _agent_ring_no_answer,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "AgentDump": _agent_dump,
    "QueueMemberStatus": _member_event(QueueMemberStatus),
    "QueueMemberAdded": _member_event(QueueMemberAdded),
    "QueueMemberRemoved": _member_event(QueueMemberRemoved),
    "QueueMemberPause": _member_event(QueueMemberPause),
    "QueueMember": _queue_member,
    "QueueParams": _queue_params,
    "QueueEntry": _queue_entry,
    "QueueStatusComplete": _queue_status_complete,
    "CoreShowChannel": _core_show_channel,
    "CoreShowChannelsComplete": _core_show_channels_complete,
    "Status": _status,
    "StatusComplete": _status_complete,
}

if frozenset(_BUILDERS) != NEEDED_EVENTS:  # pragma: no cover - a programming error
    raise ImportError("ami.contract.NEEDED_EVENTS must name exactly the events ami.events types")


def to_event(msg: Message) -> Event | Malformed | None:
    """Type one AMI message: an event, ``Malformed`` if it cannot be, ``None`` if not needed.

    ``None`` also for responses, actions, unknown blocks, and VarSet of
    variables lotse does not track.
    """
    headers = msg.headers
    if not headers:
        return None
    key, name = headers[0]
    if key != "Event" and key.lower() != "event":
        return None
    builder = _BUILDERS.get(name)
    if builder is None:
        return None
    try:
        return builder(msg)
    except _FieldError as error:
        return Malformed(name, str(error))
