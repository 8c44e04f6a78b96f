"""The 115 dialplan, played for one call (the contract of ``dialplans/contract.py``).

::

    [lotse-115]
    exten => 115 (and Ortsnetz+115)
     1         NoOp(lotse 115)
     2 (route) AGI(agi://HOST:PORT/route,DIALED,VISITED,POSTAL,CALLID)
     3         GotoIf(AGISTATUS != SUCCESS or no LOTSE_ACTION ? fallback)
     4         GotoIf(LOTSE_ACTION = announce ? announce)
     5         GotoIf(LOTSE_ACTION = postal ? postal)
     6 (queue) Answer()
     7         ExecIf(first queue ? Playback(LOTSE_GREETING))
     8         Queue(LOTSE_QUEUE,,,,LOTSE_TIMEOUT)
     9         GotoIf(QUEUESTATUS = TIMEOUT and LOTSE_TIMEOUT > 0 ? spill)
    10         Hangup()
    11 (spill) Set(LOTSE_VISITED=LOTSE_VISITED+LOTSE_TARGET)   then Goto(route)
    13 (announce) Answer(), Playback(LOTSE_ANNOUNCEMENT), Hangup()
    16 (postal)   Answer(), Read(LOTSE_PLZ,prompt,5,,attempts,timeout), Set(...), Goto(route)
    20 (fallback) Set(__LOTSE_HOME), UserEvent(LotseFallback,Center:ID,Reason:WHY),
                  Answer(), Queue(home center by Ortsnetz, else fallback center), Hangup()

The static fallback needs no controller: the Ortsnetz dialled before 115 or
the caller's Ortsnetz names the home center (``Config.center_by_ortsnetz``),
anything else goes to ``Config.fallback_center``.
"""

from __future__ import annotations

from ami.contract import (
    DIALPLAN_CALLID,
    DIALPLAN_POSTAL,
    DIALPLAN_VISITED,
    FALLBACK_USER_EVENT,
    VAR_ACTION,
    VAR_ANNOUNCEMENT,
    VAR_GREETING,
    VAR_HOME,
    VAR_QUEUE,
    VAR_TARGET,
    VAR_TIMEOUT,
    AgiAction,
    join_visited,
    split_visited,
)
from router.config import Center
from router.numbering import OrtsnetzTable, classify_caller, dialed_ortsnetz
from standin.agiclient import AgiStatus
from standin.calls import Call, OutcomeKind
from standin.channels import ChannelState
from standin.core import Core
from standin.queueapp import QueueResult, queue_app

P_ROUTE, P_CHECK, P_ANN_CHECK, P_POSTAL_CHECK = 2, 3, 4, 5
P_QUEUE_ANSWER, P_GREETING, P_QUEUE, P_SPILL_CHECK, P_HANGUP = 6, 7, 8, 9, 10
P_SPILL, P_SPILL_GOTO = 11, 12
P_ANNOUNCE, P_PLAY_ANN, P_ANN_HANGUP = 13, 14, 15
P_POSTAL, P_READ, P_POSTAL_SET, P_POSTAL_GOTO = 16, 17, 18, 19
P_FALLBACK, P_FALLBACK_QUEUE, P_FALLBACK_HANGUP = 20, 21, 22


_KIND = {
    QueueResult.COMPLETED: OutcomeKind.ANSWERED,
    QueueResult.ABANDONED: OutcomeKind.ABANDONED,
    QueueResult.UNKNOWN: OutcomeKind.FAILED,
    QueueResult.TIMEOUT: OutcomeKind.UNANSWERED,
}


def fallback_center(core: Core, table: OrtsnetzTable, caller: str, dialed: str) -> Center:
    """The home center the static fallback branch finds: dialed Ortsnetz, caller's, fallback."""
    config = core.config
    net = dialed_ortsnetz(dialed, table) or classify_caller(caller, table).ortsnetz
    center_id = config.center_by_ortsnetz.get(net.code) if net else None
    center = config.centers.get(center_id or config.fallback_center)
    if center is None:
        center = config.centers[config.fallback_center]
    return center


def fallback_queue(core: Core, table: OrtsnetzTable, caller: str, dialed: str) -> str:
    """The queue the static fallback branch sends a call to."""
    return fallback_center(core, table, caller, dialed).queue


def _int(text: str | None) -> int:
    try:
        return max(0, int(text or "0"))
    except ValueError:
        return 0


async def run_call(core: Core, call: Call, table: OrtsnetzTable) -> None:
    """Play the whole dialplan for ``call``; ends with the caller channel hung up."""
    em, ch = core.emitter, call.channel
    if ch.tech == "PJSIP":
        em.newchannel(ch)
        em.noise(ch, (("SIPDOMAIN", "127.0.0.1"),))
    em.exten(ch, "NoOp", "lotse 115", 1)
    try:
        await _route_loop(core, call, table)
        while _take_redirect(core, call):
            await _route_loop(core, call, table)
    finally:
        if not ch.hungup:
            core.teardown(call)
    if call.kind is None:
        call.kind = OutcomeKind.ABANDONED if call.caller_gone else OutcomeKind.UNANSWERED


def _take_redirect(core: Core, call: Call) -> bool:
    """Move a redirected channel; True when it landed on the 115 entry (route again)."""
    target = call.redirect_to
    if target is None or call.caller_gone:
        return False
    call.redirect_to = None
    call.interrupt.clear()
    ch = call.channel
    ch.context, ch.exten = target[0], target[1]
    call.kind = None
    if target[0] != core.settings.entry_context:
        # No such extension in the stand-in's dialplan: the PBX hangs the channel up.
        return False
    core.emitter.exten(ch, "NoOp", "lotse 115", target[2])
    return True


async def _route_loop(core: Core, call: Call, table: OrtsnetzTable) -> None:
    em, ch, s = core.emitter, call.channel, core.settings
    for _ in range(s.max_agi_rounds):
        action = await _ask(core, call)
        if action is None:
            return
        if action == "":
            await _fallback(core, call, table)  # _ask set the reason
            return
        if action == AgiAction.ANNOUNCE:
            await _announce(core, call)
            return
        if action == AgiAction.POSTAL:
            if not await _read_postal(core, call):
                return
            continue
        if action != AgiAction.QUEUE:
            call.fallback_reason = "unknown-action"
            await _fallback(core, call, table)
            return
        queue = ch.get_var(VAR_QUEUE) or ""
        if not queue:
            call.fallback_reason = "bad-reply"
            await _fallback(core, call, table)
            return
        timeout = _int(ch.get_var(VAR_TIMEOUT))
        result = await _queue(core, call, queue, timeout, greeting=True)
        if result is not QueueResult.TIMEOUT or timeout == 0:
            if result in (QueueResult.TIMEOUT, QueueResult.UNKNOWN) and not call.caller_gone:
                em.exten(ch, "Hangup", "", P_HANGUP)
            return
        em.exten(ch, "GotoIf", "1?spill", P_SPILL_CHECK)
        visited = split_visited(ch.get_var(DIALPLAN_VISITED) or "")
        target = ch.get_var(VAR_TARGET) or ""
        new_visited = join_visited((*visited, target) if target else visited)
        em.exten(ch, "Set", f"{DIALPLAN_VISITED}={new_visited}", P_SPILL)
        em.varset(ch, DIALPLAN_VISITED, new_visited)
        em.exten(ch, "Goto", "route", P_SPILL_GOTO)
    # The controller kept asking for more: the dialplan's hop guard takes the fallback.
    call.fallback_reason = "ask-limit"
    await _fallback(core, call, table)


async def _ask(core: Core, call: Call) -> str | None:
    """One AGI round; the LOTSE_ACTION (``""`` for the fallback), None if the caller left."""
    em, ch, s = core.emitter, call.channel, core.settings
    for name in (VAR_ACTION, VAR_QUEUE, VAR_TIMEOUT, VAR_TARGET):
        ch.set_var(name, "")  # a stale answer must not survive a failed round
    args = (
        call.dialed,
        ch.get_var(DIALPLAN_VISITED) or "",
        ch.get_var(DIALPLAN_POSTAL) or "",
        ch.get_var(DIALPLAN_CALLID) or "",
    )
    if s.agi_url is None:
        status = AgiStatus.FAILURE
        em.exten(ch, "NoOp", "no FastAGI configured", P_ROUTE)
        em.varset(ch, "AGISTATUS", status.value)
    else:
        em.exten(ch, "AGI", ",".join((s.agi_url, *args)), P_ROUTE)
        status = await core.agi.run(s.agi_url, ch, args, call.hangup, dnid=call.dialed)
    call.agi_statuses.append(status.value)
    action = ch.get_var(VAR_ACTION) or ""
    call.actions.append(action)
    if status is AgiStatus.HANGUP or call.caller_gone or call.redirect_to is not None:
        return None
    ok = status is AgiStatus.SUCCESS and action != ""
    em.exten(ch, "GotoIf", f"{0 if ok else 1}?fallback", P_CHECK)
    if not ok:
        call.fallback_reason = "agi-failure" if status is not AgiStatus.SUCCESS else "no-action"
        return ""
    em.exten(ch, "GotoIf", f"{int(action == AgiAction.ANNOUNCE)}?announce", P_ANN_CHECK)
    if action != AgiAction.ANNOUNCE:
        em.exten(ch, "GotoIf", f"{int(action == AgiAction.POSTAL)}?postal", P_POSTAL_CHECK)
    return action


def _answer(core: Core, call: Call, priority: int) -> None:
    em, ch = core.emitter, call.channel
    em.exten(ch, "Answer", "", priority)
    if ch.state is not ChannelState.UP:
        ch.state = ChannelState.UP
        em.newstate(ch)
        em.device_state(ch.device, "INUSE")
        call.answer_event.set()


async def _play(core: Core, call: Call, sound: str, seconds: float, priority: int) -> bool:
    em, ch = core.emitter, call.channel
    em.exten(ch, "Playback", sound, priority)
    if not await core.wait(call, seconds):
        return False
    em.varset(ch, "PLAYBACKSTATUS", "SUCCESS")
    return True


async def _queue(
    core: Core, call: Call, queue: str, timeout: int, *, greeting: bool
) -> QueueResult:
    em, ch, s = core.emitter, call.channel, core.settings
    _answer(core, call, P_QUEUE_ANSWER)
    sound = ch.get_var(VAR_GREETING) or ""
    if greeting and not call.greeted and sound:
        call.greeted = True
        if not await _play(core, call, sound, s.greeting_s, P_GREETING):
            return QueueResult.ABANDONED
    elif greeting:
        em.exten(ch, "ExecIf", "0?Playback()", P_GREETING)
    em.exten(ch, "Queue", f"{queue},,,,{timeout or ''}", P_QUEUE)
    result = await queue_app(core, call, queue, timeout)
    call.kind = _KIND.get(result)
    return result


async def _announce(core: Core, call: Call) -> None:
    em, ch, s = core.emitter, call.channel, core.settings
    sound = ch.get_var(VAR_ANNOUNCEMENT) or ""
    call.announcement = sound
    _answer(core, call, P_ANNOUNCE)
    if await _play(core, call, sound, s.announcement_s, P_PLAY_ANN):
        em.exten(ch, "Hangup", "", P_ANN_HANGUP)
        call.kind = OutcomeKind.ANNOUNCEMENT


async def _read_postal(core: Core, call: Call) -> bool:
    """Read(): the simulated caller keys in the postal code it knows, or nothing."""
    em, ch, s = core.emitter, call.channel, core.settings
    uo = core.config.unknown_origin
    _answer(core, call, P_POSTAL)
    em.exten(
        ch, "Read", f"{DIALPLAN_POSTAL},{uo.prompt},5,,{uo.attempts},{uo.digit_timeout_s}", P_READ
    )
    digits = call.postal_code or ""
    spent = s.prompt_s + (s.digits_s if digits else uo.attempts * (s.prompt_s + uo.digit_timeout_s))
    if not await core.wait(call, spent):
        return False
    em.varset(ch, DIALPLAN_POSTAL, digits)
    em.varset(ch, "READSTATUS", "OK" if digits else "TIMEOUT")
    value = digits or "none"
    call.postal_entered.append(value)
    em.exten(ch, "Set", f"{DIALPLAN_POSTAL}={value}", P_POSTAL_SET)
    em.varset(ch, DIALPLAN_POSTAL, value)
    em.exten(ch, "Goto", "route", P_POSTAL_GOTO)
    return True


async def _fallback(core: Core, call: Call, table: OrtsnetzTable) -> None:
    """The static fallback: home by Ortsnetz, counted by the controller through the
    same UserEvent the generated dialplan sends (center id and reason, no number)."""
    em, ch = core.emitter, call.channel
    call.fallback = True
    reason = call.fallback_reason or "direct"
    center = fallback_center(core, table, call.caller, call.dialed)
    queue = center.queue
    em.exten(ch, "Set", f"{VAR_HOME}={center.id}", P_FALLBACK)
    em.varset(ch, VAR_HOME, center.id)
    body = f"{FALLBACK_USER_EVENT},Center:{center.id},Reason:{reason}"
    em.exten(ch, "UserEvent", body, P_FALLBACK)
    em.user_event(ch, FALLBACK_USER_EVENT, (("Center", center.id), ("Reason", reason)))
    _answer(core, call, P_FALLBACK)
    em.exten(ch, "Queue", f"{queue},,,,{core.settings.fallback_timeout_s or ''}", P_FALLBACK_QUEUE)
    result = await queue_app(core, call, queue, core.settings.fallback_timeout_s)
    call.kind = _KIND.get(result)
    if result in (QueueResult.TIMEOUT, QueueResult.UNKNOWN) and not call.caller_gone:
        em.exten(ch, "Hangup", "", P_FALLBACK_HANGUP)
