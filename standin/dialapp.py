"""The Dial() application as app_dial runs it, for Local channels and the callback trunk.

The sequences are those of ``../shared/asterisk/dial-*.txt`` (their
``.full.log`` shows which priorities ran):

- Dial starts by clearing DIALSTATUS, DIALEDPEERNUMBER, DIALEDPEERNAME and
  the ANSWEREDTIME/DIALEDTIME/RINGTIME/PROGRESSTIME pairs (``VarSet`` empty);
  each destination gets its channel (:mod:`standin.destinations`), then
  ``DialBegin`` with the dial string after ``Tech/``;
- the first ringing sets RINGTIME(_MS) (seconds since the Dial began) and
  sends ``DialState RINGING``;
- an answer: DIALSTATUS=ANSWER, DIALEDPEERNAME, DIALEDPEERNUMBER, ``DialEnd
  ANSWER`` (only this once), a basic bridge, BRIDGEPEER both ways. When the
  call ends, ANSWEREDTIME(_MS) (since the *dialling* channel answered),
  DIALEDTIME(_MS) (since it was created) and DIALSTATUS=ANSWER again. If the
  called side hung up, the dialplan goes on at the next priority only with
  the ``g`` option (``dial-callee-hangup-g.txt``), else it ends there
  (``dial-callee-hangup.txt``: "exited non-zero" at the Dial's priority);
  if the dialling side hung up it ends either way (``dial-caller-hangup.txt``);
- busy: ``DialEnd BUSY``, the dialling channel takes the called channel's
  cause (0 for a Local ;1), DIALSTATUS=BUSY (``dial-busy.txt``);
- the timeout: ``DialEnd NOANSWER``, the called channels hung up with cause 0
  (``dial-noanswer.txt``);
- a called side that hangs up before answering: ``DialEnd`` by its cause
  (``ast_hangup_cause_to_dial_status``), DIALSTATUS NOANSWER unless every line
  was busy/congested/unavailable (app_dial's ``handle_cause``);
- the dialling side hangs up while it rings: ``DialEnd CANCEL``, DIALSTATUS
  CANCEL, the dialplan ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from dialplans.engine import DialArgs, Flow
from dialplans.engine.interp import Execution, Result
from standin import local
from standin.calls import Call
from standin.channels import Channel, ChannelState, Frame
from standin.core import Core, Wake
from standin.destinations import request

_CLEARED = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)
# The options the stand-in plays; Asterisk has many more (the engine knows them all).
MODELLED_OPTIONS = frozenset({"g"})
_CAUSE_STATUS = {17: "BUSY", 34: "CONGESTION", 3: "CHANUNAVAIL", 20: "CHANUNAVAIL"}


@dataclass
class _Count:
    busy: int = 0
    congestion: int = 0
    nochan: int = 0

    def cause(self, cause: int) -> None:
        """app_dial's ``handle_cause``."""
        if cause == 17:
            self.busy += 1
        elif cause == 34:
            self.congestion += 1
        elif cause not in (16, 19):
            # Anything else, 0 (a dialplan that fell off) too, counts as unavailable.
            self.nochan += 1

    def status(self, lines: int) -> str:
        """DIALSTATUS when nobody answered: all lines busy/congested/unavailable, else NOANSWER."""
        if lines and lines == self.busy + self.congestion + self.nochan:
            if self.busy:
                return "BUSY"
            return "CONGESTION" if self.congestion else "CHANUNAVAIL"
        return "NOANSWER"


async def dial(core: Core, call: Call, ex: Execution, args: DialArgs) -> Result:
    """Run ``Dial()`` for ``call``; returns how its dialplan goes on."""
    for letter, _ in args.options:
        if letter not in MODELLED_OPTIONS:
            raise ex.fail(f"Dial option {letter!r} is not modelled by the stand-in")
    em, caller = core.emitter, call.channel
    em.noise(caller, ((name, "") for name in _CLEARED))
    started = core.now()
    frames: local.Frames = asyncio.Queue()
    outs: dict[str, tuple[Channel, str]] = {}
    count = _Count()
    for target in args.targets:
        got = request(core, call, target, frames)
        if got is None:
            count.nochan += 1
        else:
            outs[got[0].name] = got
    lines = len(outs)
    if not outs:
        ex.set("DIALSTATUS", "CHANUNAVAIL")
        return Flow.CONTINUE
    deadline = started + args.timeout_s if args.timeout_s is not None else None
    rang = False
    while outs:
        box: list[tuple[Channel, Frame]] = []
        wake = await core.wait_for(call, _get(frames, box), deadline)
        if wake is not Wake.DONE:
            status = "NOANSWER" if wake is Wake.TIMEOUT else "CANCEL"
            for one, _ in list(outs.values()):
                em.dial_end(caller, one, status)
                await _drop(core, one)
            ex.set("DIALSTATUS", status)
            return Flow.CONTINUE if wake is Wake.TIMEOUT else Flow.HANGUP
        one, frame = box[0]
        if one.name not in outs:
            continue
        if frame is Frame.RINGING:
            if not rang:
                rang = True
                ringtime = core.now() - started
                em.noise(
                    caller,
                    (("RINGTIME", str(int(ringtime))), ("RINGTIME_MS", str(int(ringtime * 1000)))),
                )
            em.dial_state(caller, one, "RINGING")
        elif frame is Frame.ANSWER:
            number = outs.pop(one.name)[1]
            for other, _ in outs.values():
                em.dial_end(caller, other, "CANCEL")
                await _drop(core, other)
            return await _bridged(core, call, ex, args, one, number, frames)
        else:
            del outs[one.name]
            refused = {Frame.BUSY: "BUSY", Frame.CONGESTION: "CONGESTION"}.get(frame)
            cause = one.cause
            em.dial_end(caller, one, refused or _CAUSE_STATUS.get(cause, "NOANSWER"))
            if refused is not None:
                # app_dial: the dialling channel takes the called channel's cause.
                caller.cause = one.cause
                count.cause(17 if frame is Frame.BUSY else 34)
            else:
                count.cause(cause)
            await _drop(core, one)
    ex.set("DIALSTATUS", count.status(lines))
    return Flow.CONTINUE


async def _drop(core: Core, one: Channel) -> None:
    """Hang up a called channel; a Local pair's other half ends before the Dial goes on
    (in the captures the called pair is gone before the dialling channel's next event)."""
    leg = core.calls.get(one.partner.name) if one.partner is not None else None
    local.hang_up(core, one)
    if leg is not None:
        await core.wait_for(None, leg.finished.wait(), core.now() + 1.0)


async def _get(frames: local.Frames, box: list[tuple[Channel, Frame]]) -> None:
    box.append(await frames.get())


async def _bridged(
    core: Core,
    call: Call,
    ex: Execution,
    args: DialArgs,
    one: Channel,
    number: str,
    frames: local.Frames,
) -> Result:
    """The called channel answered: bridge the two until one side hangs up."""
    em, caller = core.emitter, call.channel
    if caller.state is not ChannelState.UP:
        local.answered(core, caller)
    em.noise(
        caller,
        (("DIALSTATUS", "ANSWER"), ("DIALEDPEERNAME", one.name), ("DIALEDPEERNUMBER", number)),
    )
    one.exten = ""
    em.dial_end(caller, one, "ANSWER")
    bridge = core.channels.bridge_id()
    em.bridge_create(bridge)
    em.exten(one, "AppDial", "(Outgoing Line)")
    em.bridge_enter(bridge, 1, one)
    em.bridge_enter(bridge, 2, caller)
    em.noise(one, (("BRIDGEPEER", caller.name),))
    em.noise(caller, (("BRIDGEPEER", one.name),))
    while True:
        box: list[tuple[Channel, Frame]] = []
        wake = await core.wait_for(call, _get(frames, box), None)
        if wake is not Wake.DONE or box[0] == (one, Frame.HANGUP):
            break
    callee_left = wake is Wake.DONE
    first, second = (one, caller) if callee_left else (caller, one)
    em.noise(first, (("BRIDGEPEER", ""),))
    em.noise(second, (("BRIDGEPEER", ""),))
    em.bridge_leave(bridge, 1, first)
    if callee_left:
        # The bridge hands the called side's cause to the dialling channel.
        if caller.cause == 0:
            caller.cause = one.cause
        local.hang_up(core, one)
        em.bridge_leave(bridge, 0, caller)
    else:
        em.bridge_leave(bridge, 0, one)
        if one.cause == 0:
            one.cause = caller.cause
        # dial-caller-hangup.txt: the called pair is gone before BridgeDestroy.
        await _drop(core, one)
    em.bridge_destroy(bridge)
    now = core.now()
    up = caller.up_since if caller.up_since is not None else now
    em.noise(
        caller,
        (
            ("ANSWEREDTIME", str(int(now - up))),
            ("ANSWEREDTIME_MS", str(int((now - up) * 1000))),
            ("DIALEDTIME", str(int(now - caller.created))),
            ("DIALEDTIME_MS", str(int((now - caller.created) * 1000))),
        ),
    )
    ex.set("DIALSTATUS", "ANSWER")
    if callee_left and args.option("g") and not call.caller_gone:
        return Flow.CONTINUE
    return Flow.HANGUP
