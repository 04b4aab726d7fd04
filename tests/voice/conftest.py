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
from linly_demo.voice.profile import VoiceProfile, convert
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
    disguise = VoiceProfile("f4", f0_shift_semitones=-3.0, formant_scale=0.93, tilt_db_per_octave=-4.0,
                            breathiness=0.5)
    sentences = ["Once upon a time there was a quiet village by the sea.",
                 "Every morning the fishermen went out before the sun rose over the hills.",
                 "The children played on the sand and collected shells until the evening.",
                 "Nobody there had ever seen a city, and nobody wanted to."]
    return [convert(Speaker().speak(s, "en", variant="f4"), disguise) for s in sentences]


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
