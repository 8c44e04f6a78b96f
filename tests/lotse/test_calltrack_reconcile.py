"""The call tracker's reconcile, event by event (the rig tests play it over the wire)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from ami.events import (
    ChannelStatus,
    CoreShowChannel,
    CoreShowChannelsComplete,
    Hangup,
    StatusComplete,
)
from lotse.calltrack import ADOPTED_REASON, CLOSED_REASON, CallTracker, ReconcileResult
from lotse.journal.records import (
    Answered,
    CallArrived,
    Closed,
    Ended,
    FallbackUsed,
    Outcome,
    QueueJoined,
    Record,
)
from lotse.journal.store import OpenCall
from metrics.registry import LotseMetrics
from router.configload import load_config
from router.numbering import OrtsnetzTable, classify_caller
from tests.lotse.rig import REPO

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TABLE = OrtsnetzTable.load()
CONFIG = load_config(REPO / "config.yaml", table=TABLE)


def tracker() -> tuple[CallTracker, list[Record], list[ReconcileResult]]:
    records: list[Record] = []
    results: list[ReconcileResult] = []
    t = CallTracker(
        CONFIG,
        records.append,
        LotseMetrics(CollectorRegistry(), CONFIG.centers),
        lambda: NOW,
        lambda number: "h:" + number[:4],
        classify=lambda raw: classify_caller(raw, TABLE),
        on_reconciled=results.append,
    )
    return t, records, results


def row(call_id: str, *, answered: bool = False, queued: bool = True) -> OpenCall:
    return OpenCall(call_id, "bremen", "bremen", answered, False, False, queued)


def channel(
    uniqueid: str, app: str = "Queue", data: str = "115-bremen,,,,30", bridge: str | None = None
) -> CoreShowChannel:
    return CoreShowChannel(
        f"PJSIP/carrier-{uniqueid}", uniqueid, uniqueid, "04211234567", 6, "lotse-115", "115",
        8, app, data, 42.0, bridge, "r1",
    )  # fmt: skip


def status(uniqueid: str, action_id: str, *variables: tuple[str, str]) -> ChannelStatus:
    return ChannelStatus(
        f"PJSIP/carrier-{uniqueid}", uniqueid, "Queue", "b-1", 60.0, variables, action_id
    )


def done(action_id: str = "r1") -> CoreShowChannelsComplete:
    return CoreShowChannelsComplete(0, action_id)


def hangup(uniqueid: str) -> Hangup:
    return Hangup(f"PJSIP/carrier-{uniqueid}", uniqueid, uniqueid, "", 16, "Normal Clearing")


def test_gone_calls_are_closed_alive_ones_followed_on() -> None:
    t, records, results = tracker()
    t.begin_reconcile(
        "r1",
        [row("waiting-gone"), row("talking-gone", answered=True), row("alive"), row("bridged")],
    )
    t.apply(channel("alive"))
    t.apply(channel("bridged", bridge="b-1"))
    t.apply(done())
    assert records == [
        Closed("waiting-gone", NOW, Outcome.UNKNOWN, CLOSED_REASON),
        Closed("talking-gone", NOW, None, CLOSED_REASON),  # the answer tells the outcome
    ]
    # Answered unseen: Status tells the wait app_queue left on the channel.
    unseen = (("bridged", "PJSIP/carrier-bridged"),)
    assert results == [ReconcileResult(2, 2, 1, 0, unseen)]
    records.clear()
    t.expect_status("s1", "bridged")
    t.apply(status("bridged", "s1", ("QEHOLDTIME", "17"), ("MEMBERNAME", "Anna")))
    t.apply(StatusComplete(1, "s1"))
    assert records == [Answered("bridged", NOW, "bremen", "Anna", 17.0)]
    # The alive call's end later lands on its row, once.
    records.clear()
    t.apply(hangup("alive"))
    assert records == [Ended("alive", NOW, None, "Normal Clearing")]
    assert t.active_calls == 1  # "bridged" talks on


def test_a_call_ending_while_the_answer_travels_is_ended_not_closed() -> None:
    t, records, results = tracker()
    t.begin_reconcile("r1", [row("c1")])
    t.apply(hangup("c1"))  # before the list arrives: ended, seen
    t.apply(done())
    assert records == [Ended("c1", NOW, None, "Normal Clearing")]
    assert results == [ReconcileResult(0, 0, 0, 0)]


def test_an_answer_of_another_reconcile_or_none_at_all_changes_nothing() -> None:
    t, records, results = tracker()
    t.begin_reconcile("r1", [row("c1")])
    t.apply(done("r0"))  # an older reconcile's answer
    assert records == [] and results == [] and t.reconciling
    t.abort_reconcile()  # AMI lost again
    t.apply(done("r1"))
    assert records == [] and results == []


def test_a_caller_in_a_lotse_queue_the_journal_does_not_know_is_adopted() -> None:
    t, records, results = tracker()
    t.begin_reconcile("r1", [])
    t.apply(channel("fb", bridge="b-2"))
    t.apply(channel("agent-leg", app="AppQueue", data="(Outgoing Line)"))
    t.apply(channel("elsewhere", data="support-queue"))
    t.apply(done())
    kinds = [type(r) for r in records]
    assert kinds == [CallArrived, FallbackUsed, QueueJoined]
    arrived = records[0]
    assert isinstance(arrived, CallArrived)
    assert arrived.ortsnetz_prefix == "0421" and arrived.caller_hash == "h:0421"
    assert (NOW - arrived.at).total_seconds() == 42.0  # the channel's age
    assert records[1] == FallbackUsed("fb", arrived.at, "bremen", ADOPTED_REASON)
    assert results == [ReconcileResult(0, 0, 0, 1, (("fb", "PJSIP/carrier-fb"),))]
    # Status cannot tell (the channel went): the answer is journaled without a wait.
    records.clear()
    t.expect_status("s2", "fb")
    t.status_failed("s2")
    assert records == [Answered("fb", NOW, "bremen", "unknown", None)]


def test_an_answer_seen_unseen_is_journaled_before_the_hangup_that_ends_it() -> None:
    t, records, _ = tracker()
    t.begin_reconcile("r1", [row("c1")])
    t.apply(channel("c1", bridge="b-1"))
    t.apply(done())
    t.expect_status("s1", "c1")
    t.apply(hangup("c1"))  # before Status answered
    t.apply(status("c1", "s1", ("QEHOLDTIME", "9")))  # too late: the answer is in
    t.apply(StatusComplete(1, "s1"))
    assert records == [Answered("c1", NOW, "bremen", "unknown", None)]
    t.end_pending()  # its talk time (AgentComplete) never comes
    assert [type(r) for r in records] == [Answered, Ended]


def test_at_shutdown_a_call_waiting_for_its_talk_time_is_ended_without_it() -> None:
    t, records, _ = tracker()
    t.begin_reconcile("r1", [row("c1", answered=True)])
    t.apply(channel("c1", bridge="b-1"))
    t.apply(done())
    t.apply(hangup("c1"))  # answered: AgentComplete (the talk time) would follow
    assert records == []
    t.end_pending()
    assert records == [Ended("c1", NOW, None, "Normal Clearing")]
    assert t.active_calls == 0
