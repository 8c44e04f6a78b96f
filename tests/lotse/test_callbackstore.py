"""Callback requests in the journal: survive a restart, are never marked twice at once,
keep the number encrypted, and leave no trace of it once ended."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lotse.journal import Journal
from lotse.journal.callbackstore import CallbackKeyError, CallbackStore, NumberCipher
from router.callback import Outcome
from router.callbacknumber import callback_number

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRET = b"callback-test-key-0123456789"
HASH_KEY = b"journal-hash-key-0123456789"
NUMBER = callback_number("0421 3456789")


def clock() -> datetime:
    return T0


async def _store(path: Path, secret: bytes = SECRET) -> CallbackStore:
    journal = await Journal.open(path, clock=clock)
    await journal.close()
    return await CallbackStore.open(path, NumberCipher(secret), HASH_KEY)


def _file_bytes(path: Path) -> bytes:
    found = b""
    for suffix in ("", "-wal", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists():
            found += p.read_bytes()
    return found


async def test_a_request_survives_a_restart_with_its_place_in_line(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    store = await _store(db)
    await store.add("r2", "bremen", NUMBER, entered_s=200.0, deadline_s=9e4, at=T0)
    await store.add(
        "r1", "bremen", NUMBER, entered_s=100.0, deadline_s=9e4, at=T0, ortsnetz_prefix="0421"
    )
    await store.close()
    again = await CallbackStore.open(db, NumberCipher(SECRET), HASH_KEY)
    found = await again.open_requests()
    assert [r.id for r in found] == ["r1", "r2"]
    assert found[0].entered_s == 100.0
    assert found[0].ortsnetz_prefix == "0421"
    assert found[0].caller_hash is not None and len(found[0].caller_hash) == 16
    assert (await again.number("r1")).e164 == NUMBER.e164
    await again.close()


async def test_an_attempt_in_flight_is_not_marked_again_even_after_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite"
    store = await _store(db)
    await store.add("r1", "bremen", NUMBER, entered_s=1.0, deadline_s=9e4, at=T0)
    assert await store.mark_attempt("r1", "a1")
    assert not await store.mark_attempt("r1", "a2")
    # The controller dies with the attempt in flight; a new one opens the file.
    again = await CallbackStore.open(db, NumberCipher(SECRET), HASH_KEY)
    (req,) = await again.open_requests()
    assert req.in_flight == "a1" and req.attempts == 1
    assert req.for_scheduler().in_progress
    assert not await again.mark_attempt("r1", "a3")
    # Only the attempt that is in flight can be released.
    assert not await again.unanswered("r1", "a2", not_before_s=700.0)
    assert await again.unanswered("r1", "a1", not_before_s=700.0)
    (req,) = await again.open_requests()
    assert req.in_flight is None and req.not_before_s == 700.0
    assert await again.mark_attempt("r1", "a4")
    (req,) = await again.open_requests()
    assert req.attempts == 2
    await store.close()
    await again.close()


async def test_the_number_is_encrypted_and_gone_when_the_request_ends(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    store = await _store(db)
    await store.add("r1", "bremen", NUMBER, entered_s=1.0, deadline_s=9e4, at=T0)
    digits = NUMBER.e164[1:].encode()
    national = NUMBER.national.encode()
    raw = _file_bytes(db)
    assert digits not in raw and national not in raw
    token = store._conn.execute("SELECT number_enc FROM callbacks").fetchone()[0]
    assert token and bytes(token) in raw
    assert await store.end("r1", Outcome.COMPLETED, T0)
    assert not await store.end("r1", Outcome.EXPIRED, T0)
    raw = _file_bytes(db)
    assert bytes(token) not in raw
    assert digits not in raw and national not in raw
    assert await store.open_requests() == []
    assert await store.outcomes() == {"completed": 1}
    with pytest.raises(KeyError):
        await store.number("r1")
    assert not await store.mark_attempt("r1", "a9")
    await store.close()


async def test_a_wrong_key_or_a_moved_token_does_not_decrypt(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite"
    store = await _store(db)
    await store.add("r1", "bremen", NUMBER, entered_s=1.0, deadline_s=9e4, at=T0)
    mobile = callback_number("015712345678")
    await store.add("r2", "bremen", mobile, entered_s=2.0, deadline_s=9e4, at=T0)
    other = await CallbackStore.open(db, NumberCipher(b"another-key-0123456789"), HASH_KEY)
    with pytest.raises(CallbackKeyError):
        await other.number("r1")
    store._conn.execute(
        "UPDATE callbacks SET number_enc = (SELECT number_enc FROM callbacks WHERE id = 'r1') "
        "WHERE id = 'r2'"
    )
    with pytest.raises(CallbackKeyError):
        await store.number("r2")
    await store.close()
    await other.close()


def test_a_short_key_is_refused_and_never_shown() -> None:
    with pytest.raises(ValueError):
        NumberCipher(b"short")
    assert SECRET.decode() not in repr(NumberCipher(SECRET))


def test_the_stored_number_never_shows_whole() -> None:
    assert NUMBER.e164[6:] not in repr(NUMBER)
