"""Caller numbers never reach the journal; the salted hash links repeat callers."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lotse.journal import Answered, CallArrived, Decided, Ended, Journal, QueueJoined
from lotse.journal.privacy import (
    JournalKeyError,
    SaltError,
    caller_hash,
    canonical_number,
    hash_caller,
    key_from_file,
    load_key,
    salt_from_env,
    write_key_file,
)
from router.numbering import NumberKind, OrtsnetzTable, classify_caller
from router.policy import Action

T0 = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
SALT = b"a-journal-salt-for-tests"


def test_caller_hash_is_16_hex_chars_keyed_by_the_salt() -> None:
    h = caller_hash("02214711835", SALT)
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    assert caller_hash("02214711835", SALT) == h
    assert caller_hash("02214711836", SALT) != h
    assert caller_hash("02214711835", SALT + b"x") != h


def test_hmac_sha256_reference_value() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    assert caller_hash("what do ya want for nothing?", b"Jefe") == "5bdcc146bf60754e"


@pytest.mark.parametrize(
    "spelling",
    [
        "02214711835",
        "0221 4711835",
        "0221/471 18 35",
        "+49 221 4711835",
        "+49 (0)221 4711835",
        "0049 221 4711835",
        "2214711835",
    ],
)
def test_spellings_of_one_number_hash_alike(spelling: str) -> None:
    assert canonical_number(spelling) == "02214711835"
    assert hash_caller(spelling, SALT) == caller_hash("02214711835", SALT)


@pytest.mark.parametrize("raw", ["", "anonymous", "Anonymous", "<unknown>", "restricted", "abc"])
def test_anonymous_and_garbage_callers_are_not_linked(raw: str) -> None:
    assert canonical_number(raw) is None
    assert hash_caller(raw, SALT) is None


def test_foreign_numbers_keep_their_country_code() -> None:
    assert canonical_number("+43 1 5880") == canonical_number("0043 1 5880") == "004315880"


@given(nsn=st.from_regex(r"[1-9][0-9]{4,12}", fullmatch=True))
def test_national_and_international_spellings_agree(nsn: str) -> None:
    expected = "0" + nsn
    for spelling in (f"0{nsn}", f"+49{nsn}", f"0049{nsn}", f"+49 (0) {nsn}", nsn):
        assert canonical_number(spelling) == expected


def test_salt_from_env() -> None:
    assert salt_from_env("SALT", {}) is None
    assert salt_from_env("SALT", {"SALT": ""}) is None
    assert salt_from_env("SALT", {"SALT": "0123456789abcdef"}) == b"0123456789abcdef"
    with pytest.raises(SaltError) as err:
        salt_from_env("SALT", {"SALT": "hunter2"})
    assert "hunter2" not in str(err.value)
    assert "$SALT" in str(err.value)


# Forty Köln landline callers, 0221 4713579, 0221 4713586, …
NUMBERS = [f"0221 47{i:05d}" for i in range(13579, 13579 + 40 * 7, 7)]


def forms(number: str) -> set[str]:
    """Every way the full number could have been stored: national, NSN, E.164, subscriber."""
    national = number.replace(" ", "")
    nsn = national[1:]
    return {national, nsn, "49" + nsn, number.split(" ")[1]}


async def test_no_caller_number_anywhere_in_the_journal_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = OrtsnetzTable.load()
    db = tmp_path / "j.sqlite"
    journal = await Journal.open(db, clock=lambda: T0, salt=SALT)
    with caplog.at_level(logging.DEBUG):
        for i, number in enumerate(NUMBERS):
            call_id, at = f"1770109200.{i}", T0 + timedelta(minutes=i)
            origin = classify_caller(number, table)
            assert origin.kind is NumberKind.LANDLINE
            journal.record(CallArrived.of(call_id, at, origin, journal.caller_hash(number)))
            journal.record(
                Decided(
                    call_id,
                    at,
                    Action.QUEUE,
                    "koeln",
                    "koeln",
                    "115-koeln",
                    "lotse/greeting-koeln",
                    None,
                    30,
                    (f"home=koeln via Ortsnetz {origin.masked}",),
                )
            )
            journal.record(QueueJoined(call_id, at, "koeln", "115-koeln", 1))
            journal.record(Answered(call_id, at + timedelta(seconds=9), "koeln", "Anna", 9.0))
            journal.record(Ended(call_id, at + timedelta(seconds=99), 90.0, "Normal Clearing"))
        await journal.flush()
        # Open: the rows are in the write-ahead log. Closed: checkpointed into the file.
        open_bytes = b"".join(p.read_bytes() for p in tmp_path.iterdir())
        await journal.close()
    closed_bytes = b"".join(p.read_bytes() for p in tmp_path.iterdir())

    # What is kept instead: the Ortsnetz prefix and the salted hash.
    first_hash = hash_caller(NUMBERS[0], SALT)
    assert first_hash is not None
    assert b'"ortsnetz_prefix":"0221"' in closed_bytes
    assert first_hash.encode() in closed_bytes
    for number in NUMBERS:
        for form in forms(number):
            assert form.encode() not in open_bytes, form
            assert form.encode() not in closed_bytes, form
            assert form not in caplog.text
    assert SALT.decode() not in caplog.text


KEY = "0123456789abcdef-key"


def key_file(tmp_path: Path, mode: int, text: str = KEY + "\n") -> Path:
    path = tmp_path / "journal.key"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_key_file_only_its_owner_can_read_is_taken(tmp_path: Path, mode: int) -> None:
    assert key_from_file(key_file(tmp_path, mode)) == KEY.encode()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    # 0o610: only the group's execute bit, still more than the owner alone.
    path = key_file(tmp_path, mode)
    with pytest.raises(JournalKeyError) as err:
        key_from_file(path)
    assert str(path) in str(err.value) and f"{mode:04o}" in str(err.value)
    assert KEY not in str(err.value)


def test_key_file_problems_name_the_file_never_the_key(tmp_path: Path) -> None:
    with pytest.raises(JournalKeyError, match="No such file"):
        key_from_file(tmp_path / "missing.key")
    with pytest.raises(JournalKeyError, match="empty"):
        key_from_file(key_file(tmp_path, 0o600, "  \n"))
    with pytest.raises(JournalKeyError, match="too short") as err:
        key_from_file(key_file(tmp_path, 0o600, "hunter2\n"))
    assert "hunter2" not in str(err.value)
    (tmp_path / "dir.key").mkdir(mode=0o700)
    with pytest.raises(JournalKeyError, match="not a regular file"):
        key_from_file(tmp_path / "dir.key")


def test_a_key_is_exactly_16_bytes_at_least() -> None:
    assert salt_from_env("K", {"K": "x" * 16}) == b"x" * 16
    with pytest.raises(JournalKeyError):
        salt_from_env("K", {"K": "x" * 15})


def test_key_sources_in_order_env_then_file_then_the_old_salt_name(tmp_path: Path) -> None:
    path = key_file(tmp_path, 0o600)
    env = {"LOTSE_JOURNAL_KEY": "e" * 16, "LOTSE_JOURNAL_SALT": "s" * 16}
    got = load_key("LOTSE_JOURNAL_KEY", str(path), "LOTSE_JOURNAL_SALT", env)
    assert got is not None and got.secret == b"e" * 16 and got.source == "$LOTSE_JOURNAL_KEY"
    del env["LOTSE_JOURNAL_KEY"]
    got = load_key("LOTSE_JOURNAL_KEY", str(path), "LOTSE_JOURNAL_SALT", env)
    assert got is not None and got.secret == KEY.encode() and got.source == f"file {path}"
    got = load_key("LOTSE_JOURNAL_KEY", None, "LOTSE_JOURNAL_SALT", env)
    assert got is not None and got.secret == b"s" * 16 and "deprecated" in got.source
    assert load_key("LOTSE_JOURNAL_KEY", None, "LOTSE_JOURNAL_SALT", {}) is None
    assert "s" * 16 not in repr(got)


def test_a_written_key_file_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "demo.key"
    write_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    first = key_from_file(path)
    assert len(first) == 64
    with pytest.raises(FileExistsError):
        write_key_file(path)
    assert key_from_file(path) == first


def test_the_demo_keeps_its_key_beside_the_journal_not_in_it(tmp_path: Path) -> None:
    from lotse.livedemo import demo_key

    journal = tmp_path / "run" / "demo-journal.sqlite"
    journal.parent.mkdir()
    path, generated = demo_key(journal)
    assert (path, generated) == (tmp_path / "run" / "demo-journal.key", True)
    assert path.stat().st_mode & 0o777 == 0o600
    assert demo_key(journal) == (path, False)
