"""Transcript files back to wire bytes."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from ami.transcript import received_bytes, sent_bytes, turns
from tests.fixtures.asterisk import AMI_TRANSCRIPTS, FASTAGI_TRANSCRIPT, asterisk_transcript


def test_badlogin_received_bytes_exactly() -> None:
    path = asterisk_transcript("ami-badlogin.txt")
    assert received_bytes(path) == (
        b"Asterisk Call Manager/11.0.0\r\n"
        b"\r\n"
        b"Response: Error\r\n"
        b"ActionID: badlogin-1\r\n"
        b"Message: Authentication failed\r\n"
        b"\r\n"
        b"\r\n"
    )


def test_badlogin_sent_bytes_start_with_the_login() -> None:
    sent = sent_bytes(asterisk_transcript("ami-badlogin.txt"))
    assert sent.startswith(
        b"Action: Login\r\nUsername: ctl\r\nSecret: wrong\r\nActionID: badlogin-1\r\n\r\n"
    )
    assert sent.endswith(b"Action: Ping\r\nActionID: ping-1\r\n\r\n\r\n")


@pytest.mark.parametrize("name", AMI_TRANSCRIPTS)
def test_every_ami_line_ends_in_crlf(name: str) -> None:
    for data in (
        received_bytes(asterisk_transcript(name)),
        sent_bytes(asterisk_transcript(name)),
    ):
        assert data.endswith(b"\r\n")
        assert data.count(b"\n") == data.count(b"\r\n")


def test_empty_values_keep_their_separator_space() -> None:
    data = received_bytes(asterisk_transcript("ami-answered.txt"))
    assert b"\r\nAccountCode: \r\n" in data


@pytest.mark.parametrize("name", [*AMI_TRANSCRIPTS, FASTAGI_TRANSCRIPT])
def test_turns_alternate_and_add_up_to_each_side(name: str) -> None:
    path = asterisk_transcript(name)
    conversation = turns(path)
    assert all(a.direction != b.direction for a, b in pairwise(conversation))
    received = b"".join(t.data for t in conversation if t.direction == "received")
    sent = b"".join(t.data for t in conversation if t.direction == "sent")
    assert received == received_bytes(path)
    assert sent == sent_bytes(path)


def test_fastagi_with_bare_lf_and_comments_skipped() -> None:
    path = asterisk_transcript(FASTAGI_TRANSCRIPT)
    received = received_bytes(path, newline=b"\n")
    assert received.startswith(b"agi_network: yes\nagi_network_script: route\n")
    assert b"agi_accountcode: \n" in received
    assert b"#" not in received
    assert sent_bytes(path, newline=b"\n") == (
        b'SET VARIABLE ROUTE_QUEUE "115-wittenberg"\n'
        b'SET VARIABLE ROUTE_TIMEOUT "12"\n'
        b'SET VARIABLE __LOTSE_HOME "wittenberg"\n'
    )
    assert [t.direction for t in turns(path)][:2] == ["received", "sent"]


def test_bare_prefix_is_an_empty_line(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("< Event: Ping\n<\n> Action: Ping\n>\n", encoding="utf-8")
    assert received_bytes(path) == b"Event: Ping\r\n\r\n"
    assert sent_bytes(path) == b"Action: Ping\r\n\r\n"


def test_non_ascii_is_written_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("< CallerIDName: Müller\n< \n", encoding="utf-8")
    assert received_bytes(path) == "CallerIDName: Müller\r\n\r\n".encode()


@pytest.mark.parametrize("line", ["Event: x", "<Event: x", "  < Event: x", "»  x"])
def test_line_without_direction_is_rejected_with_its_number(tmp_path: Path, line: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(f"< Response: Success\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt:2:"):
        received_bytes(path)


def test_empty_file_has_no_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("", encoding="utf-8")
    assert received_bytes(path) == b""
    assert turns(path) == []
