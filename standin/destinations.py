"""The channels Dial() creates for its destinations.

``Local/EXTEN@CONTEXT``: a Local pair as chan_local and app_dial make it
(``dial-callee-hangup.txt``): ``Newchannel`` ;1 and ;2, DIALEDPEERNUMBER on
;1, ``Newexten AppDial (Outgoing Line)``, ;1's caller id is the extension
(``s``) with the caller's name, ;2's is the caller's with the extension as
connected line, ``LocalBridge`` (optimization Yes), ``DialBegin``; then ;2
runs the dialplan at EXTEN@CONTEXT. A destination whose extension does not
exist fails as chan_local fails it (both halves hung up with cause 0, no
DialBegin; ``originate-failure.txt``): DIALSTATUS CHANUNAVAIL.

``PJSIP/NUMBER@ENDPOINT`` (the callback trunk): an outgoing channel to a
simulated person (:mod:`standin.callee`). Any other technology cannot be
created (CHANUNAVAIL).
"""

from __future__ import annotations

from standin import local
from standin.callee import behave
from standin.calls import Call, CalleeProfile
from standin.channels import Channel, ChannelState
from standin.core import Core

_DEFAULT_CALLEE = CalleeProfile()


def request(
    core: Core, call: Call, target: str, frames: local.Frames
) -> tuple[Channel, str] | None:
    """Create ``target``'s channel and start it: (channel, dial string after ``Tech/``),
    or None when the channel cannot be had."""
    tech, _, resource = target.partition("/")
    if tech.lower() == "local":
        return _local(core, call, resource, frames)
    if tech.lower() == "pjsip":
        return _trunk(core, call, resource, frames)
    return None


def _local(
    core: Core, call: Call, resource: str, frames: local.Frames
) -> tuple[Channel, str] | None:
    em, caller = core.emitter, call.channel
    where = resource.split("/", 1)[0]
    exten, _, context = where.partition("@")
    context = context or "default"
    one, two = core.channels.local_pair(exten, context, caller.linkedid)
    em.newchannel(one)
    em.newchannel(two)
    if not core.dialplan.exists(context, exten, "1"):
        # chan_local: "No such extension/context" - the pair goes without a dial.
        for ch in (two, one):
            em.hangup(ch, 0)
            core.channels.remove(ch)
        return None
    number = f"{exten}@{context}"
    for raw, value in caller.inherited():
        one.set_var(raw, value)
        two.set_var(raw, value)
    em.noise(one, (("DIALEDPEERNUMBER", number),))
    one.caller_num, one.caller_name = exten, caller.caller_name
    one.connected_num, one.connected_name = caller.caller_num, caller.caller_name
    em.exten(one, "AppDial", "(Outgoing Line)")
    em.newcallerid(one)
    em.newconnectedline(one)
    em.noise(two, (("DIALEDPEERNUMBER", number),))
    two.caller_num, two.caller_name = caller.caller_num, caller.caller_name
    two.connected_num, two.connected_name = exten, caller.caller_name
    em.newcallerid(two)
    em.newconnectedline(two)
    em.local_bridge(one, two, optimization=True)
    local.watch(core, one, frames)
    em.dial_begin(caller, one, number)
    leg = Call(two, caller.caller_num, exten, None, None, core.now(), local_leg=True)
    two.priority = 1
    core.start_leg(leg)
    return one, number


def _trunk(
    core: Core, call: Call, resource: str, frames: local.Frames
) -> tuple[Channel, str] | None:
    em, caller = core.emitter, call.channel
    number, _, endpoint = resource.partition("@")
    if not number or not endpoint:
        return None
    ch = core.channels.pjsip(endpoint, "default", "s", "")
    ch.state, ch.linkedid = ChannelState.DOWN, caller.linkedid
    em.newchannel(ch)
    em.noise(ch, (("DIALEDPEERNUMBER", resource),))
    # As the Local ;1 of dial-callee-hangup.txt: the dialled number as caller id,
    # the dialling side as connected line.
    ch.caller_num, ch.caller_name = number, caller.caller_name
    ch.connected_num, ch.connected_name = caller.caller_num, caller.caller_name
    em.exten(ch, "AppDial", "(Outgoing Line)")
    em.newcallerid(ch)
    em.newconnectedline(ch)
    local.watch(core, ch, frames)
    em.dial_begin(caller, ch, resource)
    profile = core.callees.get(number, _DEFAULT_CALLEE)
    core.spawn(behave(core, ch, profile, lambda: _release_agent(core, caller)))
    return ch, resource


def _release_agent(core: Core, caller: Channel) -> None:
    """The agent on the dialling channel's other half hangs up (the callback leg's ;2)."""
    two = caller.partner
    leg = core.calls.get(two.name) if two is not None else None
    if leg is not None and leg.agent_hold is not None:
        leg.agent_hold.set()
