"""The stand-in runs the generated dialplan: the world a call's dialplan acts on.

Each call is executed by :class:`dialplans.engine.Interpreter` from the files
``lotse dialplan build`` writes (generated from the configuration at start,
or the operator's ``--dialplan DIR``); this module supplies the handlers that
touch the wire: Answer, Playback and Read take virtual time, AGI() asks the
FastAGI service over TCP (:mod:`standin.agiclient`), Queue() is
:func:`standin.queueapp.queue_app`, UserEvent goes out over AMI, every
priority is a ``Newexten`` and every variable set a ``VarSet``; QueueLog() writes
to the stand-in's queue_log (:mod:`standin.queuelog`).
``QUEUE_MEMBER`` is answered from the stand-in's queues. An AMI Redirect
moves the channel between priorities or out of a waiting application, as
``ast_async_goto`` does; a hangup stops the dialplan before its next
priority.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from ami.contract import (
    ARG_POSTAL,
    CALLBACK_KEY_CONTEXT,
    CALLBACK_SCRIPT,
    FALLBACK_USER_EVENT,
    VAR_ACTION,
)
from dialplans.build import AmiEvents, build, write
from dialplans.engine import (
    DialArgs,
    Dialplan,
    DialplanRunError,
    Flow,
    QueueArgs,
    QueueLogEntry,
    ReadArgs,
    Redirect,
    Step,
    load_dialplan,
)
from dialplans.engine.interp import Execution, Result
from dialplans.engine.options import atoi
from router.callback import CALLBACK_SOUNDS, SOUND_ENTER_NUMBER, SOUND_OFFER, SOUND_OFFER_CLOSED
from router.config import Config
from standin import local
from standin.agiclient import AgiStatus
from standin.calls import Call, OutcomeKind
from standin.channels import Channel, ChannelState, Frame
from standin.core import Core
from standin.dialapp import dial
from standin.queueapp import QueueResult, queue_app

_log = structlog.get_logger("standin.dialplan")
_CALLBACK_PROMPTS = frozenset(CALLBACK_SOUNDS)
ANSWER_MEDIA_S = 0.5
_OFFERS = frozenset({SOUND_OFFER, SOUND_OFFER_CLOSED})


def generated_dialplan(config: Config, now: float) -> Dialplan:
    """The dialplan ``lotse dialplan build`` writes for ``config``, loaded from a temp dir.

    Public holidays cover the year of ``now`` and the next, as the build's default.
    """
    year = datetime.fromtimestamp(now, ZoneInfo(config.timezone)).year
    files = build(config, range(year, year + 2), AmiEvents.from_ami())
    with tempfile.TemporaryDirectory(prefix="lotse-standin-") as tmp:
        write(files, Path(tmp))
        return load_dialplan(Path(tmp))


class ChannelVariables:
    """Channel variables of the stand-in: setting one emits ``VarSet`` (as Asterisk does)."""

    def __init__(self, core: Core, channel: Channel) -> None:
        self._core = core
        self._channel = channel

    def get_var(self, name: str) -> str | None:
        """A variable of the channel."""
        return self._channel.get_var(name)

    def set_var(self, name: str, value: str) -> None:
        """Set it and emit ``VarSet``."""
        self._core.emitter.varset(self._channel, name, value)


class CallWorld:
    """The handlers of one call's dialplan (see the module docstring)."""

    def __init__(self, core: Core, call: Call) -> None:
        self.core = core
        self.call = call
        self.greetings = {c.greeting for c in core.config.centers.values()}
        self.last_sound: str | None = None  # played after the last Queue(), if any
        # The h extension runs: the channel is hung up, anything that waits ends at once.
        self.in_hangup = False

    # -- between priorities ---------------------------------------------------

    def interrupted(self, ex: Execution) -> Result | None:
        """A hangup or a pending AMI Redirect, checked before each priority."""
        call = self.call
        if call.caller_gone:
            return Flow.HANGUP
        return self._redirect()

    def _redirect(self) -> Result | None:
        call = self.call
        target = call.redirect_to
        if target is None:
            return None
        call.redirect_to = None
        call.interrupt.clear()
        call.kind = None
        context, exten, priority = target
        if not self.core.dialplan.exists(context, exten, str(priority)):
            # ast_async_goto to nowhere: the PBX finds no extension and hangs up.
            return Flow.HANGUP
        return Redirect(context, exten, str(priority))

    def _after_wait(self) -> Result:
        """How the dialplan goes on after an application that waited was woken early."""
        if self.call.caller_gone:
            return Flow.HANGUP
        return self._redirect() or Flow.CONTINUE

    def now(self) -> float:
        return self.core.now()

    def executing(self, ex: Execution, step: Step) -> None:
        ch = self.call.channel
        ch.context, ch.exten = step.context, step.exten
        self.core.emitter.exten(ch, step.app, step.data, step.priority)
        if step.app.upper() == "HANGUP":
            # pbx_builtin_hangup: the cause given, else Normal Clearing.
            self.call.hangup_cause = atoi(step.data) or 16

    def queue_member(self, queue: str, option: str) -> str | None:
        q = self.core.queues.get(queue)
        if q is None:
            return None
        now = self.core.now()
        members = q.members
        counts = {
            "count": len(members),
            "logged": len(members),
            "paused": sum(1 for m in members if m.paused),
            "free": q.summary_available(),
            "ready": q.available_count(now),
        }
        return str(counts.get(option, 0))

    # -- applications ---------------------------------------------------------------

    async def answer(self, ex: Execution) -> Result:
        ch, em = self.call.channel, self.core.emitter
        if ch.state is not ChannelState.UP:
            if self.call.local_leg:
                local.answered(self.core, ch)
                self.call.answer_event.set()
                # __ast_answer waits up to 500 ms for media, which a Local half
                # rarely has yet (dial-callee-hangup.full.log: Answer at .341,
                # the next priority at .843; the talk lasts Wait + 0.5 s).
                if not await self.core.wait(self.call, ANSWER_MEDIA_S):
                    return self._after_wait()
                return Flow.CONTINUE
            else:
                ch.state, ch.up_since = ChannelState.UP, self.core.now()
                em.newstate(ch)
                em.device_state(ch.device, "INUSE")
            self.call.answer_event.set()
        return Flow.CONTINUE

    async def indicate(self, ex: Execution, what: str, wait_s: float | None) -> Result:
        """Ringing(); Busy()/Congestion(): indicate, wait for the hangup (or ``wait_s``)."""
        core, ch = self.core, self.call.channel
        if what == "ringing":
            local.ringing(core, ch)
            return Flow.CONTINUE
        local.refuse(core, ch, Frame.BUSY if what == "busy" else Frame.CONGESTION)
        if self.in_hangup:
            return Flow.HANGUP
        until = core.now() + wait_s if wait_s is not None else None
        await core.wait_for(
            self.call, None if until is not None else self.call.hangup.wait(), until
        )
        return Flow.HANGUP

    async def dial(self, ex: Execution, args: DialArgs) -> Result:
        if self.in_hangup:
            return Flow.HANGUP
        result = await dial(self.core, self.call, ex, args)
        if result is Flow.HANGUP and not self.call.caller_gone:
            # An AMI Redirect took the dialling channel out of Dial().
            return self._redirect() or Flow.HANGUP
        return result

    async def playback(self, ex: Execution, sounds: tuple[str, ...], options: str) -> Result:
        s = self.core.settings
        for sound in sounds:
            seconds = s.greeting_s if sound in self.greetings else s.announcement_s
            if not await self.core.wait(self.call, seconds):
                return self._after_wait()
            self.last_sound = sound
        ex.set("PLAYBACKSTATUS", "SUCCESS")
        return Flow.CONTINUE

    async def read(self, ex: Execution, args: ReadArgs) -> Result:
        """The simulated caller keys in the postal code it knows, or nothing; in the
        callback dialogue 1 to an offer it takes (SIM_CALLBACK), its own number
        when asked for one, 1 to confirm."""
        s = self.core.settings
        digits = (self.call.postal_code or "")[: args.max_digits or None]
        prompts = set(args.prompts)
        if prompts & _CALLBACK_PROMPTS:
            if prompts & _OFFERS:
                digits = "1" if self.call.callback_accept else ""
            elif SOUND_ENTER_NUMBER in prompts:
                caller = self.call.caller
                digits = caller if caller.isdigit() else ""
            else:
                digits = "1"
        timeout = args.timeout_s if args.timeout_s is not None else s.digits_s
        spent = s.prompt_s * len(args.prompts) + (s.digits_s if digits else timeout)
        if not await self.core.wait(self.call, spent):
            return self._after_wait()
        ex.set(args.variable, digits)
        ex.set("READSTATUS", "OK" if digits else "TIMEOUT")
        return Flow.CONTINUE

    async def wait(self, ex: Execution, seconds: float) -> Result:
        if self.in_hangup:
            return Flow.HANGUP
        if not await self.core.wait(self.call, seconds):
            return self._after_wait()
        return Flow.CONTINUE

    def queue_log(self, ex: Execution, line: QueueLogEntry) -> None:
        self.core.queue_log.custom(line.queue, line.uniqueid, line.agent, line.event, line.info)

    def user_event(self, ex: Execution, name: str, body: tuple[tuple[str, str], ...]) -> None:
        self.core.emitter.user_event(self.call.channel, name, body)
        if name == FALLBACK_USER_EVENT:
            self.call.fallback = True
            self.call.fallback_reason = dict(body).get("Reason", "")

    async def agi(self, ex: Execution, url: str, args: tuple[str, ...]) -> Result:
        call, s = self.call, self.core.settings
        script = url.split("/", 3)[3] if url.startswith("agi://") and url.count("/") >= 3 else ""
        if script != CALLBACK_SCRIPT:
            postal = args[ARG_POSTAL - 1] if len(args) >= ARG_POSTAL else ""
            if postal and (not call.postal_entered or call.postal_entered[-1] != postal):
                call.postal_entered.append(postal)
        if s.agi_url is None:
            status = AgiStatus.FAILURE
            ex.set("AGISTATUS", status.value)
        else:
            target = url if s.agi_from_dialplan else s.agi_url
            if not s.agi_from_dialplan and script:
                # The configured service's address, the dialplan's script (route, callback).
                target = s.agi_url.rsplit("/", 1)[0] + "/" + script
            status = await self.core.agi.run(
                target, call.channel, args, call.hangup, dnid=call.dialed
            )
        call.agi_statuses.append(status.value)
        call.actions.append(call.channel.get_var(VAR_ACTION) or "")
        if status is AgiStatus.HANGUP or call.caller_gone:
            # agi_exec_full returns -1: the dialplan ends.
            return Flow.HANGUP
        return self._redirect() or Flow.CONTINUE

    async def queue(self, ex: Execution, args: QueueArgs) -> Result:
        call = self.call
        self.last_sound = None
        exit_after = None
        if call.callback_accept:
            center = self.core.config.centers.get(
                self.core.config.center_by_queue.get(args.queue, "")
            )
            cb = center.callback if center is not None else None
            exit_after = cb.offer_after_wait_s if cb is not None else None
        result = await queue_app(
            self.core,
            call,
            args.queue,
            args.timeout_s or 0,
            position=args.position,
            exit_after_s=exit_after,
        )
        if result is QueueResult.EXITKEY:
            return Redirect(CALLBACK_KEY_CONTEXT, "1", "1")
        if result is QueueResult.COMPLETED:
            call.kind = OutcomeKind.ANSWERED
            return Flow.HANGUP
        if result is QueueResult.ABANDONED or call.caller_gone:
            call.kind = OutcomeKind.ABANDONED
            return Flow.HANGUP
        if result is QueueResult.REDIRECTED:
            return self._redirect() or Flow.CONTINUE
        # TIMEOUT, UNKNOWN: QUEUESTATUS is set; the dialplan decides what follows.
        return Flow.CONTINUE


async def _hang_up(core: Core, call: Call, world: CallWorld, ex: Execution) -> None:
    """The dialplan ended (__ast_pbx_run): SoftHangupRequest, the ``h`` extension of the
    channel's context if there is one, then the channel's hangup."""
    ch = call.channel
    try:
        if ch.hungup:
            return
        core.teardown_request(call)
        world.in_hangup = True
        try:
            if await core.interpreter.run_hangup_exten(ex):
                ch.exten = ex.exten
        except DialplanRunError as err:
            _log.warning("dialplan.error", error=str(err), channel=ch.name)
        # The Hangup's snapshot is where the dialplan ended (a fall-through: the
        # priority after the last; dial-callee-hangup-g.txt's Priority 3).
        ch.priority = ex.priority
        if not call.local_leg:
            core.teardown(call)
            return
        if ch.cause == 0 and call.hangup_cause is not None:
            ch.cause = call.hangup_cause
        local.hang_up(core, ch)
        core.calls.pop(ch.name, None)
        call.ended_at = core.now()
    finally:
        call.finished.set()


async def run_call(core: Core, call: Call) -> None:
    """Run the dialplan for ``call`` from its channel's position; ends with it hung up."""
    em, ch = core.emitter, call.channel
    if ch.tech == "PJSIP":
        em.newchannel(ch)
        em.noise(ch, (("SIPDOMAIN", "127.0.0.1"),))
    world = CallWorld(core, call)
    interpreter = core.interpreter
    ex = interpreter.execution(ch, ChannelVariables(core, ch), world)
    try:
        await interpreter.run(ex, ch.context, ch.exten, str(ch.priority or 1))
    except DialplanRunError as err:
        # Asterisk logs the broken priority and hangs the channel up.
        _log.warning("dialplan.error", error=str(err), channel=ch.name)
        call.kind = OutcomeKind.FAILED
    finally:
        await _hang_up(core, call, world, ex)
    if call.kind is None:
        if call.caller_gone:
            call.kind = OutcomeKind.ABANDONED
        elif world.last_sound is not None:
            call.kind = OutcomeKind.ANNOUNCEMENT
            call.announcement = world.last_sound
        else:
            call.kind = OutcomeKind.UNANSWERED
