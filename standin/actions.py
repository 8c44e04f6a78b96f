"""The AMI actions the stand-in serves, answered as Asterisk 22 answers them.

Response texts are manager.c's and app_queue.c's (e.g. ``Added interface to
queue``, ``Unable to remove interface: Not there``, ``Channel does not
exist: NAME``); list actions answer ``EventList: start``, one event per item
with the ActionID last (QueueStatus, QueueSummary) or first
(CoreShowChannels), and a ``…Complete`` event with ``ListItems``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from typing import Protocol

from ami.codec import Message
from standin.agents import Agent
from standin.amiserver import ActionHandler, Reply, Session, ack, error, response
from standin.channels import Channel
from standin.core import Core
from standin.queues import QueueError
from standin.wire import Category, event_mask, render, render_lines

_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})


class Backend(Protocol):
    """What the actions need from the PBX."""

    core: Core

    def agent_for(self, interface: str, member_name: str) -> Agent:
        """The agent device behind a member interface (created on first use)."""
        ...

    def originate(
        self,
        channel: str,
        app: str,
        data: str,
        action_id: str,
        *,
        caller_id: str = "",
        uniqueids: tuple[str, str] = ("", ""),
        variables: Mapping[str, str] | None = None,
        dialplan_target: tuple[str, str, str] | None = None,
        caller_name: str = "",
        timeout_s: float = 30.0,
    ) -> bool:
        """Start an async originate; False if the channel string is not understood."""
        ...

    def redirect(self, ch: Channel, context: str, exten: str, priority: int) -> bool:
        """Send a live channel elsewhere in the dialplan."""
        ...

    def hangup_channel(self, ch: Channel) -> None:
        """Hang a channel (and its call) up."""
        ...

    def uptime(self) -> tuple[int, int]:
        """Seconds since start and since the last reload."""
        ...


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in _TRUE


def _list_item(
    name: str, fields: list[tuple[str, str]], action_id: str | None, *, id_first: bool = False
) -> bytes:
    idtext = [("ActionID", action_id)] if action_id else []
    body = [*idtext, *fields] if id_first else [*fields, *idtext]
    return render([("Event", name), *body])


def _list_complete(name: str, action_id: str | None, count: int) -> bytes:
    idtext = [("ActionID", action_id)] if action_id else []
    return render([("Event", name), *idtext, ("EventList", "Complete"), ("ListItems", str(count))])


def _listack(msg: Message, text: str) -> bytes:
    return render(response(msg, "Success", ("EventList", "start"), ("Message", text)))


class Actions:
    """Action handlers bound to a backend; :meth:`table` is what AmiServer dispatches."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.global_vars: dict[str, str] = {}

    @property
    def core(self) -> Core:
        """The PBX runtime."""
        return self.backend.core

    def table(self) -> dict[str, tuple[int, ActionHandler]]:
        """Action name (lower case) → (required write class, handler)."""
        return {
            "login": (0, self.login),
            "logoff": (0, self.logoff),
            "challenge": (0, self.challenge),
            "ping": (0, self.ping),
            "events": (0, self.events),
            "queuestatus": (0, self.queue_status),
            "queuesummary": (0, self.queue_summary),
            "queueadd": (Category.AGENT, self.queue_add),
            "queueremove": (Category.AGENT, self.queue_remove),
            "queuepause": (Category.AGENT, self.queue_pause),
            "coreshowchannels": (Category.SYSTEM | Category.REPORTING, self.core_show_channels),
            "status": (Category.SYSTEM | Category.CALL | Category.REPORTING, self.status),
            "originate": (Category.ORIGINATE, self.originate),
            "redirect": (Category.CALL, self.redirect),
            "getvar": (Category.CALL | Category.REPORTING, self.getvar),
            "setvar": (Category.CALL, self.setvar),
            "hangup": (Category.SYSTEM | Category.CALL, self.hangup),
        }

    # -- session ------------------------------------------------------------

    async def login(self, session: Session, msg: Message) -> Reply:
        """``Login`` with Secret, or AuthType MD5 and Key = md5(challenge + secret)."""
        if session.authenticated:
            return ack(msg, "Already authenticated")
        server = session.server
        user = server.users.get(msg.get("Username") or "")
        ok = False
        if user is not None:
            if (msg.get("AuthType") or "").lower() == "md5":
                key = msg.get("Key") or ""
                expected = hashlib.md5((session.challenge + user.secret).encode()).hexdigest()
                ok = bool(key and session.challenge) and key == expected
            else:
                ok = (msg.get("Secret") or "") == user.secret
        if not ok or user is None:
            reply = error(msg, "Authentication failed")
            reply.close = True
            reply.delay_s = server.auth_fail_delay_s
            return reply
        session.logged_in(user)
        events = msg.get("Events")
        mask = event_mask(events) if events else -1
        session.send_events = user.read if mask < 0 or not events else user.read & mask
        chunk = render(response(msg, "Success", ("Message", "Authentication accepted")))
        if session.send_events & Category.SYSTEM:
            uptime, reload = self.backend.uptime()
            chunk += render(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", str(uptime)),
                    ("LastReload", str(reload)),
                    ("Status", "Fully Booted"),
                ]
            )
        server.security_event(
            session, "SuccessfulAuth", Category.SECURITY, ("Severity", "Informational")
        )
        return Reply([chunk])

    async def logoff(self, session: Session, msg: Message) -> Reply:
        """``Logoff``: Goodbye, then the connection closes."""
        reply = Reply([render(response(msg, "Goodbye", ("Message", "Thanks for all the fish.")))])
        reply.close = True
        return reply

    async def challenge(self, session: Session, msg: Message) -> Reply:
        """``Challenge`` (AuthType MD5): a random number to hash with the secret."""
        if (msg.get("AuthType") or "").lower() != "md5":
            return error(msg, "Must specify AuthType")
        if not session.challenge:
            session.challenge = str(session.server.rng.randrange(0, 2**31))
        return Reply([render(response(msg, "Success", ("Challenge", session.challenge)))])

    async def ping(self, session: Session, msg: Message) -> Reply:
        """``Ping``: Pong with the time; written in three pieces, as action_ping does."""
        now = self.core.clock.now()
        head = render_lines([("Response", "Success")])
        rest = [("ActionID", msg.get("ActionID") or "")] if msg.get("ActionID") else []
        body = render([*rest, ("Ping", "Pong"), ("Timestamp", f"{now:.6f}")])
        return Reply([head, body])

    async def events(self, session: Session, msg: Message) -> Reply:
        """``Events``: set the session's event mask (limited by the read classes)."""
        mask = event_mask(msg.get("EventMask") or "")
        if mask < 0:
            return error(msg, "Invalid event mask")
        read = session.user.read if session.user else 0
        session.send_events = read & mask
        return Reply([render(response(msg, "Success", ("Events", "On" if mask > 0 else "Off")))])

    # -- queues -------------------------------------------------------------

    async def queue_status(self, session: Session, msg: Message) -> Reply:
        """``QueueStatus`` [Queue] [Member]: QueueParams, QueueMember…, QueueEntry… per queue."""
        now = self.core.clock.now()
        action_id = msg.get("ActionID")
        qfilter = (msg.get("Queue") or "").lower()
        mfilter = msg.get("Member") or ""
        chunks = [_listack(msg, "Queue status will follow")]
        count = 0
        for q in self.core.queues:
            if qfilter and q.name.lower() != qfilter:
                continue
            chunks.append(_list_item("QueueParams", q.params_item(), action_id))
            count += 1
            for m in q.members:
                if mfilter and mfilter not in (m.interface, m.name):
                    continue
                chunks.append(_list_item("QueueMember", m.status_item(), action_id))
                count += 1
            for entry in q.entries:
                chunks.append(_list_item("QueueEntry", q.entry_item(entry, now), action_id))
                count += 1
        chunks.append(_list_complete("QueueStatusComplete", action_id, count))
        return Reply(chunks)

    async def queue_summary(self, session: Session, msg: Message) -> Reply:
        """``QueueSummary`` [Queue]: one QueueSummary event per queue."""
        now = self.core.clock.now()
        action_id = msg.get("ActionID")
        qfilter = (msg.get("Queue") or "").lower()
        chunks = [_listack(msg, "Queue summary will follow")]
        count = 0
        for q in self.core.queues:
            if qfilter and q.name.lower() != qfilter:
                continue
            chunks.append(_list_item("QueueSummary", q.summary_item(now), action_id))
            count += 1
        chunks.append(_list_complete("QueueSummaryComplete", action_id, count))
        return Reply(chunks)

    async def queue_add(self, session: Session, msg: Message) -> Reply:
        """``QueueAdd``: a dynamic member logs in."""
        queue, interface = msg.get("Queue") or "", msg.get("Interface") or ""
        if not queue:
            return error(msg, "'Queue' not specified.")
        if not interface:
            return error(msg, "'Interface' not specified.")
        name = msg.get("MemberName") or ""
        try:
            self.core.queues.add_member(
                queue,
                self.backend.agent_for(interface, name),
                name=name or interface,
                now=self.core.clock.now(),
                dynamic=True,
                paused=_true(msg.get("Paused")),
                reason=msg.get("Reason") or "",
                state_interface=msg.get("StateInterface") or "",
                penalty=_nonneg(msg.get("Penalty")),
                wrapuptime=_nonneg(msg.get("Wrapuptime")),
            )
        except QueueError as err:
            return error(msg, str(err))
        return ack(msg, "Added interface to queue")

    async def queue_remove(self, session: Session, msg: Message) -> Reply:
        """``QueueRemove``: a dynamic member logs out."""
        queue, interface = msg.get("Queue") or "", msg.get("Interface") or ""
        if not queue or not interface:
            return error(msg, "Need 'Queue' and 'Interface' parameters.")
        try:
            self.core.queues.remove_member(queue, interface, self.core.clock.now())
        except QueueError as err:
            return error(msg, str(err))
        return ack(msg, "Removed interface from queue")

    async def queue_pause(self, session: Session, msg: Message) -> Reply:
        """``QueuePause``: pause or unpause a member (in one queue, or all without Queue)."""
        interface, paused_s = msg.get("Interface") or "", msg.get("Paused") or ""
        if not interface or not paused_s:
            return error(msg, "Need 'Interface' and 'Paused' parameters.")
        paused = _true(paused_s)
        try:
            self.core.queues.set_paused(
                msg.get("Queue") or "",
                interface,
                paused,
                msg.get("Reason") or "",
                self.core.clock.now(),
            )
        except QueueError as err:
            return error(msg, str(err))
        return ack(
            msg, "Interface paused successfully" if paused else "Interface unpaused successfully"
        )

    # -- channels -----------------------------------------------------------

    async def core_show_channels(self, session: Session, msg: Message) -> Reply:
        """``CoreShowChannels``: every live channel with its application and duration."""
        now = self.core.clock.now()
        action_id = msg.get("ActionID")
        em = self.core.emitter
        chunks = [_listack(msg, "Channels will follow")]
        count = 0
        for ch in self.core.channels:
            secs = max(0, int(now - ch.created))
            duration = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
            fields = [
                *em.snap(ch),
                ("Application", ch.app),
                ("ApplicationData", ch.appdata),
                ("Duration", duration),
                ("BridgeId", ch.bridge_id),
            ]
            chunks.append(_list_item("CoreShowChannel", fields, action_id, id_first=True))
            count += 1
        chunks.append(_list_complete("CoreShowChannelsComplete", action_id, count))
        return Reply([b"".join(chunks)])

    async def status(self, session: Session, msg: Message) -> Reply:
        """``Status`` [Channel] [Variables]: one Status event per channel, as manager.c's
        action_status writes it (the ActionID last, the asked variables before it)."""
        now = self.core.clock.now()
        action_id = msg.get("ActionID")
        name = msg.get("Channel") or ""
        wanted = [v.strip() for v in (msg.get("Variables") or "").split(",") if v.strip()]
        if name:
            one = self.core.channels.get(name)
            if one is None:
                return error(msg, "No such channel")
            channels = [one]
        else:
            channels = list(self.core.channels)
        em = self.core.emitter
        chunks = [_listack(msg, "Channel status will follow")]
        for ch in channels:
            fields = [
                ("Privilege", "Call"),
                *em.snap(ch),
                ("Type", ch.tech),
                ("DNID", ""),
                ("EffectiveConnectedLineNum", ch.connected_num or "<unknown>"),
                ("EffectiveConnectedLineName", ch.connected_name or "<unknown>"),
                ("TimeToHangup", "0"),
                ("BridgeID", ch.bridge_id),
                ("Application", ch.app),
                ("Data", ch.appdata),
                ("Nativeformats", "(ulaw)"),
                ("Readformat", "ulaw"),
                ("Readtrans", ""),
                ("Writeformat", "ulaw"),
                ("Writetrans", ""),
                ("Callgroup", "0"),
                ("Pickupgroup", "0"),
                ("Seconds", str(max(0, int(now - ch.created)))),
                *(("Variable", f"{v}={ch.get_var(v) or ''}") for v in wanted),
            ]
            chunks.append(_list_item("Status", fields, action_id))
        idtext = [("ActionID", action_id)] if action_id else []
        chunks.append(
            render(
                [
                    ("Event", "StatusComplete"),
                    *idtext,
                    ("EventList", "Complete"),
                    ("ListItems", str(len(channels))),
                    ("Items", str(len(channels))),
                ]
            )
        )
        return Reply([b"".join(chunks)])

    async def originate(self, session: Session, msg: Message) -> Reply:
        """``Originate`` (Async): queued at once, OriginateResponse when answered."""
        channel = msg.get("Channel") or ""
        if not channel:
            return error(msg, "Channel not specified")
        if "/" not in channel:
            return error(msg, "Invalid channel")
        app, data = msg.get("Application") or "", msg.get("Data") or ""
        exten, context = msg.get("Exten") or "", msg.get("Context") or ""
        if not app and exten and not (context and msg.get("Priority")):
            return error(msg, "Originate with 'Exten' requires 'Context' and 'Priority'")
        cid = msg.get("CallerID") or ""
        number = _caller_number(cid)
        started = self.backend.originate(
            channel,
            app,
            data,
            msg.get("ActionID") or "",
            caller_id=number,
            uniqueids=(msg.get("ChannelId") or "", msg.get("OtherChannelId") or ""),
            variables=_variables(msg),
            dialplan_target=None if app else (context, exten, msg.get("Priority") or "1"),
            caller_name=_caller_name(cid, number),
            timeout_s=_timeout_s(msg.get("Timeout")),
        )
        if not _true(msg.get("Async")):
            # Synchronous originate waits for the outcome; the stand-in only knows "queued".
            await asyncio.sleep(0)
        if not started:
            return error(msg, "Originate failed")
        return ack(msg, "Originate successfully queued")

    async def redirect(self, session: Session, msg: Message) -> Reply:
        """``Redirect``: move a channel to Context/Exten/Priority."""
        name = msg.get("Channel") or ""
        context, exten, priority = (
            msg.get("Context") or "",
            msg.get("Exten") or "",
            msg.get("Priority") or "",
        )
        if not name:
            return error(msg, "Channel not specified")
        if not context:
            return error(msg, "Context not specified")
        if not exten:
            return error(msg, "Exten not specified")
        if not priority:
            return error(msg, "Priority not specified")
        if not priority.isdigit() or int(priority) < 1:
            return error(msg, "Priority is invalid")
        ch = self.core.channels.get(name)
        if ch is None:
            return error(msg, f"Channel does not exist: {name}")
        if not self.backend.redirect(ch, context, exten, int(priority)):
            return error(msg, "Redirect failed")
        return ack(msg, "Redirect successful")

    async def getvar(self, session: Session, msg: Message) -> Reply:
        """``Getvar``: a channel or global variable (EPOCH is the current time)."""
        variable = msg.get("Variable") or ""
        if not variable:
            return error(msg, "No variable specified")
        name = msg.get("Channel") or ""
        ch = None
        if name:
            ch = self.core.channels.get(name)
            if ch is None:
                return error(msg, "No such channel")
        value = self._read_var(ch, variable)
        head = render_lines(response(msg, "Success"))
        return Reply([head, render([("Variable", variable), ("Value", value)])])

    def _read_var(self, ch: Channel | None, variable: str) -> str:
        upper = variable.upper()
        if upper == "EPOCH":
            return str(int(self.core.clock.now()))
        if ch is not None:
            if upper == "CALLERID(NUM)":
                return ch.caller_num
            if upper == "CALLERID(NAME)":
                return ch.caller_name
            if upper == "UNIQUEID":
                return ch.uniqueid
            if upper == "CHANNEL":
                return ch.name
            value = ch.get_var(variable)
            if value is not None:
                return value
        return self.global_vars.get(variable, "")

    async def setvar(self, session: Session, msg: Message) -> Reply:
        """``Setvar``: set a channel or global variable."""
        variable = msg.get("Variable") or ""
        if not variable:
            return error(msg, "No variable specified")
        name = msg.get("Channel") or ""
        value = msg.get("Value") or ""
        if name:
            ch = self.core.channels.get(name)
            if ch is None:
                return error(msg, "No such channel")
            self.core.emitter.varset(ch, variable, value)
        else:
            self.global_vars[variable] = value
        return ack(msg, "Variable Set")

    async def hangup(self, session: Session, msg: Message) -> Reply:
        """``Hangup``: by exact name, or ``/regex/`` with a ChannelHungup list."""
        name = msg.get("Channel") or ""
        if not name:
            return error(msg, "No channel specified")
        if not (name.startswith("/") and name.endswith("/") and len(name) > 1):
            ch = self.core.channels.get(name)
            if ch is None:
                return error(msg, "No such channel")
            self.backend.hangup_channel(ch)
            return ack(msg, "Channel Hungup")
        try:
            pattern = re.compile(name[1:-1])
        except re.error:
            return error(msg, f"Regex compile failed on: {name}")
        action_id = msg.get("ActionID")
        chunks = [_listack(msg, "Channels hung up will follow")]
        count = 0
        for ch in list(self.core.channels):
            if pattern.search(ch.name) and not ch.hungup:
                self.backend.hangup_channel(ch)
                idtext = [("ActionID", action_id)] if action_id else []
                chunks.append(render([("Event", "ChannelHungup"), ("Channel", ch.name), *idtext]))
                count += 1
        chunks.append(_list_complete("ChannelsHungupListComplete", action_id, count))
        return Reply([b"".join(chunks)])


def _caller_number(text: str) -> str:
    """The number of an Originate ``CallerID`` (``"Name" <number>``, ``<number>``, ``number``).

    As ``ast_callerid_parse``: inside angle brackets anything is the number;
    without them only something dialable is, anything else is a name.
    """
    _, lt, rest = text.rpartition("<")
    if lt and ">" in rest:
        return rest.partition(">")[0].strip()
    bare = text.strip()
    return bare if bare and all(ch in "0123456789+*#" for ch in bare) else ""


def _caller_name(text: str, number: str) -> str:
    """The name of an Originate ``CallerID`` (``"Name" <number>``; a bare non-number)."""
    name = text.rpartition("<")[0] if "<" in text else ("" if number else text)
    return name.strip().strip('"').strip()


def _timeout_s(text: str | None) -> float:
    """Originate's ``Timeout`` in milliseconds (manager.c: 30000 when absent)."""
    try:
        millis = int(text or "30000")
    except ValueError:
        millis = 30000
    return max(0, millis) / 1000.0


def _variables(msg: Message) -> dict[str, str]:
    """Originate's ``Variable`` headers: repeated, each ``NAME=value[,NAME=value]``."""
    out: dict[str, str] = {}
    for key, value in msg.headers:
        if key.lower() != "variable":
            continue
        for item in value.split(","):
            name, eq, val = item.partition("=")
            if eq and name.strip():
                out[name.strip()] = val
    return out


def _nonneg(text: str | None) -> int:
    try:
        return max(0, int(text or "0"))
    except ValueError:
        return 0
