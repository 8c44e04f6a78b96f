"""The audio check, on WAV files made in the test."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greetings.audio import (
    DEFAULT_LIMITS,
    AudioLimits,
    WavError,
    check_wav,
    describe,
    parse_wav,
    problems,
    read_wav,
)
from tests.greetings.wavs import chunk, fmt_chunk, pcm16, riff, silence, tone, write_wav


def messages(path: Path, limits: AudioLimits = DEFAULT_LIMITS) -> list[str]:
    return [p.message for p in check_wav(path, limits)]


def test_asterisk_ready_speechlike_file_passes(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "ok.wav", silence(0.25) + tone(2.0) + silence(0.5))
    assert check_wav(path) == []
    info = read_wav(path)
    assert (info.sample_rate, info.channels, info.bits_per_sample) == (8000, 1, 16)
    assert info.duration_s == pytest.approx(2.75)
    assert info.levels is not None
    # A 0.3 full-scale sine: RMS 0.3/sqrt(2), about -13.5 dBFS over the tone.
    assert info.levels.peak_dbfs == pytest.approx(20 * math.log10(0.3), abs=0.1)
    assert info.levels.lead_silence_s == pytest.approx(0.24, abs=0.02)
    assert info.levels.tail_silence_s == pytest.approx(0.5, abs=0.02)
    assert info.levels.gap_ratio == 0.0
    assert "8000 Hz 16-bit 1 ch,  2.75 s" in describe(info)


def test_wrong_sample_rate(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "fast.wav", tone(1.0, rate=22050), rate=22050)
    assert messages(path) == ["sample rate 22050 Hz; Asterisk's .wav plays 8000 Hz only"]


def test_stereo(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "stereo.wav", tone(1.0), channels=2)
    assert messages(path) == ["2 channels; Asterisk's .wav plays mono only"]


def test_8_bit(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "8bit.wav", tone(1.0), width=1)
    assert messages(path) == ["8-bit samples; Asterisk's .wav plays 16-bit only"]


def test_too_short(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "short.wav", tone(0.2))
    assert messages(path) == ["too short: 0.20 s (minimum 0.5 s)"]


def test_duration_limits_are_configurable(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "two.wav", tone(2.0))
    assert messages(path) == []
    assert messages(path, AudioLimits(max_duration_s=1.5)) == ["too long: 2.0 s (maximum 1.5 s)"]
    assert messages(path, AudioLimits(min_duration_s=3)) == ["too short: 2.00 s (minimum 3 s)"]


def test_silent(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "silent.wav", silence(2.0))
    assert messages(path) == ["silent: every sample is zero"]


def test_too_quiet(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", tone(2.0, amplitude=0.005))  # about -49 dBFS RMS
    [message] = messages(path)
    assert message.startswith("too quiet: RMS -49.0 dBFS (floor -40 dBFS)")


def test_mostly_silence(tmp_path: Path) -> None:
    stutter = (tone(0.1, amplitude=0.9) + silence(0.4)) * 4 + tone(0.1, amplitude=0.9)
    path = write_wav(tmp_path / "gaps.wav", stutter)
    assert messages(path) == [
        "mostly silence: 76% of the 20 ms frames between the first and last sound are "
        "below -50 dBFS (limit 50%)"
    ]


def test_short_prompt_with_padding_is_not_mostly_silence(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "danke.wav", silence(0.25) + tone(0.4) + silence(0.5))
    assert messages(path) == []


def test_long_silence_at_start_or_end(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "late.wav", silence(3.0) + tone(1.0) + silence(2.5))
    assert messages(path) == [
        "starts with 3.0 s of silence (limit 2 s)",
        "ends with 2.5 s of silence (limit 2 s)",
    ]
    assert messages(path, AudioLimits(max_edge_silence_s=4)) == []


def test_clipped(tmp_path: Path) -> None:
    square = [1.0 if x > 0 else -1.0 for x in tone(1.0)]
    path = write_wav(tmp_path / "square.wav", square)
    [message] = messages(path)
    assert message.startswith("clipped: ")


def test_not_a_wav_file(tmp_path: Path) -> None:
    path = tmp_path / "greeting.wav"
    path.write_bytes(b"ID3\x03\x00" + bytes(100))  # an MP3 renamed to .wav
    assert messages(path) == ["not a WAV file (no RIFF/WAVE header)"]


def test_unreadable_file(tmp_path: Path) -> None:
    assert messages(tmp_path / "absent.wav") == ["cannot read: No such file or directory"]


@pytest.mark.parametrize(
    ("tag", "name"),
    [(7, "µ-law"), (3, "IEEE float"), (0xFFFE, "WAVE_FORMAT_EXTENSIBLE")],
)
def test_non_pcm_encodings(tag: int, name: str) -> None:
    data = riff(fmt_chunk(tag=tag), chunk(b"data", pcm16(tone(1.0))))
    assert problems(parse_wav(data)) == [
        f"encoding is {name} (format {tag}); Asterisk's .wav plays PCM (format 1) only"
    ]


def test_fmt_chunk_with_extension_bytes_is_fine() -> None:
    data = riff(fmt_chunk(extra=b"\0\0"), chunk(b"data", pcm16(tone(1.0))))
    assert problems(parse_wav(data)) == []


def test_even_chunk_between_fmt_and_data_is_fine() -> None:
    data = riff(fmt_chunk(), chunk(b"LIST", b"INFOabcd"), chunk(b"data", pcm16(tone(1.0))))
    assert problems(parse_wav(data)) == []


def test_odd_chunk_before_data_is_refused() -> None:
    data = riff(fmt_chunk(), chunk(b"LIST", b"INFOabc"), chunk(b"data", pcm16(tone(1.0))))
    info = parse_wav(data)
    assert info.duration_s == pytest.approx(1.0)  # the RIFF spec's pad byte was skipped
    assert problems(info) == [
        "odd-sized 'LIST' chunk before the audio; Asterisk does not skip its pad byte "
        "and refuses the file"
    ]


def test_fmt_must_be_first() -> None:
    data = riff(chunk(b"LIST", b"INFO"), fmt_chunk(), chunk(b"data", pcm16(tone(1.0))))
    assert problems(parse_wav(data)) == [
        "the first chunk is 'LIST'; Asterisk reads only files whose first chunk is 'fmt '"
    ]


def test_long_header_cuts_the_end() -> None:
    data = riff(fmt_chunk(), chunk(b"junk", bytes(4000)), chunk(b"data", pcm16(tone(1.0))))
    assert problems(parse_wav(data)) == [
        "4052 header bytes before the audio (limit 1024); Asterisk cuts as many bytes, "
        "253 ms, off the end"
    ]


def test_streaming_header() -> None:
    data = riff(fmt_chunk(), chunk(b"data", pcm16(tone(1.0)), size=0xFFFFFFFF))
    assert "streaming header (data size 0xFFFFFFFF); Asterisk refuses it" in problems(
        parse_wav(data)
    )


def test_empty_data() -> None:
    found = problems(parse_wav(riff(fmt_chunk(), chunk(b"data", b""))))
    assert found == ["no audio: the data chunk is empty", "too short: 0.00 s (minimum 0.5 s)"]


def test_truncated_data() -> None:
    data = riff(fmt_chunk(), chunk(b"data", pcm16(tone(1.0)), size=32000))
    found = problems(parse_wav(data))
    assert found == ["truncated: the header declares 32000 bytes of audio, the file holds 16000"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFF\0\0\0\0WAVE", "no audio: the file ends before a 'data' chunk"),
        (riff(chunk(b"data", pcm16(tone(1.0)))), "no 'fmt ' chunk before the audio"),
        (riff(chunk(b"fmt ", bytes(8)), chunk(b"data", b"")), "at least 16 are needed"),
        (b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0", "the 'fmt ' chunk is cut short"),
    ],
)
def test_broken_headers(data: bytes, message: str) -> None:
    with pytest.raises(WavError, match=message):
        parse_wav(data)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_gives_wav_error_or_info(data: bytes) -> None:
    for candidate in (data, b"RIFF\0\0\0\0WAVE" + data):
        try:
            info = parse_wav(candidate)
        except WavError:
            continue
        problems(info)  # whatever the header says, judging it does not crash
