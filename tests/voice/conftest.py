"""Voice fixtures: enrollment samples (real speakers from ../shared, else a disguised TTS voice) and services."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from linly_demo.audio import SPEECH_RATE, decode_audio
from linly_demo.audit import AuditLog
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.tokens import TokenStore
from linly_demo.voice.conversion import RATE, analyse, to_rate
from linly_demo.voice.service import VoiceService
from linly_demo.voice.store import VoiceStore
from linly_demo.voice.tts import Speaker
from tests.conftest import SPEECH
from tests.speech import encode_audio

PASSPHRASE = "correct horse battery staple"
HELD_OUT_TEXT = "I would like to tell you about the little town where I grew up, many years ago."


def speaker_samples(speaker: str = "1688") -> list[np.ndarray]:
    """Four utterances of one real speaker, or (without ../shared) four sentences of a disguised TTS voice."""
    files = sorted(SPEECH.glob(f"{speaker}-*.flac")) if SPEECH.is_dir() else []
    if files:
        return [decode_audio(f.read_bytes(), 1 << 30, 600).samples for f in files]
    sentences = ["Once upon a time there was a quiet village by the sea.",
                 "Every morning the fishermen went out before the sun rose over the hills.",
                 "The children played on the sand and collected shells until the evening.",
                 "Nobody there had ever seen a city, and nobody wanted to."]
    return [disguised(to_rate(Speaker().speak(s, "en", variant="f4"))) for s in sentences]


def disguised(samples: np.ndarray) -> np.ndarray:
    """A TTS voice made into another "speaker" with WORLD: pitch 3 semitones down and wider, formants 7% lower,
    a darker tilt and more breath."""
    import pyworld

    frames = analyse(samples)
    f0 = frames.f0.copy()
    voiced = f0 > 0
    centre = np.log(f0[voiced]).mean()
    f0[voiced] = np.exp(centre - 3 * np.log(2) / 12 + 1.6 * (np.log(f0[voiced]) - centre))
    freqs = np.linspace(0, RATE / 2, frames.envelope.shape[1])
    envelope = np.stack([np.interp(freqs / 0.93, freqs, row) for row in frames.envelope])
    envelope *= 10 ** (-4.0 * np.log2(np.maximum(freqs, 62.5) / 1000.0) / 10)[None, :]
    aperiodicity = frames.aperiodicity + 0.25 * (1.0 - frames.aperiodicity)
    out = pyworld.synthesize(f0, envelope, aperiodicity, RATE, 5.0)[:len(samples)]
    return (out / np.max(np.abs(out)) * 0.9).astype(np.float32)


@pytest.fixture(scope="session")
def samples() -> list[np.ndarray]:
    return speaker_samples()


@pytest.fixture
def sample_flacs(samples: list[np.ndarray]) -> list[bytes]:
    return [encode_audio(s, "flac", "flac", SPEECH_RATE) for s in samples[:3]]


@pytest.fixture
def voice_store_dir(tmp_path: Path) -> Path:
    return tmp_path / "voices"


class Clock:
    """A clock tests can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(audit_path: Path, clock: Clock) -> TokenStore:
    return TokenStore(b"t" * 32, 60, AuditLog(str(audit_path), b"k" * 32), clock=clock)


@pytest.fixture
def voices(settings: Settings, ephemeral: EphemeralRoot, voice_store_dir: Path, audit_path: Path,
           tokens: TokenStore) -> VoiceService:
    store = VoiceStore(voice_store_dir, ephemeral.path)
    return VoiceService(settings, AuditLog(str(audit_path), b"k" * 32), ephemeral, store, tokens)
