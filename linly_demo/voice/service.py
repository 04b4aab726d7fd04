"""Voice operations with their checks: consent-first enrollment, token-bound synthesis, erase; plain TTS.

Guarantees: without consent exactly true nothing is decoded, stored or audited beyond "refused: no consent";
sample uploads are deleted at once whatever happens (decoded in memory only); synthesis with a voice needs a
valid portrait token AND a voiceprint with consent on record AND its passphrase, each failure a distinct
PermissionError and an audit event; every audit line is de-identified (no handle, passphrase or embedding).
Never imports portrait modules.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from linly_demo.audio import SPEECH_RATE, Speech, decode_audio, speech_with_rest
from linly_demo.audit import AuditLog
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.errors import AudioTooLarge, ConsentRequired, LinlyError, VoiceInputRejected
from linly_demo.voice.conversion import FIT_TEXT, VoiceConverter, fit_codebook, to_rate
from linly_demo.voice.encoder import SpeakerEncoder
from linly_demo.voice.pace import detected_speech_seconds
from linly_demo.voice.store import CONSENT_STATEMENT_VERSION, Voiceprint, VoiceStore, check_passphrase, normalise_handle
from linly_demo.voice.tts import Phoneme, Speaker

MIN_SPEECH_SECONDS = 5.0
MAX_SAMPLE_SECONDS = 60.0


class TokenChecker(Protocol):
    def resolve(self, token: str, subject: str | None = None) -> object: ...


@dataclass(frozen=True)
class SpokenText:
    """Speech for the renderer (16 kHz) with the phoneme timing eSpeak reported (seconds, same timeline)."""

    speech: Speech
    phonemes: tuple[Phoneme, ...]
    language: str
    voice: str  # "tts" or "enrolled"


@dataclass(frozen=True)
class Enrollment:
    """The outcome shown to the user: how much speech was used, and how alike the samples and a test sentence
    sound, spoken plainly and in the enrolled voice (speaker-encoder cosine similarity, measured, not fitted)."""

    speech_seconds: float
    similarity_plain: float
    similarity_converted: float


class VoiceService:
    """Text to speech and the voice-cloning operations; models load on first use and are shared."""

    def __init__(self, settings: Settings, audit: AuditLog, ephemeral: EphemeralRoot, store: VoiceStore,
                 tokens: TokenChecker | None = None) -> None:
        self._settings = settings
        self._audit = audit
        self._ephemeral = ephemeral
        self.store = store
        self._tokens = tokens

    def speak(self, text: str, language: str = "en") -> SpokenText:
        """Plain TTS (no voiceprint involved)."""
        spoken = Speaker().speak(text, language)
        return SpokenText(speech_with_rest(spoken.samples, spoken.sample_rate), spoken.phonemes, language, "tts")

    def enroll(self, consent: object, handle: str, passphrase: str, samples: Sequence[bytes | str | os.PathLike[str]],
               subject: str | None = None) -> Enrollment:
        """Enroll a voice; `samples` are upload bytes or upload files inside the ephemeral root (always deleted)."""
        started = time.perf_counter()
        try:
            if consent is not True:
                self._audit.record("voice.enroll", "refused", subject, reason=ConsentRequired.code)
                raise ConsentRequired()
            normalise_handle(handle)
            check_passphrase(passphrase)
            if not samples:
                raise VoiceInputRejected("Please add at least one voice sample (upload or record).")
            waves = [self._decode(sample) for sample in samples]
        except ConsentRequired:
            raise
        except LinlyError as exc:
            self._audit.record("voice.enroll", "rejected", subject, reason=exc.code)
            raise
        finally:
            for sample in samples:
                if not isinstance(sample, bytes):
                    self._ephemeral.delete(sample)
        try:
            enrollment, voiceprint = self._fit(waves)
            self.store.save(handle, passphrase, voiceprint)
        except LinlyError as exc:
            self._audit.record("voice.enroll", "rejected", subject, reason=exc.code)
            raise
        finally:
            waves.clear()
        self._audit.record("voice.enrolled", "ok", subject, duration_s=time.perf_counter() - started)
        return enrollment

    def _decode(self, sample: bytes | str | os.PathLike[str]) -> np.ndarray:
        limit, seconds = self._settings.max_audio_bytes, MAX_SAMPLE_SECONDS
        data = sample if isinstance(sample, bytes) else self._ephemeral.consume(Path(sample), limit, AudioTooLarge)
        return decode_audio(data, limit, seconds).samples

    def _fit(self, waves: list[np.ndarray]) -> tuple[Enrollment, Voiceprint]:
        total = sum(len(w) for w in waves) / SPEECH_RATE
        if total > MAX_SAMPLE_SECONDS:
            raise VoiceInputRejected(
                f"The voice samples last {total:.0f} s together; at most {MAX_SAMPLE_SECONDS:.0f} s are accepted.")
        speech_seconds = sum(detected_speech_seconds(w) for w in waves)
        if speech_seconds < MIN_SPEECH_SECONDS:
            raise VoiceInputRejected(
                f"Only {speech_seconds:.1f} s of speech was detected in the samples; at least "
                f"{MIN_SPEECH_SECONDS:.0f} s are needed. Please add a longer recording.")
        speaker = Speaker()
        try:
            codebook = fit_codebook(waves, speaker)
        except ValueError:
            raise VoiceInputRejected("Too little voiced speech was found in the samples; please record a longer, "
                                     "clearer sample.") from None
        encoder = SpeakerEncoder()
        theirs = encoder.embed(waves)
        plain = float(encoder.embed([to_rate(speaker.speak(FIT_TEXT, "en"))]) @ theirs)
        _spoken, converted = VoiceConverter(codebook).speak(speaker, FIT_TEXT)
        now = time.time()
        voiceprint = Voiceprint(codebook, now, CONSENT_STATEMENT_VERSION, now)
        return Enrollment(speech_seconds, plain, float(encoder.embed([converted]) @ theirs)), voiceprint

    def synthesize(self, portrait_token: str, text: str, handle: str, passphrase: str, language: str = "en",
                   subject: str | None = None) -> SpokenText:
        """TTS in an enrolled voice, for a live portrait session only (double verification)."""
        if self._tokens is None:
            raise RuntimeError("synthesis with a voice needs the portrait token store")
        try:
            self._tokens.resolve(portrait_token, subject)
            voiceprint = self.store.load(handle, passphrase)
            if voiceprint.consent_statement_version < 1 or voiceprint.consent_given_at <= 0:
                raise ConsentRequired("No consent is on record for this voiceprint; it cannot be used.")
        except LinlyError as exc:
            self._audit.record("voice.synthesis", "refused", subject, reason=exc.code)
            raise
        spoken, samples = VoiceConverter(voiceprint.codebook).speak(Speaker(), text, language)
        self._audit.record("voice.synthesis", "ok", subject)
        return SpokenText(speech_with_rest(samples, SPEECH_RATE), spoken.phonemes, language, "enrolled")

    def erase(self, handle: str, passphrase: str, subject: str | None = None) -> None:
        """Delete the voiceprint (also how consent is withdrawn); needs the passphrase that opens it."""
        try:
            self.store.erase(handle, passphrase)
        except LinlyError as exc:
            self._audit.record("voice.erase", "refused", subject, reason=exc.code)
            raise
        self._audit.record("voice.erased", "ok", subject)

    withdraw_consent = erase
