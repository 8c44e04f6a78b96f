"""The callback dialogue and the dialer's legs in the generated files."""

from __future__ import annotations

import re
from pathlib import Path

from ami import contract as c
from dialplans.build import EXTENSIONS, QUEUES, write
from dialplans.engine import load_dialplan
from tests.dialplans.helpers import build_files, center, demo_config, small_config

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
    assert "AGI(agi://127.0.0.1:4573/callback,${LOTSE_CALLID},${LOTSE_TARGET},${CB_NUM}," in TEXT
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
