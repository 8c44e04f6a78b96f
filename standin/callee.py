"""A simulated person the stand-in dials through the callback trunk.

They behave as their :class:`standin.calls.CalleeProfile` says, drawn once
per attempt: they pick up after some ringing and talk, or the line is busy
(the trunk answers 486 at once: cause 17), or the phone rings (``Newstate
Ringing``) and nobody picks up (the Dial times out); a talk ends either with
them hanging up first
(a BYE: ``HangupRequest``, cause 16) or they stay until the agent hangs up.
There is no capture of an outgoing PJSIP channel; its states follow what the
Local channel of ``dial-*.txt`` shows the dialler.
"""

from __future__ import annotations

from collections.abc import Callable

from standin import local
from standin.calls import CalleeProfile
from standin.channels import Channel, ChannelState, Frame
from standin.core import Core

# How long the trunk takes to report busy or ringing.
SIGNAL_S = 0.5


async def behave(
    core: Core, ch: Channel, profile: CalleeProfile, agent_hangs_up: Callable[[], None]
) -> None:
    """Play one attempt on the outgoing channel ``ch`` until it is over or hung up."""
    rng = core.rng
    answers = rng.random() < profile.answer
    busy = not answers and rng.random() < profile.busy
    ring_s = rng.uniform(*profile.ring_s)
    talk_s = rng.uniform(*profile.talk_s)
    callee_first = rng.random() < profile.hangs_up_first
    await core.clock.sleep(SIGNAL_S)
    if ch.hungup:
        return
    if busy:
        ch.cause = local.BUSY_CAUSE
        local.signal(core, ch, Frame.BUSY)
        return
    ch.state = ChannelState.RINGING
    core.emitter.newstate(ch)
    local.signal(core, ch, Frame.RINGING)
    if not answers:
        return  # it rings until the dialler gives up
    await core.clock.sleep(ring_s)
    if ch.hungup:
        return
    ch.state, ch.up_since = ChannelState.UP, core.now()
    core.emitter.newstate(ch)
    local.signal(core, ch, Frame.ANSWER)
    await core.clock.sleep(talk_s)
    if ch.hungup:
        return
    if callee_first:
        ch.cause = 16
        core.emitter.hangup_request(ch)
        local.signal(core, ch, Frame.HANGUP)
    else:
        agent_hangs_up()
