"""The policy's overload rule as a yes/no test on raw queue counts.

:func:`router.policy.decide` asks *why* a center is overloaded and writes the
answer into the decision's reasons. A caller that only needs to know *whether*
it is (the what-if engine, to tell if a decision it made earlier still holds)
should not build a :class:`router.state.CenterState` and word a reason for
every call. :func:`calm_test` compiles one center's thresholds into a
predicate on the counts the engine keeps anyway.

The predicate must agree with the policy's rule for every state:
``calm(...)`` is true exactly when the policy finds no overload reason for
``CenterState(waiting, agents_logged_in=logged_in, agents_available=available,
avg_handle_s=avg_handle())``. ``tests/router/test_overload.py`` checks that
over random thresholds and states, so a change to the rule that is not made
here too fails there.
"""

from __future__ import annotations

from collections.abc import Callable

from router.compiled import CenterPlan

# The handle time ``CenterState.expected_wait_s`` assumes before any call ended.
_DEFAULT_HANDLE_S = 240.0

#: ``calm(waiting, logged_in, available, avg_handle)``: not overloaded. ``avg_handle``
#: is asked only when the expected wait matters (the recent average, or ``None``).
CalmTest = Callable[[int, int, int, Callable[[], float | None]], bool]


def calm_test(plan: CenterPlan) -> CalmTest | None:
    """The overload rule of ``plan`` as a predicate, or ``None`` if it can never hold.

    ``logged_in`` is the known number of agents logged in (``None``, unknown,
    never overloads a center and is not a case the engine has).
    """
    no_agents = plan.no_agents
    limit = plan.max_waiting
    max_wait = plan.max_expected_wait_s
    if not no_agents and limit is None and max_wait is None:
        return None

    def calm(
        waiting: int, logged_in: int, available: int, avg_handle: Callable[[], float | None]
    ) -> bool:
        if no_agents and logged_in == 0:
            return False
        if limit is not None and waiting >= limit:
            return False
        if max_wait is None:
            return True
        # CenterState.expected_wait_s, in the same order of operations.
        if available > waiting:
            wait = 0.0
        elif logged_in == 0:
            wait = float("inf")
        else:
            aht = avg_handle()
            if aht is None:
                aht = _DEFAULT_HANDLE_S
            wait = (waiting - available + 1) * aht / logged_in
        return not wait >= max_wait

    return calm
