"""Reading the ``centers`` of ``config.yaml`` and checking them as one network.

Most checks look at one value; these look across centers: an Ortsnetz, postal
code or queue claimed twice, partners that are not configured, and partner
chains that could bounce a call back to a center it came from.
"""

from __future__ import annotations

import bisect
from datetime import date

from yaml.nodes import Node, ScalarNode, SequenceNode

from router.config import (
    FEDERAL_STATES,
    WEEKDAYS,
    CallbackSettings,
    Center,
    PostalCodes,
    Thresholds,
    TimeRange,
    WeeklyHours,
)
from router.confignodes import NULL, NodeReader, describe, did_you_mean
from router.configvalues import (
    CENTER_ID,
    CLOSED,
    QUEUE_NAME,
    PostalEntry,
    PostalKind,
    check_sound,
    parse_date,
    parse_days,
    parse_ortsnetz,
    parse_postal,
    parse_time_range,
)
from router.numbering import OrtsnetzTable

_CENTER_REQUIRED = ("name", "state", "queue", "greeting", "offhours_announcement", "hours")
_CENTER_OPTIONAL = (
    "ortsnetze",
    "postal_codes",
    "closures",
    "thresholds",
    "queue_timeout_s",
    "overflow_partners",
    "offhours_partners",
    "callback",
)
_CALLBACK_KEYS = (
    "offer_expected_wait_s",
    "offer_after_wait_s",
    "offer_when_closed",
    "attempts",
    "retry_interval_s",
    "ring_timeout_s",
    "deadline_service_h",
)
_NO_HOURS = WeeklyHours(((),) * 7)

_Edge = tuple[str, Node, str]  # partner id, the list item naming it, its path


def read_sound(reader: NodeReader, node: Node | None, path: str, default: str) -> str:
    """A sound name as Asterisk's Playback() takes it (``lotse/greeting-bremen``)."""
    name = reader.string(node, path, default)
    if node is not None and name:
        try:
            check_sound(name)
        except ValueError as err:
            reader.report(node, f"{path}: {err}")
    return name


class CenterReader:
    """Reads the ``centers`` mapping; remembers what each center claimed to find clashes."""

    def __init__(self, reader: NodeReader, table: OrtsnetzTable) -> None:
        self.r = reader
        self.table = table
        self.ids: list[str] = []
        self.ortsnetz_owner: dict[str, str] = {}
        self.postal = _PostalClaims()
        self.queue_owner: dict[str, str] = {}
        self.edges: dict[str, list[_Edge]] = {}

    def centers(self, node: Node | None) -> dict[str, Center]:
        """The centers by id, in file order; partner cycles are checked once all are read."""
        if node is None:
            return {}
        found = self.r.entries(node, "centers")
        if found is None:
            return {}
        if not found:
            self.r.report(node, "centers: no centers; configure at least the fallback center")
        self.ids = [cid for cid, _, _ in found]
        for cid, key, _ in found:
            if CENTER_ID.fullmatch(cid) is None:
                self.r.report(
                    key,
                    f"centers.{cid}: a center id is lower-case letters, digits, "
                    "'-' and '_', e.g. sachsen-anhalt",
                )
        centers = {cid: self._center(cid, value) for cid, _, value in found}
        self._check_cycles()
        return centers

    def _center(self, cid: str, node: Node) -> Center:
        p = f"centers.{cid}"
        f = self.r.fields(node, p, required=_CENTER_REQUIRED, optional=_CENTER_OPTIONAL)
        self.edges[cid] = []
        d = Center(
            id=cid,
            name="",
            state="",
            queue="",
            greeting="",
            offhours_announcement="",
            hours=_NO_HOURS,
        )
        return Center(
            id=cid,
            name=self.r.string(f.get("name"), f"{p}.name", ""),
            state=self._state(f.get("state"), f"{p}.state"),
            queue=self._queue(cid, f.get("queue"), f"{p}.queue"),
            greeting=read_sound(self.r, f.get("greeting"), f"{p}.greeting", ""),
            offhours_announcement=read_sound(
                self.r, f.get("offhours_announcement"), f"{p}.offhours_announcement", ""
            ),
            hours=self._hours(f.get("hours"), f"{p}.hours"),
            ortsnetze=self._ortsnetze(cid, f.get("ortsnetze"), f"{p}.ortsnetze"),
            postal_codes=self._postal_codes(cid, f.get("postal_codes"), f"{p}.postal_codes"),
            closures=self._closures(f.get("closures"), f"{p}.closures"),
            thresholds=self._thresholds(f.get("thresholds"), f"{p}.thresholds"),
            overflow_partners=self._partners(
                cid, f.get("overflow_partners"), f"{p}.overflow_partners"
            ),
            offhours_partners=self._partners(
                cid, f.get("offhours_partners"), f"{p}.offhours_partners"
            ),
            queue_timeout_s=self.r.integer(
                f.get("queue_timeout_s"), f"{p}.queue_timeout_s", d.queue_timeout_s, minimum=1
            ),
            callback=self._callback(f.get("callback"), f"{p}.callback"),
        )

    def _state(self, node: Node | None, path: str) -> str:
        state = self.r.string(node, path, "")
        if node is not None and state and state not in FEDERAL_STATES:
            hint = did_you_mean(state, FEDERAL_STATES) or (
                f"; expected one of {', '.join(sorted(FEDERAL_STATES))}"
            )
            self.r.report(node, f"{path}: unknown federal state {state!r}{hint}")
        return state

    def _queue(self, cid: str, node: Node | None, path: str) -> str:
        queue = self.r.string(node, path, "")
        if node is None or not queue:
            return queue
        if QUEUE_NAME.fullmatch(queue) is None:
            self.r.report(
                node,
                f"{path}: {queue!r} is not an Asterisk queue name; use letters, "
                "digits, '_', '-' and '.'",
            )
        elif queue in self.queue_owner:
            self.r.report(
                node,
                f"{path}: queue {queue!r} already belongs to center {self.queue_owner[queue]!r}",
            )
        else:
            self.queue_owner[queue] = cid
        return queue

    def _hours(self, node: Node | None, path: str) -> WeeklyHours:
        if node is None:
            return _NO_HOURS
        before = len(self.r.problems)
        found = self.r.entries(node, path)
        if found is None:
            return _NO_HOURS
        days: list[tuple[TimeRange, ...]] = [()] * 7
        span_of: dict[int, str] = {}
        single_of: dict[int, str] = {}
        singles: list[tuple[int, tuple[TimeRange, ...]]] = []
        for key, key_node, value in found:
            kp = f"{path}.{key}"
            try:
                weekdays = parse_days(key)
            except ValueError as err:
                self.r.report(key_node, f"{kp}: {err}")
                continue
            ranges = self._day_ranges(value, kp)
            if len(weekdays) == 1:
                if weekdays[0] in single_of:
                    self.r.report(
                        key_node,
                        f"{kp}: {WEEKDAYS[weekdays[0]]} is already given by "
                        f"{single_of[weekdays[0]]!r}",
                    )
                single_of.setdefault(weekdays[0], key)
                singles.append((weekdays[0], ranges))
                continue
            for day in weekdays:
                if day in span_of:
                    self.r.report(
                        key_node,
                        f"{kp}: {WEEKDAYS[day]} is already given by "
                        f"{span_of[day]!r}; spans may not overlap "
                        "(a single day may override a span)",
                    )
                    break
            for day in weekdays:
                span_of.setdefault(day, key)
                days[day] = ranges
        # A single day overrides the span it is in ("mon-fri" and "fri"), in any order.
        for day, ranges in singles:
            days[day] = ranges
        # Only when nothing else is wrong: a bad range also leaves a day empty.
        if not any(days) and len(self.r.problems) == before:
            self.r.report(
                node, f"{path}: no opening hours on any day; the center could never take a call"
            )
        return WeeklyHours(tuple(days))

    def _day_ranges(self, node: Node, path: str) -> tuple[TimeRange, ...]:
        if isinstance(node, ScalarNode) and node.tag != NULL:
            if str(node.value).strip() == CLOSED:
                return ()
            items: list[tuple[str, Node]] = [(path, node)]
        elif isinstance(node, SequenceNode):
            items = self.r.items(node, path)
        else:
            self.r.report(
                node,
                f"{path}: expected HH:MM-HH:MM, a list of them, or "
                f"{CLOSED!r}, got {describe(node)}",
            )
            return ()
        ranges: list[tuple[TimeRange, Node, str]] = []
        for ip, item in items:
            text_or_none = self.r.text(item, ip, "a time range HH:MM-HH:MM")
            if text_or_none is None:
                continue
            try:
                ranges.append((parse_time_range(text_or_none), item, ip))
            except ValueError as err:
                self.r.report(item, f"{ip}: {err}")
        ranges.sort(key=lambda r: _minutes(r[0]))
        latest: TimeRange | None = None  # the range reaching furthest into the day so far
        for later, item, ip in ranges:
            if latest is not None and _minutes(later)[0] < _minutes(latest)[1]:
                self.r.report(item, f"{ip}: {later} overlaps {latest}")
            if latest is None or _minutes(later)[1] > _minutes(latest)[1]:
                latest = later
        return tuple(r for r, _, _ in ranges)

    def _ortsnetze(self, cid: str, node: Node | None, path: str) -> tuple[str, ...]:
        codes: list[str] = []
        for ip, item in self.r.items(node, path):
            text = self.r.text(item, ip, "an Ortsnetz code such as '0421'")
            if text is None:
                continue
            try:
                code = parse_ortsnetz(text)
            except ValueError as err:
                self.r.report(item, f"{ip}: {err}")
                continue
            net = self.table.get(code)
            if net is None:
                self.r.report(
                    item,
                    f"{ip}: 0{code} is not a German Ortsnetz (not in the national numbering plan)",
                )
                continue
            owner = self.ortsnetz_owner.get(code)
            if owner == cid:
                self.r.report(item, f"{ip}: Ortsnetz 0{code} is listed twice")
            elif owner is not None:
                self.r.report(
                    item,
                    f"{ip}: Ortsnetz 0{code} ({net.name}) is already served by center {owner!r}",
                )
            else:
                self.ortsnetz_owner[code] = cid
                codes.append(code)
        return tuple(codes)

    def _postal_codes(self, cid: str, node: Node | None, path: str) -> PostalCodes:
        mine: list[PostalEntry] = []
        for ip, item in self.r.items(node, path):
            text = self.r.text(item, ip, "a postal code, prefix or range")
            if text is None:
                continue
            try:
                entry = parse_postal(text)
            except ValueError as err:
                self.r.report(item, f"{ip}: {err}")
                continue
            clash = self.postal.clash(entry)
            if clash is None:
                self.postal.add(entry, cid)
                mine.append(entry)
                continue
            other, owner = clash
            what = f"{ip}: postal {entry.kind} {entry}"
            if other == entry and owner == cid:
                self.r.report(item, f"{what} is listed twice")
            elif other == entry:
                self.r.report(item, f"{what} is already served by center {owner!r}")
            else:
                of = "another range of this center" if owner == cid else f"center {owner!r}"
                self.r.report(item, f"{what} overlaps {other} of {of}")
        return PostalCodes(
            exact=frozenset(e.lo for e in mine if e.kind is PostalKind.EXACT),
            prefixes=frozenset(e.lo for e in mine if e.kind is PostalKind.PREFIX),
            ranges=tuple(sorted((e.lo, e.hi) for e in mine if e.kind is PostalKind.RANGE)),
        )

    def _closures(self, node: Node | None, path: str) -> frozenset[date]:
        found: set[date] = set()
        for ip, item in self.r.items(node, path):
            text = self.r.text(item, ip, "a date YYYY-MM-DD")
            if text is None:
                continue
            try:
                day = parse_date(text)
            except ValueError as err:
                self.r.report(item, f"{ip}: {err}")
                continue
            if day in found:
                self.r.report(item, f"{ip}: {day.isoformat()} is listed twice")
            found.add(day)
        return frozenset(found)

    def _thresholds(self, node: Node | None, path: str) -> Thresholds:
        d = Thresholds()
        if node is None:
            return d
        f = self.r.fields(node, path, optional=("max_waiting", "max_expected_wait_s", "no_agents"))
        wait_node = f.get("max_expected_wait_s")
        max_wait = d.max_expected_wait_s
        if isinstance(wait_node, ScalarNode) and wait_node.tag == NULL:
            max_wait = None
        elif wait_node is not None:
            before = len(self.r.problems)
            value = self.r.number(wait_node, f"{path}.max_expected_wait_s", 0.0)
            if value <= 0 and len(self.r.problems) == before:
                self.r.report(
                    wait_node, f"{path}.max_expected_wait_s: must be above 0, got {value:g}"
                )
            max_wait = value if value > 0 else d.max_expected_wait_s
        return Thresholds(
            max_waiting=self.r.optional_integer(
                f.get("max_waiting"), f"{path}.max_waiting", d.max_waiting, minimum=1
            ),
            max_expected_wait_s=max_wait,
            no_agents=self.r.boolean(f.get("no_agents"), f"{path}.no_agents", d.no_agents),
        )

    def _callback(self, node: Node | None, path: str) -> CallbackSettings | None:
        """The center's ``callback:`` block; absent or null offers no callback."""
        if node is None or (isinstance(node, ScalarNode) and node.tag == NULL):
            return None
        d = CallbackSettings()
        before = len(self.r.problems)
        f = self.r.fields(node, path, optional=_CALLBACK_KEYS)
        r = self.r
        wait = self._positive(f.get("offer_expected_wait_s"), f"{path}.offer_expected_wait_s")
        settings = CallbackSettings(
            offer_expected_wait_s=wait,
            offer_after_wait_s=r.optional_integer(
                f.get("offer_after_wait_s"), f"{path}.offer_after_wait_s", None, minimum=1
            ),
            offer_when_closed=r.boolean(
                f.get("offer_when_closed"), f"{path}.offer_when_closed", d.offer_when_closed
            ),
            attempts=r.integer(f.get("attempts"), f"{path}.attempts", d.attempts, minimum=1),
            retry_interval_s=r.integer(
                f.get("retry_interval_s"), f"{path}.retry_interval_s", d.retry_interval_s, minimum=1
            ),
            ring_timeout_s=r.integer(
                f.get("ring_timeout_s"), f"{path}.ring_timeout_s", d.ring_timeout_s, minimum=5
            ),
            deadline_service_h=self._positive(
                f.get("deadline_service_h"), f"{path}.deadline_service_h"
            )
            or d.deadline_service_h,
        )
        if (
            len(self.r.problems) == before
            and settings.offer_expected_wait_s is None
            and settings.offer_after_wait_s is None
            and not settings.offer_when_closed
        ):
            self.r.report(
                node,
                f"{path}: offers a callback never; set offer_expected_wait_s, "
                "offer_after_wait_s or offer_when_closed (or remove the block)",
            )
        return settings

    def _positive(self, node: Node | None, path: str) -> float | None:
        """A number above 0, or ``None`` if absent or null."""
        if node is None or (isinstance(node, ScalarNode) and node.tag == NULL):
            return None
        before = len(self.r.problems)
        value = self.r.number(node, path, 0.0)
        if value <= 0:
            if len(self.r.problems) == before:
                self.r.report(node, f"{path}: must be above 0, got {value:g}")
            return None
        return value

    def _partners(self, cid: str, node: Node | None, path: str) -> tuple[str, ...]:
        partners: list[str] = []
        for ip, item in self.r.items(node, path):
            partner = self.r.string(item, ip, "")
            if not partner:
                continue
            if partner == cid:
                self.r.report(item, f"{ip}: a center cannot be its own partner")
            elif partner not in self.ids:
                self.unknown_center(item, ip, partner)
            elif partner in partners:
                self.r.report(item, f"{ip}: partner {partner!r} is listed twice")
            else:
                partners.append(partner)
                if all(p != partner for p, _, _ in self.edges[cid]):
                    self.edges[cid].append((partner, item, ip))
        return tuple(partners)

    def unknown_center(self, node: Node, path: str, name: str) -> None:
        """Report a reference to a center that is not configured."""
        hint = did_you_mean(name, self.ids) or (
            f"; configured centers: {', '.join(self.ids)}" if self.ids else ""
        )
        self.r.report(node, f"{path}: unknown center {name!r}{hint}")

    def _check_cycles(self) -> None:
        """Report every partner chain that leads back to a center already on it.

        Overflow and off-hours partners form one graph: a call spilled off-hours
        to a partner that then overflows back would ring where it started.
        """
        state: dict[str, bool] = {}  # False while on the DFS path, True when done
        for root in self.ids:
            if root in state or root not in self.edges:
                continue
            path = [root]
            stack = [iter(self.edges[root])]
            state[root] = False
            while stack:
                edge = next(stack[-1], None)
                if edge is None:
                    state[path.pop()] = True
                    stack.pop()
                    continue
                partner, item, ip = edge
                seen = state.get(partner)
                if seen is None:
                    state[partner] = False
                    path.append(partner)
                    stack.append(iter(self.edges.get(partner, ())))
                elif seen is False:
                    cycle = [*path[path.index(partner) :], partner]
                    self.r.report(
                        item,
                        f"{ip}: partner chain loops: {' -> '.join(cycle)}; "
                        "a call could bounce back to a center it came from",
                    )


class _PostalClaims:
    """Postal-code entries claimed so far, indexed so a clash is found without a scan."""

    def __init__(self) -> None:
        self._single: dict[tuple[PostalKind, str], tuple[PostalEntry, str]] = {}
        # Claimed ranges never overlap, so sorted by start they are sorted by end too.
        self._starts: list[str] = []
        self._ranges: list[tuple[PostalEntry, str]] = []

    def clash(self, entry: PostalEntry) -> tuple[PostalEntry, str] | None:
        """The claimed entry (and its center) that ``entry`` clashes with, if any."""
        if entry.kind is not PostalKind.RANGE:
            return self._single.get((entry.kind, entry.lo))
        # Of the ranges starting at or before entry.hi, only the last can reach entry.lo.
        pos = bisect.bisect_right(self._starts, entry.hi) - 1
        if pos >= 0 and self._ranges[pos][0].clashes(entry):
            return self._ranges[pos]
        return None

    def add(self, entry: PostalEntry, center: str) -> None:
        """Claim an entry that does not clash."""
        if entry.kind is not PostalKind.RANGE:
            self._single[(entry.kind, entry.lo)] = (entry, center)
            return
        pos = bisect.bisect_right(self._starts, entry.lo)
        self._starts.insert(pos, entry.lo)
        self._ranges.insert(pos, (entry, center))


def _minutes(r: TimeRange) -> tuple[int, int]:
    return r.start.hour * 60 + r.start.minute, (r.end.hour * 60 + r.end.minute) or 1440
