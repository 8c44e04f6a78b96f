"""An interpreter for the Asterisk dialplans ``lotse dialplan build`` writes.

Pure: it parses ``extensions.conf`` text, evaluates ``${…}``/``$[…]`` and
the dialplan functions the generated files use, and runs the applications;
everything that touches the world (Queue, AGI, Playback, Read, UserEvent,
QueueLog, Answer, Wait, the clock, queue membership) is a handler the caller
injects (:class:`dialplans.engine.interp.Outside`). The Asterisk stand-in runs calls
through it on the wire; ``lotse dialplan trace`` runs it with a pretend world.
Anything outside the supported subset is an error naming FILE:LINE, never a
silent skip.
"""

from dialplans.engine.dial import DialArgs
from dialplans.engine.interp import (
    Flow,
    Interpreter,
    Outside,
    QueueLogEntry,
    ReadArgs,
    Redirect,
    Step,
)
from dialplans.engine.model import Dialplan, DialplanFileError, DialplanRunError, Location
from dialplans.engine.parse import load_dialplan, parse_text
from dialplans.engine.queue import QueueArgs

__all__ = [
    "DialArgs",
    "Dialplan",
    "DialplanFileError",
    "DialplanRunError",
    "Flow",
    "Interpreter",
    "Location",
    "Outside",
    "QueueArgs",
    "QueueLogEntry",
    "ReadArgs",
    "Redirect",
    "Step",
    "load_dialplan",
    "parse_text",
]
