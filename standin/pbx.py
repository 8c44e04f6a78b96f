"""The Asterisk stand-in: one object that speaks AMI and FastAGI like Asterisk 22.10.1.

``Pbx(config)`` builds a queue per center of the lotse configuration, logs
in the staffed agents, listens for manager clients and plays the 115
dialplan for every call placed with :meth:`Pbx.place_call` (or originated
over AMI into the 115 entry): the files ``lotse dialplan build`` generates,
run by :mod:`dialplans.engine` (see :mod:`standin.dialplan`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from dialplans.engine import Dialplan
from router.config import Config, Endpoint
from router.numbering import OrtsnetzTable
from standin import local
from standin.actions import Actions
from standin.agents import Agent, AgentProfile, local_interface
from standin.agiclient import AgiUrl
from standin.amiserver import AmiServer, AmiUser, Framing
from standin.calls import Call, CalleeProfile, CallHandle, CallOutcome
from standin.channels import Channel, ChannelState, Frame
from standin.clock import Clock, ScaledClock
from standin.core import Core, DialplanSettings
from standin.dialplan import generated_dialplan, run_call
from standin.emit import Emitter, EventBus, EventDetail
from standin.eventfilter import policies_for
from standin.originate import DEFAULT_TIMEOUT_S, OriginateRequest
from standin.originate import originate as originate_local
from standin.queuelog import QueueLogFile
from standin.queues import Member, Queue
from standin.staffing import Staffing
from standin.wire import AmiEvent, Category

# Originate variable: the postal code the simulated caller keys in when asked.
SIM_POSTAL_VARIABLE = "SIM_POSTAL_CODE"
# Originate variables: the simulated caller takes a callback when offered
# (SIM_CALLBACK=1) and answers that share of the attempts (SIM_CALLBACK_ANSWER).
SIM_CALLBACK_VARIABLE = "SIM_CALLBACK"
SIM_CALLBACK_ANSWER_VARIABLE = "SIM_CALLBACK_ANSWER"
# ... is busy in that share of them (SIM_CALLBACK_BUSY) and, once answered,
# hangs up before the agent in that share (SIM_CALLBACK_HANGS_UP_FIRST).
SIM_CALLBACK_BUSY_VARIABLE = "SIM_CALLBACK_BUSY"
SIM_CALLBACK_FIRST_VARIABLE = "SIM_CALLBACK_HANGS_UP_FIRST"


def callee_profile(variables: Mapping[str, str]) -> CalleeProfile:
    """How a simulated caller behaves when called back, from its Originate variables
    (a share missing or not a number keeps the default)."""
    default = CalleeProfile()

    def share(name: str, fallback: float) -> float:
        try:
            return min(1.0, max(0.0, float(variables.get(name, ""))))
        except ValueError:
            return fallback

    return CalleeProfile(
        answer=share(SIM_CALLBACK_ANSWER_VARIABLE, default.answer),
        busy=share(SIM_CALLBACK_BUSY_VARIABLE, default.busy),
        hangs_up_first=share(SIM_CALLBACK_FIRST_VARIABLE, default.hangs_up_first),
    )


@dataclass(frozen=True)
class QueueDefaults:
    """queues.conf settings of every center's queue."""

    strategy: str = "rrmemory"
    member_timeout: int = 15
    retry: int = 1
    wrapuptime: int = 0
    set_vars: bool = True  # setinterfacevar, setqueuevar, setqueueentryvar


class Pbx:
    """The stand-in. Build, ``await start()``, place calls, ``await close()``.

    ``users`` maps AMI usernames to secrets (read/write = all, no event
    filter, unless ``manager_conf``, a manager.conf text such as the generated
    ``manager_lotse.conf``, gives a user its classes and filters); the default
    is the config's ``controller.ami_username`` with secret ``secret``.
    ``manager_vars`` is manager.conf ``channelvars``: each listed variable
    appears as ``ChanVariable: NAME=value`` in every channel event.
    ``agi_url`` defaults to the config's FastAGI address; ``None`` disables
    AGI (every call takes the static fallback). Calls run ``dialplan``
    (:func:`dialplans.engine.load_dialplan` of the operator's files), by
    default the one ``lotse dialplan build`` generates from ``config`` (its
    FastAGI URL ``agi_url``); a given dialplan's AGI() goes where its files
    say unless ``agi_url`` names an address.
    """

    def __init__(
        self,
        config: Config,
        *,
        staffing: Staffing | None = None,
        table: OrtsnetzTable | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        seed: int = 0,
        users: Mapping[str, str] | None = None,
        ami_host: str = "127.0.0.1",
        ami_port: int = 0,
        agi_url: str | bool | None = True,
        settings: DialplanSettings | None = None,
        queue_defaults: QueueDefaults = QueueDefaults(),
        framing: Framing = Framing.CAPTURE,
        detail: EventDetail = EventDetail.FULL,
        manager_vars: tuple[str, ...] = ("LOTSE_HOME",),
        auth_fail_delay_s: float = 1.0,
        queue_log: str | os.PathLike[str] | None = None,
        dialplan: Dialplan | None = None,
        manager_conf: str | None = None,
    ) -> None:
        self.config = config
        self.table = table or OrtsnetzTable.load()
        self.clock = clock or ScaledClock()
        self.rng = rng or random.Random(seed)
        self.bus = EventBus()
        self.emitter = Emitter(self.bus, manager_vars=manager_vars, detail=detail)
        from_dialplan = agi_url is True
        if agi_url is True:
            agi_url = f"agi://{config.controller.agi_listen}/route"
        settings = replace(
            settings or DialplanSettings(),
            agi_url=agi_url or None,
            agi_from_dialplan=from_dialplan and dialplan is not None,
        )
        if dialplan is None:
            generate_for = config
            if isinstance(agi_url, str):
                url = AgiUrl.parse(agi_url)
                endpoint = Endpoint(url.host, url.port)
                generate_for = replace(
                    config, controller=replace(config.controller, agi_listen=endpoint)
                )
            dialplan = generated_dialplan(generate_for, self.clock.now())
        self.dialplan = dialplan
        self.core = Core(
            config=config,
            clock=self.clock,
            rng=self.rng,
            emitter=self.emitter,
            settings=settings,
            dialplan=self.dialplan,
        )
        self.core.start_leg = self._start_leg
        self._booted = self.clock.now()
        if queue_log is not None:
            self.open_queue_log(queue_log)
        self._ami_host, self._ami_port = ami_host, ami_port
        user_map = users or {config.controller.ami_username: "secret"}
        # With a manager.conf (the generated manager_lotse.conf), each user
        # gets its read/write classes and event filters from it, as in Asterisk.
        policies = policies_for(user_map, manager_conf) if manager_conf is not None else {}
        ami_users = {}
        for name, secret in user_map.items():
            policy = policies.get(name)
            ami_users[name] = (
                AmiUser(name, secret)
                if policy is None
                else AmiUser(name, secret, policy.read, policy.write, policy.filters)
            )
        self.actions = Actions(self)
        self.server = AmiServer(
            bus=self.bus,
            clock=self.clock,
            rng=self.rng,
            users=ami_users,
            actions=self.actions.table(),
            framing=framing,
            auth_fail_delay_s=auth_fail_delay_s,
        )
        self._address: tuple[str, int] | None = None
        self._tasks: set[asyncio.Task[CallOutcome]] = set()
        for center in sorted(config.centers.values(), key=lambda c: c.queue):
            self.core.queues.add_queue(
                Queue(
                    center.queue,
                    strategy=queue_defaults.strategy,
                    member_timeout=queue_defaults.member_timeout,
                    retry=queue_defaults.retry,
                    wrapuptime=queue_defaults.wrapuptime,
                    servicelevel=config.service_level.threshold_s,
                    set_interface_var=queue_defaults.set_vars,
                    set_queue_var=queue_defaults.set_vars,
                    set_queue_entry_var=queue_defaults.set_vars,
                )
            )
        for queue, specs in (staffing.queues if staffing else {}).items():
            for spec in specs:
                self.core.queues.add_member(
                    queue,
                    self._new_agent(spec.name, spec.profile),
                    name=spec.name,
                    now=self.clock.now(),
                    dynamic=False,
                    paused=spec.paused,
                    state_interface=local_interface(spec.name).removesuffix("/n"),
                    quiet=True,
                )

    # -- lifecycle ----------------------------------------------------------

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen for AMI clients (on ``sock`` if given: a socket bound and listening,
        e.g. handed over by the process that chose its port)."""
        self._address = await self.server.start(self._ami_host, self._ami_port, sock=sock)

    def open_queue_log(self, path: str | os.PathLike[str]) -> Path:
        """Write Asterisk's queue_log to ``path`` from now on (appending); returns the path.

        Asterisk opens its queue_log as app_queue loads: ``QUEUESTART`` first.
        """
        self.core.queue_log.close()
        self.core.queue_log = QueueLogFile(path, self.clock)
        self.core.queue_log.queue_start()
        return Path(path)

    @property
    def ami_address(self) -> tuple[str, int]:
        """(host, port) the AMI server listens on."""
        if self._address is None:
            raise RuntimeError("Pbx.start() has not run")
        return self._address

    async def close(self) -> None:
        """Stop everything: calls, timers, AMI server."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.core.close()
        await self.server.close()
        self.core.queue_log.close()

    def subscribe(self, callback: Callable[[AmiEvent], None]) -> Callable[[], None]:
        """Receive every manager event (as published, before any session filter)."""
        return self.bus.subscribe(callback)

    def uptime(self) -> tuple[int, int]:
        """Seconds since (re)start, twice (uptime and last reload)."""
        up = int(self.clock.now() - self._booted)
        return up, up

    # -- calls --------------------------------------------------------------

    async def place_call(
        self,
        caller: str,
        dialed: str = "115",
        postal_code: str | None = None,
        patience_s: float | None = None,
    ) -> CallHandle:
        """A SIP call from ``caller`` to ``dialed`` arrives from the carrier.

        ``postal_code`` is what the caller keys in when asked (None: nothing);
        ``patience_s`` is when the caller hangs up unless an agent has
        answered by then (virtual seconds from the start; None: never).
        """
        s = self.core.settings
        ch = self.core.channels.pjsip(s.endpoint, s.entry_context, dialed, caller)
        return self._start(Call(ch, caller, dialed, postal_code, patience_s, self.clock.now()))

    def _start(self, call: Call, on_end: Callable[[Call], None] | None = None) -> CallHandle:
        self.core.calls[call.channel.name] = call
        task = asyncio.ensure_future(self._run(call, on_end))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if call.patience_s is not None:
            self.core.spawn(self._patience(call, call.patience_s))
        return CallHandle(call, task, self.core.caller_hangup)

    def _start_leg(self, call: Call) -> None:
        self._start(call)

    async def _run(self, call: Call, on_end: Callable[[Call], None] | None) -> CallOutcome:
        try:
            await run_call(self.core, call)
        finally:
            if on_end is not None:
                on_end(call)
        return call.outcome()

    async def _patience(self, call: Call, patience_s: float) -> None:
        await self.clock.sleep(patience_s)
        if call.answered_at is None and not call.channel.hungup:
            self.core.caller_hangup(call)

    # -- agents -------------------------------------------------------------

    def _new_agent(self, name: str, profile: AgentProfile) -> Agent:
        interface = local_interface(name, self.core.settings.agents_context)
        existing = self.core.queues.agent(interface)
        return existing or Agent(name, interface, profile)

    def agent_for(self, interface: str, member_name: str) -> Agent:
        """The agent behind an interface (QueueAdd of an interface never seen makes one)."""
        existing = self.core.queues.agent(interface)
        if existing is not None:
            return existing
        name = interface.removeprefix("Local/").split("@")[0].split("/")[-1] or member_name
        return Agent(name, interface, AgentProfile())

    def login_agent(
        self,
        queue: str,
        name: str,
        profile: AgentProfile | None = None,
        *,
        paused: bool = False,
        reason: str = "",
    ) -> Member:
        """A dynamic member logs in (as QueueAdd would): QueueMemberAdded etc."""
        return self.core.queues.add_member(
            queue,
            self._new_agent(name, profile or AgentProfile()),
            name=name,
            now=self.clock.now(),
            dynamic=True,
            paused=paused,
            reason=reason,
        )

    def logout_agent(self, queue: str, name: str) -> Member:
        """A member logs out (QueueRemove; static members too, as after a queue reload)."""
        interface = local_interface(name, self.core.settings.agents_context)
        return self.core.queues.remove_member(queue, interface, self.clock.now(), allow_static=True)

    def pause_agent(
        self, name: str, paused: bool = True, reason: str = "", queue: str = ""
    ) -> None:
        """Pause or unpause an agent (in ``queue``, or in all its queues)."""
        interface = local_interface(name, self.core.settings.agents_context)
        self.core.queues.set_paused(queue, interface, paused, reason, self.clock.now())

    def queue(self, name: str) -> Queue:
        """A queue by name (KeyError if there is none)."""
        q = self.core.queues.get(name)
        if q is None:
            raise KeyError(name)
        return q

    # -- AMI-facing operations ----------------------------------------------

    async def drop_ami_connections(self) -> None:
        """Cut every manager connection (the controller must reconnect and resync)."""
        await self.server.drop_connections()

    async def shutdown_event(self, *, restart: bool = True, hangup_calls: bool = True) -> None:
        """Asterisk restarts: ``Shutdown`` to every client, connections closed, calls dropped.

        Channel and Uniqueid counters, uptime and queue statistics start afresh;
        queue members are kept (as with persistentmembers).
        """
        await self.server.shutdown(restart=restart)
        if hangup_calls:
            for call in list(self.core.calls.values()):
                self.core.caller_hangup(call)
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.core.channels.reset()
            for q in self.core.queues:
                q.holdtime = q.talktime = q.completed = q.abandoned = 0
                q.completed_in_sl = q.abandoned_in_sl = 0
        self._booted = self.clock.now()
        if restart:
            self.core.queue_log.queue_start()

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
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> bool:
        """Async Originate of a Local channel into the 115 flow, or (with
        ``dialplan_target``, the Originate's Context/Exten/Priority) of a Local
        channel whose two halves run the dialplan (:mod:`standin.originate`).

        ``Local/115@lotse-115`` (the generated dialplan's entry; also
        ``Local/<Ortsnetz>115@lotse-115``) places a 115 call from the
        Originate's ``CallerID``, which Asterisk hands from ``;1`` to ``;2``;
        ``Local/NUMBER@originate-115`` one from NUMBER (the captures' originate
        context sets the caller id itself). ``uniqueids`` are ChannelId and
        OtherChannelId. The variable ``SIM_POSTAL_CODE`` is what the simulated
        caller keys in when asked for a postal code (a real Asterisk has no use
        for it; there the caller keys in nothing).
        """
        tech, _, rest = channel.partition("/")
        target = rest.removesuffix("/n")
        exten, _, context = target.partition("@")
        s = self.core.settings
        into = None if tech.lower() != "local" else dialplan_target
        if into is not None and context not in (s.entry_context, s.originate_context):
            self._originate_into(
                channel, into, action_id, caller_id, uniqueids, variables, timeout_s, caller_name
            )
            return True
        # As chan_local: the extension must exist at priority 1 of the loaded dialplan.
        entry = context == s.entry_context and self.dialplan.exists(context, exten, "1")
        if tech.lower() != "local" or not exten or not (entry or context == s.originate_context):
            self._originate_failed(channel, app, data, action_id)
            return True
        one, two = self.core.channels.local_pair(exten, context, uniqueids=uniqueids)
        for name, value in (variables or {}).items():
            one.set_var(name, value)
            two.set_var(name, value)
        em = self.emitter
        em.newchannel(one)
        em.newchannel(two)
        if entry:
            caller, dialed = caller_id, exten
            one.caller_num = caller
            em.newcallerid(one)
            em.exten(one, "AppDial2", "(Outgoing Line)")
            em.local_bridge(one, two, optimization=True)
            two.caller_num = caller
        else:
            caller, dialed = exten, "115"
            em.exten(one, "AppDial2", "(Outgoing Line)")
            em.local_bridge(one, two, optimization=True)
            em.exten(two, "Set", f"CALLERID(num)={exten}")
            two.caller_num = exten
            em.newcallerid(two)
            em.exten(two, "Goto", f"{s.entry_context},115,1", 2)
        em.dial_begin(None, one, target)
        two.context, two.exten, two.priority = s.entry_context, dialed, 1
        postal = (variables or {}).get(SIM_POSTAL_VARIABLE) or None
        call = Call(two, caller, dialed, postal, None, self.clock.now())
        behaviour = variables or {}
        call.callback_accept = behaviour.get(SIM_CALLBACK_VARIABLE) == "1"
        if caller and behaviour.get(SIM_CALLBACK_VARIABLE) == "1":
            self.core.callees[caller] = callee_profile(behaviour)

        def ended(c: Call) -> None:
            answered = c.channel.state is ChannelState.UP
            if not one.hungup:
                if not answered:
                    em.dial_end(None, one, "NOANSWER")
                em.hangup(one, 16)
                self.core.channels.remove(one)
            if not answered:
                # originate-failure.txt: Failure, Reason 0, the dial string as
                # requested, the Uniqueid the ChannelId (;1's).
                self._originate_response(
                    action_id, "Failure", None, app, data, "0", channel, one.uniqueid
                )

        handle = self._start(call, ended)
        self.core.spawn(self._originate_answer(call, one, app, data, action_id, handle.flow))
        return True

    def _originate_into(
        self,
        channel: str,
        target: tuple[str, str, str],
        action_id: str,
        caller_id: str,
        uniqueids: tuple[str, str],
        variables: Mapping[str, str] | None,
        timeout_s: float,
        caller_name: str = "",
    ) -> None:
        request = OriginateRequest(
            channel,
            *target,
            action_id=action_id,
            caller_num=caller_id,
            caller_name=caller_name,
            uniqueids=uniqueids,
            variables=variables,
            timeout_s=timeout_s,
        )
        leg = originate_local(self.core, request)
        if leg is not None:
            # An agent the leg reaches in a queue stays until the other half's
            # call ends (or the person dialled lets the agent hang up).
            leg.agent_hold = asyncio.Event()

    async def _originate_answer(
        self,
        call: Call,
        one: Channel,
        app: str,
        data: str,
        action_id: str,
        flow: asyncio.Future[CallOutcome],
    ) -> None:
        answered = asyncio.ensure_future(call.answer_event.wait())
        gone = asyncio.ensure_future(call.hangup.wait())
        try:
            await asyncio.wait({answered, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            answered.cancel()
        if not call.answer_event.is_set() or one.hungup:
            return
        em = self.emitter
        one.state = ChannelState.UP
        em.newstate(one)
        em.dial_end(None, one, "ANSWER")
        em.device_state(one.device, "INUSE")
        self._originate_response(action_id, "Success", one, app, data, "4")
        if app:
            em.exten(one, app, data)
        hold = _wait_seconds(app, data)
        if hold is None:
            return
        # The application holds ;1 until it ends or the call's flow does,
        # whichever is first: a call that ended must not be kept (with all it references)
        # for the rest of Wait(3600) — the load's memory grew by every call of
        # the last hour of simulated time.
        held: asyncio.Future[None] = asyncio.ensure_future(self.clock.sleep(hold))
        try:
            await asyncio.wait((held, flow), return_when=asyncio.FIRST_COMPLETED)
        finally:
            held.cancel()
        if not call.channel.hungup:
            self.core.caller_hangup(call)

    def _originate_response(
        self,
        action_id: str,
        result: str,
        one: Channel | None,
        app: str,
        data: str,
        reason: str,
        channel: str = "",
        uniqueid: str = "<null>",
    ) -> None:
        fields = [("ActionID", action_id)] if action_id else []
        fields += [
            ("Response", result),
            ("Channel", one.name if one else channel),
            ("Application", app),
            ("Data", data),
            ("Reason", reason),
            ("Uniqueid", one.uniqueid if one else uniqueid),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
        ]
        self.emitter.publish("OriginateResponse", Category.CALL, fields)

    def _originate_failed(self, channel: str, app: str, data: str, action_id: str) -> None:
        async def later() -> None:
            await asyncio.sleep(0)
            self._originate_response(action_id, "Failure", None, app, data, "0", channel)

        self.core.spawn(later())

    def redirect(self, ch: Channel, context: str, exten: str, priority: int) -> bool:
        """Redirect a caller channel: it leaves whatever it does and continues at the target."""
        call = self.core.calls.get(ch.name)
        if call is None or call.caller_gone:
            return False
        call.redirect_to = (context, exten, priority)
        call.interrupt.set()
        return True

    def hangup_channel(self, ch: Channel) -> None:
        """Hangup action: the call the channel belongs to ends (the caller side goes)."""
        call = self.core.calls.get(ch.name)
        if call is not None and call.local_leg:
            # manager.c's Hangup: a soft hangup, no event of its own
            # (queue-position.txt: the queue's leave events come first).
            call.hangup.set()
            return
        if call is None and ch.name in self.core.dialled:
            local.signal(self.core, ch, Frame.HANGUP)
            return
        call = call or next(
            (c for c in self.core.calls.values() if c.channel.linkedid == ch.linkedid), None
        )
        if call is not None:
            self.core.caller_hangup(call)


def _wait_seconds(app: str, data: str) -> float | None:
    """How long the originating side stays: Wait(N) seconds; other apps end at once."""
    if app.lower() == "wait":
        try:
            return max(0.0, float(data or "0"))
        except ValueError:
            return 0.0
    return 0.0 if app else None
