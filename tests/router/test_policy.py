"""The routing policy, rule by rule, with the examples operators ask about."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from router.config import UnconnectedMode, UnknownOrigin, UnknownOriginMode
from router.numbering import NumberKind
from router.policy import Action, Call, Router, decide
from router.state import CenterState, Override, Snapshot
from tests.router.network import demo_config

BERLIN = ZoneInfo("Europe/Berlin")
# A plain Tuesday morning: every center open.
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
STAFFED = CenterState(agents_logged_in=5, agents_available=2, agents_busy=3, avg_handle_s=180)


def staffed(*ids: str, **overrides: CenterState) -> Snapshot:
    states = {
        cid: STAFFED
        for cid in ("bremen", "wittenberg", "halberstadt", "paderborn", "sachsen-anhalt", "bund")
    }
    states.update(overrides)
    return Snapshot(centers=states)


def test_landline_goes_home_with_home_greeting(router: Router) -> None:
    d = decide(Call("034911234567"), TUESDAY, staffed(), router)
    assert d.action is Action.QUEUE
    assert (d.home, d.target, d.queue) == ("wittenberg", "wittenberg", "115-wittenberg")
    assert d.greeting == "lotse/greeting-wittenberg"
    assert d.origin.kind is NumberKind.LANDLINE
    assert d.reasons[0] == "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)"
    assert d.queue_timeout_s == 30


def test_number_shapes_reach_the_same_home(router: Router) -> None:
    for raw in ("04211234567", "+49 421 1234567", "0049421 1234567", "4211234567"):
        assert decide(Call(raw), TUESDAY, staffed(), router).home == "bremen", raw
    assert decide(Call("0471 123456"), TUESDAY, staffed(), router).home == "bremen"


def test_dialed_ortsnetz_wins_over_callers(router: Router) -> None:
    d = decide(Call("04211234567", dialed="05251115"), TUESDAY, staffed(), router)
    assert d.home == "paderborn"
    assert "via dialed Ortsnetz 05251" in d.reasons[0]


def test_fronleichnam_closes_paderborn_but_not_wittenberg(router: Router) -> None:
    fronleichnam = datetime(2027, 5, 27, 10, 0, tzinfo=BERLIN)
    pb = decide(Call("05251 123456"), fronleichnam, staffed(), router)
    assert pb.home == "paderborn" and pb.target == "bund"
    assert "paderborn closed: public holiday Fronleichnam (NW)" in pb.reasons
    assert "off-hours partner bund open" in pb.reasons
    wb = decide(Call("03491 123456"), fronleichnam, staffed(), router)
    assert wb.target == "wittenberg"


def test_reformationstag_closes_bremen_and_st_but_not_paderborn(router: Router) -> None:
    reformation = datetime(2028, 10, 31, 10, 0, tzinfo=BERLIN)
    assert decide(Call("0421 123456"), reformation, staffed(), router).target == "bund"
    wb = decide(Call("03491 123456"), reformation, staffed(), router)
    # Sachsen-Anhalt's state center shares the holiday; the national one answers.
    assert wb.target == "bund"
    assert decide(Call("05251 123456"), reformation, staffed(), router).target == "paderborn"


def test_christmas_eve_evening_plays_offhours_announcement_when_no_partner_open(
    router: Router,
) -> None:
    # 24 Dec 2026 is a Thursday; at 22:30 even the national center is closed.
    late = datetime(2026, 12, 24, 22, 30, tzinfo=BERLIN)
    d = decide(Call("03491 123456"), late, staffed(), router)
    assert d.action is Action.ANNOUNCE
    assert d.announcement == "lotse/offhours-wittenberg"
    assert d.home == "wittenberg"
    assert "no off-hours partner open" in d.reasons


def test_closure_day_names_the_day(router: Router) -> None:
    d = decide(Call("0421 123456"), datetime(2026, 12, 24, 10, 0, tzinfo=BERLIN), staffed(), router)
    assert "bremen closed: closure day 2026-12-24" in d.reasons
    assert d.target == "bund"


def test_evening_goes_to_offhours_partner_with_longer_hours(router: Router) -> None:
    evening = datetime(2026, 11, 24, 19, 0, tzinfo=BERLIN)
    d = decide(Call("03941 12345"), evening, staffed(), router)
    assert (d.home, d.target) == ("halberstadt", "sachsen-anhalt")
    assert d.greeting == "lotse/greeting-halberstadt"
    assert any(
        r.startswith("halberstadt closed: outside opening hours (Tue 08:00-18:00)")
        for r in d.reasons
    )


def test_opening_hours_follow_daylight_saving_time(router: Router) -> None:
    # 07:30 UTC is 08:30 in winter (open) but 09:30 in summer — and 06:30 UTC is
    # 07:30 in winter (closed) but 08:30 in summer (open).
    winter = datetime(2026, 11, 24, 6, 30, tzinfo=ZoneInfo("UTC"))
    summer = datetime(2026, 6, 23, 6, 30, tzinfo=ZoneInfo("UTC"))
    assert decide(Call("0421 1234"), winter, staffed(), router).target == "bund"
    assert decide(Call("0421 1234"), summer, staffed(), router).target == "bremen"


def test_manual_override(router: Router) -> None:
    closed = staffed(bremen=CenterState(agents_logged_in=5, override=Override.CLOSED))
    d = decide(Call("0421 1234"), TUESDAY, closed, router)
    assert d.target == "bund" and "bremen closed: closed by override: no reason given" in d.reasons
    sunday = datetime(2026, 11, 29, 10, 0, tzinfo=BERLIN)
    opened = staffed(
        bremen=CenterState(agents_logged_in=2, agents_available=2, override=Override.OPEN)
    )
    assert decide(Call("0421 1234"), sunday, opened, router).target == "bremen"


def test_override_names_the_supervisors_reason(router: Router) -> None:
    closed = CenterState(
        agents_logged_in=5, override=Override.CLOSED, override_note="staff meeting"
    )
    d = decide(Call("0421 1234"), TUESDAY, staffed(bremen=closed), router)
    assert "bremen closed: closed by override: staff meeting" in d.reasons
    sunday = datetime(2026, 11, 29, 10, 0, tzinfo=BERLIN)
    opened = CenterState(
        agents_logged_in=2, agents_available=2, override=Override.OPEN, override_note="crisis day"
    )
    d = decide(Call("0421 1234"), sunday, staffed(bremen=opened), router)
    assert d.target == "bremen" and "open by override: crisis day" in d.reasons


def test_overload_spills_to_first_open_partner_that_is_not_overloaded(router: Router) -> None:
    busy = CenterState(waiting=12, agents_logged_in=3, agents_busy=3, avg_handle_s=200)
    d = decide(Call("03491 1234"), TUESDAY, staffed(wittenberg=busy), router)
    assert d.target == "sachsen-anhalt"
    assert "wittenberg overloaded: 12 waiting >= 10" in d.reasons
    assert d.greeting == "lotse/greeting-wittenberg"
    both = staffed(wittenberg=busy, **{"sachsen-anhalt": busy})
    assert decide(Call("03491 1234"), TUESDAY, both, router).target == "halberstadt"


def test_no_agent_logged_in_counts_as_overloaded(router: Router) -> None:
    empty = CenterState(agents_logged_in=0)
    d = decide(Call("05251 1234"), TUESDAY, staffed(paderborn=empty), router)
    assert d.target == "bund"
    assert "paderborn overloaded: no agent logged in" in d.reasons


def test_all_partners_worse_stays_home(router: Router) -> None:
    busy = CenterState(waiting=12, agents_logged_in=3, agents_busy=3, avg_handle_s=200)
    worse = CenterState(waiting=40, agents_logged_in=3, agents_busy=3, avg_handle_s=200)
    snap = staffed(paderborn=busy, bund=worse)
    d = decide(Call("05251 1234"), TUESDAY, snap, router)
    assert d.target == "paderborn"
    assert "no partner does better: stay at paderborn" in d.reasons
    # ...unless a partner's expected wait is shorter, although over its threshold.
    better = CenterState(waiting=11, agents_logged_in=30, agents_busy=30, avg_handle_s=200)
    d = decide(Call("05251 1234"), TUESDAY, staffed(paderborn=busy, bund=better), router)
    assert d.target == "bund"


def test_spill_never_revisits_and_ends_final(router: Router) -> None:
    first = decide(Call("03491 1234"), TUESDAY, staffed(), router)
    assert first.target == "wittenberg" and first.queue_timeout_s > 0
    second = decide(Call("03491 1234", visited=("wittenberg",)), TUESDAY, staffed(), router)
    assert second.target == "sachsen-anhalt" and second.queue_timeout_s > 0
    assert second.greeting == "lotse/greeting-wittenberg"
    third = decide(
        Call("03491 1234", visited=("wittenberg", "sachsen-anhalt")), TUESDAY, staffed(), router
    )
    # max_hops is 3: the third queue is the last one.
    assert third.target == "halberstadt" and third.queue_timeout_s == 0 and third.final
    beyond = decide(
        Call("03491 1234", visited=("wittenberg", "sachsen-anhalt", "halberstadt")),
        TUESDAY,
        staffed(),
        router,
    )
    assert beyond.action is Action.ANNOUNCE and beyond.announcement == "lotse/all-busy"


def test_last_open_partner_is_final(router: Router) -> None:
    d = decide(Call("05251 1234"), TUESDAY, staffed(), router)
    assert d.target == "paderborn" and d.queue_timeout_s == 30
    d = decide(Call("05251 1234", visited=("paderborn",)), TUESDAY, staffed(), router)
    assert d.target == "bund" and d.queue_timeout_s == 0
    assert "final queue 115-bund: no further partner open" in d.reasons


def test_mobile_caller_is_asked_for_postal_code_then_routed(router: Router) -> None:
    d = decide(Call("0171 1234567"), TUESDAY, staffed(), router)
    assert d.action is Action.ASK_POSTAL_CODE and d.prompt == "lotse/prompt-postal-code"
    assert d.origin.kind is NumberKind.MOBILE
    d = decide(Call("0171 1234567", postal_code="33098"), TUESDAY, staffed(), router)
    assert d.home == "paderborn" and d.reasons[0] == "home=paderborn via postal code 33098"
    d = decide(Call("anonymous", postal_code="06886"), TUESDAY, staffed(), router)
    assert d.home == "wittenberg"
    d = decide(Call("anonymous", postal_code=""), TUESDAY, staffed(), router)
    assert d.home == "bund" and "fallback" in d.reasons[0]


def test_unknown_origin_fallback_mode(table: object) -> None:
    config = demo_config(unknown_origin=UnknownOrigin(mode=UnknownOriginMode.FALLBACK))
    router = Router(config, table)  # type: ignore[arg-type]
    for raw in ("anonymous", "", "+43 1 5555555", "0171 1234567", "garbage!"):
        d = decide(Call(raw), TUESDAY, staffed(), router)
        assert d.home == "bund" and d.action is Action.QUEUE, raw


def test_unconnected_region(table: object) -> None:
    router = Router(demo_config(), table)  # type: ignore[arg-type]
    d = decide(Call("0221 1234567"), TUESDAY, staffed(), router)
    assert d.home == "bund"
    assert d.reasons[0] == "home=bund: fallback, region not connected (Ortsnetz 0221 (Köln))"
    announcing = Router(demo_config(unconnected=UnconnectedMode.ANNOUNCEMENT), table)  # type: ignore[arg-type]
    d = decide(Call("0221 1234567"), TUESDAY, staffed(), announcing)
    assert d.action is Action.ANNOUNCE and d.announcement == "lotse/region-not-connected"


def test_decision_never_contains_the_caller_number(router: Router) -> None:
    d = decide(Call("034911234567"), TUESDAY, staffed(), router)
    text = repr(d)
    assert "1234567" not in text
