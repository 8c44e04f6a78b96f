"""Callback keys rotate: a ring opens numbers sealed under older keys, ``rekey`` moves
them to the current key, and a request no key opens stays visible (``locked``),
counted, cancellable and never dialled."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from ami.agi_protocol import AgiReply, parse_env
from ami.contract import VAR_CB_OFFER
from lotse.callbacks import CallbackDesk, CallbackMetrics
from lotse.cli import main
from lotse.controller import Controller
from lotse.journal import Journal
from lotse.journal.callbackkeys import (
    CURRENT_ENV,
    OLDER_ENV,
    CallbackKeyError,
    KeyRing,
    NumberCipher,
    key_ring,
)
from lotse.journal.callbackstore import CallbackStore
from router.callbacknumber import callback_number
from standin.calls import CalleeProfile
from tests.lotse.test_callbacks import CONFIG, TABLE, Clocks, Dialler, View, agi
from tests.lotse.test_operate import operated_rig

OLD = "old-callback-key-0123456789"
NEW = "new-callback-key-9876543210"
OTHER = "another-key-that-sealed-nothing"
NUMBER = callback_number("0421 3456789")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def cipher(key: str) -> NumberCipher:
    return NumberCipher(key.encode())


async def stored_under(db: Path, key: str, *ids: str, deadline_s: float = 9e9) -> None:
    """Requests for Bremen sealed under ``key``, as a controller with that key left them."""
    if not db.exists():
        journal = await Journal.open(db, clock=lambda: T0)
        await journal.close()
    store = await CallbackStore.open(db, cipher(key), b"k" * 32)
    for n, rid in enumerate(ids):
        await store.add(
            rid,
            "bremen",
            NUMBER,
            entered_s=T0.timestamp() + n,
            deadline_s=deadline_s,
            at=T0,
            ortsnetz_prefix="0421",
        )
    await store.close()


# --- the ring -----------------------------------------------------------------------


def test_the_ring_is_read_from_the_environment_naming_no_key() -> None:
    ring, problems = key_ring({CURRENT_ENV: NEW, OLDER_ENV: f" {OLD} ,short,,{NEW},{OTHER}"})
    assert ring.can_seal and len(ring.older) == 2  # the current key is not repeated
    assert problems == [f"${OLDER_ENV}: key 2 is shorter than 16 bytes: ignored"]
    token = cipher(OLD).seal(NUMBER, "r1")
    assert ring.opener(token, "r1") == 1
    assert ring.open(token, "r1").e164 == NUMBER.e164
    assert ring.opener(ring.seal(NUMBER, "r2"), "r2") == 0
    assert ring.opener(cipher(OTHER + "x").seal(NUMBER, "r3"), "r3") is None
    # Bound to its row: a token moved to another id opens under no key.
    assert ring.opener(token, "r2") is None
    assert NEW not in repr(ring) and OLD not in repr(ring)


def test_a_short_or_missing_current_key_seals_nothing() -> None:
    ring, problems = key_ring({CURRENT_ENV: "x" * 15, OLDER_ENV: OLD})
    assert not ring.can_seal and problems == [f"${CURRENT_ENV} is shorter than 16 bytes: ignored"]
    assert "x" * 15 not in problems[0]
    # 16 bytes is enough.
    assert key_ring({CURRENT_ENV: "x" * 16})[0].can_seal
    with pytest.raises(CallbackKeyError):
        ring.seal(NUMBER, "r1")
    token = cipher(OLD).seal(NUMBER, "r1")
    assert ring.opener(token, "r1") == 1  # older keys still open without a current one
    assert ring.opener(b"", "r1") is None and ring.opener(None, "r1") is None


# --- the store: locked rows and rekey -----------------------------------------------


async def test_rekey_moves_every_open_number_to_the_current_key(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    await stored_under(db, OLD, "r1", "r2")
    await stored_under(db, NEW, "r3")
    await stored_under(db, OTHER, "r4")
    ring = KeyRing(cipher(NEW), (cipher(OLD),))
    store = await CallbackStore.open(db, ring, b"k" * 32)
    before = {r.id: r.locked for r in await store.open_requests()}
    assert before == {"r1": False, "r2": False, "r3": False, "r4": True}
    done = await store.rekey()
    assert (done.resealed, done.current, done.locked) == (2, 1, ("r4",))
    await store.close()
    # The old key can go now.
    alone = await CallbackStore.open(db, cipher(NEW), b"k" * 32)
    assert {r.id: r.locked for r in await alone.open_requests()} == before
    assert (await alone.number("r1")).e164 == NUMBER.e164
    assert (await alone.rekey()).resealed == 0  # nothing left to do
    await alone.close()
    old_only = await CallbackStore.open(db, cipher(OLD), b"k" * 32)
    assert all(r.locked for r in await old_only.open_requests())
    await old_only.close()


async def test_rekey_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "j.sqlite"
    await stored_under(db, OLD, "r1")
    await stored_under(db, OTHER, "r2")
    monkeypatch.delenv(CURRENT_ENV, raising=False)
    monkeypatch.setenv(OLDER_ENV, OLD)
    args = ["journal", "rekey", "--journal", str(db), "--json"]
    assert await asyncio.to_thread(main, args) == 2  # no current key: nothing to seal under
    assert CURRENT_ENV in capsys.readouterr().err
    monkeypatch.setenv(CURRENT_ENV, NEW)
    assert await asyncio.to_thread(main, args) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"resealed": 1, "current": 0, "locked": ["r2"]}
    assert "r2" in err and OLD not in out + err and NEW not in out + err
    assert "3456789" not in out + err
    missing = ["journal", "rekey", "--journal", str(tmp_path / "none.sqlite")]
    assert await asyncio.to_thread(main, missing) == 1
    # The keys as systemd hands them over (credentials win over the variables).
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "callback-key").write_text(OTHER + "x\n")
    (creds / "callback-keys").write_text(f"{NEW}\n{OTHER}\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert await asyncio.to_thread(main, args) == 0
    assert json.loads(capsys.readouterr().out) == {"resealed": 2, "current": 0, "locked": []}


# --- the desk: locked requests --------------------------------------------------------


async def test_a_locked_request_is_listed_counted_cancellable_and_never_dialled_or_expired(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite"
    clocks = Clocks()
    # Its deadline passes during the test: a locked request is not aged out.
    await stored_under(db, OLD, "r1", "r2", deadline_s=(T0 + timedelta(hours=1)).timestamp())
    store = await CallbackStore.open(db, KeyRing(None), b"k" * 32)
    dialler = Dialler(store=store)
    view = View(clocks, free={"bremen": 3})
    desk = CallbackDesk(
        CONFIG,
        store,
        view,
        wall_clock=lambda: clocks.wall,
        state_clock=lambda: clocks.state,
        table=TABLE,
        originate=dialler,
    )
    registry = CollectorRegistry()
    metrics = CallbackMetrics(registry, list(CONFIG.centers))
    with capture_logs() as logs:
        for _ in range(3):
            assert await desk.tick() == []
            clocks.advance(3600)
    assert dialler.legs == []
    pending = await desk.pending()
    assert [(r.id, r.locked, r.attempts, r.in_flight) for r in pending] == [
        ("r1", True, 0, None),
        ("r2", True, 0, None),
    ]
    # Logged once per request, with its id, never the number.
    locked_lines = [e for e in logs if e["event"] == "callback.locked"]
    assert sorted(e["request"] for e in locked_lines) == ["r1", "r2"]
    assert "3456789" not in repr(logs)
    metrics.show(pending, clocks.wall)
    sample = registry.get_sample_value
    assert sample("lotse_callbacks_pending", {"center": "bremen"}) == 2
    assert sample("lotse_callbacks_locked", {"center": "bremen"}) == 2
    left = sample("lotse_callbacks_deadline_left_seconds", {"center": "bremen"})
    assert left is not None and left < 0  # past the deadline: the alert's expression holds
    # No new request is taken without a current key.
    reply = await desk.request(agi("u1", "u1", "bremen", "", "closed"))
    assert reply.variables == (("LOTSE_CB_RESULT", "unavailable"),)
    cancelled = await desk.cancel("r1")
    assert cancelled is not None and [r.id for r in await desk.pending()] == ["r2"]
    await store.close()


async def test_a_locked_attempt_left_in_flight_is_released_not_ended(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    clocks = Clocks()
    await stored_under(db, OLD, "r1")
    store = await CallbackStore.open(db, cipher(OLD), b"k" * 32)
    assert await store.mark_attempt("r1", "cb-a1")  # dialled by the previous process
    await store.close()
    store = await CallbackStore.open(db, cipher(NEW), b"k" * 32)
    desk = CallbackDesk(
        CONFIG,
        store,
        View(clocks),
        wall_clock=lambda: clocks.wall,
        state_clock=lambda: clocks.state,
        table=TABLE,
        originate=Dialler(store=store),
    )

    async def gone(attempt: str) -> bool:
        return False

    assert await desk.recover(gone) == 1
    (r1,) = await desk.pending()
    assert r1.locked and r1.in_flight is None and r1.attempts == 1
    assert await desk.cancel("r1") is not None
    await store.close()


# --- a restarted controller ---------------------------------------------------------

SUNDAY_NIGHT = datetime(2026, 11, 29, 3, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def offer_when_all_closed(c: Controller) -> str:
    """The callback offer a Bremen caller gets on Sunday night (every center closed)."""
    request = parse_env(
        [
            "agi_network_script: route",
            "agi_callerid: 04211234567",
            "agi_uniqueid: 7.1",
            "agi_arg_1: 115",
            "agi_arg_2: ",
            "agi_arg_3: ",
            "agi_arg_4: 7.1",
        ]
    )
    # As the FastAGI server asks (the offer is added around the decision).
    reply = c._timed_service(request)
    assert isinstance(reply, AgiReply)
    return dict(reply.variables).get(VAR_CB_OFFER, "")


async def test_a_restart_with_a_new_key_dials_what_the_old_key_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="lotse-keys-", dir="/tmp"))
    db = tmp_path / "journal.sqlite"
    await stored_under(db, OLD, "r1", "r2")

    # No key at all: listed (no number, locked), counted, cancellable, not dialled.
    monkeypatch.delenv(CURRENT_ENV, raising=False)
    monkeypatch.delenv(OLDER_ENV, raising=False)
    async with operated_rig(tmp_path, sock_dir) as op:
        c = op.controller
        assert c is not None and c.callbacks is not None

        bremen = {"center": "bremen"}
        async with asyncio.timeout(30):
            while c.registry.get_sample_value("lotse_callbacks_locked", bremen) != 2:
                await asyncio.sleep(0.05)
        assert c.registry.get_sample_value("lotse_callbacks_pending", {"center": "bremen"}) == 2
        answer = await op.ctl("callbacks")
        assert answer["ok"] and answer["result"]["enabled"] is False
        rows = answer["result"]["pending"]
        assert [(r["id"], r["state"], r["locked"], r["attempts"]) for r in rows] == [
            ("r1", "locked", True, 0),
            ("r2", "locked", True, 0),
        ]
        assert "3456789" not in json.dumps(answer) and rows[0]["ortsnetz_prefix"] == "0421"
        cancelled = await op.ctl("callbacks", cancel="r2")
        assert cancelled["ok"] and [r["id"] for r in cancelled["result"]["pending"]] == ["r1"]
        # Nothing is offered that could not be taken.
        op.wall.at = SUNDAY_NIGHT
        assert offer_when_all_closed(c) == ""
        # Nor is the dialer's AMI user logged in to: nothing could be dialled.
        assert c._cb_session is None

    # The new key, the old one as an older key: r1 is dialled and reaches the caller.
    monkeypatch.setenv(CURRENT_ENV, NEW)
    monkeypatch.setenv(OLDER_ENV, OLD)
    async with operated_rig(tmp_path, sock_dir) as op:
        c = op.controller
        assert c is not None and c.callbacks is not None
        op.pbx.core.callees[NUMBER.national] = CalleeProfile(answer=1.0)
        completed = {"center": "bremen", "outcome": "completed"}
        async with asyncio.timeout(60):
            while c.registry.get_sample_value("lotse_callback_outcomes_total", completed) != 1:
                await asyncio.sleep(0.05)
        assert await c.callbacks.pending() == []
        op.wall.at = SUNDAY_NIGHT
        assert offer_when_all_closed(c) == "closed"
    with sqlite3.connect(db) as conn:
        ended = dict(conn.execute("SELECT id, outcome FROM callbacks").fetchall())
    assert ended == {"r1": "completed", "r2": "cancelled"}
    shutil.rmtree(sock_dir, ignore_errors=True)
