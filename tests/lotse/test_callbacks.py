"""The controller's callback desk: requests keep the place in line, attempts are marked
before they are dialled, never dialled twice across reconnects and restarts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ami.agi_protocol import AgiRequest
from ami.events import QueueCallerJoin, to_event
from lotse.callbackattempt import AttemptOutcome
from lotse.callbacks import CallbackDesk, Originate
from lotse.journal import Journal
from lotse.journal.callbackstore import CallbackStore, NumberCipher
from lotse.livestate import LiveState
from router.configload import load_config
from router.numbering import OrtsnetzTable
from router.policy import Router
from router.state import CenterState, Override, Snapshot
from tests.ami.replay import messages

REPO = Path(__file__).resolve().parents[2]
CONFIG = load_config(REPO / "config.yaml")
TABLE = OrtsnetzTable.load()
# A Monday morning, Bremen open.
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class Clocks:
    wall: datetime = T0
    state: float = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.state += seconds


@dataclass
class View:
    """The live state as the desk reads it, set by the test."""

    clocks: Clocks
    free: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, tuple[float, ...]] = field(default_factory=dict)
    entries: dict[str, tuple[str, float]] = field(default_factory=dict)
    stale: bool = False
    overrides: dict[str, Override] = field(default_factory=dict)

    def queue_entry(self, uniqueid: str) -> tuple[str, float] | None:
        return self.entries.get(uniqueid)

    def waiting_and_free(self) -> dict[str, tuple[int, tuple[float, ...]]]:
        return {cid: (self.free.get(cid, 0), self.waiting.get(cid, ())) for cid in CONFIG.centers}

    def snapshot(self) -> Snapshot:
        return Snapshot({cid: CenterState(override=o) for cid, o in self.overrides.items()})


@dataclass
class Dialler:
    legs: list[Originate] = field(default_factory=list)
    store: CallbackStore | None = None
    in_flight_seen: list[bool] = field(default_factory=list)

    async def __call__(self, leg: Originate) -> bool:
        assert self.store is not None
        (stored,) = [r for r in await self.store.open_requests() if r.id == leg.request_id]
        # Marked (committed) before the Originate goes out.
        self.in_flight_seen.append(stored.in_flight == leg.attempt_id)
        self.legs.append(leg)
        return True


def agi(uniqueid: str, *args: str, callerid: str = "04213456789") -> AgiRequest:
    return AgiRequest(
        script="callback",
        args=args,
        request="agi://127.0.0.1:4573/callback",
        network=True,
        channel="Local/115@lotse-115-0001;2",
        uniqueid=uniqueid,
        callerid=callerid,
        calleridname="",
        dnid="115",
        extension="s",
        context="lotse-callback",
        language="de",
        version="22.10.1",
        env=(),
    )


async def desk_on(db: Path, clocks: Clocks, view: View, dialler: Dialler) -> CallbackDesk:
    journal = await Journal.open(db, clock=lambda: clocks.wall)
    await journal.close()
    store = await CallbackStore.open(db, NumberCipher(b"callback-key-0123456789"), b"k" * 32)
    dialler.store = store
    outcomes: list[tuple[str, str]] = []
    desk = CallbackDesk(
        CONFIG,
        store,
        view,
        wall_clock=lambda: clocks.wall,
        state_clock=lambda: clocks.state,
        table=TABLE,
        originate=dialler,
        on_outcome=lambda c, o: outcomes.append((c, o)),
    )
    desk.outcomes = outcomes  # type: ignore[attr-defined]
    return desk


async def test_a_request_keeps_the_entry_time_of_the_queue_it_left(tmp_path: Path) -> None:
    clocks = Clocks()
    view = View(clocks, entries={"u1": ("bremen", clocks.state - 95.0)})
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, Dialler())
    reply = await desk.request(agi("u1", "u1", "bund", "", "queue"))
    (req,) = await desk.pending()
    assert reply.variables == (("LOTSE_CB_RESULT", "ok"), ("LOTSE_CB_ID", req.id))
    # The center whose queue the caller left wins over the dialplan's guess.
    assert req.center == "bremen"
    assert req.entered_s == T0.timestamp() - 95.0
    assert req.ortsnetz_prefix == "0421"
    # 24 service hours of Bremen (Mon-Fri 08-18) from Monday 10:00 local:
    # 8 h Monday, 10 h Tuesday, 6 h Wednesday: Wednesday 14:00 local.
    deadline = datetime.fromtimestamp(req.deadline_s, UTC)
    assert deadline == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


async def test_keyed_numbers_are_validated(tmp_path: Path) -> None:
    clocks = Clocks()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, View(clocks), Dialler())
    refused = await desk.request(agi("u1", "u1", "bremen", "09001234567", "closed"))
    assert refused.variables == (("LOTSE_CB_RESULT", "refused"),)
    anonymous = await desk.request(agi("u2", "u2", "bremen", "", "closed", callerid=""))
    assert anonymous.variables == (("LOTSE_CB_RESULT", "refused"),)
    ok = await desk.request(agi("u3", "u3", "bremen", "015712345678", "closed"))
    assert ok.variables[0] == ("LOTSE_CB_RESULT", "ok")
    (req,) = await desk.pending()
    assert req.entered_s == T0.timestamp() and req.ortsnetz_prefix is None
    unknown = await desk.request(agi("u4", "u4", "nowhere", "", "closed"))
    assert unknown.variables == (("LOTSE_CB_RESULT", "unavailable"),)


async def test_started_only_with_a_free_agent_and_no_earlier_live_caller(tmp_path: Path) -> None:
    clocks = Clocks()
    view = View(clocks, entries={"u1": ("bremen", clocks.state - 60.0)})
    dialler = Dialler()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, dialler)
    await desk.request(agi("u1", "u1", "bremen", "", "queue"))
    assert await desk.tick() == []  # no free agent
    view.free["bremen"] = 1
    view.waiting["bremen"] = (clocks.state - 61.0,)  # entered a second earlier
    assert await desk.tick() == []
    view.waiting["bremen"] = (clocks.state - 59.0,)  # entered later: no hold-up
    assert len(await desk.tick()) == 1
    assert dialler.in_flight_seen == [True]
    (leg,) = dialler.legs
    assert leg.queue == "115-bremen"
    action = leg.action()
    assert action["Channel"] == "Local/s@lotse-callback-agent"
    assert action["ChannelId"] == leg.attempt_id
    # Longer than the agent leg's 60 s in the queue (Originate's default is 30 s).
    assert action["Timeout"] == "65000"
    assert "CB_DIAL=04213456789" in action["Variable"]
    # Still in flight: the next ticks dial nothing, however many agents are free.
    view.free["bremen"] = 5
    assert await desk.tick() == []
    assert len(dialler.legs) == 1
    # Answered: completed, the number deleted.
    await desk.attempt_ended(leg.attempt_id, AttemptOutcome.ANSWERED)
    assert await desk.pending() == []
    assert desk.outcomes == [("bremen", "completed")]  # type: ignore[attr-defined]


async def test_unanswered_attempts_retry_after_the_interval_then_end(tmp_path: Path) -> None:
    clocks = Clocks()
    view = View(clocks, free={"bremen": 1})
    dialler = Dialler()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, dialler)
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    cb = CONFIG.centers["bremen"].callback
    assert cb is not None
    for _ in range(cb.attempts):
        assert len(await desk.tick()) == 1
        await desk.attempt_ended(dialler.legs[-1].attempt_id, AttemptOutcome.NO_ANSWER)
        assert await desk.tick() == []  # the interval first
        clocks.advance(cb.retry_interval_s - 1)
        assert await desk.tick() == []
        clocks.advance(1)
    assert await desk.pending() == []
    assert len(dialler.legs) == cb.attempts
    assert desk.outcomes == [("bremen", "no_answer")]  # type: ignore[attr-defined]


async def test_no_double_dial_across_an_ami_drop_and_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    clocks = Clocks()
    view = View(clocks, free={"bremen": 2})
    dialler = Dialler()
    desk = await desk_on(db, clocks, view, dialler)
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    assert len(await desk.tick()) == 1
    # AMI drops: the state is stale, nothing new is dialled; it comes back.
    view.stale = True
    assert await desk.tick() == []
    view.stale = False
    assert await desk.tick() == []
    # The controller dies; a new one opens the journal with the attempt in flight.
    again_dialler = Dialler()
    again = await desk_on(db, clocks, view, again_dialler)
    assert await again.tick() == []

    async def gone(attempt: str) -> bool:
        return False

    assert await again.recover(gone) == 1
    # Counted as a failed attempt: not re-dialled at once, only after the interval.
    assert await again.tick() == []
    cb = CONFIG.centers["bremen"].callback
    assert cb is not None
    clocks.advance(cb.retry_interval_s)
    assert len(await again.tick()) == 1
    (req,) = await again.pending()
    assert req.attempts == 2
    assert len(dialler.legs) + len(again_dialler.legs) == 2


async def test_a_live_attempt_found_at_restart_is_followed_not_redialled(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    clocks = Clocks()
    view = View(clocks, free={"bremen": 2})
    desk = await desk_on(db, clocks, view, Dialler())
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    await desk.tick()
    again = await desk_on(db, clocks, view, Dialler())

    async def alive(attempt: str) -> bool:
        return True

    assert await again.recover(alive) == 0
    (req,) = await again.pending()
    assert req.in_flight is not None
    await again.attempt_ended(req.in_flight, AttemptOutcome.ANSWERED)
    assert await again.pending() == []


async def test_expired_requests_end_at_the_deadline(tmp_path: Path) -> None:
    clocks = Clocks()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, View(clocks), Dialler())
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    (req,) = await desk.pending()
    clocks.wall = datetime.fromtimestamp(req.deadline_s, UTC) - timedelta(seconds=1)
    await desk.tick()
    assert len(await desk.pending()) == 1
    clocks.wall += timedelta(seconds=1)
    await desk.tick()
    assert await desk.pending() == []
    assert desk.outcomes == [("bremen", "expired")]  # type: ignore[attr-defined]


def test_live_state_remembers_the_entry_of_a_caller_who_left_unanswered() -> None:
    now = [1000.0]
    state = LiveState({"115-bremen": "bremen"}, lambda: now[0])
    joined = None
    for msg in messages("ami-timeout.txt"):
        event = to_event(msg)
        if event is None:
            continue
        if isinstance(event, QueueCallerJoin):
            joined = event.uniqueid
        state.apply(event)
        now[0] += 1.0
    assert joined is not None
    found = state.queue_entry(joined)
    assert found is not None and found[0] == "bremen"
    assert state.waiting_and_free()["bremen"][1] == ()


def test_the_reconcile_hands_the_dialer_every_channel_asterisk_has() -> None:
    from lotse.calltrack import ReconcileResult

    result = ReconcileResult(0, 0, 0, 0, (), frozenset({"cb-1"}))
    assert "cb-1" in result.channels
    # Not part of what a reconcile did (compared in the tracker's tests).
    assert result == ReconcileResult(0, 0, 0, 0)


async def test_cancel_ends_an_open_request_but_not_an_attempt_being_dialled(
    tmp_path: Path,
) -> None:
    import pytest

    clocks = Clocks()
    view = View(clocks, free={"bremen": 1})
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, Dialler())
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    await desk.request(agi("u2", "u2", "bremen", "015712345678", "closed"))
    first, second = await desk.pending()
    assert await desk.tick() == [first.id]
    with pytest.raises(ValueError):
        await desk.cancel(first.id)
    assert (await desk.cancel(second.id)) is not None
    assert await desk.cancel(second.id) is None
    assert desk.outcomes == [("bremen", "cancelled")]  # type: ignore[attr-defined]
    assert [r.id for r in await desk.pending()] == [first.id]


@pytest.mark.parametrize(
    ("wall", "override", "dialled"),
    [
        (T0, None, True),  # Monday 10:00 local: Bremen serves
        (datetime(2026, 11, 23, 17, 0, tzinfo=UTC), None, False),  # 18:00 local: closed
        (datetime(2026, 11, 23, 16, 59, tzinfo=UTC), None, True),  # its last open minute
        (datetime(2026, 11, 23, 21, 0, tzinfo=UTC), Override.OPEN, True),  # kept open
        (T0, Override.CLOSED, False),  # closed by a supervisor
        (datetime(2026, 12, 25, 9, 0, tzinfo=UTC), None, False),  # a public holiday
        (datetime(2026, 12, 24, 9, 0, tzinfo=UTC), None, False),  # a closure day
    ],
)
async def test_attempts_start_only_while_the_center_serves(
    tmp_path: Path, wall: datetime, override: Override | None, dialled: bool
) -> None:
    # Agents logged in and free do not make a closed center call anyone back.
    clocks = Clocks()
    view = View(clocks, free={"bremen": 3})
    dialler = Dialler()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, dialler)
    clocks.wall = wall
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    (req,) = await desk.pending()
    assert req.deadline_s > wall.timestamp()  # not expired: only the hours hold it back
    if override is not None:
        view.overrides["bremen"] = override
    assert len(await desk.tick()) == (1 if dialled else 0)


async def test_a_reloaded_retry_interval_applies_to_the_next_attempt(tmp_path: Path) -> None:
    clocks = Clocks()
    view = View(clocks, free={"bremen": 1})
    dialler = Dialler()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, dialler)
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    assert len(await desk.tick()) == 1
    bremen = CONFIG.centers["bremen"]
    assert bremen.callback is not None and bremen.callback.retry_interval_s != 60
    changed = dataclasses.replace(
        bremen, callback=dataclasses.replace(bremen.callback, retry_interval_s=60)
    )
    config = dataclasses.replace(CONFIG, centers={**CONFIG.centers, "bremen": changed})
    desk.reconfigure(config, Router(config, TABLE))
    await desk.attempt_ended(dialler.legs[-1].attempt_id, AttemptOutcome.NO_ANSWER)
    clocks.advance(59)
    assert await desk.tick() == []
    clocks.advance(1)
    assert len(await desk.tick()) == 1


async def test_an_attempt_whose_events_may_be_lost_is_asked_about_at_the_reconcile(
    tmp_path: Path,
) -> None:
    # Asterisk restarts during an attempt: its UserEvent and Hangup never come.
    clocks = Clocks()
    view = View(clocks, free={"bremen": 1})
    dialler = Dialler()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, dialler)
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    assert len(await desk.tick()) == 1

    async def gone(attempt: str) -> bool:
        return False

    # Its own attempt with the link up: events will tell, the reconcile leaves it.
    assert await desk.recover(gone) == 0
    desk.connection_lost()
    assert await desk.recover(gone) == 1
    (req,) = await desk.pending()
    assert req.in_flight is None and req.attempts == 1
    assert desk.attempts == {}
    # A late report of it books nothing; the retry comes after the interval.
    await desk.attempt_ended(dialler.legs[-1].attempt_id, AttemptOutcome.ANSWERED)
    assert len(await desk.pending()) == 1
    cb = CONFIG.centers["bremen"].callback
    assert cb is not None
    clocks.advance(cb.retry_interval_s)
    assert len(await desk.tick()) == 1


async def test_an_unsure_attempt_still_alive_is_followed(tmp_path: Path) -> None:
    clocks = Clocks()
    view = View(clocks, free={"bremen": 1})
    dialler = Dialler()
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, dialler)
    await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    await desk.tick()
    desk.connection_lost()

    async def alive(attempt: str) -> bool:
        return True

    assert await desk.recover(alive) == 0
    await desk.attempt_ended(dialler.legs[-1].attempt_id, AttemptOutcome.ANSWERED)
    assert await desk.pending() == []


async def test_an_after_hours_request_without_a_center_is_for_the_call_s_home(
    tmp_path: Path,
) -> None:
    # A dialplan from before the home center was passed sends none: the home
    # the controller decided for the call stands in.
    clocks = Clocks()
    view = View(clocks)
    desk = await desk_on(tmp_path / "j.sqlite", clocks, view, Dialler())
    desk._home_of = {"c1": "bremen"}.get
    ok = await desk.request(agi("u1", "c1", "", "", "closed"))
    assert dict(ok.variables)["LOTSE_CB_RESULT"] == "ok"
    (req,) = await desk.pending()
    assert req.center == "bremen"
    unknown = await desk.request(agi("u2", "c2", "", "", "closed"))
    assert dict(unknown.variables)["LOTSE_CB_RESULT"] == "unavailable"
