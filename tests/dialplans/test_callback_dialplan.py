"""The callback dialogue and the dialer's legs in the generated files."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from ami import contract as c
from dialplans.build import EXTENSIONS, QUEUES, write
from dialplans.conf import DialplanError
from dialplans.engine import Flow, Interpreter, ReadArgs, load_dialplan
from dialplans.engine.interp import Execution, Result
from tests.dialplans.helpers import build_files, center, demo_config, small_config
from tests.dialplans.test_engine import Chan, Vars, World

FILES = build_files(demo_config())
TEXT = FILES[EXTENSIONS]


def test_no_callback_contexts_without_a_center_that_offers_one() -> None:
    files = build_files(small_config(center("a")))
    assert "lotse-callback" not in files[EXTENSIONS]
    assert "LOTSE_CB_OFFER" not in files[EXTENSIONS]
    assert "periodic-announce" not in files[QUEUES]
    assert " same => n(final),Queue(${LOTSE_QUEUE})" in files[EXTENSIONS]


def test_the_demo_network_gets_the_dialogue_and_the_legs() -> None:
    for context in (
        c.CALLBACK_KEY_CONTEXT,
        c.CALLBACK_CONTEXT,
        c.CALLBACK_AGENT_CONTEXT,
        c.CALLBACK_DIAL_CONTEXT,
    ):
        assert f"[{context}]" in TEXT
    # First in line: Asterisk 22's Queue() takes the position as its ninth argument.
    assert "exten => s,1,Queue(${LOTSE_CB_QUEUE},,,,60,,,,1)" in TEXT
    assert "AGI(agi://127.0.0.1:4573/callback,${LOTSE_CALLID},${LOTSE_CB_CENTER},${CB_NUM}," in TEXT
    assert "SayDigits(${CB_NUM})" in TEXT


def test_the_numbers_never_reach_an_ami_event() -> None:
    # The AMI users' VarSet filter passes LOTSE_* only; the numbers are CB_NUM and CB_DIAL.
    regex = re.compile(r"^(_{0,2}LOTSE_.*|ROUTE_.*|AGISTATUS|QUEUESTATUS)$")
    assert regex.match(c.VAR_CB_NUMBER) is None and regex.match(c.VAR_CB_DIAL) is None
    for line in TEXT.splitlines():
        if "UserEvent(" in line:
            assert "CB_NUM" not in line and "CB_DIAL" not in line, line


def test_queues_offer_after_the_configured_wait() -> None:
    config = demo_config()
    section = FILES[QUEUES].split("[115-bremen](lotse-queue)")[1].split("\n\n")[0]
    cb = config.centers["bremen"].callback
    assert cb is not None
    assert f"periodic-announce-frequency = {cb.offer_after_wait_s}" in section
    assert "context = lotse-callback-key" in section
    assert "periodic-announce = lotse/callback-offer" in section


def test_the_interpreter_loads_the_generated_files(tmp_path: Path) -> None:
    write(FILES, tmp_path)
    plan = load_dialplan(tmp_path)
    assert plan.exists(c.CALLBACK_CONTEXT, "request", "1")
    assert plan.exists(c.CALLBACK_KEY_CONTEXT, "1", "1")


def test_a_caller_who_cannot_leave_a_request_goes_back_to_a_queue() -> None:
    from dialplans.callback import FALLBACK_CONTEXT
    from dialplans.route import FALLBACK_CONTEXT as ROUTE_FALLBACK

    assert FALLBACK_CONTEXT == ROUTE_FALLBACK
    assert 'exten => back,1,GotoIf($["${LOTSE_QUEUE}" = ""]?lotse-fallback,s,1)' in TEXT
    assert " same => n,Goto(lotse-route,queue,finalq)" in TEXT
    assert "?lotse-route,queue,finalq)" not in TEXT  # only through back


class _Accepts(World):
    """A caller who presses 1 at every question."""

    async def read(self, ex: Execution, args: ReadArgs) -> Result:
        self.log.append(f"read {args.variable}")
        ex.set(args.variable, "1")
        return Flow.CONTINUE


def _offer(tmp_path: Path, exten: str, **channel: str) -> list[str]:
    write(FILES, tmp_path)
    interp = Interpreter(load_dialplan(tmp_path), zone="Europe/Berlin")
    world = _Accepts(agi_vars=[(c.VAR_CB_RESULT, "ok")])
    variables = Vars()
    for name, value in channel.items():
        variables.set_var(name, value)
    ex = interp.execution(Chan(), variables, world)
    asyncio.run(interp.run(ex, c.CALLBACK_CONTEXT, exten))
    return [line for line in world.log if line.startswith(("agi", "event"))]


def test_the_after_hours_offer_asks_for_the_home_center(tmp_path: Path) -> None:
    # An announce decision leaves LOTSE_TARGET empty (ami.routing.reply_for);
    # the request is for the caller's home center, as the offer was.
    got = _offer(tmp_path, "closed", LOTSE_TARGET="", LOTSE_HOME="bremen", LOTSE_CALLID="c1")
    assert got[0] == "agi agi://127.0.0.1:4573/callback ['c1', 'bremen', '', 'closed']"
    assert "('Center', 'bremen')" in got[1]


def test_the_wait_offer_asks_for_the_queue_s_center(tmp_path: Path) -> None:
    got = _offer(
        tmp_path, "wait", LOTSE_TARGET="bremen", LOTSE_HOME="wittenberg", LOTSE_CALLID="c1"
    )
    assert got[0] == "agi agi://127.0.0.1:4573/callback ['c1', 'bremen', '', 'wait']"


def _dial_context(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"[{c.CALLBACK_DIAL_CONTEXT}]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    return [line for line in lines[start + 1 : end] if line and not line.startswith(";")]


def test_an_attempt_reports_once_from_the_h_extension() -> None:
    # Dial(...,g) then Hangup(); the one UserEvent in h, which Asterisk runs
    # whichever side hangs up first (tests/lotse/captures/callback-*.txt).
    assert _dial_context(TEXT) == [
        "exten => s,1,Dial(PJSIP/${CB_DIAL}@lotse-callback-trunk,${LOTSE_CB_RING},g)",
        " same => n,Hangup()",
        "exten => h,1,UserEvent(LotseCallback,Id: ${LOTSE_CB_ID},Attempt: ${LOTSE_CB_ATTEMPT},"
        'Status: ${IF($["${DIALSTATUS}" = ""]?NONE:${DIALSTATUS})})',
    ]


def test_the_dial_string_comes_from_the_config() -> None:
    from dataclasses import replace

    config = replace(demo_config(), callback_dial="Local/${CB_DIAL}@callees")
    text = build_files(config)[EXTENSIONS]
    assert (
        _dial_context(text)[0] == "exten => s,1,Dial(Local/${CB_DIAL}@callees,${LOTSE_CB_RING},g)"
    )
    with pytest.raises(DialplanError):
        build_files(replace(config, callback_dial="PJSIP/${CB_DIAL},30"))
