"""Service hours in German words, and the draft off-hours scripts."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greetings.spoken import (
    DAY_ADVERBS,
    NEVER_OPEN,
    offhours_script,
    reachable_hours,
    spoken_hours,
    stated_hours,
    union_hours,
)
from router.config import Center, Config, TimeRange, WeeklyHours

Spans = list[tuple[int, int]]


def hours(**days: str | list[str]) -> WeeklyHours:
    """``hours(mon="08:00-18:00", wed=["08:00-12:00", "13:00-18:00"])``."""
    keys = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    week: list[tuple[TimeRange, ...]] = []
    for key in keys:
        value = days.get(key, [])
        texts = [value] if isinstance(value, str) else value
        week.append(tuple(_range(t) for t in texts))
    return WeeklyHours(tuple(week))


def _range(text: str) -> TimeRange:
    start, end = text.split("-")
    return TimeRange(_time(start), time(0, 0) if end == "24:00" else _time(end))


def _time(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def weekdays(value: str | list[str]) -> dict[str, str | list[str]]:
    return {d: value for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.mark.parametrize(
    ("week", "said"),
    [
        (weekdays("08:00-18:00"), "montags bis freitags von 8 bis 18 Uhr"),
        (
            {**weekdays("07:30-18:00"), "fri": "07:30-16:00"},
            "montags bis donnerstags von 7 Uhr 30 bis 18 Uhr und freitags bis 16 Uhr",
        ),
        (
            {**weekdays("08:00-18:00"), "wed": ["08:00-12:00", "13:00-18:00"]},
            "montags bis freitags von 8 bis 18 Uhr, mittwochs mit Mittagspause von 12 bis 13 Uhr",
        ),
        (
            {**weekdays("06:00-22:00"), "sat": "08:00-20:00"},
            "montags bis freitags von 6 bis 22 Uhr und samstags von 8 bis 20 Uhr",
        ),
        # Not consecutive: days with the same hours are still named together.
        (
            {**weekdays("08:00-18:00"), "wed": "08:00-13:00"},
            "montags, dienstags, donnerstags und freitags von 8 bis 18 Uhr "
            "und mittwochs bis 13 Uhr",
        ),
        (
            {"mon": "08:00-12:30", "tue": "09:00-17:45", "thu": "09:00-17:45"},
            "montags von 8 bis 12 Uhr 30 und dienstags und donnerstags von 9 bis 17 Uhr 45",
        ),
        ({"sat": "00:00-24:00", "sun": "00:00-24:00"}, "samstags und sonntags von 0 bis 24 Uhr"),
        (
            {"mon": ["07:00-09:00", "16:30-19:00"]},
            "montags von 7 bis 19 Uhr, montags mit Pause von 9 bis 16 Uhr 30",
        ),
        (
            {"tue": ["08:00-10:00", "10:15-12:00", "13:00-18:00"]},
            "dienstags von 8 bis 18 Uhr, dienstags mit Pausen von 10 bis 10 Uhr 15 "
            "und von 12 bis 13 Uhr",
        ),
        ({}, NEVER_OPEN),
    ],
)
def test_spoken_hours(week: dict[str, str | list[str]], said: str) -> None:
    assert spoken_hours(hours(**week)) == said


def test_unordered_and_touching_ranges_say_their_union() -> None:
    assert spoken_hours(hours(mon=["13:00-18:00", "08:00-13:00"])) == "montags von 8 bis 18 Uhr"


def test_union_hours_merges_overlaps_and_keeps_gaps() -> None:
    union = union_hours(
        [hours(mon="08:00-12:00", tue="08:00-12:00"), hours(mon="11:00-24:00", tue="14:00-16:00")]
    )
    assert [str(r) for r in union.ranges(0)] == ["08:00-24:00"]
    assert [str(r) for r in union.ranges(1)] == ["08:00-12:00", "14:00-16:00"]
    assert union.ranges(2) == ()


def center(cid: str, name: str, week: WeeklyHours, *partners: str) -> Center:
    return Center(
        id=cid,
        name=name,
        state="BE",
        queue=f"115-{cid}",
        greeting=f"lotse/greeting-{cid}",
        offhours_announcement=f"lotse/offhours-{cid}",
        hours=week,
        offhours_partners=partners,
    )


def network() -> Config:
    centers = [
        center("stadt", "Bürgertelefon Stadt", hours(**weekdays("08:00-16:00")), "land"),
        center("land", "Servicecenter Land", hours(**weekdays("07:00-19:00")), "bund"),
        center("bund", "Servicecenter des Bundes", hours(**weekdays("06:00-22:00"))),
        center("spaet", "Bürgertelefon Spät", hours(**weekdays("10:00-20:00")), "frueh"),
        center("frueh", "Servicecenter Früh", hours(mon="10:00-12:00")),
    ]
    return Config(centers={c.id: c for c in centers}, fallback_center="bund")


def test_reachable_hours_follow_the_whole_offhours_chain() -> None:
    config = network()
    assert spoken_hours(reachable_hours(config, "stadt")) == (
        "montags bis freitags von 6 bis 22 Uhr"
    )
    assert spoken_hours(reachable_hours(config, "bund")) == spoken_hours(
        config.centers["bund"].hours
    )


def test_offhours_script_says_when_the_center_and_the_115_answer() -> None:
    script = offhours_script(network(), "stadt")
    assert script == (
        "Das Bürgertelefon Stadt ist zurzeit nicht besetzt. "
        "Unsere Servicezeiten sind montags bis freitags von 8 bis 16 Uhr. "
        "Außerhalb dieser Zeiten erreichen Sie die 115 montags bis freitags von 6 bis 22 Uhr. "
        "An Feiertagen gelten andere Zeiten. Vielen Dank."
    )
    assert stated_hours(script) == [
        "montags bis freitags von 8 bis 16 Uhr",
        "montags bis freitags von 6 bis 22 Uhr",
    ]


def test_offhours_script_says_the_115_hours_only_when_partners_widen_them() -> None:
    # Partner "frueh" is never open when "spaet" is closed; "bund" has no partner.
    for cid in ("spaet", "bund"):
        script = offhours_script(network(), cid)
        assert "115" not in script
        assert stated_hours(script) == [spoken_hours(network().centers[cid].hours)]


def test_stated_hours_takes_each_sentence_from_its_first_weekday_to_its_end() -> None:
    text = (
        "Wir sind montags bis freitags von 6 bis 22 Uhr und samstags von 8 bis 20 Uhr "
        "für Sie da.  Unsere Zeiten:\n montags von 8 bis 9 Uhr! Danke."
    )
    assert stated_hours(text) == [
        "montags bis freitags von 6 bis 22 Uhr und samstags von 8 bis 20 Uhr für Sie da",
        "montags von 8 bis 9 Uhr",
    ]


# --- Round trip: the words determine the hours, so no two schedules sound alike ---


def parse(phrase: str) -> list[Spans]:
    """Read spoken_hours' German back into minute spans per weekday."""
    if phrase == NEVER_OPEN:
        return [[] for _ in range(7)]
    tokens = phrase.replace(",", " ,").split()
    envelope: dict[int, tuple[int, int]] = {}
    gaps: dict[int, Spans] = {}
    previous_start: int | None = None
    pos = 0
    while pos < len(tokens):
        if tokens[pos] in (",", "und"):
            pos += 1
            continue
        days, pos = _days(tokens, pos)
        if tokens[pos] == "mit":
            assert tokens[pos + 1] in ("Mittagspause", "Pause", "Pausen")
            pos += 2
            breaks: Spans = []
            while True:
                span, pos = _from_to(tokens, pos)
                breaks.append(span)
                if tokens[pos : pos + 2] != ["und", "von"]:
                    break
                pos += 1
            gaps.update(dict.fromkeys(days, breaks))
        elif tokens[pos] == "von":
            span, pos = _from_to(tokens, pos)
            previous_start = span[0]
            envelope.update(dict.fromkeys(days, span))
        else:
            assert tokens[pos] == "bis" and previous_start is not None
            end, pos = _clock(tokens, pos + 1)
            envelope.update(dict.fromkeys(days, (previous_start, end)))
    week: list[Spans] = [[] for _ in range(7)]
    for day, (start, end) in envelope.items():
        bounds = [start, *(m for gap in gaps.get(day, []) for m in gap), end]
        week[day] = list(zip(bounds[::2], bounds[1::2], strict=True))
    return week


def _days(tokens: list[str], pos: int) -> tuple[list[int], int]:
    days: list[int] = []
    while True:
        first = DAY_ADVERBS.index(tokens[pos])
        last = first
        if tokens[pos + 1] == "bis" and tokens[pos + 2] in DAY_ADVERBS:
            last = DAY_ADVERBS.index(tokens[pos + 2])
            pos += 2
        days += range(first, last + 1)
        pos += 1
        if tokens[pos] in (",", "und") and tokens[pos + 1] in DAY_ADVERBS:
            pos += 1
            continue
        return days, pos


def _from_to(tokens: list[str], pos: int) -> tuple[tuple[int, int], int]:
    assert tokens[pos] == "von"
    start, pos = _clock(tokens, pos + 1)
    assert tokens[pos] == "bis"
    end, pos = _clock(tokens, pos + 1)
    return (start, end), pos


def _clock(tokens: list[str], pos: int) -> tuple[int, int]:
    minute = int(tokens[pos]) * 60
    pos += 1
    if pos < len(tokens) and tokens[pos] == "Uhr":
        pos += 1
        if pos < len(tokens) and tokens[pos].isdigit():
            minute += int(tokens[pos])
            pos += 1
    return minute, pos


# Up to three disjoint, non-touching ranges a day; 1440 is midnight at the end.
day_spans = st.lists(st.integers(0, 1440), unique=True, max_size=6).map(
    lambda points: [
        (a, b) for a, b in zip(sorted(points)[0::2], sorted(points)[1::2], strict=False)
    ]
)


def weekly(week: list[Spans]) -> WeeklyHours:
    def at(minute: int) -> time:
        return time(0, 0) if minute == 1440 else time(minute // 60, minute % 60)

    return WeeklyHours(tuple(tuple(TimeRange(at(a), at(b)) for a, b in day) for day in week))


@given(st.lists(day_spans, min_size=7, max_size=7))
def test_spoken_hours_say_exactly_the_hours(week: list[Spans]) -> None:
    assert parse(spoken_hours(weekly(week))) == week


@given(st.lists(day_spans, min_size=7, max_size=7))
def test_stated_hours_find_spoken_hours_whole(week: list[Spans]) -> None:
    said = spoken_hours(weekly(week))
    assert stated_hours(f"Unsere Servicezeiten sind {said}. Vielen Dank.") == [said]
