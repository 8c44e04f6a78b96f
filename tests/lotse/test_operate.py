"""Operating a running controller with the Asterisk stand-in, over the real sockets.

The stand-in places calls over AMI/FastAGI exactly as Asterisk would, the
controller answers them, and ``lotse ctl``'s client talks to the control
socket: overrides change the next decision and survive a restart, reloads
during load lose nothing, a refused file changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ami.agi_protocol import parse_env
from ami.contract import ARG_CONFIG, AgiAction
from lotse.commands.ctl import ask
from lotse.control.operations import Operations
from lotse.controller import Controller, RunOptions
from lotse.journal.store import Journal
from router.config import Endpoint
from router.configload import load_config
from router.numbering import OrtsnetzTable
from router.policy import Router
from standin import Pbx
from standin.calls import CallOutcome
from standin.clock import ScaledClock
from tests.lotse.rig import REPO, SECRET, SPEED, FakeWall, free_port, staffing

TABLE = OrtsnetzTable.load()


@dataclass
class Operated:
    """The stand-in, a controller with its control socket, and how to restart it."""

    config_path: Path
    journal_path: Path
    socket: str
    pbx: Pbx
    wall: FakeWall
    agi: Endpoint
    controller: Controller | None = None
    ops: Operations | None = None

    async def start(self) -> None:
        config = load_config(self.config_path, table=TABLE)
        config = replace(config, controller=replace(config.controller, agi_deadline_ms=3000))
        host, port = self.pbx.ami_address
        options = RunOptions(
            Endpoint(host, port), self.agi, None, str(self.journal_path), self.socket
        )
        journal = await Journal.open(self.journal_path, clock=self.wall)
        controller = Controller(
            config, options, secret=SECRET, journal=journal, wall_clock=self.wall, table=TABLE
        )
        ops = await Operations.open(
            controller,
            table=TABLE,
            wall_clock=self.wall,
            config_path=self.config_path,
            socket_path=self.socket,
        )
        await ops.start()
        await controller.start()
        self.controller, self.ops = controller, ops
        async with asyncio.timeout(10):
            while controller.live.stale:
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.ops is not None:
            await self.ops.close()
        if self.controller is not None:
            await self.controller.stop()
        self.ops = self.controller = None

    async def ctl(self, command: str, **args: Any) -> dict[str, Any]:
        """What ``lotse ctl`` gets back, over the control socket."""
        return await asyncio.to_thread(ask, self.socket, {"command": command, **args})

    async def route(self, number: str, **args: Any) -> dict[str, Any]:
        answer = await self.ctl("route", numbers=[number], **args)
        assert answer["ok"], answer
        decision: dict[str, Any] = answer["result"]["decisions"][0]
        return decision

    async def calls(self, callers: list[str]) -> list[CallOutcome]:
        handles = [await self.pbx.place_call(c) for c in callers]
        async with asyncio.timeout(90):
            return [await h.outcome() for h in handles]


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Unix socket paths are short; pytest's tmp_path can be long.
    d = Path(tempfile.mkdtemp(prefix="lotse-op-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@asynccontextmanager
async def operated_rig(tmp_path: Path, sock_dir: Path) -> AsyncIterator[Operated]:
    config_path = tmp_path / "config.yaml"
    shutil.copy(REPO / "config.yaml", config_path)
    config = load_config(config_path, table=TABLE)
    agi = Endpoint("127.0.0.1", free_port())
    pbx = Pbx(
        config,
        staffing=staffing(config, set()),
        table=TABLE,
        clock=ScaledClock(SPEED),
        seed=7,
        users={"lotse": SECRET, "lotse-callback": SECRET},
        agi_url=f"agi://{agi}/route",
    )
    await pbx.start()
    op = Operated(
        config_path, tmp_path / "journal.sqlite", str(sock_dir / "ctl.sock"), pbx, FakeWall(), agi
    )
    try:
        await op.start()
        yield op
    finally:
        await op.stop()
        await pbx.close()


@pytest.fixture
async def op(tmp_path: Path, sock_dir: Path) -> AsyncIterator[Operated]:
    async with operated_rig(tmp_path, sock_dir) as o:
        yield o


def variant(op: Operated, old: str, new: str) -> bytes:
    text = op.config_path.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new).encode()


async def test_status_names_the_file_its_hash_and_every_center(op: Operated) -> None:
    answer = await op.ctl("status")
    assert answer["ok"]
    s = answer["result"]
    assert s["config"] == str(op.config_path)
    assert s["config_sha256"] == load_config(op.config_path, table=TABLE).sha256
    assert s["ami"] == {"connected": True, "stale": False}
    bremen = next(c for c in s["centers"] if c["id"] == "bremen")
    assert bremen["open"] is True and bremen["override"] is None
    assert bremen["agents_logged_in"] == 2


async def test_an_override_round_trip_changes_the_next_decision(op: Operated) -> None:
    assert (await op.route("0421 1234"))["target"] == "bremen"
    answer = await op.ctl("override", center="bremen", mode="closed", reason="staff meeting")
    assert answer["ok"], answer
    assert "static fallback" in answer["warnings"][0]
    decision = await op.route("0421 1234")
    assert decision["target"] == "bund"
    assert "bremen closed: closed by override: staff meeting" in decision["reasons"]
    # The real call, over FastAGI, goes where the decision says.
    [call] = await op.calls(["0421 1234567"])
    assert call.center == "bund" and not call.fallback
    status = (await op.ctl("status"))["result"]
    bremen = next(c for c in status["centers"] if c["id"] == "bremen")
    assert bremen["open"] is False and bremen["override"]["mode"] == "closed"

    assert (await op.ctl("override", center="bremen", mode="auto"))["ok"]
    assert (await op.route("0421 1234"))["target"] == "bremen"
    [call] = await op.calls(["0421 1234567"])
    assert call.center == "bremen"


async def test_an_unknown_center_is_bad_input_and_changes_nothing(op: Operated) -> None:
    answer = await op.ctl("override", center="atlantis", mode="closed")
    assert answer["ok"] is False and answer["error"] == "unknown_center"
    answer = await op.ctl("override", center="bremen", mode="shut")
    assert answer["ok"] is False and answer["error"] == "bad_input"
    assert op.ops is not None and op.ops.book.current == {}


async def test_an_override_survives_a_restart_and_expires_at_until(op: Operated) -> None:
    until = op.wall.at + timedelta(hours=1)
    answer = await op.ctl(
        "override", center="bremen", mode="closed", until=until.isoformat(), reason="drill"
    )
    assert answer["ok"], answer
    await op.stop()
    await op.start()
    decision = await op.route("0421 1234")
    assert decision["target"] == "bund"
    assert any(
        r.startswith("bremen closed: closed by override: drill (until") for r in decision["reasons"]
    )
    op.wall.at = until - timedelta(seconds=1)
    assert (await op.route("0421 1234"))["target"] == "bund"
    op.wall.at = until
    # The next decision after the end time sees the calendar again.
    assert (await op.route("0421 1234"))["target"] == "bremen"
    # And so do real calls, once the controller's own check has run.
    assert op.ops is not None
    await op.ops.book.expire_due()
    [call] = await op.calls(["0421 1234567"])
    assert call.center == "bremen"


async def test_a_refused_file_changes_nothing(op: Operated) -> None:
    c = op.controller
    assert c is not None
    before_config, before_router = c.config, c.router
    before_route = await op.route("03491 123456")
    good = op.config_path.read_bytes()
    broken = variant(op, "max_hops: 3", "max_hops: three").replace(
        b"fallback_center: bund", b"fallback_center: nowhere"
    )
    op.config_path.write_bytes(broken)
    answer = await op.ctl("reload")
    assert answer["ok"] is False and answer["error"] == "refused"
    problems = answer["problems"]
    assert len(problems) >= 2
    for problem in problems:
        path, line, col, _ = problem.split(":", 3)
        assert path == str(op.config_path) and line.isdigit() and col.isdigit()
    assert c.config is before_config and c.router is before_router
    assert await op.route("03491 123456") == before_route
    registry = c.registry
    assert registry.get_sample_value("lotse_config_reloads_total", {"result": "refused"}) == 1
    assert registry.get_sample_value("lotse_config_reloads_total", {"result": "accepted"}) == 0
    assert registry.get_sample_value("lotse_config_info", {"sha256": before_config.sha256}) == 1
    # A file that cannot be read is refused the same way.
    op.config_path.unlink()
    answer = await op.ctl("reload")
    assert answer["error"] == "refused" and "cannot read" in answer["problems"][0]
    op.config_path.write_bytes(good)
    assert (await op.ctl("reload"))["ok"]


async def test_twenty_reloads_during_load_lose_no_request_and_no_call(op: Operated) -> None:
    c = op.controller
    assert c is not None
    files = [op.config_path.read_bytes(), variant(op, "queue_timeout_s: 30", "queue_timeout_s: 25")]
    callers = ["0421 1234567", "03491 123456", "03941 123456", "05251 123456", "0391 1234567"]
    placed: list[asyncio.Task[list[CallOutcome]]] = []
    shas = set()
    await op.ctl("override", center="halberstadt", mode="closed", reason="kept across reloads")
    for i in range(20):
        placed.append(asyncio.create_task(op.calls(callers)))
        op.config_path.write_bytes(files[i % 2])
        answer = await op.ctl("reload")
        assert answer["ok"], answer
        shas.add(answer["result"]["config_sha256"])
        await asyncio.sleep(0.05)
    outcomes = [o for batch in await asyncio.gather(*placed) for o in batch]
    assert len(outcomes) == 100 and len(shas) == 2
    assert all(not o.fallback for o in outcomes)
    assert all(o.kind.value in ("answered", "unanswered") for o in outcomes)
    assert not any(o.center == "halberstadt" for o in outcomes)
    rounds = sum(len(o.agi_statuses) for o in outcomes)
    reg = c.registry
    assert reg.get_sample_value("lotse_agi_requests_total", {"result": "ok"}) == rounds
    for bad in ("deadline", "handler_error", "malformed", "rejected"):
        assert reg.get_sample_value("lotse_agi_requests_total", {"result": bad}) == 0
    assert reg.get_sample_value("lotse_config_reloads_total", {"result": "accepted"}) == 20
    # Live state and overrides were kept through every swap.
    assert not c.live.stale
    assert c.live.snapshot().of("bremen").agents_logged_in == 2
    assert op.ops is not None and set(op.ops.book.current) == {"halberstadt"}
    await op.stop()
    with sqlite3.connect(op.journal_path) as db:
        ended = db.execute("SELECT count(*) FROM calls WHERE final_center IS NOT NULL").fetchone()
    assert ended[0] == 100


async def test_a_returning_call_naming_a_removed_center_still_routes(op: Operated) -> None:
    text = op.config_path.read_text(encoding="utf-8")
    start = text.index("\n  paderborn:\n")
    end = text.index("\n  sachsen-anhalt:\n")
    op.config_path.write_text(text[:start] + text[end:], encoding="utf-8")
    answer = await op.ctl("reload")
    assert answer["ok"], answer
    c = op.controller
    assert c is not None and "paderborn" not in c.config.centers
    # A Paderborn caller who waited at paderborn before the reload comes back.
    request = parse_env(
        [
            "agi_network_script: route",
            "agi_callerid: 052511234567",
            "agi_uniqueid: 1.1",
            "agi_arg_1: 115",
            "agi_arg_2: paderborn",
            "agi_arg_3: ",
            "agi_arg_4: 1.1",
        ]
    )
    reply = dict(c.service(request).variables)
    assert reply["LOTSE_ACTION"] == AgiAction.QUEUE
    assert reply["LOTSE_QUEUE"] == "115-bund"
    decision = await op.route("05251 1234567", visited="paderborn")
    assert decision["target"] == "bund"


async def test_garbage_on_the_socket_does_not_disturb_routing(op: Operated) -> None:
    reader, writer = await asyncio.open_unix_connection(op.socket)
    writer.write(b"\x00garbage\n" + b"{" * 100_000 + b"\n")
    await writer.drain()
    first = await reader.readline()
    second = await reader.readline()
    writer.close()
    assert b'"bad_request"' in first and b'"too_large"' in second
    [call] = await op.calls(["03491 123456"])
    assert call.answered and not call.fallback
    assert op.controller is not None
    malformed = op.controller.registry.get_sample_value(
        "lotse_malformed_input_total", {"source": "control"}
    )
    assert malformed == 2


async def test_times_outside_the_calendar_are_bad_input(op: Operated) -> None:
    async def until(text: str) -> dict[str, Any]:
        return await op.ctl("override", center="bremen", mode="closed", until=text)

    # Past what a datetime holds once in UTC (it was an OverflowError).
    for text in ("9999-12-31T23:59-12:00", "1999-12-31T23:00+00:00", "2100-01-01T00:00+00:00"):
        answer = await until(text)
        assert answer["error"] == "bad_input" and "outside 2000–2099" in answer["message"]
    # Empty is not "no end".
    answer = await until("")
    assert answer["error"] == "bad_input" and "empty" in answer["message"]
    answer = await op.ctl("route", numbers=["0421 1234"], at=" ")
    assert answer["error"] == "bad_input" and "empty" in answer["message"]
    # An override's end at most 366 days ahead; the limit itself is fine.
    limit = op.wall.at + timedelta(days=366)
    answer = await until((limit + timedelta(minutes=1)).isoformat())
    assert answer["error"] == "bad_input" and "366 days ahead" in answer["message"]
    answer = await until(limit.isoformat())
    assert answer["ok"], answer
    assert (await op.route("0421 1234", at="2099-12-31T23:00"))["home"] == "bremen"


async def test_the_dialplans_config_hash_reveals_drift(op: Operated) -> None:
    c = op.controller
    assert c is not None
    own = c.config.sha256

    def ask_with(sha: str) -> None:
        env = ["agi_network_script: route", "agi_callerid: 04211234567", "agi_uniqueid: 2.1"]
        env += ["agi_arg_1: 115", "agi_arg_2: ", "agi_arg_3: ", "agi_arg_4: 2.1"]
        env += [f"agi_arg_{ARG_CONFIG}: {sha}"]
        c._timed_service(parse_env(env))

    gauge = "lotse_dialplan_config_mismatch"
    assert c.registry.get_sample_value(gauge) == 0
    ask_with(own)
    assert c.registry.get_sample_value(gauge) == 0
    ask_with("0" * 64)
    assert c.registry.get_sample_value(gauge) == 1
    status = (await op.ctl("status"))["result"]
    assert status["dialplan"]["mismatch"] is True
    assert "lotse dialplan build" in status["dialplan"]["hint"]
    # A reload to the configuration the dialplan was built from ends the drift.
    ask_with(own)
    assert c.registry.get_sample_value(gauge) == 0
    op.config_path.write_bytes(variant(op, "queue_timeout_s: 30", "queue_timeout_s: 25"))
    answer = await op.ctl("reload")
    assert c.registry.get_sample_value(gauge) == 1
    assert any("dialplan" in w for w in answer["warnings"])


async def test_the_swap_keeps_queue_state_calls_and_overrides(op: Operated) -> None:
    c, ops = op.controller, op.ops
    assert c is not None and ops is not None
    await op.ctl("override", center="wittenberg", mode="open", reason="crisis day")
    handle = await op.pbx.place_call("0421 1234567")
    async with asyncio.timeout(30):
        while not c.tracker.active_calls:
            await asyncio.sleep(0.01)
    new = load_config(op.config_path, table=TABLE)
    new = replace(new, max_hops=4)
    router = Router(new, TABLE)
    before = c.live.snapshot()
    calls = c.tracker.active_calls
    # Synchronous, as in a reload: nothing can happen between these lines.
    c.reconfigure(new, router)
    after = c.live.snapshot()
    assert c.router is router and c.config is new
    assert after.centers == before.centers
    assert after.of("wittenberg").override_note == "crisis day"
    assert c.tracker.active_calls == calls
    async with asyncio.timeout(60):
        outcome = await handle.outcome()
    assert outcome.answered and not outcome.fallback
    answered = c.registry.get_sample_value("lotse_calls_answered_total", {"center": "bremen"})
    assert answered == 1


async def test_a_reload_adding_a_center_routes_to_it_at_once(op: Operated) -> None:
    text = op.config_path.read_text(encoding="utf-8")
    text = text.replace('      - "0471"   # Bremerhaven\n', "", 1)
    text = text.replace('      - "27568-27580"   # Bremerhaven\n', "", 1)
    block = (
        "  bremerhaven:\n"
        "    name: Bürgertelefon Bremerhaven\n"
        "    state: HB\n"
        "    queue: 115-bremerhaven\n"
        "    greeting: lotse/greeting-bremen\n"
        "    offhours_announcement: lotse/offhours-bremen\n"
        '    hours: {mon-fri: "08:00-18:00"}\n'
        '    ortsnetze: ["0471"]\n'
        "    overflow_partners: [bremen]\n"
        "    offhours_partners: [bremen]\n"
    )
    text = text.replace("\ncenters:\n", "\ncenters:\n" + block, 1)
    op.config_path.write_text(text, encoding="utf-8")
    answer = await op.ctl("reload")
    assert answer["ok"], answer
    decision = await op.route("0471 123456")
    assert decision["home"] == "bremerhaven"
    # The stand-in has no such queue: nobody is logged in there, so bremen helps.
    assert decision["target"] == "bremen"
    assert "bremerhaven overloaded: no agent logged in" in decision["reasons"]
    c = op.controller
    assert c is not None
    series = {"center": "bremerhaven"}
    assert c.registry.get_sample_value("lotse_calls_arrived_total", series) == 0
    assert c.registry.get_sample_value("lotse_agents_logged_in", series) == 0
    status = (await op.ctl("status"))["result"]
    assert "bremerhaven" in [x["id"] for x in status["centers"]]


async def test_ctl_callbacks_lists_open_requests_without_numbers(
    tmp_path: Path, sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    async with operated_rig(tmp_path / "off", sock_dir) as op:
        answer_off = await op.ctl("callbacks")
    assert answer_off["ok"] and answer_off["result"] == {"enabled": False, "pending": []}
    monkeypatch.setenv("LOTSE_CALLBACK_KEY", "op-callback-key-0123456789")
    async with operated_rig(tmp_path / "on", sock_dir) as op:
        c = op.controller
        assert c is not None and c.callbacks is not None
        request = parse_env(
            [
                "agi_network_script: callback",
                "agi_callerid: 04213456789",
                "agi_uniqueid: 9.1",
                "agi_arg_1: 9.1",
                "agi_arg_2: bremen",
                "agi_arg_3: ",
                "agi_arg_4: closed",
            ]
        )
        reply = dict((await c.callbacks.request(request)).variables)
        assert reply["LOTSE_CB_RESULT"] == "ok"
        answer = await op.ctl("callbacks")
        assert answer["ok"], answer
        (row,) = answer["result"]["pending"]
        assert row["center"] == "bremen" and row["ortsnetz_prefix"] == "0421"
        assert row["attempts"] == 0 and row["in_flight"] is False
        assert "3456789" not in json.dumps(answer)
        # An operator cancels it (the caller was reached another way): audited.
        bad = await op.ctl("callbacks", cancel="nosuch")
        assert not bad["ok"] and "no open callback request" in bad["message"]
        answer = await op.ctl("callbacks", cancel=row["id"])
        assert answer["ok"] and answer["result"]["pending"] == []
        assert (
            c.registry.get_sample_value(
                "lotse_callback_outcomes_total", {"center": "bremen", "outcome": "cancelled"}
            )
            == 1
        )


CALLBACK_LINE = (
    "    callback: {offer_expected_wait_s: 180, offer_after_wait_s: 90, offer_when_closed: true}\n"
)


async def test_a_reload_reaches_the_callback_desk_and_names_what_needs_a_restart(
    tmp_path: Path, sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOTSE_CALLBACK_KEY", "op-callback-key-0123456789")
    async with operated_rig(tmp_path, sock_dir) as op:
        c = op.controller
        assert c is not None and c.callbacks is not None
        text = op.config_path.read_text(encoding="utf-8")
        start = text.index("\n  bremen:\n")
        at = text.index(CALLBACK_LINE, start)
        retried = CALLBACK_LINE.replace("offer_when_closed: true}", "offer_when_closed: true,")
        retried = retried.rstrip("\n") + " retry_interval_s: 120}\n"
        text = text[:at] + retried + text[at + len(CALLBACK_LINE) :]
        text = text.replace("queue_log: /var/log/asterisk/queue_log", "queue_log: null", 1)
        text = text.replace("PJSIP/${CB_DIAL}@lotse-callback-trunk", "PJSIP/${CB_DIAL}@other", 1)
        op.config_path.write_text(text, encoding="utf-8")
        answer = await op.ctl("reload")
        assert answer["ok"], answer
        settings = c.callbacks.config.centers["bremen"].callback
        assert settings is not None and settings.retry_interval_s == 120
        assert c.callbacks.router is c.router
        warnings = answer["warnings"]
        # (The rig runs with its own agi_deadline_ms, which the file does not name.)
        assert any(
            "controller.queue_log" in w and w.endswith("only after a restart of lotse run")
            for w in warnings
        ), warnings
        assert any(w.startswith("callback_dial changed") for w in warnings), warnings
        assert not any("callback dialer" in w for w in warnings), warnings


async def test_a_reload_that_adds_the_first_callback_says_it_needs_a_restart(
    tmp_path: Path, sock_dir: Path
) -> None:
    async with operated_rig(tmp_path, sock_dir) as op:
        text = op.config_path.read_text(encoding="utf-8")
        op.config_path.write_text(text.replace(CALLBACK_LINE, ""), encoding="utf-8")
        await op.stop()
        await op.start()
        c = op.controller
        assert c is not None and c.callbacks is None
        op.config_path.write_text(text, encoding="utf-8")
        answer = await op.ctl("reload")
        assert answer["ok"], answer
        assert any(
            w.startswith("centers.bremen.callback: the callback dialer starts only with lotse run")
            for w in answer["warnings"]
        ), answer["warnings"]
