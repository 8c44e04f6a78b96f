"""The compiled router's memos and shortcuts agree with the plain definitions."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from router.numbering import OrtsnetzTable
from router.opening import Moment
from router.policy import Call, Router, _closed, decide, decide_at
from router.state import CenterState, Override, Snapshot
from tests.router.network import demo_config
from tests.router.test_policy_properties import CENTERS, callers, snapshots, visits

TABLE = OrtsnetzTable.load()
SHARED = Router(demo_config(), TABLE)
BERLIN = ZoneInfo("Europe/Berlin")

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300)
@given(now=moments)
def test_instant_is_the_local_moment(now: datetime) -> None:
    instant = SHARED.instant(now)
    assert instant.moment == Moment.of(now.astimezone(BERLIN))
    assert instant.slot == instant.moment.weekday * 1440 + instant.moment.minute


def test_instant_follows_daylight_saving_time() -> None:
    # 2026-03-29 01:00 UTC is 03:00 CEST; a minute before it is 01:59 CET.
    before = SHARED.instant(datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC))
    after = SHARED.instant(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert (before.moment.minute, after.moment.minute) == (119, 180)
    # 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET, so the local minute repeats.
    first = SHARED.instant(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    second = SHARED.instant(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert first.moment.minute == second.moment.minute == 150


@settings(max_examples=300)
@given(now=moments, snap=snapshots)
def test_hot_path_opening_check_matches_closed_reason(now: datetime, snap: Snapshot) -> None:
    instant = SHARED.instant(now)
    for cid in CENTERS:
        expected = SHARED.closed_reason(cid, instant.moment, snap)
        assert _closed(SHARED.plans[cid], instant, snap.centers) == expected


@settings(max_examples=300)
@given(caller=callers, now=moments, snap=snapshots, visited=visits)
def test_memos_do_not_change_decisions(
    caller: str, now: datetime, snap: Snapshot, visited: tuple[str, ...]
) -> None:
    call = Call(caller, visited=visited)
    fresh = Router(demo_config(), TABLE)
    expected = decide(call, now, snap, fresh)
    assert decide(call, now, snap, SHARED) == expected
    assert decide_at(call, SHARED.instant_at(now.timestamp()), snap, SHARED) == expected


def test_landline_homes_are_decided_at_start_up_for_every_ortsnetz() -> None:
    router = Router(demo_config(), TABLE)
    for net in TABLE:
        home = router.landline_home(TABLE.landline_origin(net.code))
        claimed = router.config.center_by_ortsnetz.get(net.code)
        if claimed is not None:
            assert home.center is not None and home.center.id == claimed
            assert home.reasons == (f"home={claimed} via Ortsnetz 0{net.code} ({net.name})",)
        else:
            assert home.via == "fallback" or home.early is not None


def test_a_foreign_table_keeps_its_own_origin() -> None:
    router = Router(demo_config(), TABLE)
    other = OrtsnetzTable.load()
    origin = other.landline_origin("3491")
    assert origin is not TABLE.landline_origin("3491")
    assert router.landline_home(origin).origin is origin


def test_override_still_wins_over_memoised_closures() -> None:
    router = Router(demo_config(), TABLE)
    christmas = datetime(2026, 12, 25, 9, tzinfo=UTC)
    closed = decide(Call("03491 123456"), christmas, Snapshot(), router)
    assert closed.offhours
    forced = Snapshot({"wittenberg": CenterState(agents_logged_in=2, override=Override.OPEN)})
    opened = decide(Call("03491 123456"), christmas, forced, router)
    assert (opened.target, opened.offhours) == ("wittenberg", False)
