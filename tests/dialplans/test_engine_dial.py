"""The interpreter's Dial(), indications, Queue() arguments and the h extension."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialplans.engine import DialplanRunError
from dialplans.engine.options import OptionError, atoi, parse_options
from dialplans.engine.queue import QUEUE_OPTIONS
from tests.dialplans.test_engine import World, run

AFTER = " same => n,UserEvent(After,Status: ${DIALSTATUS})\n"


def test_dial_arguments_as_app_dial_reads_them() -> None:
    world, _, _ = run("[t]\nexten => s,1,Dial(Local/s@a&PJSIP/1@trunk,20^5,g)\n")
    assert world.log[0] == "dial Local/s@a&PJSIP/1@trunk 20.0 (('g', ''),)"


@pytest.mark.parametrize("timeout", ["", "0", "-3", "abc", "^5"])
def test_a_dial_timeout_that_is_no_positive_number_means_none(timeout: str) -> None:
    world, _, _ = run(f"[t]\nexten => s,1,Dial(Local/s@a,{timeout})\n")
    assert world.log[0] == "dial Local/s@a None ()"


def test_without_g_an_answered_dial_ends_the_dialplan() -> None:
    world, _, ended = run("[t]\nexten => s,1,Dial(Local/s@a,20)\n" + AFTER)
    assert ended == "hangup" and not any(line.startswith("event") for line in world.log)


def test_with_g_the_next_priority_runs() -> None:
    world, _, _ = run("[t]\nexten => s,1,Dial(Local/s@a,20,g)\n" + AFTER)
    assert world.log[-1] == "event After [('Status', 'ANSWER')]"


def test_an_unanswered_dial_goes_on_without_g() -> None:
    world, _, _ = run(
        "[t]\nexten => s,1,Dial(Local/s@a,20)\n" + AFTER, world=World(dial_status="NOANSWER")
    )
    assert world.log[-1] == "event After [('Status', 'NOANSWER')]"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("gy", "Dial: unknown option 'y'"),
        ("g(x)", "Dial: option 'g' takes no argument"),
        ("L(60", "Dial: option 'L': unclosed '('"),
    ],
)
def test_bad_dial_options_are_errors_with_file_and_line(options: str, message: str) -> None:
    with pytest.raises(DialplanRunError) as err:
        run(f"[t]\nexten => s,1,NoOp()\n same => n,Dial(Local/s@a,20,{options})\n")
    assert str(err.value) == f"t.conf:3: {message}"


def test_a_dial_destination_needs_tech_and_resource() -> None:
    with pytest.raises(DialplanRunError, match=r"^t.conf:2: Dial destination 'nowhere'"):
        run("[t]\nexten => s,1,Dial(nowhere)\n")


def test_queue_position_is_the_ninth_argument() -> None:
    seen = []

    class Positions(World):
        async def queue(self, ex, args):  # type: ignore[no-untyped-def]
            seen.append(args.position)
            return await super().queue(ex, args)

    for data in ("q,,,,60,,,,1", "q,,,,60,,,,,1", "q,,,,60,,,,1,", "q,,,,60,,,,-2", "q,,,,60"):
        run(f"[t]\nexten => s,1,Queue({data})\n", world=Positions())
    # Ten arguments: the ninth is ",1", atoi gives 0, the caller joins at the end
    # (queue-position.txt); "1," is 1; a negative position is ignored.
    assert seen == [1, 0, 1, 0, 0]


def test_unknown_queue_options_are_errors() -> None:
    with pytest.raises(DialplanRunError, match=r"^t.conf:2: Queue: unknown option 'z'"):
        run("[t]\nexten => s,1,Queue(q,z)\n")


def test_known_queue_options_pass() -> None:
    assert parse_options("cnm(class)", QUEUE_OPTIONS, "Queue") == {"c": "", "n": "", "m": "class"}


def test_busy_and_congestion_end_the_dialplan_ringing_goes_on() -> None:
    world, _, ended = run("[t]\nexten => s,1,Ringing()\n same => n,Busy(3)\n same => n,NoOp()\n")
    assert world.log == ["indicate ringing None", "indicate busy 3.0"] and ended == "hangup"


@pytest.mark.parametrize(
    ("status", "indication"),
    [("BUSY", "busy"), ("CONGESTION", "congestion"), ("CHANUNAVAIL", "congestion")],
)
def test_falling_off_after_a_refused_dial_indicates_it_for_ten_seconds(
    status: str, indication: str
) -> None:
    world, _, ended = run("[t]\nexten => s,1,Dial(Local/s@a)\n", world=World(dial_status=status))
    assert world.log[-1] == f"indicate {indication} 10.0" and ended.startswith("fell off")


def test_falling_off_after_no_answer_indicates_nothing() -> None:
    world, _, _ = run("[t]\nexten => s,1,Dial(Local/s@a)\n", world=World(dial_status="NOANSWER"))
    assert not any(line.startswith("indicate") for line in world.log)


def test_the_h_extension_runs_in_the_channel_s_context() -> None:
    import asyncio

    from dialplans.engine import Interpreter, parse_text
    from tests.dialplans.test_engine import Chan, Vars

    plan = parse_text(
        "[t]\nexten => s,1,Dial(Local/s@a,20)\nexten => h,1,UserEvent(H,Status: ${DIALSTATUS})\n"
        " same => n,Hangup()\n same => n,NoOp(never)\n",
        "t.conf",
    )
    interp, world = Interpreter(plan), World()
    ex = interp.execution(Chan(), Vars(), world)

    async def go() -> bool:
        await interp.run(ex, "t", "s")
        return await interp.run_hangup_exten(ex)

    assert asyncio.run(go())
    assert world.log[-1] == "event H [('Status', 'ANSWER')]"
    assert [s.exten + str(s.priority) for s in world.steps] == ["s1", "h1", "h2"]


def test_no_h_extension_nothing_runs() -> None:
    import asyncio

    from dialplans.engine import Interpreter, parse_text
    from tests.dialplans.test_engine import Chan, Vars

    interp = Interpreter(parse_text("[t]\nexten => s,1,NoOp()\n", "t.conf"))
    ex = interp.execution(Chan(), Vars(), World())
    assert asyncio.run(interp.run_hangup_exten(ex)) is False


@given(st.text(alphabet=" +-0123456789,x", max_size=8))
def test_atoi_reads_the_leading_number_like_c(text: str) -> None:
    stripped = text.lstrip()
    sign = -1 if stripped.startswith("-") else 1
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    digits = ""
    for ch in body:
        if not ch.isdigit():
            break
        digits += ch
    assert atoi(text) == (sign * int(digits) if digits else 0)


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(OptionError, match="X: unknown option 'q'"):
        parse_options("q", {}, "X")
