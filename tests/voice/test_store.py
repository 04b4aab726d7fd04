"""The encrypted voiceprint store: nothing readable without the passphrase, tamper-evident, atomic, kept apart."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linly_demo.errors import ConfigError, VoiceInputRejected, VoiceLocked, VoiceNotFound, VoiceOutdated
from linly_demo.voice.conversion import CEPSTRUM_DIMS, VoiceCodebook
from linly_demo.voice.store import MAGIC, NONCE_BYTES, SALT_BYTES, Voiceprint, VoiceStore, _derive
from tests.voice.conftest import PASSPHRASE


def codebook(frames: int = 300, warp: float = 1.1) -> VoiceCodebook:
    """A codebook of the right shape (the store only keeps it; conversion tests fit real ones)."""
    grid = np.linspace(-1.0, 1.0, frames * CEPSTRUM_DIMS, dtype=np.float32).reshape(frames, CEPSTRUM_DIMS)
    return VoiceCodebook("m1", 140, (4.6, 0.1), (5.1, 0.2), warp, np.linspace(0, 0.5, CEPSTRUM_DIMS),
                         np.sin(7 * grid), np.cos(grid[:, :1]) * 0.5)


@pytest.fixture
def voiceprint() -> Voiceprint:
    return Voiceprint(codebook(), time.time(), 2, time.time())


def test_a_record_holds_neither_handle_nor_voice_and_opens_only_with_the_passphrase(
        tmp_path: Path, voiceprint: Voiceprint) -> None:
    store = VoiceStore(tmp_path / "voices")
    before = set(os.listdir(store.root))
    path = store.save("Ada Lovelace", PASSPHRASE, voiceprint)

    assert set(os.listdir(store.root)) - before == {path.name}
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    # The name is the store's keyed digest and nothing else (hex, so short words like "ada" may occur in it by
    # chance); the record holds the handle in no encoding. Needles are 8+ bytes so random ciphertext cannot hold one.
    assert re.fullmatch(r"[0-9a-f]{40}\.voice", path.name)
    assert path.name != store.record_path("Ada").name
    for handle in ("Ada Lovelace", "ada lovelace", "Lovelace"):
        for needle in (handle.encode(), handle.encode("utf-16-le"), handle.encode("utf-16-be")):
            assert needle not in data and needle.lower() not in data.lower()
    frames = voiceprint.codebook.cepstra
    for encoded in (frames.astype("<f2"), frames.astype("<f4"), frames.astype("<f8")):
        assert encoded.tobytes()[:16] not in data
    assert b"cepstra" not in data and b"codebook" not in data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(store.root.stat().st_mode) == 0o700

    loaded = store.load("  ada lovelace ", PASSPHRASE)  # handles are case- and space-insensitive
    assert loaded.codebook == voiceprint.codebook and loaded.consent_statement_version == 2
    assert np.array_equal(loaded.codebook.cepstra, voiceprint.codebook.cepstra.astype("<f2").astype(np.float32))
    with pytest.raises(VoiceLocked, match="passphrase is wrong"):
        store.load("Ada Lovelace", PASSPHRASE + "!")


def test_every_flipped_byte_fails_to_decrypt(tmp_path: Path, voiceprint: Voiceprint) -> None:
    store = VoiceStore(tmp_path / "voices")
    path = store.save("ada", PASSPHRASE, voiceprint)
    original = path.read_bytes()
    header = len(MAGIC) + SALT_BYTES + NONCE_BYTES
    positions = [0, len(MAGIC), len(MAGIC) + SALT_BYTES, header, header + 100, len(original) - 1]
    for position in positions:
        damaged = bytearray(original)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(VoiceLocked):
            store.load("ada", PASSPHRASE)
    path.write_bytes(original[:-5])
    with pytest.raises(VoiceLocked):
        store.load("ada", PASSPHRASE)


def test_a_record_copied_over_another_handle_does_not_open(tmp_path: Path, voiceprint: Voiceprint) -> None:
    store = VoiceStore(tmp_path / "voices")
    mine = store.save("mine", PASSPHRASE, voiceprint)
    store.record_path("theirs").write_bytes(mine.read_bytes())
    with pytest.raises(VoiceLocked):
        store.load("theirs", PASSPHRASE)


def test_a_crash_mid_write_leaves_the_old_record(tmp_path: Path, voiceprint: Voiceprint,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = VoiceStore(tmp_path / "voices")
    path = store.save("ada", PASSPHRASE, voiceprint)
    old = path.read_bytes()

    def crash(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    newer = Voiceprint(codebook(warp=0.9), time.time(), 2, time.time())
    with pytest.raises(OSError):
        store.save("ada", PASSPHRASE, newer)
    assert path.read_bytes() == old
    assert sorted(p.name for p in store.root.iterdir()) == sorted([path.name, "record-names.key"])


def test_names_are_stable_across_restarts_and_unknown_handles_are_not_found(tmp_path: Path,
                                                                            voiceprint: Voiceprint) -> None:
    VoiceStore(tmp_path / "voices").save("ada", PASSPHRASE, voiceprint)
    reopened = VoiceStore(tmp_path / "voices")
    assert reopened.load("ada", PASSPHRASE).codebook == voiceprint.codebook
    with pytest.raises(VoiceNotFound):
        reopened.load("grace", PASSPHRASE)


def test_erase_needs_the_passphrase(tmp_path: Path, voiceprint: Voiceprint) -> None:
    store = VoiceStore(tmp_path / "voices")
    path = store.save("ada", PASSPHRASE, voiceprint)
    with pytest.raises(VoiceLocked):
        store.erase("ada", "wrong passphrase here")
    assert path.exists()
    store.erase("ada", PASSPHRASE)
    assert not path.exists() and store.records() == []


@pytest.mark.parametrize("handle,passphrase", [("", PASSPHRASE), ("x" * 65, PASSPHRASE), ("ada", "short")])
def test_bad_handles_and_short_passphrases_are_rejected(tmp_path: Path, voiceprint: Voiceprint, handle: str,
                                                        passphrase: str) -> None:
    store = VoiceStore(tmp_path / "voices")
    with pytest.raises(VoiceInputRejected):
        store.save(handle, passphrase, voiceprint)
    assert store.records() == []


def test_the_store_refuses_to_overlap_the_ephemeral_root(tmp_path: Path) -> None:
    ephemeral = tmp_path / "shm"
    with pytest.raises(ConfigError, match="must not overlap"):
        VoiceStore(ephemeral / "voices", ephemeral)
    with pytest.raises(ConfigError, match="must not overlap"):
        VoiceStore(tmp_path, ephemeral)
    VoiceStore(tmp_path / "voices", ephemeral)  # beside it is fine


def _version_one_record(store: VoiceStore, handle: str) -> Path:
    """A record as the first format wrote it (embedding + voice-filter settings, header LVP1)."""
    import json
    import secrets

    path = store.record_path(handle)
    salt, nonce = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(NONCE_BYTES)
    content = json.dumps({"embedding": [0.0625] * 256, "profile": {"variant": "m3"},
                          "consent": {"given_at": 1.0, "statement_version": 1}, "created_at": 1.0}).encode()
    sealed = AESGCM(_derive(PASSPHRASE.encode(), salt)).encrypt(
        nonce, content, b"linly-voiceprint|1|" + path.name.encode())
    path.write_bytes(b"LVP1" + salt + nonce + sealed)
    return path


def test_a_record_of_the_first_format_is_refused_with_a_plain_message_and_can_be_erased(tmp_path: Path) -> None:
    store = VoiceStore(tmp_path / "voices")
    path = _version_one_record(store, "ada")
    with pytest.raises(VoiceOutdated, match="enroll again"):
        store.load("ada", PASSPHRASE)
    with pytest.raises(VoiceLocked):
        store.load("ada", "wrong passphrase here")
    with pytest.raises(VoiceLocked):
        store.erase("ada", "wrong passphrase here")
    store.erase("ada", PASSPHRASE)
    assert not path.exists() and store.records() == []


def test_a_record_that_decrypts_but_does_not_parse_is_locked(tmp_path: Path, voiceprint: Voiceprint) -> None:
    store = VoiceStore(tmp_path / "voices")
    path = store.record_path("ada")
    salt, nonce = b"s" * SALT_BYTES, b"n" * NONCE_BYTES
    content = voiceprint.to_bytes().replace(b'"version": 1', b'"version": 9')
    sealed = AESGCM(_derive(PASSPHRASE.encode(), salt)).encrypt(nonce, content,
                                                                 b"linly-voiceprint|2|" + path.name.encode())
    path.write_bytes(MAGIC + salt + nonce + sealed)
    with pytest.raises(VoiceLocked):
        store.load("ada", PASSPHRASE)
