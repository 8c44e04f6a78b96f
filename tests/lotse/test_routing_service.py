"""Routing requests whose values would break the AGI dialogue: malformed, FAILURE, not journaled.

A bare CR in ``agi_uniqueid`` used to reach the decision (journaled) and only
then break the reply (``handler_error``): the journal held a decision for a
call that took the static fallback.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ami.agi_protocol import parse_env
from ami.contract import AGI_SCRIPT
from ami.fastagi import AgiMalformed
from lotse.controller import Controller, RunOptions
from lotse.journal.store import Journal
from lotse.routing_service import RoutingService
from router.config import Endpoint
from router.configload import load_config
from router.numbering import OrtsnetzTable
from router.policy import Router
from router.state import Snapshot
from tests.lotse.rig import REPO, SECRET, FakeWall, free_port

TABLE = OrtsnetzTable.load()
CONFIG = load_config(REPO / "config.yaml", table=TABLE)
ROUTER = Router(CONFIG, TABLE)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BAD = st.sampled_from(["\r", "\n", "\x00"])


def env(uniqueid: str = "1795392700.7", callerid: str = "034911234567", *args: str) -> list[str]:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {AGI_SCRIPT}",
        f"agi_request: agi://127.0.0.1:4573/{AGI_SCRIPT}",
        "agi_channel: PJSIP/carrier-00000007",
        f"agi_uniqueid: {uniqueid}",
        f"agi_callerid: {callerid}",
    ]
    lines += [f"agi_arg_{n}: {value}" for n, value in enumerate(args, 1)]
    return lines


def service(decided: list[object]) -> RoutingService:
    return RoutingService(
        ROUTER, lambda: Snapshot(centers={}), lambda: NOW, lambda *a: decided.append(a)
    )


def test_a_clean_request_is_decided() -> None:
    decided: list[object] = []
    reply = service(decided)(parse_env(env()))
    assert reply.variables and len(decided) == 1


@given(
    head=st.text(max_size=20),
    bad=BAD,
    tail=st.text(max_size=20),
)
def test_a_uniqueid_with_cr_lf_or_nul_is_malformed_and_never_decided(
    head: str, bad: str, tail: str
) -> None:
    decided: list[object] = []
    request = replace(parse_env(env()), uniqueid=head + bad + tail)
    with pytest.raises(AgiMalformed) as err:
        service(decided)(request)
    assert decided == []
    # Logged as it is: the field and the problem, never the value.
    assert str(err.value) == "agi_uniqueid contains CR, LF or NUL"


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        (env("1795392700.7", "0349\r11234567"), "agi_callerid"),
        (env("1795392700.7", "034911234567", "115", "", "", "1795392700.7\x00x"), "agi_arg_4"),
        (env("1795392700.7", "034911234567", "115", "", "3\r3098"), "agi_arg_3"),
        (env("1795392700.7", "034911234567", "1\x0015"), "agi_arg_1"),
    ],
)
def test_other_values_the_routing_uses_are_checked_too(lines: list[str], field: str) -> None:
    decided: list[object] = []
    with pytest.raises(AgiMalformed, match=field):
        service(decided)(parse_env(lines))
    assert decided == []


def test_values_the_routing_does_not_use_may_hold_anything() -> None:
    # A caller name (CR from a SIP display name) is no reason to drop the routing.
    decided: list[object] = []
    service(decided)(parse_env([*env(), "agi_calleridname: Jürgen\rMüller"]))
    assert len(decided) == 1


async def test_over_the_wire_a_bare_cr_is_counted_answered_failure_and_not_journaled(
    tmp_path: Path,
) -> None:
    db = tmp_path / "journal.sqlite"
    wall = FakeWall()
    journal = await Journal.open(db, clock=wall)
    agi = Endpoint("127.0.0.1", free_port())
    options = RunOptions(
        ami=Endpoint("127.0.0.1", free_port()),  # nobody listens: state stays stale
        agi_listen=agi,
        metrics_listen=None,
        journal_path=str(db),
    )
    controller = Controller(
        CONFIG, options, secret=SECRET, journal=journal, wall_clock=wall, table=TABLE
    )
    await controller.start()

    async def ask(lines: list[str]) -> bytes:
        reader, writer = await asyncio.open_connection(agi.host, agi.port)
        writer.write(("\n".join(lines) + "\n\n").encode())
        first = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        return first

    try:
        bad = await ask(env("1795392700.7\r8"))
        bad_nul = await ask(env("1795392700.8\x00"))
        good = await ask(env("1795392700.9"))
        await journal.flush()
    finally:
        await controller.stop()
    assert bad == bad_nul == b"FAILURE\n"
    assert good.startswith(b"SET VARIABLE ")
    registry = controller.registry
    assert registry.get_sample_value("lotse_malformed_input_total", {"source": "agi"}) == 2
    requests = "lotse_agi_requests_total"
    assert registry.get_sample_value(requests, {"result": "malformed"}) == 2
    assert registry.get_sample_value(requests, {"result": "handler_error"}) in (None, 0)
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT call_id FROM calls")] == ["1795392700.9"]
