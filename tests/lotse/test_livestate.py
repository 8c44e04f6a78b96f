"""The live queue state, folded from real Asterisk captures."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ami.codec import Message
from ami.events import (
    AgentComplete,
    AgentConnect,
    Malformed,
    QueueCallerJoin,
    QueueStatusComplete,
    to_event,
)
from lotse.livestate import LiveState
from router.state import Override
from tests.ami.replay import messages

QUEUES = {"115-wittenberg": "wittenberg", "115-bremen": "bremen"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replay(name: str, state: LiveState, until: type | None = None) -> None:
    for msg in messages(name):
        event = to_event(msg)
        if event is None:
            continue
        state.apply(event)
        if until is not None and isinstance(event, until):
            return


def test_resync_from_queuestatus_then_a_call_is_answered() -> None:
    clock = Clock()
    state = LiveState(QUEUES, clock)
    assert state.stale
    state.begin_resync("qs-1")
    replay("ami-answered.txt", state, until=QueueCallerJoin)
    assert not state.stale
    wb = state.snapshot().of("wittenberg")
    # One static member, Agent One, free; the caller just joined.
    assert (wb.agents_logged_in, wb.agents_available, wb.waiting) == (1, 1, 1)
    clock.now += 12
    assert state.snapshot().of("wittenberg").longest_wait_s == 12


def test_answered_call_leaves_queue_and_feeds_handle_time() -> None:
    state = LiveState(QUEUES, Clock())
    state.begin_resync("qs-1")
    replay("ami-answered.txt", state)
    wb = state.snapshot().of("wittenberg")
    assert wb.waiting == 0
    talk = [e for m in messages("ami-answered.txt") if isinstance(e := to_event(m), AgentComplete)]
    assert wb.avg_handle_s == talk[0].talktime


def test_agent_complete_without_the_caller_feeds_the_handle_time() -> None:
    # Asterisk 22.10.1 sends AgentComplete without any caller field when the
    # caller's channel is gone (tests/ami/test_events.py): still the member's
    # call ended, and its talk time counts.
    state = LiveState(QUEUES, Clock())
    state.begin_resync("qs-1")
    replay("ami-answered.txt", state, until=AgentConnect)
    assert state.snapshot().of("wittenberg").avg_handle_s is None
    complete = next(m for m in messages("ami-answered.txt") if m.name == "AgentComplete")
    kept = ("Event", "Privilege", "Queue", "Interface", "MemberName", "HoldTime", "TalkTime")
    incomplete = Message(
        tuple(h for h in complete.headers if h[0].startswith("Dest") or h[0] in (*kept, "Reason"))
    )
    event = to_event(incomplete)
    assert isinstance(event, AgentComplete) and event.uniqueid == ""
    state.apply(event)
    assert state.snapshot().of("wittenberg").avg_handle_s == event.talktime


def test_abandon_and_timeout_leave_no_caller_behind() -> None:
    for name in ("ami-abandon.txt", "ami-timeout.txt"):
        state = LiveState(QUEUES, Clock())
        replay(name, state)
        assert all(s.waiting == 0 for s in state.snapshot().centers.values()), name


def test_list_items_of_another_action_do_not_resync() -> None:
    state = LiveState(QUEUES, Clock())
    state.begin_resync("some-other-id")
    replay("ami-answered.txt", state)
    assert state.stale


def test_disconnect_marks_stale_but_keeps_state() -> None:
    state = LiveState(QUEUES, Clock())
    state.begin_resync("qs-1")
    replay("ami-answered.txt", state, until=QueueCallerJoin)
    state.mark_stale()
    snap = state.snapshot()
    assert snap.stale and snap.of("wittenberg").waiting == 1


def test_override_shows_in_snapshot() -> None:
    state = LiveState(QUEUES, Clock())
    state.set_override("bremen", Override.CLOSED)
    assert state.snapshot().of("bremen").override is Override.CLOSED
    state.set_override("bremen", None)
    assert state.snapshot().of("bremen").override is None


def test_load_capture_ends_with_empty_queues() -> None:
    state = LiveState({"115-wittenberg": "w", "115-bremen": "b"}, Clock())
    replay("ami-load.txt", state)
    assert sum(s.waiting for s in state.snapshot().centers.values()) == 0


# --- the cached counts never outlive a change -----------------------------------

_UIDS = [f"1795392700.{n}" for n in range(6)]
_MEMBERS = ["Local/a@agents/n", "Local/b@agents/n", "Local/c@agents/n"]


def _event(**headers: str) -> object:
    event = to_event(Message(tuple(headers.items())))
    assert event is not None and not isinstance(event, Malformed), headers
    return event


def _channel(uid: str) -> dict[str, str]:
    return {"Channel": f"PJSIP/carrier-{uid[-1]}", "Uniqueid": uid, "Linkedid": uid}


def _agent(queue: str, uid: str, member: str) -> dict[str, str]:
    return {
        **_channel(uid), "Queue": queue, "Interface": member, "MemberName": member,
        "DestChannel": f"{member}-1;1", "DestUniqueid": "1795392799.1",
    }  # fmt: skip


_queues = st.sampled_from(sorted(QUEUES))
_uids = st.sampled_from(_UIDS)
_members = st.sampled_from(_MEMBERS)

_events = st.one_of(
    st.builds(
        lambda q, u: _event(Event="QueueCallerJoin", **_channel(u), Queue=q, Position="1",
                            Count="1"),
        _queues, _uids,
    ),
    st.builds(
        lambda q, u: _event(Event="QueueCallerLeave", **_channel(u), Queue=q, Position="1",
                            Count="0"),
        _queues, _uids,
    ),
    st.builds(
        lambda q, u, m: _event(Event="AgentConnect", **_agent(q, u, m), HoldTime="3",
                               RingTime="1"),
        _queues, _uids, _members,
    ),
    st.builds(
        lambda q, u, m, t: _event(Event="AgentComplete", **_agent(q, u, m), HoldTime="3",
                                  TalkTime=str(t), Reason="caller"),
        _queues, _uids, _members, st.integers(1, 600),
    ),
    st.builds(
        lambda name, q, m, status, paused, in_call: _event(
            Event=name, Queue=q, Interface=m, MemberName=m, StateInterface=m,
            Membership="dynamic", Penalty="0", CallsTaken="0", LastCall="0", LastPause="0",
            LoginTime="0", InCall=in_call, Status=status, Paused=paused, PausedReason="",
            Ringinuse="0",
            Wrapuptime="0",
        ),
        st.sampled_from(["QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause",
                         "QueueMemberRemoved"]),
        _queues, _members, st.sampled_from(["1", "2", "5", "6"]), st.sampled_from(["0", "1"]),
        st.sampled_from(["0", "1"]),
    ),
    st.floats(0.5, 30).map(lambda dt: ("tick", dt)),
)  # fmt: skip


@given(st.lists(_events, max_size=40))
def test_a_snapshot_taken_after_every_event_equals_one_taken_only_at_the_end(
    steps: list[object],
) -> None:
    clock = Clock()
    watched, unwatched = LiveState(QUEUES, clock), LiveState(QUEUES, clock)
    for state in (watched, unwatched):
        state.begin_resync("qs")
        state.apply(QueueStatusComplete(0, "qs"))
    for step in steps:
        if isinstance(step, tuple):
            clock.now += step[1]
        else:
            watched.apply(step)
            unwatched.apply(step)
        watched.snapshot()  # fills every cache the next event must invalidate
    assert watched.snapshot() == unwatched.snapshot()


def test_reconfigure_keeps_known_queues_and_overrides() -> None:
    clock = Clock()
    state = LiveState(QUEUES, clock)
    state.begin_resync("qs-1")
    replay("ami-answered.txt", state, until=QueueCallerJoin)
    state.set_override("wittenberg", Override.OPEN, "crisis day")
    before = state.snapshot().of("wittenberg")
    assert before.waiting == 1
    # Bremen removed, a new center added.
    state.reconfigure({"115-wittenberg": "wittenberg", "115-new": "new"})
    after = state.snapshot()
    assert after.of("wittenberg") == before
    assert set(after.centers) == {"wittenberg", "new"}
    assert after.of("new").agents_logged_in == 0 and after.of("new").waiting == 0
    assert not after.stale
