"""Folding queue_log lines into each call's journey, as journal records.

Per call id (the Uniqueid of the caller's channel, which is also the
journal's call id: the dialplan passes ``${UNIQUEID}`` as ``LOTSE_CALLID``,
and app_queue logs ``ast_channel_uniqueid`` of the same channel) the lines
become the records the controller would have written had it seen the call
over AMI:

====================  ==================================================
ENTERQUEUE            ``QueueJoined`` (the first one also ``CallArrived``)
CONNECT               ``Answered`` (wait = holdtime)
COMPLETEAGENT/CALLER  ``Ended`` (talk time = calltime)
ATTENDED/BLINDTRANSF  ``Ended`` (the queue's part of the call is over)
ABANDON               ``Abandoned`` (wait = waittime) and ``Ended``
EXITWITHTIMEOUT       ``Spilled`` (reason timeout, wait = waittime)
EXITEMPTY             ``Spilled`` (reason leaveempty)

LOTSEFALLBACK         ``FallbackUsed`` (the static fallback's own line: the
                      call is the fallback's, its home the line's center)
LOTSEANNOUNCE         ``Decided`` (an announcement, by the static fallback)
====================  ==================================================

A call that left its last queue alive (timeout, empty), or began the static
fallback's final announcement, and entered no other queue within
:data:`SETTLE_S` went on to an announcement and hung up: it gets an ``Ended``
at the time it left (or the announcement began). Ringing attempts (RINGNOANSWER,
RINGCANCELED) and key exits tell nothing the journal keeps.

**The home** of a call the static fallback routed is in its ``LOTSEFALLBACK``
line. Otherwise it is not in the queue_log (``LOTSE_HOME`` is a channel
variable). The fold finds it the way the static fallback does — the call
was, as a rule, routed by the fallback when the controller did not see it:
the center serving the caller's Ortsnetz (longest prefix in the numbering
plan). A caller without one (mobile, anonymous, foreign, a region no center
serves) gets the center of the first queue the call entered: the static
fallback sends such callers to the fallback center's queue first, and the
controller to the center of the postal code they typed, so the first queue
is where the call belonged. The dialled Ortsnetz (``0221 115``) is not in the
queue_log. A call whose ENTERQUEUE is not in the file (rotated away) also
gets the center of the first queue seen. For a call the journal already
knows, its home stays.

**Privacy.** The caller number of ENTERQUEUE is classified and hashed (keyed,
with the journal's key) the moment it is read, and dropped: a journey holds
the Ortsnetz prefix and the hash only, as every journal record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ami.contract import (
    CALLBACK_ATTEMPT_PREFIX,
    FALLBACK_QUEUE_LOG_ANNOUNCED,
    FALLBACK_QUEUE_LOG_QUEUE,
    FALLBACK_QUEUE_LOG_ROUTED,
)
from ami.queuelog import FALLBACK_EVENTS, JOURNEY_EVENTS, QueueLogLine
from lotse.journal.records import (
    Abandoned,
    Answered,
    CallArrived,
    Decided,
    Ended,
    FallbackUsed,
    QueueJoined,
    Record,
    Spilled,
    SpillReason,
)
from router.config import Config
from router.decision import Action
from router.numbering import NumberKind, OrtsnetzTable, classify_caller

# A call that left a queue alive and entered no other for this long has ended
# (an announcement, or the caller hung up before the next queue).
SETTLE_S = 60
# A journey with no line for this long is forgotten (a CONNECT whose
# COMPLETE never came: Asterisk restarted mid-call). Its records stay.
FORGET_S = 24 * 3600

# A journey is imported once its newest line is this old: by then the
# controller's own records of the same moments (AMI, 200 ms behind at most)
# are in the journal, and the import finds them instead of doubling them.
READY_AFTER_S = 10

SOURCE = "queue_log"
# Why a settled journey ended (its Ended's cause), unless an announcement says more.
LEFT_QUEUE = "left the queue, no other"

# What a record of the journey is, for matching it against the journal's
# events of the same call: the event kind and its center.
Key = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class Fact:
    """One record of a journey and what it is (:data:`Key`)."""

    key: Key
    record: Record


@dataclass(slots=True)
class Journey:
    """What the queue_log told about one call so far."""

    call_id: str
    arrived: CallArrived | None = None
    home: str | None = None
    facts: list[Fact] = field(default_factory=list)
    last_time: int = 0
    last_read: float = 0.0  # when its newest line was read (the follower's monotonic clock)
    ended: bool = False
    dirty: bool = False
    # When the call left its last queue alive (or its final announcement began).
    spilled_at: int | None = None
    settle_why: str = "left the queue, no other"  # LEFT_QUEUE

    @property
    def first_at(self) -> datetime | None:
        """The time of the journey's earliest record."""
        times = [f.record.at for f in self.facts]
        if self.arrived is not None:
            times.append(self.arrived.at)
        return min(times, default=None)


@dataclass(slots=True)
class FoldStats:
    """Lines folded, by what became of them."""

    journey: int = 0  # became (part of) a record
    passed: int = 0  # known events the journal does not keep, or queues of no center


class Folder:
    """Folds queue_log lines, in file order, into per-call journeys.

    ``caller_hash`` is the journal's keyed hash of a caller number (``None``
    for anonymous callers).
    """

    def __init__(
        self,
        config: Config,
        table: OrtsnetzTable,
        caller_hash: Callable[[str], str | None],
    ) -> None:
        self._config = config
        self._table = table
        self._hash = caller_hash
        self._journeys: dict[str, Journey] = {}
        self.stats = FoldStats()
        # The newest time of any line folded: the queue_log's own clock, which
        # may differ from the controller's (another host; the stand-in's
        # compressed time).
        self.newest = 0

    def __len__(self) -> int:
        return len(self._journeys)

    def add_all(self, lines: Iterable[QueueLogLine], read_at: float = 0.0) -> None:
        """Fold every line, in order."""
        for line in lines:
            self.add(line, read_at)

    def add(self, line: QueueLogLine, read_at: float = 0.0) -> None:
        """Fold one line into its call's journey; ``read_at``: when it was read (monotonic)."""
        self.newest = max(self.newest, line.time)
        center: str | None
        if line.event in FALLBACK_EVENTS:
            # The static fallback's own line: its center (none for a region no
            # center serves) is in the data, the "queue" is the fallback's context.
            center = line.data[0] or None
            known = line.queue == FALLBACK_QUEUE_LOG_QUEUE and (
                center is None or center in self._config.centers
            )
        else:
            center = self._config.center_by_queue.get(line.queue)
            known = line.event in JOURNEY_EVENTS and center is not None
        if not known or line.callid.startswith(CALLBACK_ATTEMPT_PREFIX):
            # The callback dialer's legs wait in queues too; they are no calls.
            self.stats.passed += 1
            return
        journey = self._journeys.get(line.callid)
        if journey is None:
            journey = self._journeys[line.callid] = Journey(line.callid)
        journey.last_time = max(journey.last_time, line.time)
        journey.last_read = max(journey.last_read, read_at)
        facts = self._facts(journey, line, center)
        if not facts:
            self.stats.passed += 1
            return
        self.stats.journey += 1
        journey.facts.extend(facts)
        journey.dirty = True

    def _facts(self, journey: Journey, line: QueueLogLine, center: str | None) -> list[Fact]:
        at = line.at
        cid = line.callid
        if line.event == FALLBACK_QUEUE_LOG_ROUTED:
            if center is not None:
                journey.home = center  # what the fallback found, not a guess
            used = FallbackUsed(cid, at, center, line.data[1] or "unknown")
            return [Fact(("fallback", center), used)]
        if line.event == FALLBACK_QUEUE_LOG_ANNOUNCED:
            kind, sound = line.data[1], line.data[2]
            journey.spilled_at, journey.settle_why = line.time, f"{kind} announcement"
            decided = Decided(
                cid,
                at,
                Action.ANNOUNCE,
                home=center,
                target=None,
                queue=None,
                greeting=None,
                announcement=sound or None,
                timeout_s=0,
                reasons=(f"static fallback: {kind} announcement",),
                offhours=kind == "offhours",
            )
            return [Fact(("decided", None), decided)]
        if center is None:
            return []
        match line.event:
            case "ENTERQUEUE":
                if journey.arrived is None:
                    self._arrive(journey, line)
                self._first_seen(journey, center)
                journey.spilled_at, journey.settle_why = None, LEFT_QUEUE
                joined = QueueJoined(cid, at, center, line.queue, line.number(2))
                return [Fact(("queued", center), joined)]
            case "CONNECT":
                self._first_seen(journey, center)
                agent = line.agent
                return [
                    Fact(
                        ("answered", center),
                        Answered(cid, at, center, agent, float(line.number(0))),
                    )
                ]
            case "COMPLETEAGENT" | "COMPLETECALLER":
                return self._end(journey, at, float(line.number(1)), line.event)
            case "ATTENDEDTRANSFER" | "BLINDTRANSFER":
                return self._end(journey, at, float(line.number(-2)), line.event)
            case "ABANDON":
                self._first_seen(journey, center)
                wait, pos = float(line.number(2)), line.number(0)
                abandoned = Abandoned(cid, at, center, wait, pos)
                return [
                    Fact(("abandoned", center), abandoned),
                    *self._end(journey, at, None, "ABANDON"),
                ]
            case "EXITWITHTIMEOUT" | "EXITEMPTY":
                self._first_seen(journey, center)
                reason = (
                    SpillReason.TIMEOUT
                    if line.event == "EXITWITHTIMEOUT"
                    else SpillReason.LEAVEEMPTY
                )
                journey.spilled_at, journey.settle_why = line.time, LEFT_QUEUE
                spilled = Spilled(cid, at, center, None, reason, float(line.number(2)))
                return [Fact(("spilled", center), spilled)]
        return []

    def _arrive(self, journey: Journey, line: QueueLogLine) -> None:
        # The number is classified and hashed here and goes no further.
        number = line.data[1]
        origin = classify_caller(number, self._table)
        hashed = self._hash(number) if origin.kind is not NumberKind.ANONYMOUS else None
        journey.arrived = CallArrived.of(line.callid, line.at, origin, hashed)
        if origin.ortsnetz is not None and journey.home is None:
            journey.home = self._config.center_by_ortsnetz.get(origin.ortsnetz.code)

    def _first_seen(self, journey: Journey, center: str) -> None:
        if journey.home is None:
            journey.home = center

    def _end(self, journey: Journey, at: datetime, talk_s: float | None, why: str) -> list[Fact]:
        if journey.ended:
            return []
        journey.ended = True
        journey.spilled_at = None
        return [Fact(("ended", None), Ended(journey.call_id, at, talk_s, f"{SOURCE} {why}"))]

    def settle(self, now: int) -> None:
        """End the journeys that left a queue alive before ``now - SETTLE_S`` and went nowhere.

        ``now`` is on the queue_log's clock (see :attr:`newest`).

        Also forgets journeys silent since ``now - FORGET_S`` (whatever was
        taken from them stays in the journal).
        """
        for cid, journey in list(self._journeys.items()):
            if journey.spilled_at is not None and journey.spilled_at <= now - SETTLE_S:
                at = datetime.fromtimestamp(journey.spilled_at, UTC)
                journey.facts.extend(self._end(journey, at, None, journey.settle_why))
                journey.dirty = True
            if not journey.dirty and journey.last_time <= now - FORGET_S:
                del self._journeys[cid]

    def take(
        self, ready_before: int | None = None, read_before: float | None = None
    ) -> list[Journey]:
        """The journeys with new records, quiet since ``ready_before`` (all if ``None``).

        ``ready_before`` is on the queue_log's clock; ``read_before``, if
        given, on the reader's: a journey whose newest line was read after it
        also waits.

        They count as taken: a journey is given out again only once new lines
        add to it; ended journeys are forgotten once taken. The records of a
        journey are given out complete, every time: what the journal already
        has, the importer leaves out.
        """
        out: list[Journey] = []
        for cid, journey in list(self._journeys.items()):
            if not journey.dirty:
                continue
            if ready_before is not None and journey.last_time > ready_before:
                continue
            if read_before is not None and journey.last_read > read_before:
                continue
            journey.dirty = False
            out.append(journey)
            if journey.ended:
                del self._journeys[cid]
        return out
