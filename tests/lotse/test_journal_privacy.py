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
    SaltError,
    caller_hash,
    canonical_number,
    hash_caller,
    salt_from_env,
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
