"""Helpers for the AMI tests: the captures parsed once, and feeding in chunks."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from itertools import pairwise

from ami.codec import AmiParser, Message, ParseError
from ami.transcript import received_bytes, sent_bytes
from tests.fixtures.asterisk import asterisk_transcript


def feed_chunks(
    chunks: Iterable[bytes], parser: AmiParser | None = None
) -> list[Message | ParseError]:
    """Feed chunks one after the other into one parser; all items in order."""
    parser = parser or AmiParser()
    items: list[Message | ParseError] = []
    for chunk in chunks:
        items.extend(parser.feed(chunk))
    return items


def cut(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (any order, duplicates allowed)."""
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[start:end] for start, end in pairwise(bounds)]


@cache
def wire(name: str) -> bytes:
    """Bytes Asterisk sent in a capture (skips if the captures are absent)."""
    return received_bytes(asterisk_transcript(name))


@cache
def client_wire(name: str) -> bytes:
    """Bytes the AMI client sent in a capture."""
    return sent_bytes(asterisk_transcript(name))


@cache
def messages(name: str) -> tuple[Message, ...]:
    """The blocks Asterisk sent in a capture, parsed in one feed; asserts no parse errors."""
    items = AmiParser().feed(wire(name))
    errors = [item for item in items if isinstance(item, ParseError)]
    assert errors == []
    return tuple(item for item in items if isinstance(item, Message))
