"""Chaos in the load driver: specs, restart-proof counters, the AMI proxy, and
load runs with the controller killed or its AMI link cut."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lotse.cli import main
from lotse.journal.report import report
from router.config import Endpoint
from router.configload import load_config
from router.numbering import OrtsnetzTable
from sim.chaos import AmiProxy, Chaos, ChaosKind, RestartProofCounters, Sample, ready
from tests.lotse.rig import REPO
from tests.sim.test_load import SCENARIO

DAY = date(2026, 11, 24)  # normal-day.yaml's day

D = ("lotse_decisions_total", (("state", "fresh"),))
S = ("lotse_decisions_total", (("state", "stale"),))


def test_chaos_specs() -> None:
    assert Chaos.parse("kill-controller:20:5") == Chaos(
        ChaosKind.KILL_CONTROLLER, at_s=20, restart_after_s=5
    )
    assert Chaos.parse("ami-drop:10") == Chaos(ChaosKind.AMI_DROP, every_s=10)
    assert Chaos.parse("kill-controller:0:0").at_s == 0  # at once, back at once
    for bad in (
        "kill-controller:20",
        "kill-controller:a:5",
        "kill-controller:-1:5",
        "ami-drop:0",
        "ami-drop:1:2",
        "ami-drop:inf",
        "reboot:5",
        "",
    ):
        with pytest.raises(ValueError, match="--chaos"):
            Chaos.parse(bad)


def test_counters_survive_a_restart_like_increase() -> None:
    c = RestartProofCounters()
    c.observe({D: 0.0, S: 0.0})
    c.observe({D: 100.0, S: 4.0})
    c.observe({D: 100.0, S: 4.0})  # equal: no reset, nothing new
    assert c.total(*D[:1], state="fresh") == 100
    # Killed and restarted: the new process counts from zero.
    c.observe({D: 30.0, S: 1.0})  # lower than the last: a reset
    assert c.total("lotse_decisions_total", state="fresh") == 130
    assert c.total("lotse_decisions_total", state="stale") == 5
    # A restart the driver made itself, scraped only once the new process
    # already counted past the old value: still a restart.
    c.restarted()
    c.observe({D: 200.0, S: 0.0})
    assert c.total("lotse_decisions_total", state="fresh") == 330


def test_counters_of_a_controller_that_ran_before_count_from_the_baseline() -> None:
    c = RestartProofCounters()
    c.baseline({D: 1000.0})
    c.observe({D: 1010.0})
    assert c.total("lotse_decisions_total", state="fresh") == 10


def test_ready_needs_the_reconcile_after_the_last_resync() -> None:
    up: Sample = {
        ("lotse_ami_connected", ()): 1.0,
        ("lotse_state_stale", ()): 0.0,
        ("lotse_ami_resyncs_total", ()): 2.0,
        ("lotse_reconciles_total", ()): 2.0,
    }
    assert ready(up)
    assert not ready({**up, ("lotse_reconciles_total", ()): 1.0})
    assert not ready({**up, ("lotse_state_stale", ()): 1.0})
    assert not ready({**up, ("lotse_ami_connected", ()): 0.0})
    assert not ready(None)


async def test_the_proxy_relays_and_cuts() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(100):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    proxy = AmiProxy(Endpoint(host, port))
    at = await proxy.start()
    reader, writer = await asyncio.open_connection(at.host, at.port)
    writer.write(b"ping\r\n")
    assert await reader.readline() == b"ping\r\n"
    proxy.cut()
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # the controller's side sees the link gone
    assert proxy.cuts == 1
    writer.close()
    await proxy.close()
    server.close()
    await server.wait_closed()


def test_chaos_needs_spawn(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "load", str(SCENARIO), "--pbx", "127.0.0.1:5038", "--chaos", "ami-drop:5"])
    assert code == 2
    assert "--spawn" in capsys.readouterr().err


def _load(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(
        ["sim", "load", str(SCENARIO), "--spawn", "--from", "10:00", "--hours", "0.25",
         "--speed", "60", "--seed", "5", "--json", *args]
    )  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


async def _report(path: Path) -> dict[str, int]:
    table = OrtsnetzTable.load()
    config = load_config(REPO / "config.yaml", table=table)
    rows = await report(path, DAY, ZoneInfo(config.timezone), config.service_level)
    national = rows[-1]
    return {
        "calls": national.calls,
        "answered": national.answered,
        "abandoned": national.abandoned,
        "unknown": national.unknown,
    }


def _every_call_once(s: dict[str, object]) -> dict[str, int]:
    """The summary's journal check, asserted to hold each originated call once and nothing else."""
    journal = s["journal"]
    assert isinstance(journal, dict)
    rows = {k: v for k, v in journal.items() if not k.startswith("lag_")}
    assert {**rows, "imported": 0} == {
        "calls": s["originated"], "missing": 0, "open": 0, "unknown": 0, "imported": 0,
        "other": 0,
    }  # fmt: skip
    return journal


def test_sigkill_during_load_then_restart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal_path = tmp_path / "journal.sqlite"
    code, s = _load(["--chaos", "kill-controller:4:2", "--journal", str(journal_path)], capsys)
    assert code == 0 and s["lost"] == 0
    assert s["chaos"] == {"kills": 1, "ami_cuts": 0}
    # Every originated call exactly once (the call id is the key), none other,
    # none left open by the killed process: the calls it lost sight of were
    # reconciled, those handled while it was dead imported from the queue_log.
    journal = _every_call_once(s)
    assert journal["imported"] >= 1
    # Decisions of both processes counted: a restart does not reset them (a
    # decision between the last scrape and the SIGKILL may be journaled only).
    conn = sqlite3.connect(journal_path)
    (decided,) = conn.execute("SELECT count(*) FROM call_events WHERE kind = 'decided'").fetchone()
    conn.close()
    assert isinstance(s["decisions"], int) and s["decisions"] >= decided - 2 > 0
    # The report's figures are the load's.
    got = asyncio.run(_report(journal_path))
    national = s["national"]
    assert isinstance(national, dict)
    assert got == {
        "calls": s["originated"],
        "answered": national["answered"],
        "abandoned": national["abandoned"],
        "unknown": 0,
    }


def test_ami_dropped_every_few_seconds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.sqlite"
    code, s = _load(["--chaos", "ami-drop:3", "--journal", str(journal_path)], capsys)
    assert code == 0 and s["lost"] == 0
    chaos = s["chaos"]
    assert isinstance(chaos, dict) and chaos["ami_cuts"] >= 4
    # No duplicate, no missing, no open row; the state was resynced each time.
    # What happened during a cut is completed from the stand-in's queue_log
    # (``imported``: merged into the call's row, never a second row).
    journal = _every_call_once(s)
    assert 0 <= journal["imported"] <= journal["calls"]
    assert isinstance(s["decisions"], int) and isinstance(s["stale_decisions"], int)
    assert s["stale_decisions"] <= 0.15 * s["decisions"]
    got = asyncio.run(_report(journal_path))
    national = s["national"]
    assert isinstance(national, dict)
    assert got == {
        "calls": s["originated"],
        "answered": national["answered"],
        "abandoned": national["abandoned"],
        "unknown": 0,
    }


def test_the_spawned_controller_follows_the_stand_ins_queue_log(tmp_path: Path) -> None:
    from sim.chaos import lotse_run_argv

    common = dict(
        config=tmp_path / "c.yaml",
        ami=Endpoint("127.0.0.1", 1),
        agi=Endpoint("127.0.0.1", 2),
        metrics=Endpoint("127.0.0.1", 3),
        journal=tmp_path / "j.sqlite",
        sim_clock="0:0:1",
        agi_deadline_ms=300,
    )
    argv = lotse_run_argv(**common, queue_log=tmp_path / "queue_log")  # type: ignore[arg-type]
    assert argv[-2:] == ["--queue-log", str(tmp_path / "queue_log")]
    assert "--queue-log" not in lotse_run_argv(**common)  # type: ignore[arg-type]
