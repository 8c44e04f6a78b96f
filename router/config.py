"""Typed, validated configuration of a lotse deployment.

These frozen dataclasses are what the rest of lotse trusts: ``router.configload``
builds them once from ``config.yaml`` (refusing bad input with ``FILE:LINE:COL``
messages) and everything downstream — the policy, the dialplan generator, the
controller, the simulator — reads them without re-checking.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from enum import StrEnum
from functools import cached_property

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# ISO 3166-2:DE subdivision codes, as the ``holidays`` package names them.
FEDERAL_STATES = frozenset(
    {"BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH"}
)


@dataclass(frozen=True)
class TimeRange:
    """A half-open interval [start, end) of local wall-clock time within one day.

    ``end`` may be ``time(0, 0)`` meaning midnight at the end of the day.
    """

    start: time
    end: time

    def contains(self, t: time) -> bool:
        """Whether the local time ``t`` falls inside the range."""
        if self.end == time(0, 0):
            return t >= self.start
        return self.start <= t < self.end

    def __str__(self) -> str:
        end = "24:00" if self.end == time(0, 0) else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"


@dataclass(frozen=True)
class WeeklyHours:
    """Opening hours per weekday, Monday first (index = ``date.weekday()``)."""

    days: tuple[tuple[TimeRange, ...], ...]

    def ranges(self, weekday: int) -> tuple[TimeRange, ...]:
        """The opening ranges of a weekday (0 = Monday)."""
        return self.days[weekday]

    def is_open(self, weekday: int, t: time) -> bool:
        """Whether the hours admit local time ``t`` on ``weekday``."""
        return any(r.contains(t) for r in self.days[weekday])


@dataclass(frozen=True)
class Thresholds:
    """When a center counts as overloaded; ``None`` disables a criterion.

    Any one criterion that holds makes the center overloaded.
    """

    max_waiting: int | None = None
    max_expected_wait_s: float | None = None
    # A queue with nobody logged in cannot answer, however short it is.
    no_agents: bool = True


@dataclass(frozen=True)
class PostalCodes:
    """Postal codes (PLZ) a center serves: exact codes, prefixes and ranges."""

    exact: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()
    ranges: tuple[tuple[str, str], ...] = ()

    def covers(self, plz: str) -> bool:
        """Whether this set contains the five-digit postal code ``plz``."""
        if plz in self.exact:
            return True
        if any(plz.startswith(p) for p in self.prefixes):
            return True
        return any(lo <= plz <= hi for lo, hi in self.ranges)


@dataclass(frozen=True)
class CallbackSettings:
    """A center's ``callback:`` settings; ``None`` disables an offer criterion."""

    # Offer before queueing when the final decision's expected wait exceeds this.
    offer_expected_wait_s: float | None = None
    # Offer once the caller has waited this long in the final queue (a key press leaves it).
    offer_after_wait_s: int | None = None
    # Offer when every center is closed (instead of only the off-hours announcement).
    offer_when_closed: bool = False
    # Attempts per request; an unanswered attempt is retried after the interval.
    attempts: int = 3
    retry_interval_s: int = 600
    # How long the caller's phone rings before an attempt counts as unanswered.
    ring_timeout_s: int = 30
    # The promise: this many hours of the center's service time.
    deadline_service_h: float = 24.0


@dataclass(frozen=True)
class Center:
    """A municipal (or state/national) 115 service center."""

    id: str
    name: str
    state: str
    queue: str
    greeting: str
    offhours_announcement: str
    hours: WeeklyHours
    ortsnetze: tuple[str, ...] = ()
    postal_codes: PostalCodes = field(default_factory=PostalCodes)
    closures: frozenset[date] = frozenset()
    thresholds: Thresholds = field(default_factory=Thresholds)
    overflow_partners: tuple[str, ...] = ()
    offhours_partners: tuple[str, ...] = ()
    queue_timeout_s: int = 30
    # ``None``: no callback is offered for this center.
    callback: CallbackSettings | None = None


class UnknownOriginMode(StrEnum):
    """What to do with callers whose number names no Ortsnetz."""

    POSTAL_CODE = "postal_code"
    FALLBACK = "fallback"


class UnconnectedMode(StrEnum):
    """What to do with callers from a region no participating center serves."""

    FALLBACK = "fallback"
    ANNOUNCEMENT = "announcement"


@dataclass(frozen=True)
class UnknownOrigin:
    """Handling of mobile, anonymous (CLIR), foreign and other callers without Ortsnetz."""

    mode: UnknownOriginMode = UnknownOriginMode.POSTAL_CODE
    prompt: str = "lotse/prompt-postal-code"
    retry_prompt: str = "lotse/prompt-postal-code-retry"
    digit_timeout_s: int = 5
    attempts: int = 2


@dataclass(frozen=True)
class ServiceLevel:
    """The 115 service promise: ``target`` of calls answered within ``threshold_s``."""

    threshold_s: int = 30
    target: float = 0.75
    short_abandon_s: int = 5


@dataclass(frozen=True)
class Endpoint:
    """A TCP host and port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class LogFormat(StrEnum):
    """How ``lotse run`` writes its log: JSON lines, a console view, or by the stream."""

    AUTO = "auto"  # console on a terminal, JSON otherwise (a service, a pipe)
    CONSOLE = "console"
    JSON = "json"


@dataclass(frozen=True)
class ControllerSettings:
    """Where the controller listens and connects; secrets are only named, never stored."""

    ami: Endpoint = Endpoint("127.0.0.1", 5038)
    ami_username: str = "lotse"
    ami_secret_env: str = "LOTSE_AMI_SECRET"
    ami_secret_file: str | None = None
    agi_listen: Endpoint = Endpoint("127.0.0.1", 4573)
    metrics_listen: Endpoint = Endpoint("127.0.0.1", 9115)
    agi_deadline_ms: int = 300
    journal_path: str = "lotse-journal.sqlite"
    journal_retention_days: int = 90
    journal_key_env: str = "LOTSE_JOURNAL_KEY"
    journal_key_file: str | None = None
    # The key's older name, still read (deprecated).
    journal_salt_env: str = "LOTSE_JOURNAL_SALT"
    # The operators' Unix control socket; None: beside the journal.
    control_socket: str | None = None
    # Asterisk's queue_log, followed and imported into the journal; None: not read.
    queue_log: str | None = "/var/log/asterisk/queue_log"
    # The log's form; --log-format overrides it.
    log_format: LogFormat = LogFormat.AUTO

    def control_socket_path(self, journal_path: str | None = None) -> str:
        """Where the control socket is: as configured, else ``lotse.sock`` beside the journal."""
        if self.control_socket:
            return self.control_socket
        return os.path.join(os.path.dirname(journal_path or self.journal_path), "lotse.sock")


@dataclass(frozen=True)
class _PostalIndex:
    exact: Mapping[str, str]
    prefixes: Mapping[str, str]
    prefix_lengths: tuple[int, ...]
    ranges: tuple[tuple[str, str, str], ...]
    range_starts: tuple[str, ...]


#: The variable a callback leg's dial string names the caller's number by
#: (national form, 0…); the dialplan sets it, never an AMI event carries it.
CALLBACK_DIAL_NUMBER = "${CB_DIAL}"
#: Where callback legs dial callers: the PJSIP endpoint ``lotse-callback-trunk``.
DEFAULT_CALLBACK_DIAL = "PJSIP/" + CALLBACK_DIAL_NUMBER + "@lotse-callback-trunk"


@dataclass(frozen=True)
class Config:
    """A whole lotse deployment: the centers and how calls find them."""

    centers: Mapping[str, Center]
    fallback_center: str
    timezone: str = "Europe/Berlin"
    unconnected: UnconnectedMode = UnconnectedMode.FALLBACK
    unconnected_announcement: str = "lotse/region-not-connected"
    all_busy_announcement: str = "lotse/all-busy"
    unknown_origin: UnknownOrigin = field(default_factory=UnknownOrigin)
    service_level: ServiceLevel = field(default_factory=ServiceLevel)
    max_hops: int = 3
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    # Dial()'s first argument for a callback leg (checked by the loader).
    callback_dial: str = DEFAULT_CALLBACK_DIAL
    source: str = "<config>"
    # sha256 of the file's bytes as loaded ("" when not loaded from a file):
    # names the configuration in ``lotse ctl status``, the metrics and the
    # dialplan built from it.
    sha256: str = ""

    @cached_property
    def center_by_ortsnetz(self) -> Mapping[str, str]:
        """Ortsnetz code (without the leading 0) → id of the center serving it."""
        return {code: c.id for c in self.centers.values() for code in c.ortsnetze}

    @cached_property
    def center_by_queue(self) -> Mapping[str, str]:
        """Asterisk queue name → center id."""
        return {c.queue: c.id for c in self.centers.values()}

    def center_for_postal_code(self, plz: str) -> str | None:
        """The id of the center serving the five-digit postal code, if any.

        Exact codes win over ranges, ranges over prefixes (longest prefix first),
        so a city carved out of its district's prefix is found.
        """
        index = self._postal_index
        found = index.exact.get(plz)
        if found is not None:
            return found
        # The loader refuses overlapping ranges, so only the last range
        # starting at or before plz can hold it.
        pos = bisect.bisect_right(index.range_starts, plz) - 1
        if pos >= 0 and plz <= index.ranges[pos][1]:
            return index.ranges[pos][2]
        for length in index.prefix_lengths:
            found = index.prefixes.get(plz[:length])
            if found is not None:
                return found
        return None

    @cached_property
    def _postal_index(self) -> _PostalIndex:
        exact: dict[str, str] = {}
        prefixes: dict[str, str] = {}
        ranges: list[tuple[str, str, str]] = []
        for c in self.centers.values():
            exact.update(dict.fromkeys(c.postal_codes.exact, c.id))
            prefixes.update(dict.fromkeys(c.postal_codes.prefixes, c.id))
            ranges.extend((lo, hi, c.id) for lo, hi in c.postal_codes.ranges)
        ranges.sort()
        return _PostalIndex(
            exact=exact,
            prefixes=prefixes,
            prefix_lengths=tuple(sorted({len(p) for p in prefixes}, reverse=True)),
            ranges=tuple(ranges),
            range_starts=tuple(r[0] for r in ranges),
        )

    @cached_property
    def overflow_chain(self) -> Mapping[str, tuple[str, ...]]:
        """Per center, every center an overloaded call may spill to, in order.

        The center's own partners first, then their partners (breadth first), so a
        state-level center that backs two municipalities is reached from both and
        the national fallback comes last. The loader has refused cyclic plans.
        """
        return {cid: self._chain(cid, "overflow_partners") for cid in self.centers}

    @cached_property
    def offhours_chain(self) -> Mapping[str, tuple[str, ...]]:
        """Per center, the off-hours partners to try in order (breadth first)."""
        return {cid: self._chain(cid, "offhours_partners") for cid in self.centers}

    def _chain(self, start: str, attr: str) -> tuple[str, ...]:
        seen = {start}
        order: list[str] = []
        frontier = [start]
        while frontier:
            nxt: list[str] = []
            for cid in frontier:
                for partner in getattr(self.centers[cid], attr):
                    if partner not in seen:
                        seen.add(partner)
                        order.append(partner)
                        nxt.append(partner)
            frontier = nxt
        return tuple(order)
