"""The encrypted voiceprint store: nothing readable without the passphrase, tamper-evident, atomic, kept apart."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from linly_demo.errors import ConfigError, VoiceInputRejected, VoiceLocked, VoiceNotFound
from linly_demo.voice.profile import VoiceProfile
from linly_demo.voice.store import MAGIC, NONCE_BYTES, SALT_BYTES, Voiceprint, VoiceStore
from tests.voice.conftest import PASSPHRASE


@pytest.fixture
def voiceprint() -> Voiceprint:
    embedding = np.random.default_rng(0).normal(size=256).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    return Voiceprint(embedding, VoiceProfile("m3", 2.0, 1.1, 0.95, -3.0, 0.2), time.time(), 1, time.time())


def test_a_record_holds_neither_handle_nor_embedding_and_opens_only_with_the_passphrase(
        tmp_path: Path, voiceprint: Voiceprint) -> None:
    store = VoiceStore(tmp_path / "voices")
    before = set(os.listdir(store.root))
    path = store.save("Ada Lovelace", PASSPHRASE, voiceprint)

    assert set(os.listdir(store.root)) - before == {path.name}
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    for needle in (b"ada", b"Ada", b"lovelace", "Ada Lovelace".encode("utf-16-le")):
        assert needle.lower() not in data.lower() and needle not in path.name.encode()
    assert voiceprint.embedding.tobytes()[:16] not in data
    assert voiceprint.embedding.astype("<f8").tobytes()[:16] not in data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(store.root.stat().st_mode) == 0o700

    loaded = store.load("  ada lovelace ", PASSPHRASE)  # handles are case- and space-insensitive
    assert np.array_equal(loaded.embedding, voiceprint.embedding) and loaded.profile == voiceprint.profile
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
    newer = Voiceprint(voiceprint.embedding, VoiceProfile(), time.time(), 1, time.time())
    with pytest.raises(OSError):
        store.save("ada", PASSPHRASE, newer)
    assert path.read_bytes() == old
    assert sorted(p.name for p in store.root.iterdir()) == sorted([path.name, "record-names.key"])


def test_names_are_stable_across_restarts_and_unknown_handles_are_not_found(tmp_path: Path,
                                                                            voiceprint: Voiceprint) -> None:
    VoiceStore(tmp_path / "voices").save("ada", PASSPHRASE, voiceprint)
    reopened = VoiceStore(tmp_path / "voices")
    assert reopened.load("ada", PASSPHRASE).profile == voiceprint.profile
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
