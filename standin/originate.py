"""AMI ``Originate`` of a Local channel whose other half runs a dialplan context.

``Channel: Local/EXTEN@CONTEXT`` with ``Context``/``Exten``/``Priority`` (the
callback dialer's legs, the capture contexts), as Asterisk 22 does it
(``dial-callee-hangup.txt``, ``originate-failure.txt``):

- ``Newchannel`` ;1 (Down) and ;2 (Ring), the Originate's variables on ;1
  (``VarSet``; chan_local copies them to ;2), ``Newexten AppDial2 (Outgoing
  Line)`` on ;1, the Originate's caller id on both halves
  (``NewCallerid``/``NewConnectedLine`` each);
- EXTEN@CONTEXT missing (chan_local refuses the call): ``Hangup`` ;2 and
  ;1 with cause 0 around an ``OriginateResponse`` Failure, Reason 0, whose
  ``Channel`` is the dial string as requested and ``Uniqueid`` the ChannelId;
- otherwise ``LocalBridge``, ``DialBegin`` (no caller), and ;2 runs
  EXTEN@CONTEXT. When ;2 answers: ``DialEnd ANSWER``, ``OriginateResponse``
  Success (Reason 4, the ;1 channel, its ChanVariables), and ;1 runs
  Context/Exten/Priority. When ;2 hangs up first: ``DialEnd NOANSWER``,
  ``Hangup`` ;1, ``OriginateResponse`` Failure Reason 0 (the third case of
  ``originate-failure.txt``). When the Originate's ``Timeout`` (default
  30 s, manager.c) passes first: ``DialEnd NOANSWER``, ;1 hung up (;2 is
  told), Failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from standin import local
from standin.calls import Call
from standin.channels import Channel, Frame
from standin.core import Core, Wake
from standin.wire import Category

DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class OriginateRequest:
    """What an Originate action asked for (the Context form)."""

    channel: str  # as requested: Local/EXTEN@CONTEXT
    context: str
    exten: str
    priority: str
    action_id: str = ""
    caller_num: str = ""
    caller_name: str = ""
    uniqueids: tuple[str, str] = ("", "")
    variables: Mapping[str, str] | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S


def originate(core: Core, req: OriginateRequest) -> Call | None:
    """Start the Originate; returns the ;2 half's call (None when chan_local refused)."""
    em = core.emitter
    target = req.channel.partition("/")[2].split("/", 1)[0]
    exten, _, context = target.partition("@")
    context = context or "default"
    one, two = core.channels.local_pair(exten, context, uniqueids=req.uniqueids)
    em.newchannel(one)
    em.newchannel(two)
    for name, value in (req.variables or {}).items():
        em.varset(one, name, value)
        two.set_var(name, value)
    em.exten(one, "AppDial2", "(Outgoing Line)")
    for ch in (one, two):
        ch.caller_num, ch.caller_name = req.caller_num, req.caller_name
        ch.connected_num, ch.connected_name = req.caller_num, req.caller_name
        em.newcallerid(ch)
        em.newconnectedline(ch)
    if not core.dialplan.exists(context, exten, "1"):
        em.hangup(two, 0)
        core.channels.remove(two)
        _response(core, req, "Failure", one, "0")
        em.hangup(one, 0)
        core.channels.remove(one)
        return None
    em.local_bridge(one, two, optimization=True)
    frames: local.Frames = asyncio.Queue()
    local.watch(core, one, frames)
    em.dial_begin(None, one, target)
    two.context, two.exten, two.priority = context, exten, 1
    leg = Call(two, req.caller_num, exten, None, None, core.now(), local_leg=True)
    core.start_leg(leg)
    core.spawn(_wait_answer(core, req, one, frames))
    return leg


async def _wait_answer(
    core: Core, req: OriginateRequest, one: Channel, frames: local.Frames
) -> None:
    em = core.emitter
    deadline = core.now() + req.timeout_s
    while True:
        box: list[tuple[Channel, Frame]] = []
        wake = await core.wait_for(None, _get(frames, box), deadline)
        if wake is Wake.TIMEOUT:
            em.dial_end(None, one, "NOANSWER")
            local.hang_up(core, one)
            _response(core, req, "Failure", one, "0")
            return
        frame = box[0][1]
        if frame is Frame.ANSWER:
            break
        if frame is Frame.RINGING:
            continue
        status = {Frame.BUSY: "BUSY", Frame.CONGESTION: "CONGESTION"}.get(frame, "NOANSWER")
        em.dial_end(None, one, status)
        local.hang_up(core, one)
        _response(core, req, "Failure", one, "0")
        return
    local.unwatch(core, one)
    em.dial_end(None, one, "ANSWER")
    _response(core, req, "Success", one, "4")
    one.context, one.exten = req.context, req.exten
    priority = req.priority.strip()
    one.priority = int(priority) if priority.isdigit() else 1
    leg = Call(one, req.caller_num, req.exten, None, None, core.now(), local_leg=True)
    core.start_leg(leg)


async def _get(frames: local.Frames, box: list[tuple[Channel, Frame]]) -> None:
    box.append(await frames.get())


def _response(core: Core, req: OriginateRequest, result: str, one: Channel, reason: str) -> None:
    """``OriginateResponse`` of the Context form; a Failure names the dial string as
    requested, a Success the ;1 channel with its ChanVariables; Uniqueid is ;1's
    (the ChannelId)."""
    ok = result == "Success"
    fields = [("ActionID", req.action_id)] if req.action_id else []
    fields += [
        ("Response", result),
        ("Channel", one.name if ok else req.channel),
        ("Context", req.context),
        ("Exten", req.exten),
        ("Reason", reason),
        ("Uniqueid", one.uniqueid),
        ("CallerIDNum", req.caller_num or "<unknown>"),
        ("CallerIDName", req.caller_name or "<unknown>"),
    ]
    if ok:
        fields += [
            (f"ChanVariable({one.name})", f"{name}={one.get_var(name) or ''}")
            for name in core.emitter.manager_vars
        ]
    core.emitter.publish("OriginateResponse", Category.CALL, fields)
