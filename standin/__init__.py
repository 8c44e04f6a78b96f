"""The Asterisk 22.10.1 stand-in: AMI server, FastAGI client, queue model."""

from standin.calls import CallHandle, CallOutcome, OutcomeKind, QueueVisit
from standin.clock import Clock, ManualClock, ScaledClock
from standin.pbx import Pbx, QueueDefaults

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
