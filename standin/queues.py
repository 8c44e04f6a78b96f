"""app_queue's state: queues, members, waiting callers, statistics.

Semantics follow ``apps/app_queue.c`` (22): a member is available when it is
not paused, its device is not in use (members do not ring while on a call:
the stand-in's queues run with ``ringinuse=no``) and it is past its wrap-up
time; a waiting caller may ring a member when fewer callers ahead of it are
not already ringing than members are available (``autofill``); ``rrmemory``
rings members round robin starting after the last one rung. ``Holdtime`` and
``TalkTime`` are app_queue's exponential averages (new = (3·old + x) / 4),
``Abandoned`` counts callers who hung up *and* callers whose Queue() timeout
expired (app_queue records both as abandoned and emits QueueCallerAbandon
for both).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

from standin.agents import Agent
from standin.channels import Channel
from standin.emit import Emitter

NOT_INUSE = 1
INUSE = 2


@dataclass(eq=False)
class Member:
    """One agent's membership in one queue."""

    queue: str
    agent: Agent
    name: str
    state_interface: str
    dynamic: bool
    logintime: int
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    lastpause: int = 0
    ringinuse: bool = False
    wrapuptime: int = 0
    starttime: float = 0.0  # when the current queue call was bridged (InCall)

    @property
    def interface(self) -> str:
        """The member interface (``Location`` in QueueStatus)."""
        return self.agent.interface

    def blob(self) -> list[tuple[str, str]]:
        """Fields of QueueMemberStatus/Added/Removed/Pause (``queue_member_blob_create``)."""
        return [
            ("Queue", self.queue),
            ("MemberName", self.name),
            ("Interface", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", "dynamic" if self.dynamic else "static"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.agent.calls)),
            ("LastCall", str(int(self.agent.last_call))),
            ("LastPause", str(self.lastpause)),
            ("LoginTime", str(self.logintime)),
            ("InCall", "1" if self.starttime else "0"),
            ("Status", str(self.agent.status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.reason),
            ("Ringinuse", "1" if self.ringinuse else "0"),
            ("Wrapuptime", str(self.wrapuptime)),
        ]

    def status_item(self) -> list[tuple[str, str]]:
        """Fields of a QueueStatus ``QueueMember`` item (``Name``/``Location``, no Ringinuse)."""
        blob = dict(self.blob())
        return [
            ("Queue", self.queue),
            ("Name", self.name),
            ("Location", self.interface),
            *[
                (k, blob[k])
                for k in (
                    "StateInterface",
                    "Membership",
                    "Penalty",
                    "CallsTaken",
                    "LastCall",
                    "LastPause",
                    "LoginTime",
                    "InCall",
                    "Status",
                    "Paused",
                    "PausedReason",
                    "Wrapuptime",
                )
            ],
        ]


@dataclass(eq=False)
class Entry:
    """A caller waiting in a queue."""

    channel: Channel
    start: float
    opos: int
    pending: bool = False  # currently ringing a member
    prio: int = 0


@dataclass(eq=False)
class Queue:
    """One call queue with its members, waiting callers and statistics."""

    name: str
    strategy: str = "rrmemory"
    member_timeout: int = 15
    retry: int = 1
    wrapuptime: int = 0
    servicelevel: int = 0
    maxlen: int = 0
    weight: int = 0
    set_interface_var: bool = True
    set_queue_var: bool = True
    set_queue_entry_var: bool = True
    members: list[Member] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    holdtime: int = 0
    talktime: int = 0
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0
    rrpos: int = 0
    avail_state: str = ""
    _changed: asyncio.Event | None = None

    # -- membership ---------------------------------------------------------

    def member(self, interface: str) -> Member | None:
        """The member with this interface (exact, as app_queue compares)."""
        return next((m for m in self.members if m.interface.lower() == interface.lower()), None)

    def available(self, m: Member, now: float) -> bool:
        """Whether ``m`` may be rung now."""
        if m.paused or not m.agent.free_at(now):
            return False
        if m.agent.status != NOT_INUSE and not m.ringinuse:
            return False
        wrap = m.wrapuptime or self.wrapuptime
        return not (wrap and m.agent.last_call and now - m.agent.last_call < wrap)

    def available_count(self, now: float) -> int:
        """How many members could be rung right now."""
        return sum(1 for m in self.members if self.available(m, now))

    def summary_available(self) -> int:
        """QueueSummary's ``Available``: not paused and device not in use (wrap-up ignored)."""
        return sum(1 for m in self.members if not m.paused and m.agent.status == NOT_INUSE)

    # -- callers ------------------------------------------------------------

    def position(self, entry: Entry) -> int:
        """1-based position of a waiting caller."""
        return self.entries.index(entry) + 1

    def is_turn(self, entry: Entry, now: float) -> bool:
        """app_queue's ``is_our_turn`` with autofill."""
        avail = self.available_count(now)
        ahead = 0
        for other in self.entries:
            if other is entry:
                break
            if not other.pending:
                ahead += 1
        return ahead < avail

    def pick(self, now: float) -> Member | None:
        """The member rrmemory rings next: first available at/after the remembered position."""
        if not self.members:
            return None
        n = len(self.members)
        start = self.rrpos % n
        for offset in range(n):
            pos = (start + offset) % n
            m = self.members[pos]
            if self.available(m, now):
                self.rrpos = pos + 1
                return m
        return None

    # -- statistics ---------------------------------------------------------

    def record_holdtime(self, hold: int) -> None:
        """``recalc_holdtime``: exponential average of answered callers' hold times."""
        if self.completed + self.abandoned == 0:
            self.holdtime = hold
        else:
            self.holdtime = ((self.holdtime << 2) - self.holdtime + hold) >> 2

    def record_completed(self, talk: int, hold: int) -> None:
        """``update_queue``: one answered call finished."""
        self.completed += 1
        if hold <= self.servicelevel:
            self.completed_in_sl += 1
        if self.completed == 1:
            self.talktime = talk
        else:
            self.talktime = ((self.talktime << 2) - self.talktime + talk) >> 2

    def record_abandoned(self, hold: int) -> None:
        """``record_abandoned``: a caller hung up or timed out while waiting."""
        if hold <= self.servicelevel:
            self.abandoned_in_sl += 1
        self.abandoned += 1

    def service_level_perf(self) -> tuple[float, float]:
        """ServicelevelPerf and ServicelevelPerf2 as app_queue computes them."""
        sl = 100.0 * self.completed_in_sl / self.completed if self.completed else 0.0
        total = self.completed + self.abandoned
        sl2 = 100.0 * (self.abandoned_in_sl + self.completed_in_sl) / total if total else 0.0
        return sl, sl2

    def params_item(self) -> list[tuple[str, str]]:
        """Fields of a QueueStatus ``QueueParams`` list item."""
        sl, sl2 = self.service_level_perf()
        return [
            ("Queue", self.name),
            ("Max", str(self.maxlen)),
            ("Strategy", self.strategy),
            ("Calls", str(len(self.entries))),
            ("Holdtime", str(self.holdtime)),
            ("TalkTime", str(self.talktime)),
            ("Completed", str(self.completed)),
            ("Abandoned", str(self.abandoned)),
            ("ServiceLevel", str(self.servicelevel)),
            ("ServicelevelPerf", f"{sl:.1f}"),
            ("ServicelevelPerf2", f"{sl2:.1f}"),
            ("Weight", str(self.weight)),
        ]

    def entry_item(self, entry: Entry, now: float) -> list[tuple[str, str]]:
        """Fields of a QueueStatus ``QueueEntry`` list item ("unknown", not "<unknown>")."""
        ch = entry.channel
        return [
            ("Queue", self.name),
            ("Position", str(self.position(entry))),
            ("Channel", ch.name),
            ("Uniqueid", ch.uniqueid),
            ("CallerIDNum", ch.caller_num or "unknown"),
            ("CallerIDName", ch.caller_name or "unknown"),
            ("ConnectedLineNum", ch.connected_num or "unknown"),
            ("ConnectedLineName", ch.connected_name or "unknown"),
            ("Wait", str(int(now - entry.start))),
            ("Priority", str(entry.prio)),
        ]

    def summary_item(self, now: float) -> list[tuple[str, str]]:
        """Fields of a ``QueueSummary`` list item."""
        logged_in = len(self.members)
        longest = max((int(now - e.start) for e in self.entries), default=0)
        return [
            ("Queue", self.name),
            ("LoggedIn", str(logged_in)),
            ("Available", str(self.summary_available())),
            ("Callers", str(len(self.entries))),
            ("HoldTime", str(self.holdtime)),
            ("TalkTime", str(self.talktime)),
            ("LongestHoldTime", str(longest)),
        ]

    def queue_vars(self) -> list[tuple[str, str]]:
        """The QUEUE* variables ``setqueuevar`` puts on the caller and member channels."""
        sl, _ = self.service_level_perf()
        return [
            ("QUEUENAME", self.name),
            ("QUEUEMAX", str(self.maxlen)),
            ("QUEUESTRATEGY", self.strategy),
            ("QUEUECALLS", str(len(self.entries))),
            ("QUEUEHOLDTIME", str(self.holdtime)),
            ("QUEUETALKTIME", str(self.talktime)),
            ("QUEUECOMPLETED", str(self.completed)),
            ("QUEUEABANDONED", str(self.abandoned)),
            ("QUEUESRVLEVEL", str(self.servicelevel)),
            ("QUEUESRVLEVELPERF", f"{sl:.1f}"),
        ]

    # -- waking waiting callers ---------------------------------------------

    def notify(self) -> None:
        """Wake every caller coroutine waiting for this queue to change."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def changed(self) -> None:
        """Wait until :meth:`notify` is called."""
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()


class QueueError(Exception):
    """A member operation app_queue refuses; ``str()`` is its AMI error message."""


class Queues:
    """All queues and agents, with the member operations of the Queue* AMI actions."""

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.by_name: dict[str, Queue] = {}
        self.agents: dict[str, Agent] = {}  # by interface, lower case

    def __iter__(self) -> Iterator[Queue]:
        return iter(sorted(self.by_name.values(), key=lambda q: q.name))

    def add_queue(self, queue: Queue) -> Queue:
        """Register a queue (a queues.conf section)."""
        self.by_name[queue.name] = queue
        return queue

    def get(self, name: str) -> Queue | None:
        """A queue by name (app_queue compares case-insensitively)."""
        found = self.by_name.get(name)
        if found is None:
            found = next((q for n, q in self.by_name.items() if n.lower() == name.lower()), None)
        return found

    def agent(self, interface: str) -> Agent | None:
        """The agent device behind a member interface."""
        return self.agents.get(interface.lower())

    def memberships(self, agent: Agent) -> list[tuple[Queue, Member]]:
        """Every (queue, member) of an agent."""
        out: list[tuple[Queue, Member]] = []
        for q in self:
            m = q.member(agent.interface)
            if m is not None:
                out.append((q, m))
        return out

    def add_member(
        self,
        queue_name: str,
        agent: Agent,
        *,
        name: str,
        now: float,
        dynamic: bool = True,
        paused: bool = False,
        reason: str = "",
        state_interface: str = "",
        penalty: int = 0,
        wrapuptime: int = 0,
        quiet: bool = False,
    ) -> Member:
        """``add_to_queue``: DeviceStateChange (pause device), QueueMemberAdded, avail state."""
        q = self.get(queue_name)
        if q is None:
            raise QueueError("Unable to add interface to queue: No such queue")
        if q.member(agent.interface) is not None:
            raise QueueError("Unable to add interface: Already there")
        self.agents.setdefault(agent.interface.lower(), agent)
        agent = self.agents[agent.interface.lower()]
        m = Member(
            queue=q.name,
            agent=agent,
            name=name or agent.interface,
            state_interface=state_interface or agent.interface,
            dynamic=dynamic,
            logintime=int(now),
            penalty=penalty,
            paused=paused,
            reason=reason if paused else "",
            lastpause=int(now) if paused else 0,
            wrapuptime=wrapuptime,
        )
        q.members.append(m)
        if not quiet:
            self.emitter.device_state(
                f"Queue:{q.name}_pause_{m.interface}", "INUSE" if paused else "NOT_INUSE"
            )
            self.emitter.member_event("QueueMemberAdded", m.blob())
        self.update_avail(q, now, quiet=quiet)
        q.notify()
        return m

    def remove_member(
        self, queue_name: str, interface: str, now: float, *, allow_static: bool = False
    ) -> Member:
        """``remove_from_queue``: QueueMemberRemoved, then the avail device state."""
        q = self.get(queue_name)
        if q is None:
            raise QueueError("Unable to remove interface from queue: No such queue")
        m = q.member(interface)
        if m is None:
            raise QueueError("Unable to remove interface: Not there")
        if not m.dynamic and not allow_static:
            raise QueueError("Member not dynamic")
        q.members.remove(m)
        self.emitter.member_event("QueueMemberRemoved", m.blob())
        self.update_avail(q, now)
        q.notify()
        return m

    def set_paused(
        self, queue_name: str, interface: str, paused: bool, reason: str, now: float
    ) -> list[Member]:
        """``set_member_paused`` in one queue, or in all when ``queue_name`` is empty."""
        targets: list[tuple[Queue, Member]] = []
        for q in self:
            if queue_name and q.name.lower() != queue_name.lower():
                continue
            m = q.member(interface)
            if m is not None:
                targets.append((q, m))
        if not targets:
            raise QueueError("Interface not found")
        for q, m in targets:
            m.paused = paused
            m.reason = reason if paused else ""
            m.lastpause = int(now) if paused else m.lastpause
            self.emitter.device_state(
                f"Queue:{q.name}_pause_{m.interface}", "INUSE" if paused else "NOT_INUSE"
            )
            self.update_avail(q, now)
            self.emitter.member_event("QueueMemberPause", m.blob())
            q.notify()
        return [m for _, m in targets]

    def update_avail(self, q: Queue, now: float, *, quiet: bool = False) -> None:
        """Publish ``Queue:NAME_avail`` when whether anyone can take a call changed."""
        state = "NOT_INUSE" if q.available_count(now) else "INUSE"
        if state != q.avail_state:
            q.avail_state = state
            if not quiet:
                self.emitter.device_state(f"Queue:{q.name}_avail", state)

    def set_agent_status(self, agent: Agent, status: int, now: float) -> None:
        """The agent's device state changed: QueueMemberStatus in each of its queues."""
        agent.status = status
        state = "INUSE" if status == INUSE else "NOT_INUSE"
        self.emitter.device_state(agent.state_interface, state)
        for q, m in self.memberships(agent):
            self.emitter.member_event("QueueMemberStatus", m.blob())
            self.update_avail(q, now)
            q.notify()

    def notify_agent(self, agent: Agent, now: float) -> None:
        """Re-check availability in every queue of ``agent`` (wrap-up over, call ended)."""
        for q, _ in self.memberships(agent):
            self.update_avail(q, now)
            q.notify()
