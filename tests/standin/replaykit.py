"""Replaying a capture's actions against the stand-in and comparing what both sent.

The captures of ``../shared/asterisk/dial-*.txt``, ``queue-position.txt`` and
``originate-failure.txt`` ran the contexts of ``config/extensions_capture.conf``
on a real Asterisk 22.10.1. The stand-in loads the same file, gets the same
actions, and its events are compared with the capture's as projections:
the event name, the channel as a role (``Local/s@cap-agent;1``: the pair
counter dropped), and the fields lotse reads or that show which priorities
ran (Context/Exten/Priority, Application/AppData, Cause, DialStatus,
Variable/Value, Queue/Position/Count, Response/Reason, UserEvent/Status).
Millisecond timings (``*_MS``) and bridge and channel counters are left out:
they come from the real machine's clock and history.

Asterisk runs each channel in its own thread, so the interleaving of events
of different channels differs from run to run (``OriginateResponse`` comes
before or after the first priority of the originated channel; of a Local
pair hung up together either half may go first). The comparison is therefore
per channel (each channel's events, in order, must be the same) plus the
order of the events that tie the channels together (the dialling channel's
dial and hangup events, the called channel's hangup, the UserEvents).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import cast

from ami.codec import AmiParser, Message
from ami.transcript import received_bytes, turns
from dialplans.engine import Dialplan, parse_text
from standin import ManualClock, Pbx
from standin.amiserver import Session
from standin.queues import Queue
from standin.wire import AmiEvent
from tests.fixtures.asterisk import ASTERISK_DIR, asterisk_transcript
from tests.standin.kit import MONDAY_10, small_config

_COUNTER = re.compile(r"-[0-9a-f]{8}(;[12])")
_MS = re.compile(r"_MS$")
Projection = tuple[str, ...]

# Header → kept in the projection (the channel headers are normalised).
_KEEP = (
    "Context",
    "Exten",
    "Priority",
    "ChannelStateDesc",
    "Application",
    "AppData",
    "Variable",
    "Value",
    "Cause",
    "DialStatus",
    "DialString",
    "DestChannelStateDesc",
    "UserEvent",
    "Status",
    "Queue",
    "Position",
    "Count",
    "OriginalPosition",
    "Response",
    "Reason",
    "BridgeNumChannels",
)
_EVENTS = frozenset(
    {
        "Newchannel",
        "Newstate",
        "Newexten",
        "NewCallerid",
        "NewConnectedLine",
        "VarSet",
        "LocalBridge",
        "DialBegin",
        "DialState",
        "DialEnd",
        "BridgeCreate",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeDestroy",
        "SoftHangupRequest",
        "HangupRequest",
        "Hangup",
        "UserEvent",
        "OriginateResponse",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
    }
)


_EPOCH_ID = re.compile(r"^[0-9]+\.[0-9]+$")


def role(channel: str) -> str:
    """A channel name without its pair counter: ``Local/s@cap-agent;1``."""
    return _COUNTER.sub(r"\1", channel)


def channel_key(fields: dict[str, str]) -> str:
    """The channel's role, with its Uniqueid when that was chosen by the Originate
    (ChannelId/OtherChannelId): the same in the capture and on the stand-in."""
    uid = fields.get("Uniqueid") or ""
    key = role(fields.get("Channel") or "")
    return key if not uid or _EPOCH_ID.match(uid) else f"{key}#{uid}"


_TIMED = re.compile(r"(TIME|WAIT)$")


def project(
    name: str, headers: Sequence[tuple[str, str]], *, timed: bool = True
) -> tuple[str, Projection] | None:
    """(channel role, projection) of one event, or None for events not compared;
    ``timed=False`` leaves out the seconds of ``*TIME``/``*WAIT`` variables too."""
    if name not in _EVENTS:
        return None
    fields = dict(headers)
    channel = channel_key(fields)
    if name == "OriginateResponse":
        channel = "originate"
    elif name.startswith("Bridge") and name not in ("BridgeEnter", "BridgeLeave"):
        channel = "bridge"
    parts = [name]
    if fields.get("DestChannel"):
        parts.append("Dest=" + role(fields["DestChannel"]))
    variable = fields.get("Variable", "")
    for key in _KEEP:
        if key in fields:
            value = fields[key]
            if key == "Value":
                value = "<ms>" if _MS.search(variable) else role(value)
                if not timed and _TIMED.search(variable):
                    value = "<s>"
            parts.append(f"{key}={value}")
    if name == "OriginateResponse":
        parts.append("Channel=" + role(fields.get("Channel") or ""))
        parts.append("Uniqueid=" + (fields.get("Uniqueid") or ""))
    return channel, tuple(parts)


def projections(
    events: Iterable[tuple[str, Sequence[tuple[str, str]]]], *, timed: bool = True
) -> list[tuple[str, Projection]]:
    """The compared events, in order."""
    out = []
    for name, headers in events:
        got = project(name, headers, timed=timed)
        if got is not None:
            out.append(got)
    return out


def per_channel(seq: Iterable[tuple[str, Projection]]) -> dict[str, list[Projection]]:
    """Each channel's projected events in order."""
    out: dict[str, list[Projection]] = {}
    for channel, proj in seq:
        out.setdefault(channel, []).append(proj)
    return out


def tying(seq: Iterable[tuple[str, Projection]], dialler: str) -> list[tuple[str, str]]:
    """The events that tie channels together, in order: the dialling channel's dial
    events, the hangup of every ``;1`` half (the dialling and the dialled side),
    every UserEvent. (Which half of a pair hung up together goes first varies.)"""
    out = []
    for channel, proj in seq:
        name = proj[0]
        if (
            name == "UserEvent"
            or (name == "Hangup" and channel.endswith(";1"))
            or (channel == dialler and name in ("DialBegin", "DialEnd", "SoftHangupRequest"))
        ):
            out.append((channel, name))
    return out


# -- the capture side --------------------------------------------------------------


def capture_events(name: str) -> list[tuple[str, Sequence[tuple[str, str]]]]:
    """Every event Asterisk sent in a capture, as (name, headers)."""
    items = AmiParser().feed(received_bytes(asterisk_transcript(name)))
    return [
        (m.name or "", m.headers) for m in items if isinstance(m, Message) and m.kind == "event"
    ]


def capture_actions(name: str) -> list[Message]:
    """The actions the client sent in a capture (Login and Logoff left out)."""
    out = []
    for turn in turns(asterisk_transcript(name)):
        if turn.direction != "sent":
            continue
        for m in AmiParser().feed(turn.data):
            if isinstance(m, Message) and (m.get("Action") or "").lower() not in (
                "login",
                "logoff",
            ):
                out.append(m)
    return out


_EXECUTING = re.compile(r"Executing \[([^@\]]+)@([^:\]]+):([0-9]+)\] ([A-Za-z]+)\(\"([^\"]+)\"")


def capture_priorities(name: str) -> list[tuple[str, str]]:
    """What ``NAME.full.log`` says ran: (channel role, ``context,exten,priority App``)."""
    path = asterisk_transcript(name).with_suffix(".full.log")
    out = []
    for line in path.read_text().splitlines():
        m = _EXECUTING.search(line)
        if m:
            exten, context, prio, app, channel = m.groups()
            out.append((role(channel), f"{context},{exten},{prio} {app}"))
    return out


def priorities(events: Iterable[tuple[str, Sequence[tuple[str, str]]]]) -> list[tuple[str, str]]:
    """The same from events: each ``Newexten`` of a dialplan application."""
    out = []
    for name, headers in events:
        f = dict(headers)
        if name == "Newexten" and not (f.get("Application") or "").startswith("AppDial"):
            where = f"{f.get('Context')},{f.get('Exten')},{f.get('Priority')}"
            out.append((role(f.get("Channel") or ""), f"{where} {f.get('Application')}"))
    return out


def capture_dialplan() -> Dialplan:
    """The contexts the captures ran (``config/extensions_capture.conf``)."""
    asterisk_transcript("dial-callee-hangup.txt")  # skips when the captures are absent
    path: Path = ASTERISK_DIR / "config" / "extensions_capture.conf"
    return parse_text(path.read_text(), str(path))


# -- the stand-in side --------------------------------------------------------------


class Replay:
    """A stand-in with the capture contexts on a manual clock, recording its events."""

    def __init__(self) -> None:
        self.clock = ManualClock(MONDAY_10)
        self.pbx = Pbx(
            small_config(),
            clock=self.clock,
            agi_url=None,
            dialplan=capture_dialplan(),
            auth_fail_delay_s=0.0,
        )
        # queues_capture.conf: cap-q, no members, app_queue's defaults otherwise.
        self.pbx.core.queues.add_queue(
            Queue(
                "cap-q",
                strategy="ringall",
                member_timeout=15,
                retry=2,
                set_interface_var=False,
                set_queue_var=False,
                set_queue_entry_var=False,
            )
        )
        self.events: list[AmiEvent] = []
        self.times: list[float] = []
        self.pbx.subscribe(self._record)
        self.replies: list[Message] = []

    async def act(
        self, action: Message, capture: Sequence[tuple[str, Sequence[tuple[str, str]]]] = ()
    ) -> None:
        """Hand one captured action to the stand-in's handler; a ``Channel`` the capture
        names (Asterisk's counters) becomes the stand-in's channel created in its place."""
        named = action.get("Channel") or ""
        if named and _COUNTER.search(named) and capture:
            action = Message(
                tuple(
                    (k, self._renamed(named, capture) if k == "Channel" else v)
                    for k, v in action.headers
                )
            )
        handler = self.pbx.actions.table()[(action.get("Action") or "").lower()][1]
        reply = await handler(cast(Session, None), action)
        for chunk in reply.chunks:
            self.replies.extend(m for m in AmiParser().feed(chunk) if isinstance(m, Message))

    def _record(self, event: AmiEvent) -> None:
        self.events.append(event)
        self.times.append(self.clock.now())

    def _renamed(self, name: str, capture: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> str:
        def created(events: Iterable[tuple[str, Sequence[tuple[str, str]]]]) -> list[str]:
            return [dict(h).get("Channel") or "" for n, h in events if n == "Newchannel"]

        theirs, ours = created(capture), created(self.recorded())
        return ours[theirs.index(name)] if name in theirs else name

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass."""
        await self.clock.advance(seconds)

    async def idle(self, limit_s: float = 120.0) -> None:
        """Let virtual time run until nothing waits any more (or ``limit_s`` passed)."""
        await self.clock.run_until_idle(limit_s)

    def recorded(self) -> list[tuple[str, Sequence[tuple[str, str]]]]:
        """The stand-in's events as (name, headers)."""
        return [(e.name, e.fields) for e in self.events]

    async def close(self) -> None:
        """Stop the stand-in."""
        await self.pbx.close()
