"""The call tracker's service-level counters, per queue and per home, at their boundaries.

A :class:`CallTracker` is fed routing decisions and typed AMI events directly
(and a real Asterisk 22 capture of a queue timeout), and its Prometheus
counters are read back. Every threshold is tried exactly at its edge and one
second past it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import pytest
from prometheus_client import CollectorRegistry

from ami.events import (
    AgentComplete,
    AgentConnect,
    CoreShowChannel,
    CoreShowChannelsComplete,
    Hangup,
    QueueCallerAbandon,
    QueueCallerJoin,
    VarSet,
    to_event,
)
from cliutil import default_config_path
from lotse.calltrack import CallTracker
from lotse.journal.records import Abandoned, Answered, Record, Spilled
from lotse.journal.store import OpenCall
from lotse.routing_service import RoutingRequest
from metrics.registry import LotseMetrics
from router.config import Config
from router.configload import load_config
from router.numbering import OrtsnetzTable, classify_caller
from router.policy import Call, Router, decide
from router.state import CenterState, Snapshot
from tests.ami.replay import messages

# Monday 23 November 2026, 10:00 in Berlin: every center of config.yaml open.
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HALBERSTADT = "039411234567"


@cache
def _table() -> OrtsnetzTable:
    return OrtsnetzTable.load()


@cache
def _config() -> Config:
    return load_config(default_config_path(), table=_table())


class Harness:
    """A tracker on a fresh registry, recording into a list."""

    def __init__(self) -> None:
        self.config = _config()
        self.router = Router(self.config, _table())
        self.registry = CollectorRegistry()
        self.metrics = LotseMetrics(self.registry, self.config.centers)
        self.records: list[Record] = []
        self.tracker = CallTracker(
            self.config, self.records.append, self.metrics, lambda: MONDAY, lambda _: "hash"
        )
        idle = CenterState(agents_logged_in=3, agents_available=3, avg_handle_s=180)
        self.snapshot = Snapshot(centers={cid: idle for cid in self.config.centers})

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def per_queue(self, center: str) -> dict[str, float]:
        return {
            "offered": self.value("lotse_calls_offered_total", center=center, type="home")
            + self.value("lotse_calls_offered_total", center=center, type="overflow_in"),
            "answered": self.value("lotse_calls_answered_total", center=center),
            "within": self.value("lotse_calls_answered_within_threshold_total", center=center),
            "abandoned": self.value("lotse_calls_abandoned_total", center=center),
            "short": self.value("lotse_calls_short_abandoned_total", center=center),
        }

    def per_home(self, center: str) -> dict[str, float]:
        return {
            "offered": self.value("lotse_home_calls_offered_total", center=center),
            "answered": self.value("lotse_home_calls_answered_total", center=center),
            "within": self.value("lotse_home_calls_answered_within_threshold_total", center=center),
            "abandoned": self.value("lotse_home_calls_abandoned_total", center=center),
            "short": self.value("lotse_home_calls_short_abandoned_total", center=center),
        }

    def decide(self, call_id: str, number: str, visited: tuple[str, ...] = ()) -> str:
        """Route the call as the FastAGI service would; the queue it is sent to."""
        call = Call(number, "115", None, visited)
        decision = decide(call, MONDAY, self.snapshot, self.router)
        self.tracker.on_decision(
            RoutingRequest(call_id, call, f"PJSIP/carrier-{call_id}"),
            decision,
            MONDAY,
            self.snapshot,
        )
        assert decision.queue is not None
        return decision.queue

    def event(self, kind: type, call_id: str, **fields: object) -> None:
        base = {"channel": f"PJSIP/carrier-{call_id}", "uniqueid": call_id, "linkedid": call_id}
        self.tracker.apply(kind(**base, caller_id_num="", **fields))

    def join(self, call_id: str, queue: str) -> None:
        self.event(QueueCallerJoin, call_id, queue=queue, position=1, count=1)

    def answer(self, call_id: str, queue: str, holdtime: float) -> None:
        self.event(
            AgentConnect,
            call_id,
            queue=queue,
            member="Local/agent",
            member_name="Anna",
            dest_channel="Local/agent-1",
            dest_uniqueid=f"{call_id}.9",
            holdtime=holdtime,
            ringtime=2.0,
        )

    def leave(self, call_id: str, queue: str, holdtime: float) -> None:
        """QueueCallerAbandon: Asterisk sends it for a hang-up and for a queue timeout alike."""
        self.event(
            QueueCallerAbandon, call_id, queue=queue, position=1, original_position=1,
            holdtime=holdtime,
        )  # fmt: skip

    def timeout(self, call_id: str, queue: str, holdtime: float) -> None:
        self.leave(call_id, queue, holdtime)
        self.event(VarSet, call_id, variable="QUEUESTATUS", value="TIMEOUT")

    def hangup(self, call_id: str) -> None:
        self.event(Hangup, call_id, cause=16, cause_txt="Normal Clearing")

    def answered_call(self, call_id: str, holdtime: float) -> None:
        queue = self.decide(call_id, HALBERSTADT)
        self.join(call_id, queue)
        self.answer(call_id, queue, holdtime)
        self.event(
            AgentComplete, call_id, queue=queue, member="Local/agent", member_name="Anna",
            dest_channel="Local/agent-1", dest_uniqueid=f"{call_id}.9", holdtime=holdtime,
            talktime=60.0, reason="caller",
        )  # fmt: skip
        self.hangup(call_id)

    def abandoned_call(self, call_id: str, holdtime: float) -> None:
        queue = self.decide(call_id, HALBERSTADT)
        self.join(call_id, queue)
        self.leave(call_id, queue, holdtime)
        self.hangup(call_id)


def test_the_config_has_the_thresholds_these_examples_assume() -> None:
    level = _config().service_level
    assert (level.threshold_s, level.short_abandon_s) == (30, 5)


@pytest.mark.parametrize(("holdtime", "within"), [(29, 1), (30, 1), (31, 0), (30.5, 0)])
def test_answered_exactly_at_the_threshold_is_within(holdtime: float, within: int) -> None:
    h = Harness()
    h.answered_call("1.1", holdtime)
    expected = {"offered": 1, "answered": 1, "within": within, "abandoned": 0, "short": 0}
    assert h.per_queue("halberstadt") == expected
    assert h.per_home("halberstadt") == expected
    assert h.value("lotse_home_wait_seconds_sum", center="halberstadt", outcome="answered") == (
        holdtime
    )


@pytest.mark.parametrize(("holdtime", "short"), [(0, 1), (4, 1), (4.9, 1), (5, 0), (6, 0)])
def test_short_abandon_is_under_five_seconds(holdtime: float, short: int) -> None:
    h = Harness()
    h.abandoned_call("2.1", holdtime)
    expected = {"offered": 1, "answered": 0, "within": 0, "abandoned": 1, "short": short}
    assert h.per_queue("halberstadt") == expected
    assert h.per_home("halberstadt") == expected
    assert h.value("lotse_calls_abandoned_within_threshold_total", center="halberstadt") == 1
    assert [type(r) for r in h.records if isinstance(r, Abandoned)] == [Abandoned]


def test_abandoned_after_the_threshold_is_not_within_it() -> None:
    h = Harness()
    h.abandoned_call("2.2", 31)
    assert h.value("lotse_calls_abandoned_within_threshold_total", center="halberstadt") == 0
    h.abandoned_call("2.3", 30)
    assert h.value("lotse_calls_abandoned_within_threshold_total", center="halberstadt") == 1


@pytest.mark.parametrize(("second_wait", "within"), [(0, 1), (1, 0)])
def test_a_spilled_call_is_within_only_by_its_whole_wait(second_wait: float, within: int) -> None:
    # 30 s at Halberstadt, then answered at Sachsen-Anhalt: per queue that
    # partner answered in time; for the caller (per home) it took 30 + x s.
    h = Harness()
    first = h.decide("3.1", HALBERSTADT)
    assert first == "115-halberstadt"
    h.join("3.1", first)
    h.timeout("3.1", first, 30)
    second = h.decide("3.1", HALBERSTADT, visited=("halberstadt",))
    assert second == "115-sachsen-anhalt"
    h.join("3.1", second)
    h.answer("3.1", second, second_wait)
    h.hangup("3.1")
    assert h.per_home("halberstadt") == {
        "offered": 1,
        "answered": 1,
        "within": within,
        "abandoned": 0,
        "short": 0,
    }
    assert h.per_home("sachsen-anhalt")["offered"] == 0
    assert (
        h.value("lotse_home_calls_overflow_total", center="halberstadt", to_center="sachsen-anhalt")
        == 1
    )
    # Per queue: each queue entry counts where it was, with that queue's wait.
    assert h.per_queue("halberstadt") == {
        "offered": 1, "answered": 0, "within": 0, "abandoned": 0, "short": 0,
    }  # fmt: skip
    assert h.per_queue("sachsen-anhalt") == {
        "offered": 1, "answered": 1, "within": 1, "abandoned": 0, "short": 0,
    }  # fmt: skip
    assert [r.wait_s for r in h.records if isinstance(r, Spilled)] == [30]
    assert [r.wait_s for r in h.records if isinstance(r, Answered)] == [second_wait]


def test_a_spilled_call_abandoned_at_the_partner_is_no_short_abandon() -> None:
    h = Harness()
    h.decide("4.1", HALBERSTADT)
    h.join("4.1", "115-halberstadt")
    h.timeout("4.1", "115-halberstadt", 30)
    h.decide("4.1", HALBERSTADT, visited=("halberstadt",))
    h.join("4.1", "115-sachsen-anhalt")
    h.leave("4.1", "115-sachsen-anhalt", 2)
    h.hangup("4.1")
    # 2 s at the partner is short per queue; the caller waited 32 s in all.
    assert h.per_queue("sachsen-anhalt")["short"] == 1
    assert h.per_home("halberstadt") == {
        "offered": 1, "answered": 0, "within": 0, "abandoned": 1, "short": 0,
    }  # fmt: skip


def test_a_queue_timeout_is_a_spill_not_an_abandon() -> None:
    # The trap: Asterisk sends QueueCallerAbandon on a timeout too; only what
    # follows (QUEUESTATUS=TIMEOUT, or the call asking lotse again) tells.
    h = Harness()
    h.decide("5.1", HALBERSTADT)
    h.join("5.1", "115-halberstadt")
    h.timeout("5.1", "115-halberstadt", 3)
    h.hangup("5.1")  # e.g. the all-busy announcement played, then hung up
    assert h.per_queue("halberstadt")["abandoned"] == 0
    assert h.per_queue("halberstadt")["short"] == 0
    assert h.per_home("halberstadt") == {
        "offered": 1, "answered": 0, "within": 0, "abandoned": 0, "short": 0,
    }  # fmt: skip
    assert not any(isinstance(r, Abandoned) for r in h.records)


def test_a_timeout_seen_only_by_the_next_decision_is_a_spill() -> None:
    h = Harness()
    h.decide("6.1", HALBERSTADT)
    h.join("6.1", "115-halberstadt")
    h.leave("6.1", "115-halberstadt", 3)  # QUEUESTATUS not (yet) seen
    h.decide("6.1", HALBERSTADT, visited=("halberstadt",))
    h.join("6.1", "115-sachsen-anhalt")
    h.answer("6.1", "115-sachsen-anhalt", 27)
    assert h.per_queue("halberstadt")["abandoned"] == 0
    assert h.per_home("halberstadt")["within"] == 1  # 3 + 27 = 30 s: in time
    assert [r.wait_s for r in h.records if isinstance(r, Spilled)] == [3]


def test_the_real_asterisk_timeout_capture_counts_no_abandon() -> None:
    h = Harness()
    for msg in messages("ami-timeout.txt"):
        event = to_event(msg)
        if event is not None:
            h.tracker.apply(event)
    assert h.per_queue("bremen") == {
        "offered": 1, "answered": 0, "within": 0, "abandoned": 0, "short": 0,
    }  # fmt: skip
    assert h.per_home("bremen") == {
        "offered": 1, "answered": 0, "within": 0, "abandoned": 0, "short": 0,
    }  # fmt: skip
    spilled = [r for r in h.records if isinstance(r, Spilled)]
    assert [(r.from_center, r.wait_s) for r in spilled] == [("bremen", 12)]
    assert not any(isinstance(r, Abandoned) for r in h.records)
    assert h.tracker.active_calls == 0


def test_reconciled_calls_are_offered_once_per_home_as_the_journal_counts_them() -> None:
    h = Harness()
    h.tracker = CallTracker(
        h.config, h.records.append, h.metrics, lambda: MONDAY, lambda _: "hash",
        classify=lambda raw: classify_caller(raw, _table()),
    )  # fmt: skip
    # A queued call the journal knows from before a restart, and one it does not.
    h.tracker.begin_reconcile("r1", [OpenCall("k1", "halberstadt", "halberstadt",
                                              False, False, False, True)])  # fmt: skip
    for uid in ("k1", "new1"):
        h.tracker.apply(
            CoreShowChannel(
                channel=f"PJSIP/carrier-{uid}",
                uniqueid=uid,
                linkedid=uid,
                caller_id_num="039411234567",
                channel_state=6,
                context="lotse-115",
                exten="115",
                priority=1,
                application="Queue",
                application_data="115-halberstadt,,,,30",
                duration=42.0,
                bridge_id=None,
                action_id="r1",
            )
        )
    h.tracker.apply(CoreShowChannelsComplete(list_items=2, action_id="r1"))
    # The known call was offered before the restart; the adopted one is offered now.
    assert h.per_home("halberstadt")["offered"] == 1
    # The known call spills and joins the partner: still one offered call.
    h.timeout("k1", "115-halberstadt", 30)
    h.decide("k1", HALBERSTADT, visited=("halberstadt",))
    h.join("k1", "115-sachsen-anhalt")
    assert h.per_home("halberstadt")["offered"] == 1


def test_an_answer_whose_join_ami_never_delivered_is_offered_once() -> None:
    # The AMI link was down while the caller joined: the answer still has its
    # offer, per queue and per home (else the service level exceeds 100 %).
    h = Harness()
    queue = h.decide("5.1", HALBERSTADT)
    h.answer("5.1", queue, 12)
    expected = {"offered": 1, "answered": 1, "within": 1, "abandoned": 0, "short": 0}
    assert h.per_queue("halberstadt") == expected
    assert h.per_home("halberstadt") == expected


def test_an_abandon_whose_join_ami_never_delivered_is_offered_once() -> None:
    h = Harness()
    queue = h.decide("5.2", HALBERSTADT)
    h.leave("5.2", queue, 40)
    h.hangup("5.2")
    expected = {"offered": 1, "answered": 0, "within": 0, "abandoned": 1, "short": 0}
    assert h.per_queue("halberstadt") == expected
    assert h.per_home("halberstadt") == expected
