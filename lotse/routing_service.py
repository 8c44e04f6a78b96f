"""The FastAGI handler: one routing request in, channel variables out.

Translates the dialplan's AGI arguments (``ami.contract``) into a
:class:`router.policy.Call`, asks the policy with the live snapshot and the
injected wall clock, and renders the decision as the variables the dialplan
reads. Everything else a decision causes (journal, metrics) is handed to
``on_decision``, so this stays a thin translation on the hot path. The
translation itself is ``ami.routing``, shared with ``lotse dialplan trace``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from ami.agi_protocol import AgiReply, AgiRequest
from ami.fastagi import log_call_id
from ami.routing import RoutingRequest, call_from_request, reply_for
from router.policy import Decision, Router, decide
from router.state import Snapshot

_log = structlog.get_logger("lotse.routing")

__all__ = ["DecisionHook", "RoutingRequest", "RoutingService", "call_from_request", "reply_for"]

DecisionHook = Callable[[RoutingRequest, Decision, datetime, Snapshot], None]


class RoutingService:
    """Callable FastAGI handler running the routing policy on the live snapshot."""

    def __init__(
        self,
        router: Router,
        snapshot: Callable[[], Snapshot],
        wall_clock: Callable[[], datetime],
        on_decision: DecisionHook | None = None,
    ) -> None:
        self._router = router
        self._snapshot = snapshot
        self._wall_clock = wall_clock
        self._on_decision = on_decision

    def use(self, router: Router) -> None:
        """Route with ``router`` from the next request on (a configuration reload)."""
        self._router = router

    def __call__(self, request: AgiRequest) -> AgiReply:
        """Decide for one request.

        Raises only :class:`AgiMalformed` (before deciding), for values it cannot use.
        """
        routing = call_from_request(request)
        now = self._wall_clock()
        snapshot = self._snapshot()
        decision = decide(routing.call, now, snapshot, self._router)
        if routing.call_id != request.uniqueid:
            # The dialplan's call id (the caller's channel) wins over the AGI channel's.
            structlog.contextvars.bind_contextvars(call_id=log_call_id(routing.call_id))
        _log.debug(
            "route.decided",
            caller=decision.origin.masked,
            action=decision.action.value,
            home=decision.home,
            target=decision.target,
            timeout_s=decision.queue_timeout_s,
            hop=len(routing.call.visited),
            stale=snapshot.stale,
            reasons=list(decision.reasons),
        )
        if self._on_decision is not None:
            self._on_decision(routing, decision, now, snapshot)
        return reply_for(decision, self._router, routing.call_id)
