"""WAV fixtures made in the tests: stdlib ``wave`` for well-formed files, raw RIFF for odd ones."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path


def tone(
    seconds: float, *, rate: int = 8000, freq: float = 440.0, amplitude: float = 0.3
) -> list[float]:
    """A sine tone as samples in -1..1."""
    n = round(seconds * rate)
    return [amplitude * math.sin(2 * math.pi * freq * i / rate) for i in range(n)]


def silence(seconds: float, *, rate: int = 8000) -> list[float]:
    return [0.0] * round(seconds * rate)


def write_wav(
    path: Path,
    samples: list[float],
    *,
    rate: int = 8000,
    channels: int = 1,
    width: int = 2,
) -> Path:
    """Write ``samples`` (-1..1, duplicated over ``channels``) with the stdlib wave module."""
    frames = bytearray()
    for x in samples:
        for _ in range(channels):
            if width == 1:
                frames += struct.pack("<B", max(0, min(255, round(128 + 127 * x))))
            else:
                frames += struct.pack("<h", max(-32768, min(32767, round(32767 * x))))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


def pcm16(samples: list[float]) -> bytes:
    return b"".join(struct.pack("<h", round(32767 * x)) for x in samples)


def fmt_chunk(
    *, tag: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16, extra: bytes = b""
) -> bytes:
    align = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits) + extra
    return chunk(b"fmt ", body)


def chunk(chunk_id: bytes, body: bytes, *, size: int | None = None) -> bytes:
    """A RIFF chunk, padded to even length as the spec says."""
    declared = len(body) if size is None else size
    pad = b"\0" if len(body) % 2 else b""
    return chunk_id + struct.pack("<I", declared) + body + pad


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
