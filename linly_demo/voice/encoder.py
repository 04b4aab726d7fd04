"""resemblyzer's pretrained speaker encoder (weights ship in its wheel): how alike two voices sound.

Used to tell a user how close their enrolled voice comes to their samples, and by the benchmark; never to fit
the conversion (that would optimise the measure instead of the voice). Loaded once per process, thread-safe.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

RATE = 16_000


class SpeakerEncoder:
    """256-d speaker embeddings of 16 kHz speech."""

    _lock = threading.Lock()
    _encoder: Any = None

    def __init__(self) -> None:
        with SpeakerEncoder._lock:
            if SpeakerEncoder._encoder is None:
                from resemblyzer import VoiceEncoder  # deferred: torch + librosa + weights, enrollment only

                SpeakerEncoder._encoder = VoiceEncoder("cpu", verbose=False)

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """L2-normalised 256-d embedding of one or more 16 kHz clips of one speaker."""
        from resemblyzer import preprocess_wav  # deferred, as in __init__

        prepared = [preprocess_wav(np.asarray(w, np.float32), RATE) for w in waves]
        prepared = [w for w in prepared if len(w) > RATE // 2] or [np.asarray(waves[0], np.float32)]
        with SpeakerEncoder._lock:
            embedding = SpeakerEncoder._encoder.embed_speaker(prepared)
        return (embedding / np.linalg.norm(embedding)).astype(np.float32)
