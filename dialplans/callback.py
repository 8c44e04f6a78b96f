"""The callback dialogue and the dialer's legs, for configurations that offer callbacks.

Contexts (only generated when a center has a ``callback:`` block)::

    lotse-callback-key   queues.conf ``context``: a key pressed while waiting
                         (after the periodic offer, lotse/callback-offer) leaves
                         the queue; 1 → lotse-callback,request (KIND queue)
    lotse-callback       wait: the offer before a final queue whose expected
                         wait is over the limit (LOTSE_CB_OFFER=wait);
                         closed: the offer after the off-hours announcement
                         (LOTSE_CB_OFFER=closed), for the caller's home
                         center (LOTSE_HOME: LOTSE_TARGET is empty then);
                         request: own number (a caller with a CLI presses 1)
                         or a keyed one, read back and confirmed (3 tries);
                         AGI(…/callback,CALLID,CENTER,NUMBER,KIND) →
                         LOTSE_CB_RESULT ok → UserEvent(LotseCallback,
                         Status: requested), confirmation, Hangup; refused →
                         the refusal, ask again; anything else → back to the
                         final queue (back: the static fallback's routing
                         when the controller gave none), or hang up after
                         an announcement
    lotse-callback-agent the dialer's Local channel (;2): first in the center's
                         queue (Queue position 1) until an agent answers
    lotse-callback-dial  the Originate's other half once the agent is there:
                         Dial(callback_dial,LOTSE_CB_RING,g), then Hangup();
                         its h extension sends the attempt's one
                         UserEvent(LotseCallback,Id,Attempt,Status: DIALSTATUS)

The keyed and dialled numbers live in ``CB_NUM`` and ``CB_DIAL``: without the
``LOTSE_`` prefix, so the AMI users' VarSet filters never pass them on.
"""

from __future__ import annotations

from ami import contract as c
from dialplans.conf import Context, checked
from router.callback import (
    SOUND_CONFIRM_NUMBER,
    SOUND_CONFIRMED,
    SOUND_ENTER_NUMBER,
    SOUND_NUMBER_REFUSED,
    SOUND_OFFER,
    SOUND_OFFER_CLOSED,
    SOUND_OWN_NUMBER,
    SOUND_READ_BACK,
)
from router.config import Config, Endpoint

# dialplans.route.FALLBACK_CONTEXT (which imports this module).
FALLBACK_CONTEXT = "lotse-fallback"
VAR_KEY = "LOTSE_CB_KEY"
VAR_KIND = "LOTSE_CB_KIND"
VAR_TRY = "LOTSE_CB_TRY"
# The center the request is for: the queue's target (a key pressed while
# waiting, the wait offer) or, after the off-hours announcement, the caller's
# home center (an announce decision leaves LOTSE_TARGET empty).
VAR_CENTER = "LOTSE_CB_CENTER"
NUMBER_TRIES = 3
# How long the dialer's leg waits at the head of the queue for an agent.
AGENT_WAIT_S = 60
MAX_NUMBER_DIGITS = 16


def offers_callbacks(config: Config) -> bool:
    """Whether any center offers callbacks (the contexts are generated only then)."""
    return any(center.callback is not None for center in config.centers.values())


def _v(name: str) -> str:
    return "${" + name + "}"


def callback_contexts(config: Config, agi: Endpoint) -> list[Context]:
    """The four contexts of the module docstring."""
    key = Context(
        c.CALLBACK_KEY_CONTEXT,
        doc="Callbacks: a key pressed while waiting in a queue (queues.conf context) lands here.",
    )
    key.exten("1", f"Set({VAR_KIND}={c.CALLBACK_KIND_QUEUE})")
    key.same(f"Set({VAR_CENTER}={_v(c.VAR_TARGET)})")
    key.same(f"Goto({c.CALLBACK_CONTEXT},request,1)")

    cb = Context(c.CALLBACK_CONTEXT, doc="Callbacks: the offer, the number, the request.")
    for exten, sound, kind, center in (
        ("wait", SOUND_OFFER, c.CALLBACK_KIND_WAIT, c.VAR_TARGET),
        ("closed", SOUND_OFFER_CLOSED, c.CALLBACK_KIND_CLOSED, c.DIALPLAN_HOME),
    ):
        cb.exten(exten, f"Set({VAR_KEY}=)")
        cb.same(f"Set({VAR_CENTER}={_v(center)})")
        cb.same(f"Read({VAR_KEY},{checked('sound name', sound)},1,,1,5)")
        cb.same(f'GotoIf($["{_v(VAR_KEY)}" != "1"]?declined)')
        cb.same(f"Set({VAR_KIND}={kind})")
        cb.same("Goto(request,1)")
        if exten == "wait":
            cb.same("Goto(back,1)", label="declined")
        else:
            cb.same("Hangup()", label="declined")
    cb.blank()
    url = f"agi://{checked('host', agi.host)}:{agi.port}/{c.CALLBACK_SCRIPT}"
    if ":" in agi.host:
        url = f"agi://[{agi.host}]:{agi.port}/{c.CALLBACK_SCRIPT}"
    number = _v(c.VAR_CB_NUMBER)
    cb.exten("request", f"Set({VAR_TRY}=0)")
    cb.same("Answer()")
    cb.same(f"Set({c.VAR_CB_NUMBER}=)")
    cb.same('GotoIf($["${CALLERID(num)}" = ""]?enter)')
    cb.same(f"Read({VAR_KEY},{checked('sound name', SOUND_OWN_NUMBER)},1,,1,5)")
    cb.same(f'GotoIf($["{_v(VAR_KEY)}" = "1"]?submit)')
    cb.same(f"Set({VAR_TRY}=$[{_v(VAR_TRY)} + 1])", label="enter")
    cb.same(f"GotoIf($[{_v(VAR_TRY)} > {NUMBER_TRIES}]?giveup)")
    cb.same(f"Set({c.VAR_CB_NUMBER}=)")
    cb.same(
        f"Read({c.VAR_CB_NUMBER},{checked('sound name', SOUND_ENTER_NUMBER)},"
        f"{MAX_NUMBER_DIGITS},,1,10)"
    )
    cb.same(f'GotoIf($["{number}" = ""]?enter)')
    cb.same(f"Playback({checked('sound name', SOUND_READ_BACK)})")
    cb.same(f"SayDigits({number})")
    cb.same(f"Read({VAR_KEY},{checked('sound name', SOUND_CONFIRM_NUMBER)},1,,1,5)")
    cb.same(f'GotoIf($["{_v(VAR_KEY)}" != "1"]?enter)')
    cb.same(f"Set({c.VAR_CB_RESULT}=)", label="submit")
    args = ",".join((_v(c.DIALPLAN_CALLID), _v(VAR_CENTER), number, _v(VAR_KIND)))
    cb.same(f"AGI({url},{args})")
    cb.same(f'GotoIf($["{_v(c.VAR_CB_RESULT)}" = "ok"]?done)')
    cb.same(f'GotoIf($["{_v(c.VAR_CB_RESULT)}" = "refused"]?refused)')
    cb.same(
        f'GotoIf($["{_v(VAR_KIND)}" != "{c.CALLBACK_KIND_CLOSED}"]?back,1)',
        label="giveup",
    )
    cb.same("Hangup()")
    cb.same(f"Playback({checked('sound name', SOUND_NUMBER_REFUSED)})", label="refused")
    cb.same("Goto(enter)")
    cb.same(
        f"UserEvent({c.CALLBACK_USER_EVENT},Status: requested,Center: {_v(VAR_CENTER)})",
        label="done",
    )
    cb.same(f"Playback({checked('sound name', SOUND_CONFIRMED)})")
    cb.same("Hangup()")
    cb.blank()
    # Back to the final queue the controller chose; a caller the static fallback
    # queued (controller down) has none: the fallback routes it again.
    cb.exten("back", f'GotoIf($["{_v(c.VAR_QUEUE)}" = ""]?{FALLBACK_CONTEXT},s,1)')
    cb.same("Goto(lotse-route,queue,finalq)")

    agent = Context(
        c.CALLBACK_AGENT_CONTEXT,
        doc="Callbacks: the dialer's Local channel waits first in line for an agent.",
    )
    # Asterisk 22's Queue(queuename,options,URL,announceoverride,timeout,AGI,gosub,rule,
    # position) has nine arguments (the macro one is gone): a tenth is ignored and the
    # leg would join at the end, silently (../shared/asterisk/queue-position.txt).
    agent.exten("s", f"Queue({_v(c.VAR_CB_QUEUE)},,,,{AGENT_WAIT_S},,,,1)")
    agent.same("Hangup()")

    dial = Context(
        c.CALLBACK_DIAL_CONTEXT,
        doc="Callbacks: the agent is there; dial the caller (callback_dial in the config).",
    )
    # One outcome per attempt whoever hangs up first. Without g the priority
    # after Dial() never runs when either side hangs up after an answer
    # (../shared/asterisk/dial-callee-hangup.txt, dial-caller-hangup.txt);
    # g continues after a callee hang-up only (dial-callee-hangup-g.txt). The h
    # extension runs in every case the channel ends in this context, with
    # DIALSTATUS set, before the channel's Hangup event: the one UserEvent of
    # the attempt. The explicit Hangup() spares the 10 s of busy tone the
    # fall-through plays after BUSY (dial-busy.txt). An attempt whose leg
    # never got here (no agent: OriginateResponse Failure) sends none; its
    # Hangup tells the controller.
    dial.exten(
        "s",
        f"Dial({checked('dial target', config.callback_dial)},{_v(c.VAR_CB_RING)},g)",
    )
    dial.same("Hangup()")
    status = '${IF($["${DIALSTATUS}" = ""]?NONE:${DIALSTATUS})}'
    dial.exten(
        "h",
        f"UserEvent({c.CALLBACK_USER_EVENT},Id: {_v(c.VAR_CB_ID)},"
        f"Attempt: {_v(c.VAR_CB_ATTEMPT)},Status: {status})",
    )
    return [key, cb, agent, dial]
