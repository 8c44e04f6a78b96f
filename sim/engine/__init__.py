"""The what-if engine: a scenario's calls routed by the real policy, in virtual time.

``simulate(scenario, seed=N)`` runs a :class:`sim.scenario.Scenario` and
returns a :class:`SimReport`; ``sim.engine.plots`` draws its charts.
"""

from metrics.servicelevel import NATIONAL
from sim.engine.core import Engine, simulate
from sim.engine.decisions import DecisionMismatch
from sim.engine.report import CenterReport, Flow, SimReport
from sim.engine.timeline import NoHolidays

__all__ = [
    "NATIONAL",
    "CenterReport",
    "DecisionMismatch",
    "Engine",
    "Flow",
    "NoHolidays",
    "SimReport",
    "simulate",
]
