"""``lotse dialplan build``, refused values, and random configurations through asterisklint."""

from __future__ import annotations

import argparse
from datetime import date, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialplans.build import EXTENSIONS, MANAGER, QUEUES, AmiEvents, build
from dialplans.cli import add_parser, parse_years
from dialplans.conf import DialplanError
from router.config import Center, Config, TimeRange, WeeklyHours
from tests.dialplans.helpers import (
    CALENDAR,
    DEMO_CONFIG,
    YEARS,
    build_files,
    center,
    lint_as_included,
    small_config,
)

EVENTS = AmiEvents.from_ami()


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["dialplan", "build", *argv])
    code: int = args.func(args)
    return code


def test_build_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "asterisk"
    assert _run("--config", str(DEMO_CONFIG), "--out", str(out), "--years", "2026") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([EXTENSIONS, QUEUES, MANAGER])
    assert capsys.readouterr().out.splitlines() == [
        str(out / n) for n in (EXTENSIONS, QUEUES, MANAGER)
    ]
    assert "Public holidays in the fallback cover 2026-2026" in (out / EXTENSIONS).read_text()


def test_a_bad_config_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("centers: {}\n", encoding="utf-8")
    assert _run("--config", str(bad), "--out", str(tmp_path)) == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert _run("--config", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)) == 2
    assert _run("--config", str(DEMO_CONFIG), "--years", "20x6") == 2
    assert not list(tmp_path.glob("*.conf"))


def test_an_unwritable_output_is_a_runtime_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    assert _run("--config", str(DEMO_CONFIG), "--out", str(blocker / "sub")) == 1


def test_years() -> None:
    assert parse_years(None, date(2026, 11, 23)) == range(2026, 2028)
    assert parse_years("2027-2029", date(2026, 1, 1)) == range(2027, 2030)
    for text in ("2027-2026", "abc", "1800", "2026-2040"):
        with pytest.raises(ValueError):
            parse_years(text, date(2026, 1, 1))


@pytest.mark.parametrize(
    "bad",
    [
        {"queue": "115,bremen"},
        {"greeting": "lotse/greeting;x"},
        {"offhours_announcement": "${SHELL(rm)}"},
        {"ortsnetze": ("0421",)},
    ],
)
def test_values_asterisk_would_misread_are_refused(bad: dict[str, object]) -> None:
    config = small_config(center("a", **bad))
    with pytest.raises(DialplanError):
        build_files(config)


def test_ids_differing_only_in_dashes_are_refused() -> None:
    # Asterisk drops '-' from extension names: center-a-b would be center-ab.
    with pytest.raises(DialplanError, match="only in '-'"):
        build_files(small_config(center("a-b"), center("ab")))


def test_unknown_fallback_center_is_refused() -> None:
    with pytest.raises(ValueError, match="fallback center"):
        build_files(small_config(center("a"), fallback="nope"))


# --- random networks --------------------------------------------------------------


@st.composite
def _hours(draw: st.DrawFn) -> WeeklyHours:
    days: list[tuple[TimeRange, ...]] = []
    for _ in range(7):
        if draw(st.booleans()):
            lo = draw(st.integers(min_value=0, max_value=22))
            hi = draw(st.integers(min_value=lo + 1, max_value=24))
            days.append((TimeRange(time(lo), time(0) if hi == 24 else time(hi)),))
        else:
            days.append(())
    return WeeklyHours(tuple(days))


@st.composite
def _configs(draw: st.DrawFn) -> Config:
    ids = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    codes = draw(
        st.lists(st.from_regex(r"[2-9][0-9]{1,4}", fullmatch=True), max_size=8, unique=True)
    )
    centers: list[Center] = []
    for i, cid in enumerate(ids):
        later = ids[i + 1 :]  # partners only further down: no cycles
        centers.append(
            center(
                cid,
                state=draw(st.sampled_from(["BE", "BY", "NW", "ST", "HB"])),
                hours=draw(_hours()),
                ortsnetze=tuple(codes[i :: len(ids)]),
                queue_timeout_s=draw(st.integers(min_value=1, max_value=600)),
                overflow_partners=tuple(draw(st.lists(st.sampled_from(later), unique=True)))
                if later
                else (),
                offhours_partners=tuple(draw(st.lists(st.sampled_from(later), unique=True)))
                if later
                else (),
            )
        )
    return small_config(
        *centers,
        max_hops=draw(st.integers(min_value=1, max_value=5)),
        timezone=draw(st.sampled_from(["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires"])),
    )


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(config=_configs())
def test_any_network_passes_asterisklint(
    config: Config, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = build(config, YEARS, EVENTS, CALENDAR)
    code, report = lint_as_included(files, tmp_path_factory.mktemp("lint"))
    assert (code, report) == (0, "")
    for cid, c in config.centers.items():
        assert f"exten => center-{cid},1," in files[EXTENSIONS]
        assert f"[{c.queue}](lotse-queue)" in files[QUEUES]
        for code_ in c.ortsnetze:
            assert f"exten => {code_},1,Goto(lotse-fallback,home-{cid},1)" in files[EXTENSIONS]


def test_every_queue_takes_at_most_asterisk_22s_nine_arguments(tmp_path: Path) -> None:
    # Asterisk 22's Queue() has nine arguments; a tenth is ignored without a
    # warning (../shared/asterisk/queue-position.txt: a ten-argument position 1
    # joined at the end), so none of the built dialplan's may have more.
    from dialplans.engine import load_dialplan
    from dialplans.engine.args import split_args

    out = tmp_path / "asterisk"
    assert _run("--config", str(DEMO_CONFIG), "--out", str(out), "--years", "2026") == 0
    plan = load_dialplan(out)
    queues = [
        prio
        for ctx in plan.contexts.values()
        for ext in ctx.extensions.values()
        for prio in ext.priorities.values()
        if prio.app.lower() == "queue"
    ]
    assert queues, "the demo dialplan queues its callers"
    assert any(len(split_args(p.data)) == 9 for p in queues), "the callback leg's position"
    for prio in queues:
        assert len(split_args(prio.data)) <= 9, f"{prio.where}: Queue({prio.data})"
