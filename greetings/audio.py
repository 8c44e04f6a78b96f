"""Inspect WAV files the way Asterisk's ``format_wav`` will read them.

Asterisk plays a ``.wav`` file natively only if it is 16-bit signed linear PCM,
mono, 8000 Hz (``format_wav`` refuses anything else and does not resample; the
call then hears nothing and the dialplan carries on). Its header reader is
also stricter than the RIFF spec: the first chunk must be ``fmt ``; chunks
between ``fmt `` and ``data`` are skipped, but not the pad byte after an
odd-sized one; a data size of 0 or 0xFFFFFFFF (a streaming header) is refused;
and since the header length is subtracted from the playable audio, a long
header cuts the end of the recording. This module reads the RIFF structure
itself, so it sees what Asterisk sees, then measures the levels with plain
arithmetic (``audioop`` is deprecated): a greeting that is silent, mostly
silence or clipped is as broken for the caller as one that does not play.
"""

from __future__ import annotations

import io
import math
import struct
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from greetings.problem import Problem

# What Asterisk's format_wav plays natively (the ".wav" extension).
ASTERISK_RATE = 8000
ASTERISK_CHANNELS = 1
ASTERISK_BITS = 16
WAVE_FORMAT_PCM = 1

_FORMAT_NAMES = {
    1: "PCM",
    3: "IEEE float",
    6: "A-law",
    7: "µ-law",
    0x11: "IMA ADPCM",
    0x31: "GSM 6.10",
    0x55: "MP3",
    0xFFFE: "WAVE_FORMAT_EXTENSIBLE",
}
_STREAMING_SIZE = 0xFFFFFFFF
_FRAME_S = 0.020  # level analysis in 20 ms frames, the usual RTP packet
_FULL_SCALE = 32768.0
# Never read more audio than this into memory; a prompt is well under a megabyte.
_MAX_DATA_BYTES = 32 * 1024 * 1024


class WavError(Exception):
    """The file is not a RIFF/WAVE file at all (or its header is cut short)."""


@dataclass(frozen=True)
class AudioLimits:
    """What a playable prompt must meet beyond the format; all configurable.

    Levels are in dBFS (0 dBFS = full scale; a full-scale sine has an RMS of
    about -3 dBFS). A 20 ms frame counts as silent when its RMS is below
    ``silence_dbfs``. Silence at the start makes callers think the line is dead
    and at the end delays what follows; gaps between the first and last sound
    are normal in speech, up to a point.
    """

    min_duration_s: float = 0.5
    max_duration_s: float = 60.0
    min_rms_dbfs: float = -40.0
    silence_dbfs: float = -50.0
    max_gap_ratio: float = 0.5
    max_edge_silence_s: float = 2.0
    max_clipped_ratio: float = 0.001
    max_header_bytes: int = 1024


DEFAULT_LIMITS = AudioLimits()


@dataclass(frozen=True)
class Levels:
    """Loudness measured over the samples of a 16-bit PCM file."""

    rms_dbfs: float
    peak_dbfs: float
    lead_silence_s: float  # silence before the first sound
    tail_silence_s: float  # silence after the last sound
    gap_ratio: float  # share of silent 20 ms frames between the first and last sound
    clipped_ratio: float  # share of samples at full scale


@dataclass(frozen=True)
class WavInfo:
    """What a WAV file's header says, and what its samples measure."""

    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    block_align: int
    first_chunk: str
    odd_chunk: str | None  # an odd-sized chunk before the audio (Asterisk cannot skip it)
    data_offset: int  # header bytes before the first sample
    declared_bytes: int  # audio bytes the data chunk claims
    audio_bytes: int  # audio bytes actually present
    levels: Levels | None  # None unless the samples are 16-bit PCM

    @property
    def frames(self) -> int:
        """Sample frames present (one sample per channel each)."""
        return self.audio_bytes // self.block_align if self.block_align else 0

    @property
    def duration_s(self) -> float:
        """Playing time of the samples present."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def read_wav(path: Path, silence_dbfs: float = DEFAULT_LIMITS.silence_dbfs) -> WavInfo:
    """Read ``path``'s RIFF structure and measure its levels.

    Raises :class:`WavError` for a file that is not WAV at all, ``OSError`` if
    it cannot be read.
    """
    with path.open("rb") as f:
        return _read(f, silence_dbfs)


def parse_wav(data: bytes, silence_dbfs: float = DEFAULT_LIMITS.silence_dbfs) -> WavInfo:
    """Like :func:`read_wav`, for the bytes of a whole file."""
    return _read(io.BytesIO(data), silence_dbfs)


def _read(f: BinaryIO, silence_dbfs: float) -> WavInfo:
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError("not a WAV file (no RIFF/WAVE header)")
    fmt: bytes | None = None
    first_chunk = ""
    odd_chunk: str | None = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            raise WavError("no audio: the file ends before a 'data' chunk")
        chunk_id = "".join(c if c.isprintable() else "?" for c in chunk[:4].decode("latin-1"))
        (size,) = struct.unpack("<I", chunk[4:])
        first_chunk = first_chunk or chunk_id
        if chunk_id == "data":
            break
        if chunk_id == "fmt ":
            fmt = f.read(size)
            if len(fmt) < size:
                raise WavError("the 'fmt ' chunk is cut short")
        else:
            f.seek(size, 1)
        if size % 2:
            odd_chunk = odd_chunk or chunk_id
            f.seek(1, 1)  # RIFF pads odd chunks to an even size
    if fmt is None:
        raise WavError("no 'fmt ' chunk before the audio")
    if len(fmt) < 16:
        raise WavError(f"the 'fmt ' chunk has {len(fmt)} bytes, at least 16 are needed")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    data_offset = f.tell()
    samples = f.read(min(size, _MAX_DATA_BYTES))
    if block_align:
        samples = samples[: len(samples) - len(samples) % block_align]
    levels = None
    if tag == WAVE_FORMAT_PCM and bits == 16 and block_align == 2 * channels and rate:
        levels = measure(samples, rate * channels, silence_dbfs)
    return WavInfo(
        format_tag=tag,
        channels=channels,
        sample_rate=rate,
        bits_per_sample=bits,
        block_align=block_align,
        first_chunk=first_chunk,
        odd_chunk=odd_chunk,
        data_offset=data_offset,
        declared_bytes=size,
        audio_bytes=len(samples),
        levels=levels,
    )


def measure(pcm: bytes, samples_per_s: int, silence_dbfs: float) -> Levels:
    """Levels of little-endian 16-bit PCM ``pcm`` (``samples_per_s`` counts all channels)."""
    values = array("h")
    values.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        values.byteswap()
    n = len(values)
    if n == 0:
        return Levels(-math.inf, -math.inf, 0.0, 0.0, 0.0, 0.0)
    frame = max(1, round(samples_per_s * _FRAME_S))
    silence_power = (_FULL_SCALE * 10 ** (silence_dbfs / 20)) ** 2
    total = 0
    silent: list[bool] = []
    for start in range(0, n, frame):
        chunk = values[start : start + frame]
        power = sum(v * v for v in chunk)
        total += power
        silent.append(power < silence_power * len(chunk))
    sounding = [i for i, quiet in enumerate(silent) if not quiet]
    frame_s = frame / samples_per_s
    if sounding:
        first, last = sounding[0], sounding[-1]
        lead_s = first * frame_s
        tail_s = n / samples_per_s - (last + 1) * frame_s
        gap_ratio = 1 - len(sounding) / (last - first + 1)
    else:
        lead_s = tail_s = n / samples_per_s
        gap_ratio = 0.0
    peak = max(max(values), -min(values))
    clipped = values.count(32767) + values.count(-32768)
    return Levels(
        rms_dbfs=_dbfs(math.sqrt(total / n)),
        peak_dbfs=_dbfs(float(peak)),
        lead_silence_s=lead_s,
        tail_silence_s=max(0.0, tail_s),
        gap_ratio=gap_ratio,
        clipped_ratio=clipped / n,
    )


def _dbfs(amplitude: float) -> float:
    return 20 * math.log10(amplitude / _FULL_SCALE) if amplitude > 0 else -math.inf


def problems(info: WavInfo, limits: AudioLimits = DEFAULT_LIMITS) -> list[str]:
    """Why Asterisk would not play ``info``'s file, or the caller would not hear it well."""
    found = _format_problems(info, limits)
    if info.sample_rate and info.block_align:
        duration = info.duration_s
        if duration < limits.min_duration_s:
            found.append(f"too short: {duration:.2f} s (minimum {limits.min_duration_s:g} s)")
        elif duration > limits.max_duration_s:
            found.append(f"too long: {duration:.1f} s (maximum {limits.max_duration_s:g} s)")
    levels = info.levels
    if levels is not None and info.audio_bytes:
        if levels.rms_dbfs == -math.inf:
            found.append("silent: every sample is zero")
        elif levels.rms_dbfs < limits.min_rms_dbfs:
            found.append(
                f"too quiet: RMS {levels.rms_dbfs:.1f} dBFS (floor {limits.min_rms_dbfs:g} dBFS)"
            )
        else:
            found += _silence_problems(levels, limits)
        if levels.clipped_ratio > limits.max_clipped_ratio:
            found.append(
                f"clipped: {levels.clipped_ratio:.2%} of samples at full scale "
                f"(limit {limits.max_clipped_ratio:.2%})"
            )
    return found


def _silence_problems(levels: Levels, limits: AudioLimits) -> list[str]:
    found: list[str] = []
    edge = limits.max_edge_silence_s
    if levels.lead_silence_s > edge:
        found.append(f"starts with {levels.lead_silence_s:.1f} s of silence (limit {edge:g} s)")
    if levels.tail_silence_s > edge:
        found.append(f"ends with {levels.tail_silence_s:.1f} s of silence (limit {edge:g} s)")
    if levels.gap_ratio > limits.max_gap_ratio:
        found.append(
            f"mostly silence: {levels.gap_ratio:.0%} of the 20 ms frames between the first "
            f"and last sound are below {limits.silence_dbfs:g} dBFS "
            f"(limit {limits.max_gap_ratio:.0%})"
        )
    return found


def _format_problems(info: WavInfo, limits: AudioLimits) -> list[str]:
    found: list[str] = []
    if info.first_chunk != "fmt ":
        found.append(
            f"the first chunk is '{info.first_chunk}'; Asterisk reads only files whose "
            "first chunk is 'fmt '"
        )
    if info.format_tag != WAVE_FORMAT_PCM:
        name = _FORMAT_NAMES.get(info.format_tag, "unknown")
        found.append(
            f"encoding is {name} (format {info.format_tag}); Asterisk's .wav plays PCM "
            f"(format {WAVE_FORMAT_PCM}) only"
        )
    if info.channels != ASTERISK_CHANNELS:
        found.append(f"{info.channels} channels; Asterisk's .wav plays mono only")
    if info.sample_rate != ASTERISK_RATE:
        found.append(
            f"sample rate {info.sample_rate} Hz; Asterisk's .wav plays {ASTERISK_RATE} Hz only"
        )
    if info.bits_per_sample != ASTERISK_BITS or info.block_align != 2 * max(info.channels, 1):
        found.append(
            f"{info.bits_per_sample}-bit samples; Asterisk's .wav plays {ASTERISK_BITS}-bit only"
        )
    if info.odd_chunk is not None:
        found.append(
            f"odd-sized '{info.odd_chunk}' chunk before the audio; Asterisk does not skip "
            "its pad byte and refuses the file"
        )
    if info.declared_bytes == _STREAMING_SIZE:
        found.append("streaming header (data size 0xFFFFFFFF); Asterisk refuses it")
    elif info.declared_bytes == 0:
        found.append("no audio: the data chunk is empty")
    elif info.audio_bytes < info.declared_bytes and info.audio_bytes < _MAX_DATA_BYTES:
        found.append(
            f"truncated: the header declares {info.declared_bytes} bytes of audio, "
            f"the file holds {info.audio_bytes}"
        )
    if info.data_offset > limits.max_header_bytes:
        lost_ms = 1000 * info.data_offset / (2 * ASTERISK_RATE)
        found.append(
            f"{info.data_offset} header bytes before the audio (limit "
            f"{limits.max_header_bytes}); Asterisk cuts as many bytes, {lost_ms:.0f} ms, "
            "off the end"
        )
    return found


def check_wav(path: Path, limits: AudioLimits = DEFAULT_LIMITS) -> list[Problem]:
    """Every problem with the WAV file at ``path``, each naming the file."""
    try:
        info = read_wav(path, limits.silence_dbfs)
    except WavError as err:
        return [Problem(str(path), str(err))]
    except OSError as err:
        return [Problem(str(path), f"cannot read: {err.strerror or err}")]
    return [Problem(str(path), message) for message in problems(info, limits)]


def describe(info: WavInfo) -> str:
    """One line for a listening check by numbers: format, duration, levels."""
    text = (
        f"{info.sample_rate} Hz {info.bits_per_sample}-bit {info.channels} ch, "
        f"{info.duration_s:5.2f} s"
    )
    if info.levels is not None:
        lv = info.levels
        text += (
            f", RMS {lv.rms_dbfs:6.1f} dBFS, peak {lv.peak_dbfs:5.1f} dBFS, "
            f"lead {lv.lead_silence_s:.2f} s, tail {lv.tail_silence_s:.2f} s, "
            f"gaps {lv.gap_ratio:4.0%}"
        )
    return text
