"""More agents never lower the service level in the engine (same seed, same callers).

With fixed handle and ring times and callers who never hang up, every random
draw happens at an arrival, so two staffings see the very same callers; a
first-come-first-served queue then answers each caller no later with more
agents (Kiefer and Wolfowitz), shift ends included. The planner's search
relies on this when it adds agents.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.numbering import OrtsnetzTable
from sim.engine import simulate
from sim.scenario import Dist, DistKind
from tests.sim.helpers import center, scenario
from tests.sim.staffing.helpers import erlang_plan

_TABLE = OrtsnetzTable.load()
_halves = st.lists(st.integers(0, 4), min_size=48, max_size=48)


@settings(max_examples=25, deadline=None)
@given(
    base=_halves,
    extra=_halves,
    rate=st.floats(5.0, 60.0),
    handle=st.floats(30.0, 400.0),
    seed=st.integers(0, 10_000),
)
def test_more_agents_never_lower_the_service_level(
    base: list[int], extra: list[int], rate: float, handle: float, seed: int
) -> None:
    def level(agents: list[int]) -> float:
        plan = erlang_plan(
            [rate] * 24,
            agents=(tuple(agents),) * 7,
            handle=Dist(DistKind.FIXED, handle),
            patience=Dist(DistKind.NONE),
            ring=Dist(DistKind.FIXED, 3.0),
        )
        s = scenario(_TABLE, [center("solo", ortsnetze=("30",))], {"solo": plan})
        report = simulate(s, seed=seed)
        assert report.national.service_level is not None
        return report.national.service_level

    more = [b + e for b, e in zip(base, extra, strict=True)]
    assert level(more) >= level(base)
