"""An originated call's application (``Wait(3600)`` on ``;1``) ends with the call."""

from __future__ import annotations

from standin import ManualClock, Pbx
from standin.agents import AgentProfile, Duration
from standin.staffing import AgentSpec, Staffing
from tests.standin.kit import MONDAY_10, small_config

QUICK = AgentProfile(ring=Duration(mean=1.0), handle=Duration(mean=2.0))


async def test_a_call_that_ended_is_not_held_for_the_rest_of_the_wait() -> None:
    # The load originates every call with Wait(3600): the ;1 half was kept,
    # with everything its call referenced, for the rest of that hour of
    # simulated time after the call had ended (the stand-in's memory grew by
    # every call of the last hour).
    clock = ManualClock(MONDAY_10)
    p = Pbx(
        small_config(),
        staffing=Staffing({"115-wittenberg": (AgentSpec("agent1", QUICK),)}),
        clock=clock,
        agi_url=None,  # the static fallback routes: no controller
        manager_vars=(),
    )
    try:
        assert p.originate(
            "Local/115@lotse-115", "Wait", "3600", "hold-1",
            caller_id="0349112345", uniqueids=("hold-1", ""),
        )  # fmt: skip
        # Far less than the hour: the call is answered and ends within minutes.
        await clock.run_until_idle(900.0)
        assert p.core.calls == {}
        assert clock.now() - MONDAY_10 < 900.0
        assert clock.next_deadline is None  # nothing sleeps on for the Wait
    finally:
        await p.close()
