"""Service hours as a German announcement says them, and draft off-hours scripts.

A caller who reaches a closed 115 center hears when to call again, so the
off-hours announcement must state the hours the configuration actually
routes by: ``montags bis donnerstags von 7 Uhr 30 bis 18 Uhr und freitags bis
16 Uhr``, or ``montags bis freitags von 8 bis 18 Uhr, mittwochs mit
Mittagspause von 12 bis 13 Uhr``. :func:`spoken_hours` words
:class:`~router.config.WeeklyHours` that way, one phrase per set of hours (two
different weekly schedules never get the same words), so a test can hold each
manifest text against the configuration and fail when one of them changes
alone (:func:`script_problems`). :func:`offhours_script` drafts a whole
announcement from it, with the hours the center's off-hours partners extend
its callers' reach to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import time
from itertools import pairwise

from greetings.manifest import Manifest
from greetings.problem import Problem
from router.config import Config, TimeRange, WeeklyHours

# Recurring days are said as adverbs: "montags", not "am Montag".
DAY_ADVERBS = (
    "montags",
    "dienstags",
    "mittwochs",
    "donnerstags",
    "freitags",
    "samstags",
    "sonntags",
)
# What spoken_hours says for hours that never open.
NEVER_OPEN = "an keinem Tag"

_DAY_MINUTES = 1440
# A single break lying within these minutes of the day is the lunch break.
_LUNCH = (11 * 60, 15 * 60)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_HOURS_START = re.compile(r"\b(?:" + "|".join((*DAY_ADVERBS, NEVER_OPEN)) + r")\b")

# Opening intervals of one day as minutes [start, end); 1440 is midnight at the end.
_Spans = tuple[tuple[int, int], ...]


def spoken_hours(hours: WeeklyHours) -> str:
    """The opening hours as a German announcement says them.

    Days with the same opening and closing time are named together (runs of
    three or more as ``montags bis donnerstags``), in weekday order; a group
    opening when the group before it opens names only its closing time
    (``freitags bis 16 Uhr``). Breaks within a day follow as ``mittwochs mit
    Mittagspause von 12 bis 13 Uhr``. Full hours are said ``8 Uhr``, others
    ``7 Uhr 30``; midnight at the end of a day is ``24 Uhr``. Ranges are read
    as a set: unordered or touching ranges say the same as their union.
    """
    days = [_spans(hours.ranges(d)) for d in range(7)]
    envelopes: dict[tuple[int, int], list[int]] = {}
    breaks: dict[_Spans, list[int]] = {}
    for day, spans in enumerate(days):
        if not spans:
            continue
        envelopes.setdefault((spans[0][0], spans[-1][1]), []).append(day)
        gaps = tuple((a[1], b[0]) for a, b in pairwise(spans))
        if gaps:
            breaks.setdefault(gaps, []).append(day)
    if not envelopes:
        return NEVER_OPEN
    opening: list[str] = []
    previous_start: int | None = None
    for (start, end), group in envelopes.items():
        when = f"bis {_clock(end)}" if start == previous_start else _from_to(start, end)
        opening.append(f"{_days(group)} {when}")
        previous_start = start
    pauses = [f"{_days(group)} mit {_pause(gaps)}" for gaps, group in breaks.items()]
    return ", ".join([_enumerate(opening), *pauses])


def union_hours(hours: Iterable[WeeklyHours]) -> WeeklyHours:
    """Weekly hours open whenever any of ``hours`` is open."""
    merged: list[list[TimeRange]] = [[] for _ in range(7)]
    for weekly in hours:
        for day in range(7):
            merged[day].extend(weekly.ranges(day))
    return WeeklyHours(tuple(_ranges(_spans(ranges)) for ranges in merged))


def reachable_hours(config: Config, center_id: str) -> WeeklyHours:
    """When a caller whose home is ``center_id`` gets an answer, by weekly hours.

    The center itself or, while it is closed, any center of its off-hours
    chain. Holidays and closure days are not in weekly hours; on those the
    states of the centers decide.
    """
    ids = (center_id, *config.offhours_chain[center_id])
    return union_hours(config.centers[cid].hours for cid in ids)


def offhours_script(config: Config, center_id: str) -> str:
    """A draft off-hours announcement for ``center_id``, for a speaker to review.

    It is played instead of the greeting when the center and every off-hours
    partner are closed, so it says the center's own hours and, when its
    off-hours partners answer its callers at other times too, when the 115
    reaches anyone for them at all (:func:`reachable_hours`). The center's name
    is taken as configured and assumed to be neuter (``das Bürgertelefon ...``,
    ``das Servicecenter ...``).
    """
    center = config.centers[center_id]
    own = spoken_hours(center.hours)
    sentences = [
        f"Das {center.name} ist zurzeit nicht besetzt.",
        f"Unsere Servicezeiten sind {own}.",
    ]
    reachable = spoken_hours(reachable_hours(config, center_id))
    if reachable != own:
        sentences.append(f"Außerhalb dieser Zeiten erreichen Sie die 115 {reachable}.")
    sentences += ["An Feiertagen gelten andere Zeiten.", "Vielen Dank."]
    return " ".join(sentences)


def script_problems(config: Config, manifest: Manifest) -> list[Problem]:
    """Where the manifest's scripts contradict ``config``, one problem per lie.

    Each center's greeting and off-hours announcement must name the center as
    configured. The off-hours announcement must state the center's hours as
    :func:`spoken_hours` says them and, when its off-hours partners answer at
    other times too, the hours of :func:`reachable_hours`; any other hours it
    states are a problem as well (see :func:`stated_hours`). Sounds the
    manifest lacks are left to :func:`greetings.check.check`.
    """
    found: list[Problem] = []

    def problem(name: str, message: str) -> None:
        sound = manifest.get(name)
        line = sound.line if sound is not None else None
        found.append(Problem(manifest.source, f"sound '{name}': {message}", line))

    for cid, center in config.centers.items():
        greeting = manifest.get(center.greeting)
        if greeting is not None and center.name not in _words(greeting.text):
            problem(greeting.name, f"does not name center '{cid}' as configured: {center.name!r}")
        offhours = manifest.get(center.offhours_announcement)
        if offhours is None:
            continue
        text = _words(offhours.text)
        if center.name not in text:
            problem(offhours.name, f"does not name center '{cid}' as configured: {center.name!r}")
        own = spoken_hours(center.hours)
        reachable = spoken_hours(reachable_hours(config, cid))
        stated = stated_hours(text)
        if own not in stated:
            problem(offhours.name, f"does not state the hours of '{cid}' as configured: {own!r}")
        if reachable not in stated:
            problem(
                offhours.name,
                f"does not state when '{cid}' or its off-hours partners answer: {reachable!r}",
            )
        for phrase in stated:
            if phrase not in (own, reachable):
                problem(offhours.name, f"states hours that '{cid}' does not have: {phrase!r}")
    return found


def stated_hours(text: str) -> list[str]:
    """The hours a script states: in each sentence, from its first weekday to its end.

    Hours are said as the end of their sentence (``Unsere Servicezeiten sind
    montags bis freitags von 8 bis 18 Uhr.``), so a phrase that only begins a
    longer one is not mistaken for it: ``montags bis freitags von 6 bis 22
    Uhr`` is not stated by ``... von 6 bis 22 Uhr und samstags von 8 bis 20 Uhr.``
    """
    found = []
    for sentence in _SENTENCE_END.split(_words(text)):
        match = _HOURS_START.search(sentence)
        if match:
            found.append(sentence[match.start() :].rstrip(".!?"))
    return found


def _words(text: str) -> str:
    return " ".join(text.split())


def _spans(ranges: Iterable[TimeRange]) -> _Spans:
    """The ranges as sorted, disjoint minute intervals; touching ones are merged."""
    spans: list[tuple[int, int]] = []
    for start, end in sorted(_minutes(r) for r in ranges):
        if start >= end:
            continue
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return tuple(spans)


def _minutes(r: TimeRange) -> tuple[int, int]:
    end = r.end.hour * 60 + r.end.minute
    return r.start.hour * 60 + r.start.minute, end or _DAY_MINUTES


def _ranges(spans: _Spans) -> tuple[TimeRange, ...]:
    return tuple(TimeRange(_time(a), _time(b)) for a, b in spans)


def _time(minute: int) -> time:
    return time(0, 0) if minute == _DAY_MINUTES else time(minute // 60, minute % 60)


def _clock(minute: int) -> str:
    hour, rest = divmod(minute, 60)
    return f"{hour} Uhr {rest}" if rest else f"{hour} Uhr"


def _from_to(start: int, end: int) -> str:
    # "von 8 bis 18 Uhr": a full opening hour shares the closing time's "Uhr".
    first = _clock(start) if start % 60 else str(start // 60)
    return f"von {first} bis {_clock(end)}"


def _pause(gaps: _Spans) -> str:
    if len(gaps) == 1:
        start, end = gaps[0]
        word = "Mittagspause" if _LUNCH[0] <= start and end <= _LUNCH[1] else "Pause"
        return f"{word} {_from_to(start, end)}"
    return "Pausen " + _enumerate([_from_to(a, b) for a, b in gaps])


def _days(days: Sequence[int]) -> str:
    """Weekdays (0 = Monday, ascending) as adverbs; runs of three or more as "X bis Y"."""
    items: list[str] = []
    run: list[int] = []
    for day in [*days, -2]:  # the sentinel ends the last run
        if run and day == run[-1] + 1:
            run.append(day)
            continue
        if len(run) >= 3:
            items.append(f"{DAY_ADVERBS[run[0]]} bis {DAY_ADVERBS[run[-1]]}")
        else:
            items += [DAY_ADVERBS[d] for d in run]
        run = [day]
    return _enumerate(items)


def _enumerate(items: Sequence[str]) -> str:
    """``a``, ``a und b``, ``a, b und c``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} und {items[-1]}"
