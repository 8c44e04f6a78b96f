"""Against a real Asterisk 22, when one is reachable; skipped cleanly otherwise.

Set ``LOTSE_TEST_ASTERISK=host:port`` (AMI); the other settings (secrets, the
directory of lotse's generated files, the log directory) are described in
``tests/lotse/realasterisk.py`` and default to ``../shared/tools/real-asterisk.sh``'s
layout. These tests generate lotse's files into that Asterisk, start a real
``lotse run`` of this checkout against it and place calls with AMI Originate:
the login and resync, demo callers routed as ``lotse route`` says, a
supervisor's override, a reload. Siblings: ``test_real_asterisk_callback.py``,
``test_real_asterisk_fallback.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from ami.events import FullyBooted, QueueParams, QueueStatusComplete
from ami.session import AmiSession, Connected
from tests.lotse.realasterisk import (
    SKIP_REASON,
    TARGET,
    Ami,
    Lotse,
    Settings,
    lotse_cmd,
    metric,
)

pytestmark = pytest.mark.skipif(not TARGET, reason=SKIP_REASON)


async def test_login_and_resync_from_real_queuestatus() -> None:
    s = Settings.from_env()
    events: list[object] = []
    session = AmiSession(
        s.host, s.port, "lotse", s.lotse_secret, sink=events.extend, rng=random.Random(0)
    )
    session.start()
    try:
        async with asyncio.timeout(10):
            while not any(isinstance(e, FullyBooted) for e in events):
                await asyncio.sleep(0.05)
        # Asterisk sends FullyBooted right behind the Login response; the
        # session's events follow its Connected marker.
        assert isinstance(events[0], Connected)
        assert events[0].banner.startswith("Asterisk Call Manager/")
        assert isinstance(events[1], FullyBooted) and events[1].status == "Fully Booted"
        result = await session.action("QueueStatus", timeout=10)
        async with asyncio.timeout(5):
            while not any(isinstance(e, QueueStatusComplete) for e in events):
                await asyncio.sleep(0.05)
        queues = {e.queue for e in events if isinstance(e, QueueParams)}
        assert {"115-bremen", "115-bund"} <= queues
        assert result.items >= len(queues)
        pong = await session.action("Ping")
        assert (pong.response.get("Response") or "").lower() == "success"
    finally:
        await session.stop()


# Overrides that make the moment irrelevant: the same decisions day and night.
OVERRIDES = {
    "bremen": "open",
    "wittenberg": "closed",
    "sachsen-anhalt": "open",
    "halberstadt": "open",
    "paderborn": "closed",
    "bund": "closed",
}
# (caller, dialed): several Ortsnetze, a dialed Ortsnetz, an unserved region.
CALLERS = [
    ("04215550001", "115"),  # Bremen: home open
    ("04715550002", "115"),  # Bremerhaven: Bremen's too
    ("034915550003", "115"),  # Wittenberg closed: its off-hours partner
    ("039415550004", "115"),  # Halberstadt
    ("052515550005", "115"),  # Paderborn closed, Bund closed: announcement
    ("0895550006", "115"),  # München: no center, fallback center Bund (closed)
    ("04215550007", "03941115"),  # dials Halberstadt's 115 from Bremen
]


def set_overrides(lotse: Lotse, overrides: dict[str, str]) -> None:
    for center, mode in overrides.items():
        lotse.ctl("override", center, mode, "--reason", "real-asterisk test")


def expected_routes(lotse: Lotse, overrides: dict[str, str]) -> list[dict[str, object]]:
    """What ``lotse route`` says for CALLERS now, with those overrides, every center idle."""
    state = lotse.tmp / "state.yaml"
    state.write_text(
        yaml.safe_dump({"centers": {c: {"override": m} for c, m in overrides.items()}})
    )
    at = datetime.now().astimezone().replace(microsecond=0).isoformat()
    out = []
    for caller, dialed in CALLERS:
        done = subprocess.run(
            lotse_cmd(
                "route",
                caller,
                "--at",
                at,
                "--dialed",
                dialed,
                "--state",
                str(state),
                "--config",
                str(lotse.config),
                "--json",
            ),
            check=True,
            capture_output=True,
            text=True,
        )
        out.append(json.loads(done.stdout))
    return out


async def played(ami: Ami, uid: str, sound: str) -> None:
    await ami.wait_for(0, 60, Event="Newexten", Uniqueid=uid, Application="Playback", AppData=sound)


async def test_demo_callers_are_routed_as_lotse_route_says(real_lotse: Lotse, ami: Ami) -> None:
    set_overrides(real_lotse, OVERRIDES)
    try:
        routes = expected_routes(real_lotse, OVERRIDES)
        # Not all alike: queues of several centers and an announcement.
        assert {r["action"] for r in routes} == {"queue", "announce"}
        assert len({r["queue"] for r in routes if r["queue"]}) >= 3
        calls = []
        for (caller, dialed), route in zip(CALLERS, routes, strict=True):
            call_id = await ami.originate(ami.call_id(), caller, dialed=dialed)
            calls.append((call_id, route))
        for call_id, route in calls:
            if route["action"] == "queue":
                join = await ami.wait_for(0, 60, Event="QueueCallerJoin", Uniqueid=call_id)
                assert join.get("Queue") == route["queue"], (call_id, route["reasons"])
                await played(ami, call_id, str(route["greeting"]))
            else:
                await played(ami, call_id, str(route["announcement"]))
                assert not ami.matching(0, Event="QueueCallerJoin", Uniqueid=call_id)
        # The journal has each call for the home lotse route named, by the controller
        # (read with lotse stopped once the calls have ended: it holds the file).
        ids = [c for c, _ in calls]
        for call_id in ids:
            phone = await ami.phone(call_id.removesuffix(";2"))
            with contextlib.suppress(RuntimeError):  # an announced one has ended
                await ami.action("Hangup", Channel=phone)
            await ami.wait_for(0, 30, Event="Hangup", Uniqueid=call_id)
        m = await real_lotse.metrics()
        assert metric(m, "lotse_dialplan_config_mismatch") == 0
        marks = ",".join("?" * len(ids))
        async with real_lotse.offline():
            rows = real_lotse.rows(
                f"SELECT call_id, home, final_center, announced, fallback FROM calls "
                f"WHERE call_id IN ({marks})",
                ids,
            )
        by_id = {r["call_id"]: r for r in rows}
        assert set(by_id) == set(ids)
        for call_id, route in calls:
            row = by_id[call_id]
            assert row["home"] == route["home"]
            assert row["fallback"] == 0
            assert row["announced"] == (1 if route["action"] == "announce" else 0)
            if route["action"] == "queue":
                assert row["final_center"] == route["target"]
    finally:
        set_overrides(real_lotse, {c: "auto" for c in OVERRIDES})


async def test_override_closes_and_reopens_a_center_on_the_next_call(
    real_lotse: Lotse, ami: Ami
) -> None:
    # Bremen open, Bund (its off-hours partner) closed: then Bremen closed by override.
    set_overrides(real_lotse, {"bremen": "open", "bund": "closed"})
    try:
        first = await ami.originate(ami.call_id(), "04215550011")
        join = await ami.wait_for(0, 60, Event="QueueCallerJoin", Uniqueid=first)
        assert join.get("Queue") == "115-bremen"
        real_lotse.ctl("override", "bremen", "closed", "--reason", "staff meeting")
        status = json.loads(real_lotse.ctl("--json", "status").stdout)
        assert "staff meeting" in json.dumps(status)
        m = await real_lotse.metrics()
        assert metric(m, "lotse_center_override", center="bremen", mode="closed") == 1
        second = await ami.originate(ami.call_id(), "04215550012")
        await played(ami, second, "lotse/offhours-bremen")
        assert not ami.matching(0, Event="QueueCallerJoin", Uniqueid=second)
        # Bund opened by override: Bremen's calls go to its off-hours partner.
        real_lotse.ctl("override", "bund", "open")
        third = await ami.originate(ami.call_id(), "04215550013")
        join = await ami.wait_for(0, 60, Event="QueueCallerJoin", Uniqueid=third)
        assert join.get("Queue") == "115-bund"
        await played(ami, third, "lotse/greeting-bremen")
        for call_id in (first, second, third):
            phone = await ami.phone(call_id.removesuffix(";2"))
            with contextlib.suppress(RuntimeError):  # the announced one has ended
                await ami.action("Hangup", Channel=phone)
            await ami.wait_for(0, 30, Event="Hangup", Uniqueid=call_id)
        async with real_lotse.offline():
            rows = real_lotse.rows(
                "SELECT call_id, offhours, final_center, announced FROM calls "
                "WHERE call_id IN (?, ?, ?)",
                [first, second, third],
            )
            audit = real_lotse.rows(
                "SELECT action, center, mode FROM control_audit WHERE center = 'bremen'"
            )
        by_id = {r["call_id"]: r for r in rows}
        assert by_id[first]["final_center"] == "bremen"
        assert by_id[second]["announced"] == 1
        assert by_id[third]["final_center"] == "bund" and by_id[third]["offhours"] == 1
        assert "closed" in {r["mode"] for r in audit}
    finally:
        set_overrides(real_lotse, {"bremen": "auto", "bund": "auto"})


async def test_reload_moves_an_ortsnetz_and_reports_the_dialplan_drift(
    real_lotse: Lotse, ami: Ami
) -> None:
    """Bremerhaven (0471) moved from Bremen to Halberstadt by a reload: the next
    call goes there; the dialplan in Asterisk is now from another configuration."""
    original = real_lotse.config.read_text()
    doc = yaml.safe_load(original)
    doc["centers"]["bremen"]["ortsnetze"].remove("0471")
    doc["centers"]["halberstadt"]["ortsnetze"].append("0471")
    doc["centers"]["bremen"]["callback"]["retry_interval_s"] = 7
    set_overrides(real_lotse, {"bremen": "open", "halberstadt": "open", "bund": "closed"})
    try:
        real_lotse.config.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        done = real_lotse.ctl("reload")
        assert done.returncode == 0, done.stderr
        status = json.loads(real_lotse.ctl("--json", "status").stdout)
        call = await ami.originate(ami.call_id(), "04715550021")
        join = await ami.wait_for(0, 60, Event="QueueCallerJoin", Uniqueid=call)
        assert join.get("Queue") == "115-halberstadt"
        await played(ami, call, "lotse/greeting-halberstadt")
        m = await real_lotse.metrics()
        assert metric(m, "lotse_dialplan_config_mismatch") == 1
        assert status["config_sha256"] != ""
        # A bad file is refused, the running configuration stays.
        Path(real_lotse.config).write_text(original.replace("max_hops: 3", "max_hops: 0"))
        refused = real_lotse.ctl("reload", check=False)
        assert refused.returncode == 2 and "max_hops" in (refused.stdout + refused.stderr)
        again = await ami.originate(ami.call_id(), "04715550022")
        join = await ami.wait_for(0, 60, Event="QueueCallerJoin", Uniqueid=again)
        assert join.get("Queue") == "115-halberstadt"
    finally:
        real_lotse.config.write_text(original)
        real_lotse.ctl("reload", check=False)
        set_overrides(real_lotse, {"bremen": "auto", "halberstadt": "auto", "bund": "auto"})
    m = await real_lotse.metrics()
    back = await ami.originate(ami.call_id(), "04715550023")
    await ami.wait_for(0, 60, Event="Newexten", Uniqueid=back, Application="AGI")
    async with asyncio.timeout(30):
        while metric(m, "lotse_dialplan_config_mismatch") != 0:
            await asyncio.sleep(0.2)
            m = await real_lotse.metrics()
