"""Speech for tests: real read speech joined with pauses (from ../shared) or a synthetic voiced signal."""

from __future__ import annotations

import io

import av
import numpy as np

from linly_demo.audio import SPEECH_RATE, Speech, decode_audio
from tests.conftest import SPEECH


def synthetic_voice(seconds: float = 6.0, rate: int = SPEECH_RATE, seed: int = 0) -> np.ndarray:
    """A glottal-pulse buzz (110-160 Hz, vowel-like formants) in syllables of 120-300 ms with pauses of 0.5-0.8 s.

    Starts and ends with silence; loudness varies per syllable as read speech does.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate), np.float32)
    t = 0.5
    while t < seconds - 1.0:
        phrase_end = min(seconds - 0.8, t + rng.uniform(1.2, 2.2))
        while t < phrase_end:
            length = rng.uniform(0.12, 0.3)
            n = int(length * rate)
            time = np.arange(n) / rate
            f0 = rng.uniform(110, 160) * (1 + 0.05 * np.sin(2 * np.pi * 3 * time))
            phase = 2 * np.pi * np.cumsum(f0) / rate
            formant = rng.choice([500.0, 700.0, 300.0])
            harmonics = sum(np.sin(k * phase) / k * np.exp(-((k * f0 - formant) / 400.0) ** 2)
                            for k in range(1, 30))
            envelope = np.sin(np.pi * np.arange(n) / n) ** 0.6 * rng.uniform(0.4, 1.0)
            start = int(t * rate)
            out[start:start + n] += (0.3 * envelope * harmonics).astype(np.float32)[: len(out) - start]
            t += length + rng.uniform(0.03, 0.08)
        t += rng.uniform(0.5, 0.8)
    return out


def real_speech_with_pauses(speaker: str = "2033", utterances: int = 2) -> Speech | None:
    """0.5 s silence + utterance + 0.8 s + utterance + 0.8 s, from ../shared (None where it is absent)."""
    files = sorted(SPEECH.glob(f"{speaker}-*.flac")) if SPEECH.is_dir() else []
    if len(files) < utterances:
        return None
    parts = [np.zeros(int(0.5 * SPEECH_RATE), np.float32)]
    for path in files[:utterances]:
        parts += [decode_audio(path.read_bytes(), 1 << 30, 600).samples, np.zeros(int(0.8 * SPEECH_RATE), np.float32)]
    return Speech(np.concatenate(parts))


def encode_audio(samples: np.ndarray, fmt: str, codec: str, rate: int = SPEECH_RATE, layout: str = "mono") -> bytes:
    """Encode float PCM in a container/codec with PyAV (for format tests)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        channels = 2 if layout == "stereo" else 1
        pcm = np.tile(samples.astype(np.float32), (channels, 1))
        sample_format = stream.codec_context.codec.audio_formats[0].name
        frame = av.AudioFrame.from_ndarray(pcm if "p" in sample_format else pcm.T.reshape(1, -1).copy(),
                                           format="fltp" if "p" in sample_format else "flt", layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        for converted in resampler.resample(frame):
            for packet in stream.encode(converted):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
