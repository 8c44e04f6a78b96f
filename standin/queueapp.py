"""The Queue() application: wait, ring members, bridge, and tell AMI about it.

The event sequences are those of the captures (``ami-answered.txt``,
``ami-abandon.txt``, ``ami-timeout.txt``): QueueCallerJoin; for each member
rung a Local channel pair, LocalBridge, AgentCalled, DialBegin; on answer
QueueMemberStatus (device INUSE), DialEnd ANSWER, QueueCallerLeave,
AgentConnect, a basic bridge; when the agent hangs up AgentComplete
(``Reason: agent``) and the caller is hung up too (Queue() without the
``g``/``c`` options). A caller who hangs up while waiting gets
QueueCallerAbandon + QueueCallerLeave; so does one whose Queue() timeout
expires (app_queue counts that as abandoned too), whose dialplan then goes
on with ``QUEUESTATUS=TIMEOUT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from standin import local
from standin.calls import Call, QueueVisit
from standin.channels import Channel, ChannelState
from standin.core import Core, Wake
from standin.queues import INUSE, NOT_INUSE, Entry, Member, Queue


class QueueResult(StrEnum):
    """What Queue() did; the non-terminal ones are ``QUEUESTATUS`` values."""

    COMPLETED = "COMPLETED"  # answered and finished: the caller channel is gone
    ABANDONED = "ABANDONED"  # the caller hung up
    TIMEOUT = "TIMEOUT"
    UNKNOWN = "UNKNOWN"
    REDIRECTED = "REDIRECTED"  # an AMI Redirect took the caller out of the queue
    EXITKEY = "EXITKEY"  # a key pressed after the callback offer (queues.conf context)


class _Ring(StrEnum):
    ANSWERED = "answered"
    NOANSWER = "noanswer"
    HANGUP = "hangup"
    REDIRECT = "redirect"


@dataclass
class _Attempt:
    member: Member
    one: Channel
    two: Channel
    ring_s: float


_EMPTY_TIMES = (
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "QUEUEWAIT",
    "QUEUEWAIT_MS",
)


async def queue_app(
    core: Core,
    call: Call,
    queue_name: str,
    timeout_s: int,
    *,
    position: int = 0,
    exit_after_s: int | None = None,
) -> QueueResult:
    """Run ``Queue(queue_name,,,,timeout_s,,,,,position)`` for ``call``; 0 means no
    timeout, position 0 the end of the line. ``exit_after_s``: the caller presses
    the queue context's key that long after joining (the callback offer)."""
    q = core.queues.get(queue_name)
    ch = call.channel
    em = core.emitter
    em.noise(ch, ((name, "") for name in _EMPTY_TIMES))
    center = core.config.center_by_queue.get(q.name if q else queue_name)
    t_join = core.now()
    if q is None:
        em.varset(ch, "QUEUESTATUS", QueueResult.UNKNOWN.value)
        call.visits.append(
            QueueVisit(queue_name, center, t_join - call.started, t_join - call.started, "unknown")
        )
        return QueueResult.UNKNOWN
    if 0 < position <= len(q.entries):
        entry = Entry(ch, t_join, opos=position)
        q.entries.insert(position - 1, entry)
    else:
        entry = Entry(ch, t_join, opos=len(q.entries) + 1)
        q.entries.append(entry)
    if len(q.entries) == 1:
        em.device_state(f"Queue:{q.name}", "RINGING")
    em.queue_caller(
        "QueueCallerJoin",
        ch,
        q.name,
        ("Position", str(q.position(entry))),
        ("Count", str(len(q.entries))),
    )
    core.queue_log.enter(ch, q.name, entry.opos)
    deadline = t_join + timeout_s if timeout_s > 0 else None
    exit_at = t_join + exit_after_s if exit_after_s else None
    result = QueueResult.ABANDONED
    try:
        result = await _wait_and_ring(core, call, q, entry, deadline, exit_at)
    finally:
        if entry in q.entries:  # cancelled (shutdown): leave quietly
            q.entries.remove(entry)
            q.notify()
    t_left = core.now()
    outcome = {
        QueueResult.COMPLETED: "answered",
        QueueResult.TIMEOUT: "timeout",
        QueueResult.REDIRECTED: "redirected",
        QueueResult.EXITKEY: "callback",
    }.get(result, "abandoned")
    call.visits.append(
        QueueVisit(q.name, center, t_join - call.started, t_left - call.started, outcome)
    )
    return result


async def _wait_and_ring(
    core: Core,
    call: Call,
    q: Queue,
    entry: Entry,
    deadline: float | None,
    exit_at: float | None = None,
) -> QueueResult:
    while True:
        member = None
        while member is None:
            now = core.now()
            if deadline is not None and now >= deadline:
                _exit_unanswered(core, call, q, entry, timeout=True)
                return QueueResult.TIMEOUT
            if exit_at is not None and now >= exit_at:
                # app_queue's valid_exit: the caller leaves for the queue's context.
                pos = _leave(core, q, entry)
                core.emitter.noise(entry.channel, (("QUEUEPOSITION", str(pos)),))
                return QueueResult.EXITKEY
            if q.is_turn(entry, now):
                member = q.pick(now)
                if member is not None:
                    break
            until = deadline if exit_at is None else min(exit_at, deadline or exit_at)
            wake = await core.wait_for(call, q.changed(), until)
            if wake in (Wake.HANGUP, Wake.REDIRECT):
                return _interrupted(core, call, q, entry)
        attempt, ring = await _ring(core, call, q, entry, member, deadline)
        if ring is _Ring.ANSWERED:
            await _connected(core, call, q, entry, attempt)
            return QueueResult.COMPLETED
        if ring in (_Ring.HANGUP, _Ring.REDIRECT):
            return _interrupted(core, call, q, entry)
        # Ring-no-answer: app_queue waits ``retry`` seconds before the next round.
        retry_until = core.now() + q.retry
        if deadline is not None:
            retry_until = min(retry_until, deadline)
        if not await core.wait(call, retry_until - core.now()):
            return _interrupted(core, call, q, entry)


def _interrupted(core: Core, call: Call, q: Queue, entry: Entry) -> QueueResult:
    """The caller hung up (abandon) or was redirected (it just leaves) while waiting."""
    if call.caller_gone:
        _exit_unanswered(core, call, q, entry, timeout=False)
        return QueueResult.ABANDONED
    pos = _leave(core, q, entry)
    core.emitter.noise(entry.channel, (("QUEUEPOSITION", str(pos)),))
    return QueueResult.REDIRECTED


def _leave(core: Core, q: Queue, entry: Entry) -> int:
    """Remove the caller: the queue device goes NOT_INUSE when empty, QueueCallerLeave."""
    pos = q.position(entry)
    q.entries.remove(entry)
    if not q.entries:
        core.emitter.device_state(f"Queue:{q.name}", "NOT_INUSE")
    core.emitter.queue_caller(
        "QueueCallerLeave",
        entry.channel,
        q.name,
        ("Position", str(pos)),
        ("Count", str(len(q.entries))),
    )
    q.notify()
    return pos


def _exit_unanswered(core: Core, call: Call, q: Queue, entry: Entry, *, timeout: bool) -> None:
    """record_abandoned + leave_queue, in the two orders the captures show."""
    em, ch = core.emitter, entry.channel
    now = core.now()
    hold = int(now - entry.start)
    waited_ms = int((now - entry.start) * 1000)
    dialed = int(now - call.started)
    times = (
        ("QUEUEWAIT", str(hold)),
        ("QUEUEWAIT_MS", str(waited_ms)),
        ("DIALEDTIME", str(dialed)),
        ("DIALEDTIME_MS", str(int((now - call.started) * 1000))),
        ("ANSWEREDTIME", "0"),
        ("ANSWEREDTIME_MS", "0"),
    )
    pos = q.position(entry)
    if timeout:
        core.queue_log.timeout(ch, q.name, pos, entry.opos, hold)
    else:
        core.queue_log.abandon(ch, q.name, pos, entry.opos, hold)
    if not timeout:
        em.noise(ch, times)
    em.varset(ch, "ABANDONED", "TRUE")
    if q.set_queue_var:
        q.record_abandoned(hold)
        em.noise(ch, q.queue_vars())
    else:
        q.record_abandoned(hold)
    em.queue_caller(
        "QueueCallerAbandon",
        ch,
        q.name,
        ("Position", str(pos)),
        ("OriginalPosition", str(entry.opos)),
        ("HoldTime", str(hold)),
    )
    if timeout:
        em.noise(ch, times)
    _leave(core, q, entry)
    em.noise(ch, (("QUEUEPOSITION", str(pos)),))
    if timeout:
        em.varset(ch, "QUEUESTATUS", QueueResult.TIMEOUT.value)


async def _ring(
    core: Core, call: Call, q: Queue, entry: Entry, member: Member, deadline: float | None
) -> tuple[_Attempt, _Ring]:
    """Ring one member through a Local channel pair until answer, timeout or caller hangup."""
    em, ch, agent = core.emitter, call.channel, member.agent
    agent.busy = True
    entry.pending = True
    exten = agent.name
    one, two = core.channels.local_pair(exten, core.settings.agents_context, ch.linkedid)
    em.newchannel(one)
    em.newchannel(two)
    # app_queue gives the outgoing channel the caller's extension as caller id.
    one.caller_num = ch.exten
    em.exten(one, "AppQueue", "(Outgoing Line)")
    em.newcallerid(one)
    inherited = ch.inherited()
    for name, value in inherited:
        em.varset(one, name, value)
    peer = member.interface.removeprefix("Local/")
    em.noise(one, (("DIALEDPEERNUMBER", peer),))
    em.noise(two, (("DIALEDPEERNUMBER", peer),))
    for name, value in inherited:
        em.varset(two, name, value)
    two.caller_num, two.connected_num = ch.caller_num, ch.exten
    em.newcallerid(two)
    em.newconnectedline(two)
    em.local_bridge(one, two, optimization=False)
    # AgentCalled is built from a later snapshot of ;1 than DialBegin (as captured).
    saved = (one.exten, one.connected_num)
    one.exten, one.connected_num = ch.exten, ch.caller_num
    em.agent_event("AgentCalled", ch, one, q.name, member.interface, member.name)
    one.exten, one.connected_num = saved
    em.dial_begin(ch, one, member.interface)
    ring_s = agent.profile.ring.sample(core.rng)
    limit = float(q.member_timeout)
    if deadline is not None:
        limit = min(limit, max(0.0, deadline - core.now()))
    attempt = _Attempt(member, one, two, ring_s)
    answered = ring_s <= limit
    rung_since = core.now()
    if not await core.wait(call, ring_s if answered else limit):
        if call.caller_gone:
            ms = int((core.now() - rung_since) * 1000)
            core.queue_log.ring_canceled(ch, q.name, member.name, ms)
        em.dial_end(ch, one, "CANCEL")
        _hangup_locals(core, attempt, caller_gone=True)
        _release(core, q, entry, member)
        return attempt, _Ring.HANGUP if call.caller_gone else _Ring.REDIRECT
    if not answered:
        em.agent_event(
            "AgentRingNoAnswer",
            ch,
            one,
            q.name,
            member.interface,
            member.name,
            ("RingTime", str(int(limit * 1000))),
        )
        core.queue_log.ring_noanswer(ch, q.name, member.name, int(limit * 1000))
        em.dial_end(ch, one, "NOANSWER")
        _hangup_locals(core, attempt, caller_gone=False)
        _release(core, q, entry, member)
        return attempt, _Ring.NOANSWER
    em.exten(two, "Answer", "", 1)
    two.state = ChannelState.UP
    em.newstate(two)
    core.queues.set_agent_status(agent, INUSE, core.now())
    one.state = ChannelState.UP
    one.exten, one.connected_num = ch.exten, ch.caller_num
    em.newstate(one)
    em.exten(one, "AppQueue", "(Outgoing Line)")
    em.newconnectedline(one)
    em.dial_end(ch, one, "ANSWER")
    return attempt, _Ring.ANSWERED


def _release(core: Core, q: Queue, entry: Entry, member: Member) -> None:
    member.agent.busy = False
    entry.pending = False
    core.queues.notify_agent(member.agent, core.now())
    q.notify()


def _hangup_locals(core: Core, attempt: _Attempt, *, caller_gone: bool) -> None:
    """app_queue hangs up the outgoing ;1; the Local core takes ;2 down with it."""
    em = core.emitter
    one, two = attempt.one, attempt.two
    cause = 16 if caller_gone else 26
    em.hangup(one, cause)
    core.channels.remove(one)
    em.hangup_request(two, cause)
    em.hangup(two, cause)
    core.channels.remove(two)


async def _connected(core: Core, call: Call, q: Queue, entry: Entry, attempt: _Attempt) -> None:
    """Bridge caller and agent, talk, and tear down when the agent (or caller) hangs up."""
    em, ch, member = core.emitter, call.channel, attempt.member
    one, two, agent = attempt.one, attempt.two, member.agent
    if call.local_leg and ch.state is not ChannelState.UP:
        # The bridge answers a caller that is not up yet: a Local ;2 half's
        # Originate (the callback leg) is answered now.
        local.answered(core, ch)
    now = core.now()
    hold = int(now - entry.start)
    if q.set_interface_var:
        ivars = (
            ("MEMBERINTERFACE", member.interface),
            ("MEMBERNAME", member.name),
            ("MEMBERCALLS", str(agent.calls)),
            ("MEMBERLASTCALL", str(int(agent.last_call))),
            ("MEMBERPENALTY", str(member.penalty)),
            ("MEMBERDYNAMIC", "1" if member.dynamic else "0"),
            ("MEMBERREALTIME", "0"),
        )
        em.noise(ch, ivars)
        em.noise(one, ivars)
    if q.set_queue_entry_var:
        evars = (("QEHOLDTIME", str(hold)), ("QEORIGINALPOS", str(entry.opos)))
        em.noise(ch, evars)
        em.device_state(agent.state_interface, "INUSE")
        em.noise(one, evars)
    q.record_holdtime(hold)
    if q.set_queue_var:
        em.noise(ch, q.queue_vars())
        em.noise(one, q.queue_vars())
    pos = _leave(core, q, entry)
    em.noise(
        ch,
        (
            ("QUEUEPOSITION", str(pos)),
            ("QUEUEWAIT", str(hold)),
            ("QUEUEWAIT_MS", str(int((now - entry.start) * 1000))),
        ),
    )
    member.starttime = now
    em.agent_event(
        "AgentConnect",
        ch,
        one,
        q.name,
        member.interface,
        member.name,
        ("HoldTime", str(hold)),
        ("RingTime", str(int(attempt.ring_s))),
    )
    core.queue_log.connect(ch, q.name, member.name, hold, one, int(attempt.ring_s))
    bridge = core.channels.bridge_id()
    em.bridge_create(bridge)
    em.bridge_enter(bridge, 1, one)
    em.bridge_enter(bridge, 2, ch)
    em.noise(one, (("BRIDGEPEER", ch.name), ("BRIDGEPVTCALLID", f"{ch.uniqueid}@sim")))
    em.noise(ch, (("BRIDGEPEER", one.name),))
    call.answered_at = now
    call.answered_queue = q.name
    call.answered_center = core.config.center_by_queue.get(q.name)
    call.agent = member.name
    if call.agent_hold is None:
        talk_s = agent.profile.handle.sample(core.rng)
        em.exten(two, "Wait", str(round(talk_s)), 2)
        agent_hung_up = await core.wait(call, talk_s)
    else:
        # The agent stays with the caller until told to hang up (standin.callee).
        em.exten(two, "Wait", "", 2)
        agent_hung_up = await core.wait_for(call, call.agent_hold.wait(), None) is Wake.DONE
    end = core.now()
    talk = int(end - now)
    call.talk_s = end - now
    if agent_hung_up:
        em.exten(two, "Hangup", "", 3)
        em.soft_hangup_request(two, 16)
        em.hangup_request(one, 16)
        em.hangup(two, 16)
        core.channels.remove(two)
    em.agent_event(
        "AgentComplete",
        None if _caller_snapshot_gone(core, call) else ch,
        one,
        q.name,
        member.interface,
        member.name,
        ("HoldTime", str(hold)),
        ("TalkTime", str(talk)),
        ("Reason", "agent" if agent_hung_up else "caller" if call.caller_gone else "transfer"),
    )
    core.queue_log.complete(
        ch, q.name, member.name, by_agent=agent_hung_up, hold=hold, talk=talk, opos=entry.opos
    )
    em.noise(one, (("BRIDGEPEER", ""), ("BRIDGEPVTCALLID", "")))
    em.noise(ch, (("BRIDGEPEER", ""),))
    em.bridge_leave(bridge, 1, one)
    em.hangup(one, 16)
    core.channels.remove(one)
    if not agent_hung_up:
        em.soft_hangup_request(two, 16)
        em.hangup(two, 16)
        core.channels.remove(two)
    # update_queue (shared_lastcall): the member's counters, then its device goes idle.
    agent.calls += 1
    agent.last_call = end
    member.starttime = 0.0
    q.record_completed(talk, hold)
    em.device_state(agent.state_interface, "NOT_INUSE")
    core.queues.set_agent_status(agent, NOT_INUSE, end)
    em.bridge_leave(bridge, 0, ch)
    em.bridge_destroy(bridge)
    times = (
        ("ANSWEREDTIME", str(talk)),
        ("ANSWEREDTIME_MS", str(int(call.talk_s * 1000))),
        ("DIALEDTIME", str(int(end - call.started))),
        ("DIALEDTIME_MS", str(int((end - call.started) * 1000))),
    )
    if q.set_queue_var:
        em.noise(ch, q.queue_vars())
    em.noise(ch, times)
    if q.set_queue_var:
        em.noise(ch, q.queue_vars())
    _after_call(core, member, end)


# Asterisk 22.10.1 recorded with lotse's files: of the callback legs whose callee
# hung up first (the leg's ;2 is gone as the member's call ends), about one in
# three AgentComplete came without the caller's fields ("Empty caller_snapshot;
# sending incomplete event"; see tests/ami/test_events.py).
INCOMPLETE_AGENT_COMPLETE = 1 / 3


def _caller_snapshot_gone(core: Core, call: Call) -> bool:
    """Whether app_queue finds no snapshot of a Local caller that hung up (a race there)."""
    return call.local_leg and call.caller_gone and core.rng.random() < INCOMPLETE_AGENT_COMPLETE


def _after_call(core: Core, member: Member, end: float) -> None:
    """The agent is free again after wrap-up; wake the queues when it is over."""
    agent = member.agent
    wrap = max(
        agent.profile.wrapup_s,
        float(member.wrapuptime),
        *(float(q.wrapuptime) for q, _ in core.queues.memberships(agent)),
    )
    agent.wrapup_until = end + agent.profile.wrapup_s
    agent.busy = False
    core.queues.notify_agent(agent, end)
    if wrap > 0:

        async def wake() -> None:
            await core.clock.sleep(wrap)
            core.queues.notify_agent(agent, core.now())

        core.spawn(wake())
