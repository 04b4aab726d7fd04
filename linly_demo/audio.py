"""Speech in: upload bytes (or an upload file inside the ephemeral root) -> mono float32 `Speech` at 16 kHz.

Guarantees: the container is recognised by its magic bytes and opened with that demuxer only (no playlists, no
network protocols); at most LINLY_MAX_AUDIO_SECONDS are decoded (decoding stops as soon as the limit is passed);
empty, silent, corrupt, unsupported and overlong audio are distinct user-facing errors; an upload file is deleted
in a `finally`, as portraits are.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from math import gcd

import av
import numpy as np
from scipy.signal import resample_poly

from linly_demo.ephemeral import EphemeralRoot
from linly_demo.errors import (
    AudioTooLarge,
    AudioTooLong,
    CorruptAudio,
    EmptyAudio,
    SilentAudio,
    UnsupportedAudio,
    megabytes,
)

SPEECH_RATE = 16_000
REST_SECONDS = 0.3  # silence after synthesised speech, for the face to come to rest (speech_with_rest)
# Loudest 30 ms window quieter than this (dBFS) counts as silence-only.
SILENCE_DBFS = -50.0


@dataclass(frozen=True)
class Speech:
    """Mono speech, float32 in [-1, 1], at `sample_rate`."""

    samples: np.ndarray
    sample_rate: int = SPEECH_RATE

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def speech_from_pcm(samples: np.ndarray, sample_rate: int) -> Speech:
    """Wrap PCM (e.g. from TTS) as `Speech`, resampled to SPEECH_RATE."""
    mono = np.asarray(samples, dtype=np.float32)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    if sample_rate != SPEECH_RATE:
        divisor = gcd(sample_rate, SPEECH_RATE)
        mono = resample_poly(mono, SPEECH_RATE // divisor, sample_rate // divisor).astype(np.float32)
    mono = np.clip(mono, -1.0, 1.0)
    mono.setflags(write=False)
    return Speech(mono, SPEECH_RATE)


def speech_with_rest(samples: np.ndarray, sample_rate: int, rest_seconds: float = REST_SECONDS) -> Speech:
    """Synthesised PCM as `Speech` (see speech_from_pcm) followed by `rest_seconds` of silence: eSpeak NG stops on
    the last phoneme's final sample, and a clip cut there ends on a frame with the mouth open mid-word; a speaker's
    mouth closes after the last word, so the clip holds that silence for the face to come to rest."""
    speech = speech_from_pcm(samples, sample_rate)
    rested = np.concatenate([speech.samples, np.zeros(int(round(rest_seconds * SPEECH_RATE)), np.float32)])
    rested.setflags(write=False)
    return Speech(rested, SPEECH_RATE)


def sniff_container(data: bytes) -> str | None:
    """The demuxer for WAV, FLAC, MP3, OGG, MP4/M4A or WebM/Matroska data, from magic bytes; else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def decode_audio(data: bytes, max_bytes: int, max_seconds: float) -> Speech:
    """Validate and decode speech bytes into 16 kHz mono float32."""
    if not data:
        raise EmptyAudio()
    if len(data) > max_bytes:
        raise AudioTooLarge(
            f"The audio file is {megabytes(len(data))}; the limit is {max_bytes / 2**20:g} MB."
        )
    container_format = sniff_container(data)
    if container_format is None:
        raise UnsupportedAudio()
    limit = int((max_seconds + 0.05) * SPEECH_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", format=container_format) as container:
            if not container.streams.audio:
                raise EmptyAudio("The file holds no audio track. Please upload or record some speech.")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SPEECH_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += len(chunk)
                if total > limit:
                    raise AudioTooLong(
                        f"The audio is longer than {max_seconds:g} seconds. Please upload a shorter recording."
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except (EmptyAudio, AudioTooLong):
        raise
    except (av.FFmpegError, ValueError, IndexError, EOFError, OSError):
        raise CorruptAudio() from None
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if not np.isfinite(samples).all():
        raise CorruptAudio("The audio holds invalid samples (not-a-number or infinite values). Please upload "
                           "another recording.")
    if len(samples) < SPEECH_RATE // 10:
        raise EmptyAudio("The audio is too short to hold speech. Please upload or record some speech.")
    if len(samples) > limit:
        raise AudioTooLong(f"The audio is longer than {max_seconds:g} seconds. Please upload a shorter recording.")
    if loudest_window_dbfs(samples) < SILENCE_DBFS:
        raise SilentAudio()
    return speech_from_pcm(samples, SPEECH_RATE)


def decode_audio_file(path: str | os.PathLike[str], ephemeral: EphemeralRoot, max_bytes: int,
                      max_seconds: float) -> Speech:
    """Decode an upload file inside the ephemeral root; the file is deleted whatever happens."""
    return decode_audio(ephemeral.consume(path, max_bytes, AudioTooLarge), max_bytes, max_seconds)


def loudest_window_dbfs(samples: np.ndarray, window: int = SPEECH_RATE * 30 // 1000) -> float:
    usable = len(samples) // window * window
    if usable == 0:
        return -120.0
    power = np.mean(np.square(samples[:usable].reshape(-1, window), dtype=np.float64), axis=1)
    return float(10 * np.log10(max(float(power.max()), 1e-12)))
