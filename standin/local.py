"""Local channel halves signalling each other, and channels a dialler waits on.

A Local pair (``Local/s@ctx-0000000a;1`` and ``;2``) is two channels:
``;2`` runs the dialplan at ``s@ctx``, ``;1`` is what the dialling side
(Dial() or an Originate) holds. What one half does the other sees, as
chan_local passes it on (``dial-*.txt``):

- ``Ringing()`` on ``;2``: ``;1`` goes Ringing (``;2`` stays Ring);
- ``Answer()`` on ``;2`` (or a queue bridging it): ``Newstate`` Up on ``;2``,
  then on ``;1``;
- ``Busy()``/``Congestion()`` on ``;2``: ``;2`` goes Busy with cause 17 (34),
  ``;1`` stays as it is;
- a half hangs up: the other gets ``HangupRequest`` with the hanging-up
  half's cause (``ast_queue_hangup_with_cause``) before the hanging-up half's
  own ``Hangup``; a cause already set on the other half is kept (Busy's 17).

The dialling side reads these as control frames from a queue per channel
(:func:`watch`); a half that runs the dialplan is woken by its hangup event.
"""

from __future__ import annotations

import asyncio

from standin.channels import Channel, ChannelState, Frame
from standin.core import Core

BUSY_CAUSE = 17
CONGESTION_CAUSE = 34
Frames = asyncio.Queue[tuple[Channel, Frame]]


def watch(core: Core, ch: Channel, frames: Frames) -> None:
    """The dialler holds ``ch`` from now on: its frames go to ``frames``."""
    core.dialled[ch.name] = frames


def unwatch(core: Core, ch: Channel) -> None:
    """The dialler lets go of ``ch`` (answered and bridged elsewhere, or gone)."""
    core.dialled.pop(ch.name, None)


def signal(core: Core, ch: Channel, frame: Frame) -> None:
    """Tell whoever holds ``ch`` (a no-op when nobody does)."""
    frames = core.dialled.get(ch.name)
    if frames is not None:
        frames.put_nowait((ch, frame))


def _one_of(ch: Channel) -> Channel | None:
    """The ``;1`` half when ``ch`` is a live ``;2`` half."""
    other = ch.partner
    if other is None or other.hungup or not ch.name.endswith(";2"):
        return None
    return other


def ringing(core: Core, ch: Channel) -> None:
    """``ch`` indicates ringing (the Ringing() application)."""
    one = _one_of(ch)
    if one is None:
        return
    if one.state not in (ChannelState.RINGING, ChannelState.UP):
        one.state = ChannelState.RINGING
        core.emitter.newstate(one)
    signal(core, one, Frame.RINGING)


def answered(core: Core, ch: Channel) -> None:
    """``ch`` answers: Up (and its ``;1`` half with it), the dialler is told."""
    now = core.now()
    if ch.state is not ChannelState.UP:
        ch.state, ch.up_since = ChannelState.UP, now
        core.emitter.newstate(ch)
    one = _one_of(ch)
    if one is None:
        return
    if one.state is not ChannelState.UP:
        one.state, one.up_since = ChannelState.UP, now
        core.emitter.newstate(one)
    signal(core, one, Frame.ANSWER)


def refuse(core: Core, ch: Channel, frame: Frame) -> None:
    """``ch`` runs Busy() or Congestion() (``indicate_busy``/``indicate_congestion``):
    an unanswered channel goes Busy with cause 17 (34); the dialler is told."""
    if ch.state is not ChannelState.UP:
        ch.cause = BUSY_CAUSE if frame is Frame.BUSY else CONGESTION_CAUSE
        ch.state = ChannelState.BUSY
        core.emitter.newstate(ch)
    one = _one_of(ch)
    if one is not None:
        signal(core, one, frame)


def queue_hangup(core: Core, ch: Channel, cause: int) -> None:
    """``ast_queue_hangup_with_cause``: ``HangupRequest``, and whatever runs on ``ch``
    (its dialplan, or the dialler holding it) learns it is gone."""
    if ch.hungup:
        return
    core.emitter.hangup_request(ch, cause)
    if ch.cause == 0:
        ch.cause = cause
    leg = core.calls.get(ch.name)
    if leg is not None:
        leg.hangup.set()
    signal(core, ch, Frame.HANGUP)


def hang_up(core: Core, ch: Channel) -> None:
    """``ast_hangup`` of ``ch``: the other half of a pair is told first, then ``Hangup``."""
    if ch.hungup:
        return
    other = ch.partner
    if other is not None and not other.hungup:
        queue_hangup(core, other, ch.cause)
    core.emitter.hangup(ch, ch.cause)
    core.channels.remove(ch)
    unwatch(core, ch)
