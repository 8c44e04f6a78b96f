"""The stand-in's queue model on a manual clock: deterministic, no network, no real waiting."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from ami.codec import AmiParser, Message
from ami.events import LotseFallback, to_event
from standin import CallOutcome, ManualClock, OutcomeKind, Pbx
from standin.agents import AgentProfile, DistKind, Duration
from standin.emit import EventDetail
from standin.staffing import AgentSpec, Staffing, StaffingError, load_staffing
from standin.wire import AmiEvent, event_mask, privilege
from tests.standin.kit import MONDAY_10, small_config

BREMEN = "04211234567"


def profile(ring: float = 1.0, handle: float = 60.0, wrapup: float = 0.0) -> AgentProfile:
    return AgentProfile(ring=Duration(mean=ring), handle=Duration(mean=handle), wrapup_s=wrapup)


def make(
    agents: dict[str, AgentProfile],
    queue: str = "115-bremen",
    at: float = MONDAY_10,
    **kwargs: object,
) -> tuple[Pbx, ManualClock, list[AmiEvent]]:
    clock = ManualClock(at)
    staffing = Staffing({queue: tuple(AgentSpec(n, p) for n, p in agents.items())})
    pbx = Pbx(
        small_config(),
        staffing=staffing,
        clock=clock,
        agi_url=None,
        rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )
    events: list[AmiEvent] = []
    pbx.subscribe(events.append)
    return pbx, clock, events


async def run_until(clock: ManualClock, done: Callable[[], bool], limit_s: float = 7200) -> None:
    spent = 0.0
    while not done():
        assert spent < limit_s, "the simulated calls did not finish"
        await clock.advance(0.5)
        spent += 0.5


async def test_rrmemory_rings_the_members_in_turn() -> None:
    pbx, clock, events = make({"a1": profile(), "a2": profile(), "a3": profile()})
    handles = []
    for _ in range(4):
        handles.append(await pbx.place_call(BREMEN))
        await clock.advance(1)
    await run_until(clock, lambda: all(h.done() for h in handles))
    outcomes = [await h.outcome() for h in handles]
    # Three agents busy for a minute: the fourth caller gets a1 again after a1's call.
    assert [o.agent for o in outcomes] == ["a1", "a2", "a3", "a1"]
    assert outcomes[3].wait_s > 50
    called = [e.get("MemberName") for e in events if e.name == "AgentCalled"]
    assert called == ["a1", "a2", "a3", "a1"]
    await pbx.close()


async def test_fallback_routes_by_ortsnetz_without_fastagi() -> None:
    pbx, clock, _ = make({"a1": profile()})
    handle = await pbx.place_call(BREMEN)
    await run_until(clock, handle.done)
    outcome = await handle.outcome()
    assert outcome.fallback and outcome.agi_statuses == ("FAILURE",)
    assert (outcome.queue, outcome.center) == ("115-bremen", "bremen")
    await pbx.close()


async def test_unknown_region_falls_back_to_the_fallback_center() -> None:
    # Asked for the postal code (two tries) by the fallback, the caller keys in nothing.
    pbx, clock, _ = make({"a1": profile(ring=3)}, queue="115-wittenberg")
    handle = await pbx.place_call("01711234567", patience_s=40)
    await run_until(clock, handle.done)
    outcome = await handle.outcome()
    assert outcome.queue == "115-wittenberg"  # fallback_center of the test config
    assert outcome.fallback and outcome.postal_entered == ()
    await pbx.close()


async def test_without_fastagi_a_mobile_caller_is_routed_by_postal_code() -> None:
    pbx, clock, _ = make({"a1": profile()})
    handle = await pbx.place_call("01711234567", postal_code="28195")
    await run_until(clock, handle.done)
    outcome = await handle.outcome()
    assert outcome.fallback and outcome.agi_statuses == ("FAILURE",)
    assert (outcome.queue, outcome.center) == ("115-bremen", "bremen")
    await pbx.close()


async def test_fallback_skips_a_center_nobody_is_logged_in_to() -> None:
    # Agents only at bremen: the fallback center has nobody, the caller hears all-busy.
    pbx, clock, events = make({"a1": profile()})
    handle = await pbx.place_call("01711234567")
    await run_until(clock, handle.done)
    outcome = await handle.outcome()
    assert (outcome.kind, outcome.announcement) == (OutcomeKind.ANNOUNCEMENT, "lotse/all-busy")
    assert outcome.visits == () and outcome.fallback
    assert not any(e.name == "QueueCallerJoin" for e in events)
    await pbx.close()


async def test_fallback_at_night_plays_the_off_hours_announcement() -> None:
    sunday_night = MONDAY_10 - 8 * 3600  # Monday 02:00
    pbx, clock, events = make({"a1": profile()}, at=sunday_night)
    handle = await pbx.place_call(BREMEN)
    await run_until(clock, handle.done)
    outcome = await handle.outcome()
    assert (outcome.kind, outcome.announcement) == (
        OutcomeKind.ANNOUNCEMENT,
        "lotse/offhours-bremen",
    )
    plays = [
        e.get("AppData")
        for e in events
        if e.name == "Newexten" and e.get("Application") == "Playback"
    ]
    assert plays == ["lotse/offhours-bremen"]
    await pbx.close()


async def test_wrapup_keeps_the_agent_from_the_next_call() -> None:
    pbx, clock, _ = make({"a1": profile(handle=10, wrapup=30)})
    first = await pbx.place_call(BREMEN)
    await run_until(clock, first.done)
    second = await pbx.place_call(BREMEN)
    await run_until(clock, second.done)
    outcome = await second.outcome()
    assert outcome.agent == "a1"
    assert outcome.wait_s >= 30
    await pbx.close()


async def test_ring_no_answer_moves_on_to_the_next_member() -> None:
    pbx, clock, events = make({"slow": profile(ring=40), "fast": profile(ring=1)})
    handle = await pbx.place_call(BREMEN)
    await run_until(clock, handle.done)
    outcome = await handle.outcome()
    assert outcome.agent == "fast"
    rna = [e for e in events if e.name == "AgentRingNoAnswer"]
    assert [e.get("MemberName") for e in rna] == ["slow"]
    assert rna[0].get("RingTime") == "15000"  # the member timeout, in ms
    assert [e.get("DialStatus") for e in events if e.name == "DialEnd"] == ["NOANSWER", "ANSWER"]
    await pbx.close()


async def test_paused_agent_is_not_rung_until_unpaused() -> None:
    pbx, clock, events = make({"a1": profile()})
    pbx.pause_agent("a1", reason="Pause")
    handle = await pbx.place_call(BREMEN)
    await clock.advance(60)
    assert not any(e.name == "AgentCalled" for e in events)
    pbx.pause_agent("a1", paused=False)
    await run_until(clock, handle.done)
    assert (await handle.outcome()).agent == "a1"
    pauses = [e.get("Paused") for e in events if e.name == "QueueMemberPause"]
    assert pauses == ["1", "0"]
    await pbx.close()


async def test_login_and_logout_emit_member_events() -> None:
    pbx, _, events = make({})
    member = pbx.login_agent("115-bremen", "new")
    assert member.interface == "Local/new@agents/n" and member.dynamic
    pbx.logout_agent("115-bremen", "new")
    names = [e.name for e in events]
    assert names == [
        "DeviceStateChange",
        "QueueMemberAdded",
        "DeviceStateChange",
        "QueueMemberRemoved",
        "DeviceStateChange",
    ]
    await pbx.close()


async def test_queue_statistics_follow_app_queue() -> None:
    pbx, clock, _ = make({"a1": profile(handle=40)})
    answered = await pbx.place_call(BREMEN)
    await clock.advance(2)
    gives_up = await pbx.place_call(BREMEN, patience_s=5)
    await run_until(clock, lambda: answered.done() and gives_up.done())
    q = pbx.queue("115-bremen")
    assert (q.completed, q.abandoned) == (1, 1)
    assert q.talktime == 40
    params = dict(q.params_item())
    assert params["Completed"] == "1" and params["Abandoned"] == "1"
    await pbx.close()


async def _scenario(seed: int) -> list[CallOutcome]:
    clock = ManualClock(MONDAY_10)
    prof = AgentProfile(
        ring=Duration(DistKind.UNIFORM, 3, 2), handle=Duration(DistKind.EXPONENTIAL, 120)
    )
    staffing = Staffing({"115-bremen": (AgentSpec("a", prof), AgentSpec("b", prof))})
    pbx = Pbx(small_config(), staffing=staffing, clock=clock, agi_url=None, seed=seed)
    rng = random.Random(seed)
    handles = []
    for _ in range(8):
        handles.append(await pbx.place_call(BREMEN, patience_s=rng.uniform(20, 300)))
        await clock.advance(rng.uniform(5, 60))
    await run_until(clock, lambda: all(h.done() for h in handles), limit_s=36000)
    outcomes = [await h.outcome() for h in handles]
    await pbx.close()
    return outcomes


async def test_the_same_seed_gives_the_same_calls() -> None:
    first, second = await _scenario(3), await _scenario(3)
    assert first == second
    assert {o.kind for o in first} <= {OutcomeKind.ANSWERED, OutcomeKind.ABANDONED}


async def test_lean_detail_drops_the_noise_but_keeps_status_variables() -> None:
    counts = {}
    for detail in EventDetail:
        pbx, clock, events = make({"a1": profile()}, detail=detail)
        handle = await pbx.place_call(BREMEN)
        await run_until(clock, handle.done)
        counts[detail] = sum(1 for e in events if e.name in ("VarSet", "Newexten"))
        if detail is EventDetail.LEAN:
            # No FastAGI server here: the static fallback names the home it found.
            variables = {e.get("Variable") or "" for e in events if e.name == "VarSet"}
            assert {"AGISTATUS", "__LOTSE_HOME", "PLAYBACKSTATUS"} <= variables
            assert all(v.lstrip("_").startswith("LOTSE_") or v.isupper() for v in variables)
            assert not variables & {"SIPDOMAIN", "MEMBERINTERFACE", "QUEUEWAIT"}
        await pbx.close()
    assert counts[EventDetail.FULL] > 60 > counts[EventDetail.LEAN]


def test_durations_parse_and_sample_in_range() -> None:
    rng = random.Random(1)
    assert Duration.parse("4").sample(rng) == 4.0
    uniform = Duration.parse("uniform:10:2")
    assert all(8 <= uniform.sample(rng) <= 12 for _ in range(100))
    logn = Duration.parse("lognormal:180:90")
    samples = [logn.sample(rng) for _ in range(4000)]
    assert 160 < sum(samples) / len(samples) < 200
    with pytest.raises(ValueError, match="not a duration"):
        Duration.parse("gamma:1")


def test_event_masks_and_privilege_follow_manager_c() -> None:
    assert event_mask("off") == 0 and event_mask("") == -1
    assert event_mask("on") == event_mask(
        "call,agent,system,log,verbose,command,user,config,"
        "dtmf,reporting,cdr,dialplan,originate,agi,cc,aoc,"
        "test,security,message"
    )
    assert event_mask("nonsense") == 0
    assert privilege(event_mask("call")) == "call,all"
    assert privilege(event_mask("dialplan")) == "dialplan,all"


def test_staffing_file(tmp_path: Path) -> None:
    path = tmp_path / "staff.yaml"
    path.write_text(
        "defaults: {handle: exp:200, wrapup_s: 5}\n"
        "queues:\n  bremen: 2\n  115-wittenberg:\n    - {name: anna, paused: true}\n"
    )
    staffing = load_staffing(path, small_config())
    assert [s.name for s in staffing.queues["115-bremen"]] == ["bremen-1", "bremen-2"]
    anna = staffing.queues["115-wittenberg"][0]
    assert anna.paused and anna.profile.wrapup_s == 5
    assert anna.profile.handle == Duration(DistKind.EXPONENTIAL, 200)
    path.write_text("queues: {nowhere: 1}\n")
    with pytest.raises(StaffingError, match="neither a center id nor a queue"):
        load_staffing(path, small_config())


async def test_ortsnetz_dialled_before_115_wins_in_the_fallback() -> None:
    pbx, clock, events = make({"a1": profile()})
    # A mobile caller would go to the fallback center (wittenberg); 0421 names Bremen.
    handle = await pbx.place_call("01711234567", dialed="0421115")
    await run_until(clock, handle.done)
    outcome = await handle.outcome()
    assert (outcome.queue, outcome.agent, outcome.fallback) == ("115-bremen", "a1", True)
    newchannel = next(e for e in events if e.name == "Newchannel")
    assert newchannel.get("Exten") == "0421115"
    await pbx.close()


async def test_the_static_fallback_announces_itself_as_the_generated_dialplan_does() -> None:
    pbx, clock, events = make({"a1": profile()}, detail=EventDetail.LEAN)
    handle = await pbx.place_call(BREMEN)
    await run_until(clock, handle.done)
    await pbx.close()
    user_events = [e for e in events if e.name == "UserEvent"]
    assert len(user_events) == 1
    (message,) = AmiParser().feed(user_events[0].data)
    assert isinstance(message, Message)
    # Asterisk 22's order: the channel snapshot (with its ChanVariable lines),
    # UserEvent, then the body.
    names = [k for k, _ in message.headers if k != "ChanVariable"]
    assert names[:2] == ["Event", "Privilege"]
    assert names[names.index("Linkedid") + 1 :] == ["UserEvent", "Center", "Reason"]
    typed = to_event(message)
    assert isinstance(typed, LotseFallback)
    assert (typed.center, typed.reason) == ("bremen", "agi-failure")


def _files(tmp_path: Path, edit: tuple[str, str] | None = None) -> Path:
    from dialplans.build import EXTENSIONS, AmiEvents, build, write

    write(build(small_config(), (2026, 2027), AmiEvents.from_ami()), tmp_path)
    if edit is not None:
        text = (tmp_path / EXTENSIONS).read_text()
        assert edit[0] in text
        (tmp_path / EXTENSIONS).write_text(text.replace(*edit))
    return tmp_path


async def test_the_stand_in_runs_the_files_it_is_given(tmp_path: Path) -> None:
    from dialplans.engine import load_dialplan

    files = _files(tmp_path, ("Set(LOTSE_FB_QUEUE=115-bremen)", "Set(LOTSE_FB_QUEUE=115-extra)"))
    pbx, clock, events = make({"a1": profile()}, dialplan=load_dialplan(files))
    handle = await pbx.place_call(BREMEN)
    await run_until(clock, handle.done)
    outcome = await handle.outcome()
    # 115-extra is no queue: Queue() sets QUEUESTATUS=UNKNOWN and the edited
    # fallback spills on, to the final queue, then plays all-busy.
    assert outcome.visits[0].queue == "115-extra"
    assert any(e.get("Variable") == "QUEUESTATUS" and e.get("Value") == "UNKNOWN" for e in events)
    await pbx.close()


async def test_an_unknown_application_in_the_files_hangs_the_call_up(tmp_path: Path) -> None:
    from dialplans.engine import load_dialplan

    files = _files(
        tmp_path, ("exten => 115,1,Set(", "exten => 115,1,MixMonitor(x.wav)\n same => n,Set(")
    )
    pbx, clock, events = make({"a1": profile()}, dialplan=load_dialplan(files))
    handle = await pbx.place_call(BREMEN)
    await run_until(clock, handle.done)
    assert (await handle.outcome()).kind is OutcomeKind.FAILED
    # As pbx_extension_helper: no such application, no Newexten; the channel hangs up.
    assert [e.name for e in events if e.name in ("Newexten", "Hangup")] == ["Hangup"]
    await pbx.close()
