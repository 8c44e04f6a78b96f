"""Callbacks: when one is offered, when it may be started, and when it expires.

The 115 promise is an answer within 30 s *or* feedback within 24 hours of
service time. A caller who takes the offer leaves the queue and becomes a
callback request that keeps the caller's place in line: it carries the time
the caller entered the queue it left. This module is pure (no I/O, no clock):
the controller's dialer and the what-if engine both ask it.

* :func:`startable` picks the requests that may be started now. A request is
  started only when an agent of its center is free and no live caller who
  entered that center's queue earlier is still waiting; at most one attempt
  per request is in progress, and never more attempts than free agents.
* :func:`service_deadline` is the promise's end: a number of minutes of the
  center's own service time (its hours, closure days and state holidays)
  after the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from router.config import CallbackSettings, Center
from router.decision import Action, Decision
from router.opening import HolidayCalendar, OpeningHours
from router.state import Snapshot

# The sounds of the callback dialogue (greetings/manifest.yaml), as the dialplan plays them.
SOUND_OFFER = "lotse/callback-offer"
SOUND_OFFER_CLOSED = "lotse/callback-offer-closed"
SOUND_OWN_NUMBER = "lotse/callback-own-number"
SOUND_ENTER_NUMBER = "lotse/callback-enter-number"
SOUND_READ_BACK = "lotse/callback-read-back"
SOUND_CONFIRM_NUMBER = "lotse/callback-confirm-number"
SOUND_NUMBER_REFUSED = "lotse/callback-number-refused"
SOUND_CONFIRMED = "lotse/callback-confirmed"
CALLBACK_SOUNDS = (
    SOUND_OFFER,
    SOUND_OFFER_CLOSED,
    SOUND_OWN_NUMBER,
    SOUND_ENTER_NUMBER,
    SOUND_READ_BACK,
    SOUND_CONFIRM_NUMBER,
    SOUND_NUMBER_REFUSED,
    SOUND_CONFIRMED,
)

# How far ahead the deadline search looks: a center that opens not once in a
# year gives no deadline (its requests expire at once rather than never).
_SEARCH_DAYS = 366


class Outcome:
    """How a request ended (the values of the metric label and the journal column)."""

    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    ALL = (COMPLETED, NO_ANSWER, EXPIRED, CANCELLED)


@dataclass(frozen=True)
class Request:
    """A pending callback request as the scheduler sees it (no number: it needs none)."""

    id: str
    center: str
    entered_s: float  # when the caller entered the queue it left (epoch seconds)
    deadline_s: float
    attempts: int = 0  # attempts started so far
    not_before_s: float = 0.0  # the retry interval's end
    in_progress: bool = False


@dataclass(frozen=True)
class CenterNow:
    """What the scheduler needs of a center at this moment."""

    free_agents: int
    # When each live caller still waiting in the center's queue entered it.
    waiting_since: tuple[float, ...] = ()
    # Whether the center serves now (the policy's opening rule: hours, closure
    # days, holidays, a supervisor's override); a closed center's agents call
    # nobody back, however many are logged in.
    serving: bool = True

    @property
    def earliest_waiting(self) -> float | None:
        """The entry time of the longest-waiting live caller, if any waits."""
        return min(self.waiting_since) if self.waiting_since else None


def startable(
    requests: Iterable[Request], centers: Mapping[str, CenterNow], now: float
) -> list[Request]:
    """The requests to start an attempt for at ``now``, oldest entry first.

    Per center: nothing starts while it does not serve; the free agents, less
    the attempts already in progress there, bound how many start; a request
    starts only if no live caller who entered earlier than it is waiting (a
    live caller who entered at the same moment does not hold it back: neither
    is ahead). A request whose deadline has passed, whose retry interval has
    not, or that has an attempt in progress is not started.
    """
    by_center: dict[str, list[Request]] = {}
    busy: dict[str, int] = {}
    for req in requests:
        if req.in_progress:
            busy[req.center] = busy.get(req.center, 0) + 1
        elif req.not_before_s <= now < req.deadline_s:
            by_center.setdefault(req.center, []).append(req)
    chosen: list[Request] = []
    for cid, pending in by_center.items():
        center = centers.get(cid)
        if center is None or not center.serving:
            continue
        free = center.free_agents - busy.get(cid, 0)
        if free <= 0:
            continue
        earliest = center.earliest_waiting
        pending.sort(key=lambda r: (r.entered_s, r.id))
        for req in pending:
            if free <= 0 or (earliest is not None and earliest < req.entered_s):
                # Everyone later in the list entered later still: all held back.
                break
            chosen.append(req)
            free -= 1
    chosen.sort(key=lambda r: (r.entered_s, r.id))
    return chosen


OFFER_WAIT, OFFER_CLOSED = "wait", "closed"


def offer_for(decision: Decision, centers: Mapping[str, Center], snapshot: Snapshot) -> str:
    """Which callback offer the dialplan makes with ``decision``: ``closed`` after
    the off-hours announcement (the home center offers when every center is
    closed), ``wait`` before a final queue whose expected wait exceeds the
    target center's limit, else ``""``."""
    if decision.action is Action.ANNOUNCE and decision.offhours and decision.home is not None:
        home = centers.get(decision.home)
        if home is not None and home.callback is not None and home.callback.offer_when_closed:
            return OFFER_CLOSED
        return ""
    if decision.action is not Action.QUEUE or decision.queue_timeout_s or decision.target is None:
        return ""
    target = centers.get(decision.target)
    if target is None or target.callback is None:
        return ""
    limit = target.callback.offer_expected_wait_s
    state = snapshot.centers.get(decision.target)
    if limit is None or state is None:
        return ""
    wait = state.expected_wait_s()
    return OFFER_WAIT if wait is not None and wait > limit else ""


def expired(requests: Iterable[Request], now: float) -> list[Request]:
    """The requests whose deadline has come (``now`` at the deadline counts) and
    that have no attempt in progress (an attempt under way finishes first)."""
    return [r for r in requests if not r.in_progress and now >= r.deadline_s]


def after_unanswered(req: Request, settings: CallbackSettings, now: float) -> Request | None:
    """The request after an attempt the caller did not answer, or ``None`` if
    it has used all its attempts (it ends as ``no_answer``)."""
    if req.attempts >= settings.attempts:
        return None
    return Request(
        id=req.id,
        center=req.center,
        entered_s=req.entered_s,
        deadline_s=req.deadline_s,
        attempts=req.attempts,
        not_before_s=now + settings.retry_interval_s,
        in_progress=False,
    )


def started(req: Request) -> Request:
    """The request once an attempt is marked in progress (before anything is dialled)."""
    return Request(
        id=req.id,
        center=req.center,
        entered_s=req.entered_s,
        deadline_s=req.deadline_s,
        attempts=req.attempts + 1,
        not_before_s=req.not_before_s,
        in_progress=True,
    )


def open_minute(
    center: Center, hours: OpeningHours, calendar: HolidayCalendar, local: datetime
) -> bool:
    """Whether ``center`` serves in the minute starting at the local ``local``
    (hours, closure days, its state's holidays; supervisor overrides are
    momentary and do not move a promise)."""
    day = local.date()
    if day in center.closures or center.state in calendar.on(day):
        return False
    return hours.open_at(local.weekday(), local.hour * 60 + local.minute)


def service_deadline(
    center: Center,
    hours: OpeningHours,
    calendar: HolidayCalendar,
    since: datetime,
    service_h: float,
) -> datetime:
    """The moment ``service_h`` hours of ``center``'s service time have passed after ``since``.

    ``since`` is an aware local datetime. Service time is counted by the
    minute; a request made while closed starts counting at the next opening.
    A center with no service minute within a year gives ``since`` (the
    request cannot be kept, so it is expired at once rather than kept forever).
    """
    need = round(service_h * 60)
    # Counted from the start of the request's minute: a few seconds stricter, never later.
    minute = since.replace(second=0, microsecond=0)
    if need <= 0:
        return since
    limit = _SEARCH_DAYS * 1440
    counted = 0
    day = None
    day_open = False
    for step in range(limit):
        t = minute + timedelta(minutes=step)
        if t.date() != day:
            day = t.date()
            day_open = day not in center.closures and center.state not in calendar.on(day)
        if day_open and hours.open_at(t.weekday(), t.hour * 60 + t.minute):
            counted += 1
            if counted == need:
                # Wall-clock steps: service hours never span a DST switch at night.
                return t + timedelta(minutes=1)
    return since


def sorted_by_entry(requests: Sequence[Request]) -> list[Request]:
    """Requests oldest entry first, as they are listed and started."""
    return sorted(requests, key=lambda r: (r.entered_s, r.id))
