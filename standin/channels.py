"""Channels as Asterisk names, numbers and snapshots them.

A channel's AMI identity is its name (``PJSIP/carrier-0000001a``,
``Local/agent1@agents-00000003;1``), its Uniqueid ``<epoch>.<n>`` (epoch of
creation, ``n`` a counter over all channels since start) and its Linkedid
(the Uniqueid of the call's first channel). Every channel event carries the
same block of snapshot fields (``ast_manager_build_channel_state_string``):
Channel … Linkedid, then one ``ChanVariable: NAME=value`` per variable listed
in manager.conf ``channelvars`` (empty value if unset), with a prefix
(``Dest``, ``LocalOne``) when the event describes a second channel.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from standin.clock import Clock

UNKNOWN = "<unknown>"


class ChannelState(IntEnum):
    """``enum ast_channel_state`` values as AMI prints them (``ChannelState``)."""

    DOWN = 0
    RSRVD = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7


class Frame(StrEnum):
    """What a dialled channel tells the side that dials it (its control frames)."""

    RINGING = "ringing"
    ANSWER = "answer"
    BUSY = "busy"
    CONGESTION = "congestion"
    HANGUP = "hangup"


STATE_DESC = {
    ChannelState.DOWN: "Down",
    ChannelState.RSRVD: "Rsrvd",
    ChannelState.OFFHOOK: "OffHook",
    ChannelState.DIALING: "Dialing",
    ChannelState.RING: "Ring",
    ChannelState.RINGING: "Ringing",
    ChannelState.UP: "Up",
    ChannelState.BUSY: "Busy",
}


def var_name(name: str) -> str:
    """A variable's name without its inheritance prefix (``__X`` and ``_X`` are ``X``)."""
    return name.lstrip("_") if name.startswith("_") else name


@dataclass
class _Var:
    raw_name: str  # as set, with its "_"/"__" inheritance prefix
    value: str


@dataclass(eq=False)
class Channel:
    """One live channel: identity, state, dialplan position, variables."""

    name: str
    uniqueid: str
    linkedid: str
    created: float
    context: str
    exten: str
    priority: int = 1
    state: ChannelState = ChannelState.DOWN
    # Caller numbers are personal data: kept out of reprs (and so of log lines).
    caller_num: str = field(default="", repr=False)
    caller_name: str = field(default="", repr=False)
    connected_num: str = field(default="", repr=False)
    connected_name: str = field(default="", repr=False)
    language: str = "en"
    accountcode: str = ""
    app: str = ""
    appdata: str = ""
    bridge_id: str = ""
    hungup: bool = False
    tech: str = "PJSIP"
    variables: dict[str, _Var] = field(default_factory=dict, repr=False)
    # ast_channel_hangupcause: what the Hangup event reports (0 Unknown until set).
    cause: int = 0
    # When the channel went Up (ANSWEREDTIME measures the dialling channel from here).
    up_since: float | None = None
    # The other half of a Local channel pair.
    partner: Channel | None = field(default=None, repr=False)

    def get_var(self, name: str) -> str | None:
        """A channel variable by name (inheritance prefix ignored); None if unset."""
        var = self.variables.get(var_name(name))
        return None if var is None else var.value

    def set_var(self, name: str, value: str) -> None:
        """Set a variable the way ``pbx_builtin_setvar_helper`` does (replacing any prefix form)."""
        self.variables[var_name(name)] = _Var(name, value)

    def inherited(self) -> list[tuple[str, str]]:
        """Variables a channel created on this one's behalf inherits, as (raw name, value).

        ``__X`` is passed on as ``__X`` (to every generation), ``_X`` once as ``X``.
        """
        out: list[tuple[str, str]] = []
        for var in self.variables.values():
            if var.raw_name.startswith("__"):
                out.append((var.raw_name, var.value))
            elif var.raw_name.startswith("_"):
                out.append((var.raw_name[1:], var.value))
        return out

    def snapshot(
        self, prefix: str = "", manager_vars: tuple[str, ...] = ()
    ) -> list[tuple[str, str]]:
        """The channel-state block of an AMI event, optionally prefixed (``Dest``…)."""
        fields = [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(int(self.state))),
            (f"{prefix}ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", self.caller_num or UNKNOWN),
            (f"{prefix}CallerIDName", self.caller_name or UNKNOWN),
            (f"{prefix}ConnectedLineNum", self.connected_num or UNKNOWN),
            (f"{prefix}ConnectedLineName", self.connected_name or UNKNOWN),
            (f"{prefix}Language", self.language),
            (f"{prefix}AccountCode", self.accountcode),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]
        for name in manager_vars:
            fields.append((f"{prefix}ChanVariable", f"{name}={self.get_var(name) or ''}"))
        return fields

    @property
    def device(self) -> str:
        """The device whose state this channel drives (``PJSIP/carrier``, ``Local/x@agents``)."""
        return self.name.rsplit("-", 1)[0]


class ChannelTable:
    """Allocates names and Uniqueids and finds live channels by name.

    Asterisk counts Uniqueids over all channels since start, PJSIP channel
    suffixes over all PJSIP channels, and Local channel pairs over all Local
    channels, each as eight hex digits.
    """

    def __init__(self, clock: Clock, rng: random.Random) -> None:
        self._clock = clock
        self._rng = rng
        self._uniq = itertools.count()
        self._pjsip = itertools.count()
        self._local = itertools.count()
        self._live: dict[str, Channel] = {}

    def reset(self) -> None:
        """Start counting afresh (an Asterisk restart)."""
        self._uniq = itertools.count()
        self._pjsip = itertools.count()
        self._local = itertools.count()
        self._live.clear()

    def next_uniqueid(self) -> str:
        """``<epoch>.<n>``: the creation second and the channel counter."""
        return f"{int(self._clock.now())}.{next(self._uniq)}"

    def pjsip(self, endpoint: str, context: str, exten: str, caller: str) -> Channel:
        """A new inbound PJSIP channel in state Ring."""
        uid = self.next_uniqueid()
        ch = Channel(
            name=f"PJSIP/{endpoint}-{next(self._pjsip):08x}",
            uniqueid=uid,
            linkedid=uid,
            created=self._clock.now(),
            context=context,
            exten=exten,
            state=ChannelState.RING,
            caller_num=caller,
            tech="PJSIP",
        )
        self._live[ch.name] = ch
        return ch

    def local_pair(
        self,
        exten: str,
        context: str,
        linkedid: str | None = None,
        uniqueids: tuple[str, str] = ("", ""),
    ) -> tuple[Channel, Channel]:
        """A Local pair: ``;1`` (Down, the dialled side), ``;2`` (Ring, runs the dialplan).

        ``uniqueids`` are Originate's ChannelId / OtherChannelId (empty: numbered;
        a ChannelId alone gives ``;2`` the id ``ChannelId;2``, as core_unreal.c does).
        """
        base = f"Local/{exten}@{context}-{next(self._local):08x}"
        now = self._clock.now()
        uid1 = uniqueids[0] or self.next_uniqueid()
        uid2 = uniqueids[1] or (f"{uid1};2" if uniqueids[0] else self.next_uniqueid())
        link = linkedid or uid1
        one = Channel(f"{base};1", uid1, link, now, context, exten, tech="Local")
        two = Channel(
            f"{base};2", uid2, link, now, context, exten, state=ChannelState.RING, tech="Local"
        )
        one.partner, two.partner = two, one
        self._live[one.name] = one
        self._live[two.name] = two
        return one, two

    def remove(self, ch: Channel) -> None:
        """Forget a hung-up channel."""
        ch.hungup = True
        self._live.pop(ch.name, None)

    def get(self, name: str) -> Channel | None:
        """A live channel by exact name (Asterisk matches names case-insensitively)."""
        found = self._live.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((c for n, c in self._live.items() if n.lower() == lowered), None)

    def __iter__(self) -> Iterator[Channel]:
        return iter(list(self._live.values()))

    def __len__(self) -> int:
        return len(self._live)

    def bridge_id(self) -> str:
        """A bridge's unique id: a version-4 UUID drawn from the injected generator."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
