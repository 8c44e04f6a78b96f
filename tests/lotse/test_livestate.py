"""The live queue state, folded from real Asterisk captures."""

from __future__ import annotations

from ami.events import AgentComplete, QueueCallerJoin, to_event
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
