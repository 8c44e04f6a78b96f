"""The staffing planner (``lotse sim staff``): the fewest agents that keep the promise.

``plan_staffing(scenario, Rules(...))`` returns a :class:`StaffingPlan`;
``sim.staffing.planfile`` writes and reads plans in the scenario's ``agents:``
format; ``sim.staffing.evaluate`` is the one step the search repeats (a
staffing and a seed in, the engine's figures out).
"""
