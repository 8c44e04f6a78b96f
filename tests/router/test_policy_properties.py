"""Invariants of the routing policy over arbitrary input (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime

import holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from router.config import Center
from router.numbering import OrtsnetzTable
from router.policy import Action, Call, Decision, Router, decide
from router.state import CenterState, Override, Snapshot
from tests.router.network import demo_config

CENTERS = ("bremen", "wittenberg", "halberstadt", "paderborn", "sachsen-anhalt", "bund")

center_states = st.builds(
    CenterState,
    waiting=st.integers(0, 60),
    longest_wait_s=st.floats(0, 3600),
    agents_logged_in=st.none() | st.integers(0, 40),
    agents_available=st.integers(0, 10),
    agents_busy=st.integers(0, 40),
    avg_handle_s=st.none() | st.floats(1, 1800),
    override=st.none() | st.sampled_from(Override),
)
snapshots = st.builds(
    Snapshot, centers=st.dictionaries(st.sampled_from(CENTERS), center_states), stale=st.booleans()
)
callers = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A(\+49|0049|0)?[1-9][0-9]{5,11}\Z"),
    st.sampled_from(["anonymous", "", "034911234567", "+4952511234", "01711234567", "+431234567"]),
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
visits = st.lists(st.sampled_from(CENTERS), max_size=6, unique=True).map(tuple)
postal = st.none() | st.text(max_size=8) | st.from_regex(r"\A[0-9]{5}\Z")
dialed = st.sampled_from(["115", "0421115", "05251115", "0221115", "+493491115", ""]) | st.text(
    max_size=12
)
calls = st.builds(Call, caller=callers, dialed=dialed, postal_code=postal, visited=visits)

ROUTER = Router(demo_config(), OrtsnetzTable.load())


def _is_open(center: Center, local: datetime, state: CenterState) -> bool:
    """An oracle written independently of router.opening: override, closures, holidays, hours."""
    if state.override is not None:
        return state.override is Override.OPEN
    if local.date() in center.closures:
        return False
    if local.date() in holidays.country_holidays("DE", subdiv=center.state, years=local.year):
        return False
    return center.hours.is_open(local.weekday(), local.time().replace(second=0, microsecond=0))


def _has_destination(d: Decision) -> bool:
    if d.action is Action.QUEUE:
        return d.queue is not None and d.target is not None and d.greeting is not None
    if d.action is Action.ANNOUNCE:
        return d.announcement is not None
    return d.prompt is not None


@settings(max_examples=400, deadline=None)
@given(calls, moments, snapshots)
def test_every_call_gets_exactly_one_destination(call: Call, now: datetime, snap: Snapshot) -> None:
    d = decide(call, now, snap, ROUTER)
    assert _has_destination(d)
    assert decide(call, now, snap, ROUTER) == d, "decision must be deterministic"


@settings(max_examples=400, deadline=None)
@given(calls, moments, snapshots)
def test_target_is_open_and_never_visited(call: Call, now: datetime, snap: Snapshot) -> None:
    d = decide(call, now, snap, ROUTER)
    if d.action is Action.QUEUE:
        assert d.target not in call.visited
        center = ROUTER.config.centers[d.target]  # type: ignore[index]
        local = now.astimezone(ROUTER.tz)
        assert _is_open(center, local, snap.of(center.id))


@settings(max_examples=200, deadline=None)
@given(callers, moments, snapshots, postal)
def test_spills_end_within_the_hop_limit(
    caller: str, now: datetime, snap: Snapshot, plz: str | None
) -> None:
    visited: tuple[str, ...] = ()
    for _ in range(ROUTER.config.max_hops + 1):
        d = decide(Call(caller, postal_code=plz, visited=visited), now, snap, ROUTER)
        if d.action is Action.ASK_POSTAL_CODE:
            plz = ""
            continue
        if d.final:
            return
        assert d.target is not None
        visited += (d.target,)
    raise AssertionError(f"no final decision after {len(visited)} hops: {visited}")


@settings(max_examples=200, deadline=None)
@given(calls, moments, snapshots)
def test_open_eligible_center_beats_closed_home(call: Call, now: datetime, snap: Snapshot) -> None:
    """When home is closed and an unvisited off-hours partner is open, never an announcement."""
    d = decide(call, now, snap, ROUTER)
    if d.action is not Action.ANNOUNCE or d.home is None or len(call.visited) >= 3:
        return
    local = now.astimezone(ROUTER.tz)
    config = ROUTER.config
    home = config.centers[d.home]
    if _is_open(home, local, snap.of(home.id)):
        return
    for cid in config.offhours_chain[home.id]:
        if cid in call.visited:
            continue
        c = config.centers[cid]
        assert not _is_open(c, local, snap.of(cid)), cid
