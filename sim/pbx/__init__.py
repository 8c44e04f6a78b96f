"""The Asterisk 22.10.1 stand-in: AMI server, FastAGI client, queue model."""

from sim.pbx.calls import CallHandle, CallOutcome, OutcomeKind, QueueVisit
from sim.pbx.clock import Clock, ManualClock, ScaledClock
from sim.pbx.pbx import Pbx, QueueDefaults

__all__ = [
    "CallHandle",
    "CallOutcome",
    "Clock",
    "ManualClock",
    "OutcomeKind",
    "Pbx",
    "QueueDefaults",
    "QueueVisit",
    "ScaledClock",
]
