"""The manager events a call produces, with Asterisk 22's field sets and order.

Every builder here was written against the captures in ``shared/asterisk/``
(field names and order header by header) and against ``main/manager.c``,
``main/manager_channels.c``, ``main/manager_bridges.c`` and
``apps/app_queue.c`` of the 22 branch. The bus delivers each event to every
subscriber synchronously, in publish order, as Asterisk's single manager
event queue does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum

from standin.channels import Channel
from standin.wire import AmiEvent, Category

Subscriber = Callable[[AmiEvent], None]
# Whether a subscriber may want an event of this name and class, given the
# fields known before the event is built (``False``: certainly not).
Interest = Callable[[str, int, tuple[tuple[str, str], ...]], bool]


def _always(_name: str, _category: int, _known: tuple[tuple[str, str], ...]) -> bool:
    return True


class EventDetail(StrEnum):
    """How much dialplan noise to emit.

    ``full``: every VarSet and Newexten a real call of this dialplan produces
    (about a hundred per answered call, most of them for variables nobody
    reads), which is what an AMI user's event filters and parser face.
    ``lean``: only the VarSets of variables a controller may watch
    (AGISTATUS, QUEUESTATUS, LOTSE_*, ...) and no Newexten.
    """

    FULL = "full"
    LEAN = "lean"


_LEAN_VARS = frozenset({"AGISTATUS", "QUEUESTATUS", "ABANDONED", "READSTATUS", "PLAYBACKSTATUS"})

CID_PRES = "0 (Presentation Allowed, Not Screened)"
CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "No user responding",
    26: "Answered elsewhere",
    34: "Circuit/channel congestion",
}


class EventBus:
    """Synchronous fan-out of manager events to subscribers (sessions, recorders)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._interests: list[Interest] = []

    def subscribe(self, subscriber: Subscriber, interest: Interest = _always) -> Callable[[], None]:
        """Add a subscriber (with what it may want, default everything); returns the
        function that removes it again."""
        self._subscribers.append(subscriber)
        self._interests.append(interest)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                index = self._subscribers.index(subscriber)
                del self._subscribers[index]
                del self._interests[index]

        return unsubscribe

    def wants(self, name: str, category: int, known: tuple[tuple[str, str], ...] = ()) -> bool:
        """Whether any subscriber may take an event of ``name`` whose fields so far are
        ``known``: an event nobody takes is not built (its snapshot not formatted)."""
        return any(interest(name, category, known) for interest in self._interests)

    def publish(self, event: AmiEvent) -> None:
        """Deliver ``event`` to every subscriber now."""
        for subscriber in tuple(self._subscribers):
            subscriber(event)


def _bridge_fields(bridge_id: str, count: int) -> list[tuple[str, str]]:
    return [
        ("BridgeUniqueid", bridge_id),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
        ("BridgeNumChannels", str(count)),
        ("BridgeVideoSourceMode", "none"),
    ]


class Emitter:
    """Builds and publishes the events of channels, bridges, queues and AGI."""

    def __init__(
        self,
        bus: EventBus,
        *,
        manager_vars: tuple[str, ...] = (),
        detail: EventDetail = EventDetail.FULL,
    ) -> None:
        self.bus = bus
        self.manager_vars = manager_vars
        self.detail = detail

    # -- plumbing -----------------------------------------------------------

    def publish(self, name: str, category: int, fields: Iterable[tuple[str, str]]) -> None:
        """Publish one event with the given class and fields."""
        self.bus.publish(AmiEvent(name, category, tuple(fields)))

    def _off(self, name: str, category: int, *known: tuple[str, str]) -> bool:
        """No one takes this event: skip building it."""
        return not self.bus.wants(name, category, known)

    def snap(self, ch: Channel, prefix: str = "") -> list[tuple[str, str]]:
        """The channel's snapshot block, with the configured ``ChanVariable`` lines."""
        return ch.snapshot(prefix, self.manager_vars)

    def _chan(self, name: str, category: int, ch: Channel, *extra: tuple[str, str]) -> None:
        if not self.bus.wants(name, category, extra):
            return
        self.publish(name, category, [*self.snap(ch), *extra])

    # -- channel lifecycle --------------------------------------------------

    def newchannel(self, ch: Channel) -> None:
        """``Newchannel``: a channel was created."""
        self._chan("Newchannel", Category.CALL, ch)

    def newstate(self, ch: Channel) -> None:
        """``Newstate``: the channel's state (Ring, Up, ...) changed."""
        self._chan("Newstate", Category.CALL, ch)

    def newcallerid(self, ch: Channel) -> None:
        """``NewCallerid``: the channel's caller id changed."""
        self._chan("NewCallerid", Category.CALL, ch, ("CID-CallingPres", CID_PRES))

    def newconnectedline(self, ch: Channel) -> None:
        """``NewConnectedLine``: the channel's connected line changed."""
        self._chan("NewConnectedLine", Category.CALL, ch)

    def exten(self, ch: Channel, app: str, data: str = "", priority: int | None = None) -> None:
        """The channel executes dialplan ``app(data)``: moves it and emits ``Newexten``."""
        if priority is not None:
            ch.priority = priority
        ch.app, ch.appdata = app, data
        if self.detail is EventDetail.FULL:
            self._chan(
                "Newexten",
                Category.DIALPLAN,
                ch,
                ("Extension", ch.exten),
                ("Application", app),
                ("AppData", data),
            )

    def varset(self, ch: Channel, name: str, value: str) -> None:
        """Set a channel variable and emit ``VarSet`` (lean mode: only watched variables)."""
        ch.set_var(name, value)
        if self.detail is EventDetail.FULL or self._watched(name):
            self._chan("VarSet", Category.DIALPLAN, ch, ("Variable", name), ("Value", value))

    def user_event(self, ch: Channel, name: str, body: Iterable[tuple[str, str]]) -> None:
        """``UserEvent(name,Key:value,...)``: the channel snapshot, ``UserEvent``, then the body."""
        self._chan("UserEvent", Category.USER, ch, ("UserEvent", name), *body)

    @staticmethod
    def _watched(name: str) -> bool:
        bare = name.lstrip("_")
        return bare in _LEAN_VARS or bare.startswith("LOTSE_")

    def noise(self, ch: Channel, pairs: Iterable[tuple[str, str]]) -> None:
        """Variables only the full event flood reports (still set on the channel)."""
        for name, value in pairs:
            self.varset(ch, name, value)

    def hangup_request(self, ch: Channel, cause: int | None = None) -> None:
        """``HangupRequest``: a hangup was queued on the channel (by the far end)."""
        extra = () if cause is None else (("Cause", str(cause)),)
        self._chan("HangupRequest", Category.CALL, ch, *extra)

    def soft_hangup_request(self, ch: Channel, cause: int = 16) -> None:
        """``SoftHangupRequest``: Asterisk itself hangs the channel up."""
        self._chan("SoftHangupRequest", Category.CALL, ch, ("Cause", str(cause)))

    def hangup(self, ch: Channel, cause: int = 16) -> None:
        """``Hangup``: the channel is gone."""
        self._chan(
            "Hangup",
            Category.CALL,
            ch,
            ("Cause", str(cause)),
            ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown")),
        )

    def device_state(self, device: str, state: str) -> None:
        """``DeviceStateChange`` (NOT_INUSE, INUSE, RINGING, UNAVAILABLE ...)."""
        self.publish("DeviceStateChange", Category.CALL, [("Device", device), ("State", state)])

    def rtp_qos(self, ch: Channel, tx_packets: int) -> None:
        """The RTPAUDIOQOS* variables chan_pjsip sets when a media channel hangs up."""
        ssrc = 0x3F3C_0000 + (tx_packets * 7919) % 0xFFFF
        zero = "000.000000"
        self.noise(
            ch,
            (
                (
                    "RTPAUDIOQOS",
                    f"ssrc={ssrc};themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;"
                    f"txcount={tx_packets};rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000",
                ),
                (
                    "RTPAUDIOQOSJITTER",
                    ";".join(
                        f"{k}={zero}"
                        for k in (
                            "minrxjitter",
                            "maxrxjitter",
                            "avgrxjitter",
                            "stdevrxjitter",
                            "mintxjitter",
                            "maxtxjitter",
                            "avgtxjitter",
                            "stdevtxjitter",
                        )
                    )
                    + ";",
                ),
                (
                    "RTPAUDIOQOSLOSS",
                    "".join(
                        f"  {k}={zero};"
                        for k in (
                            "minrxlost",
                            "maxrxlost",
                            "avgrxlost",
                            "stdevrxlost",
                            "mintxlost",
                            "maxtxlost",
                            "avgtxlost",
                            "stdevtxlost",
                        )
                    ),
                ),
                (
                    "RTPAUDIOQOSRTT",
                    "".join(
                        f"     {k}={zero};" for k in ("minrtt", "maxrtt", "avgrtt", "stdevrtt")
                    ),
                ),
                (
                    "RTPAUDIOQOSMES",
                    "".join(
                        f"   {k}={zero};"
                        for k in (
                            "minrxmes",
                            "maxrxmes",
                            "avgrxmes",
                            "stdevrxmes",
                            "mintxmes",
                            "maxtxmes",
                            "avgtxmes",
                            "stdevtxmes",
                        )
                    ),
                ),
            ),
        )

    # -- dialling and local channels ----------------------------------------

    def dial_begin(self, caller: Channel | None, dest: Channel, dialstring: str) -> None:
        """``DialBegin``: ``caller`` (absent for an originate) starts dialling ``dest``."""
        if self._off("DialBegin", Category.CALL):
            return
        head = self.snap(caller) if caller else []
        self.publish(
            "DialBegin",
            Category.CALL,
            [*head, *self.snap(dest, "Dest"), ("DialString", dialstring)],
        )

    def dial_end(self, caller: Channel | None, dest: Channel, status: str) -> None:
        """``DialEnd`` with ``DialStatus`` ANSWER, NOANSWER, CANCEL, BUSY ..."""
        if self._off("DialEnd", Category.CALL, ("DialStatus", status)):
            return
        head = self.snap(caller) if caller else []
        self.publish(
            "DialEnd", Category.CALL, [*head, *self.snap(dest, "Dest"), ("DialStatus", status)]
        )

    def dial_state(self, caller: Channel, dest: Channel, status: str) -> None:
        """``DialState``: a dialled channel's progress (``RINGING``)."""
        if self._off("DialState", Category.CALL, ("DialStatus", status)):
            return
        self.publish(
            "DialState",
            Category.CALL,
            [*self.snap(caller), *self.snap(dest, "Dest"), ("DialStatus", status)],
        )

    def local_bridge(self, one: Channel, two: Channel, optimization: bool) -> None:
        """``LocalBridge``: the two halves of a Local channel are joined."""
        if self._off("LocalBridge", Category.CALL):
            return
        self.publish(
            "LocalBridge",
            Category.CALL,
            [
                *self.snap(one, "LocalOne"),
                *self.snap(two, "LocalTwo"),
                ("Context", two.context),
                ("Exten", two.exten),
                ("LocalOptimization", "Yes" if optimization else "No"),
            ],
        )

    # -- bridges --------------------------------------------------------------

    def bridge_create(self, bridge_id: str) -> None:
        """``BridgeCreate``: an empty basic bridge."""
        self.publish("BridgeCreate", Category.CALL, _bridge_fields(bridge_id, 0))

    def bridge_enter(self, bridge_id: str, count: int, ch: Channel) -> None:
        """``BridgeEnter``: ``ch`` joined; ``count`` channels are in the bridge now."""
        ch.bridge_id = bridge_id
        if self._off("BridgeEnter", Category.CALL):
            return
        fields = [*_bridge_fields(bridge_id, count), *self.snap(ch)]
        self.publish("BridgeEnter", Category.CALL, fields)

    def bridge_leave(self, bridge_id: str, count: int, ch: Channel) -> None:
        """``BridgeLeave``: ``ch`` left; ``count`` channels remain."""
        ch.bridge_id = ""
        if self._off("BridgeLeave", Category.CALL):
            return
        fields = [*_bridge_fields(bridge_id, count), *self.snap(ch)]
        self.publish("BridgeLeave", Category.CALL, fields)

    def bridge_destroy(self, bridge_id: str) -> None:
        """``BridgeDestroy``."""
        self.publish("BridgeDestroy", Category.CALL, _bridge_fields(bridge_id, 0))

    # -- AGI ----------------------------------------------------------------

    def agi_exec_start(self, ch: Channel, command_id: int, command: str) -> None:
        """``AGIExecStart``: res_agi received a command from the FastAGI server."""
        self._chan(
            "AGIExecStart", Category.AGI, ch, ("CommandId", str(command_id)), ("Command", command)
        )

    def agi_exec_end(
        self, ch: Channel, command_id: int, command: str, code: int, result: str
    ) -> None:
        """``AGIExecEnd``: res_agi answered the command (``ResultCode``/``Result``)."""
        self._chan(
            "AGIExecEnd",
            Category.AGI,
            ch,
            ("CommandId", str(command_id)),
            ("Command", command),
            ("ResultCode", str(code)),
            ("Result", result),
        )

    # -- queues -------------------------------------------------------------

    def queue_caller(self, name: str, ch: Channel, queue: str, *extra: tuple[str, str]) -> None:
        """``QueueCallerJoin``/``Leave``/``Abandon``: caller snapshot, Queue, then ``extra``."""
        self._chan(name, Category.AGENT, ch, ("Queue", queue), *extra)

    def agent_event(
        self,
        name: str,
        caller: Channel | None,
        dest: Channel,
        queue: str,
        interface: str,
        member_name: str,
        *extra: tuple[str, str],
    ) -> None:
        """AgentCalled/Connect/Complete/RingNoAnswer: caller, ``Dest`` member channel, member
        (no caller fields when ``caller`` is None: app_queue's "incomplete event")."""
        if self._off(name, Category.AGENT, ("Queue", queue), *extra):
            return
        self.publish(
            name,
            Category.AGENT,
            [
                *(self.snap(caller) if caller is not None else ()),
                *self.snap(dest, "Dest"),
                ("Queue", queue),
                ("Interface", interface),
                ("MemberName", member_name),
                *extra,
            ],
        )

    def member_event(self, name: str, blob: list[tuple[str, str]]) -> None:
        """``QueueMemberStatus``/``Added``/``Removed``/``Pause``: the member blob."""
        self.publish(name, Category.AGENT, blob)
