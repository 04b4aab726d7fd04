"""Consent first, double verification, erase: the voice-cloning flow end to end with real models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from linly_demo.audio import REST_SECONDS, SPEECH_RATE
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.errors import (
    ConsentRequired,
    ExpiredToken,
    ForgedToken,
    RevokedToken,
    TokenError,
    VoiceInputRejected,
    VoiceLocked,
    VoiceNotFound,
)
from linly_demo.tokens import TokenStore
from linly_demo.voice.encoder import SpeakerEncoder
from linly_demo.voice.service import VoiceService
from tests.speech import encode_audio
from tests.voice.conftest import HELD_OUT_TEXT, PASSPHRASE

pytestmark = pytest.mark.slow


def audit_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("consent", [False, None, "true", 1, "yes"])
def test_without_consent_nothing_is_decoded_stored_or_kept(voices: VoiceService, ephemeral: EphemeralRoot,
                                                           sample_flacs: list[bytes], audit_path: Path,
                                                           consent: object) -> None:
    uploads = [ephemeral.write_bytes(data, ".flac") for data in sample_flacs]
    with pytest.raises(ConsentRequired) as refused:
        voices.enroll(consent, "ada", PASSPHRASE, uploads, subject="session-1")
    assert isinstance(refused.value, PermissionError)
    assert voices.store.records() == [] and ephemeral.entries() == []
    lines = audit_lines(audit_path)
    assert [(line["event"], line["outcome"], line.get("reason")) for line in lines] == [
        ("voice.enroll", "refused", "no_consent")]


@pytest.mark.parametrize("case", ["too_little_speech", "too_long", "corrupt", "no_samples"])
def test_unusable_samples_are_rejected_and_deleted(voices: VoiceService, ephemeral: EphemeralRoot,
                                                   samples: list[np.ndarray], case: str) -> None:
    data = {
        "too_little_speech": [encode_audio(samples[0][: 3 * SPEECH_RATE], "flac", "flac")],
        "too_long": [encode_audio(np.resize(samples[0], 70 * SPEECH_RATE), "flac", "flac")],
        "corrupt": [b"fLaC" + bytes(500)],
        "no_samples": [],
    }[case]
    uploads = [ephemeral.write_bytes(d, ".bin") for d in data]
    with pytest.raises(VoiceInputRejected.__mro__[1]):  # InputRejected
        voices.enroll(True, "ada", PASSPHRASE, uploads)
    assert voices.store.records() == [] and ephemeral.entries() == []


def test_enroll_synthesize_and_erase(voices: VoiceService, tokens: TokenStore, ephemeral: EphemeralRoot,
                                     sample_flacs: list[bytes], samples: list[np.ndarray], audit_path: Path,
                                     clock) -> None:
    uploads = [ephemeral.write_bytes(data, ".flac") for data in sample_flacs]
    result = voices.enroll(True, "Ada", PASSPHRASE, uploads, subject="session-1")
    assert ephemeral.entries() == [] and len(voices.store.records()) == 1
    assert result.speech_seconds >= 5 and result.similarity_converted > result.similarity_plain

    token = tokens.issue(object(), subject="session-1")
    # Each check fails on its own, with its own error.
    with pytest.raises(ForgedToken):
        voices.synthesize(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), HELD_OUT_TEXT, "ada", PASSPHRASE)
    with pytest.raises(VoiceLocked):
        voices.synthesize(token, HELD_OUT_TEXT, "ada", "not the passphrase")
    with pytest.raises(VoiceNotFound):
        voices.synthesize(token, HELD_OUT_TEXT, "grace", PASSPHRASE)

    spoken = voices.synthesize(token, HELD_OUT_TEXT, "ada", PASSPHRASE, subject="session-1")
    assert spoken.voice == "enrolled" and spoken.speech.sample_rate == SPEECH_RATE and len(spoken.phonemes) > 20
    encoder = SpeakerEncoder()
    held_out = encoder.embed([samples[3]])  # an utterance that was not enrolled
    plain = voices.speak(HELD_OUT_TEXT)
    assert abs(plain.speech.duration - spoken.speech.duration) < 0.6 * plain.speech.duration
    rest = int(REST_SECONDS * SPEECH_RATE)  # both end in silence, for the face to come to rest after the last word
    assert not plain.speech.samples[-rest:].any() and not spoken.speech.samples[-rest:].any()
    assert plain.speech.samples[-rest - 800:-rest].any()
    # The phoneme timing belongs to the speech it came with: the last phoneme starts inside the converted audio.
    assert spoken.phonemes[-1].start < spoken.speech.duration
    assert encoder.embed([spoken.speech.samples]) @ held_out > encoder.embed([plain.speech.samples]) @ held_out

    tokens.revoke(token)
    with pytest.raises(RevokedToken):
        voices.synthesize(token, HELD_OUT_TEXT, "ada", PASSPHRASE)
    expiring = tokens.issue(object())
    clock.offset = 61.0
    with pytest.raises(ExpiredToken):
        voices.synthesize(expiring, HELD_OUT_TEXT, "ada", PASSPHRASE)

    with pytest.raises(VoiceLocked):
        voices.erase("ada", "not the passphrase")
    voices.erase("ada", PASSPHRASE, subject="session-1")
    assert voices.store.records() == []
    fresh = tokens.issue(object())
    with pytest.raises(VoiceNotFound):
        voices.synthesize(fresh, HELD_OUT_TEXT, "ada", PASSPHRASE)

    text = audit_path.read_text()
    for secret in ("Ada", "ada\"", PASSPHRASE, "session-1", HELD_OUT_TEXT[:20]):
        assert secret not in text
    events = [(line["event"], line["outcome"], line.get("reason")) for line in audit_lines(audit_path)]
    assert ("voice.enrolled", "ok", None) in events and ("voice.erased", "ok", None) in events
    for reason in ("token_forged", "voice_locked", "voice_not_found", "token_revoked", "token_expired"):
        assert ("voice.synthesis", "refused", reason) in events


def test_tokens_are_permission_errors() -> None:
    assert issubclass(TokenError, PermissionError) and issubclass(VoiceLocked, PermissionError)
    assert issubclass(ConsentRequired, PermissionError) and issubclass(VoiceNotFound, PermissionError)
