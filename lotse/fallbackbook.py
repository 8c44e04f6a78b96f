"""Counting the static fallback's calls once each, however the controller learns of them.

A call the static fallback routed (``dialplans/fallback.py``) reaches the
controller in up to three ways: its ``UserEvent(LotseFallback)`` while the
controller listens over AMI, a reconcile that finds it alive in a queue the
journal does not know (adopted), and its ``LOTSEFALLBACK`` line in Asterisk's
queue_log (imported, also long after it ended). The journal keeps it once by
its Uniqueid (the call id); :class:`FallbackBook` does the same for
``lotse_fallback_calls_total``: the first of the three counts, by home, the
others find the Uniqueid already counted. A previous process's counts are in
its journal: the importer counts only calls whose journal row had no fallback
event yet.
"""

from __future__ import annotations

from collections import OrderedDict

from prometheus_client import Counter

# Uniqueids kept: far more than the calls of a day (a call is seen again
# within minutes: the importer waits seconds, a reconcile follows a restart).
KEEP = 200_000
# The metric's label for a call without a home (a region no center serves).
NO_HOME = "none"


class FallbackBook:
    """The Uniqueids of the fallback calls counted in ``counter`` (label ``center``)."""

    def __init__(self, counter: Counter, keep: int = KEEP) -> None:
        self._counter = counter
        self._keep = keep
        self._seen: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._seen

    def count(self, call_id: str, home: str | None) -> bool:
        """Count the call for ``home`` unless it was counted already; True if counted now."""
        if call_id in self._seen:
            return False
        self._seen[call_id] = None
        if len(self._seen) > self._keep:
            self._seen.popitem(last=False)
        self._counter.labels(home or NO_HOME).inc()
        return True
