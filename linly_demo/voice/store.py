"""The encrypted voiceprint store: one file per voice, apart from everything portrait-related.

Guarantees: a record's name is a keyed hash of the handle (the handle is never stored in clear); its content is
AES-256-GCM with a key derived from the user's passphrase by scrypt (n=2^17, r=8: about 0.35 s here), with a
random salt and nonce, and associated data binding the format version and the record name (a record renamed or
copied over another fails to open); the server never stores a passphrase or a derived key; writes are atomic
(temp file in the same folder, fsync, rename, fsync of the folder), so a crash leaves the old record or none;
the store refuses to live inside (or around) the ephemeral root. Never imports portrait modules.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from linly_demo.ephemeral import within
from linly_demo.errors import ConfigError, VoiceInputRejected, VoiceLocked, VoiceNotFound, VoiceOutdated
from linly_demo.private_files import fsync_folder, write_private
from linly_demo.voice.conversion import VoiceCodebook

MAGICS = {b"LVP1": 1, b"LVP2": 2}  # record header -> format version
FORMAT_VERSION = 2  # 1: embedding + voice-filter settings (still opens to be erased); 2: conversion codebook
MAGIC = b"LVP2"
SALT_BYTES, NONCE_BYTES = 16, 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
MIN_PASSPHRASE_CHARS = 10
MAX_HANDLE_CHARS = 64
RECORD_SUFFIX = ".voice"
NAME_KEY_FILE = "record-names.key"
CONSENT_STATEMENT_VERSION = 2  # the statement that names the conversion codebook as what is stored


@dataclass(frozen=True)
class Voiceprint:
    """What is kept of an enrolled voice: the conversion codebook (the speaker's own spectral frames, F0
    statistics, pace) and the consent that allowed it. Nothing else: no samples, no embedding, no handle."""

    codebook: VoiceCodebook
    consent_given_at: float  # unix time
    consent_statement_version: int
    created_at: float

    def to_bytes(self) -> bytes:
        return json.dumps({
            "codebook": self.codebook.to_dict(),
            "consent": {"given_at": self.consent_given_at, "statement_version": self.consent_statement_version},
            "created_at": self.created_at,
        }).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Voiceprint:
        """Raises VoiceLocked for a record that decrypts but does not parse (nothing is guessed)."""
        try:
            record = json.loads(data)
            return cls(VoiceCodebook.from_dict(record["codebook"]), float(record["consent"]["given_at"]),
                       int(record["consent"]["statement_version"]), float(record["created_at"]))
        except (ValueError, KeyError, TypeError):
            raise VoiceLocked() from None


def normalise_handle(handle: str) -> str:
    """The canonical handle (NFKC, trimmed, case-folded); raises VoiceInputRejected for an unusable one."""
    canonical = unicodedata.normalize("NFKC", handle or "").strip().casefold()
    if not canonical:
        raise VoiceInputRejected("Please choose a voice handle (a name for your voice).")
    if len(canonical) > MAX_HANDLE_CHARS or not canonical.isprintable():
        raise VoiceInputRejected(f"The voice handle must be at most {MAX_HANDLE_CHARS} printable characters.")
    return canonical


def check_passphrase(passphrase: str) -> bytes:
    if not passphrase or len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise VoiceInputRejected(f"The passphrase must be at least {MIN_PASSPHRASE_CHARS} characters long.")
    return unicodedata.normalize("NFKC", passphrase).encode()


def _derive(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)


class VoiceStore:
    """Encrypted voiceprint records under one folder (0700, files 0600)."""

    def __init__(self, root: Path, ephemeral_root: Path | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        if ephemeral_root is not None:
            _refuse_overlap(self.root, Path(os.path.abspath(ephemeral_root)))
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
        except OSError as exc:
            raise ConfigError(f"LINLY_VOICE_STORE cannot be created or secured: {exc.strerror}.") from None
        self._name_key = self._load_name_key()

    def _load_name_key(self) -> bytes:
        """The store's own random key for record names (so names reveal nothing about handles)."""
        path = self.root / NAME_KEY_FILE
        if not path.exists():
            write_private(path, secrets.token_bytes(32))
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigError("The voice store's record-name key is damaged; restore it or start a new store.")
        return key

    def record_path(self, handle: str) -> Path:
        digest = hmac.new(self._name_key, normalise_handle(handle).encode(), hashlib.sha256).hexdigest()
        return self.root / f"{digest[:40]}{RECORD_SUFFIX}"

    def records(self) -> list[Path]:
        return sorted(self.root.glob(f"*{RECORD_SUFFIX}"))

    def exists(self, handle: str) -> bool:
        return self.record_path(handle).exists()

    def save(self, handle: str, passphrase: str, voiceprint: Voiceprint) -> Path:
        """Encrypt and write (replacing any record under this handle) atomically."""
        secret = check_passphrase(passphrase)
        path = self.record_path(handle)
        salt, nonce = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(_derive(secret, salt)).encrypt(nonce, voiceprint.to_bytes(), _associated(path, FORMAT_VERSION))
        write_private(path, MAGIC + salt + nonce + sealed)
        return path

    def load(self, handle: str, passphrase: str) -> Voiceprint:
        """Decrypt the record; VoiceNotFound without one, VoiceLocked for a wrong passphrase or altered bytes,
        VoiceOutdated for a record of an earlier format (it opens, but holds nothing today's voice can use)."""
        version, plain = self._open(handle, passphrase)
        if version != FORMAT_VERSION:
            raise VoiceOutdated()
        return Voiceprint.from_bytes(plain)

    def _open(self, handle: str, passphrase: str) -> tuple[int, bytes]:
        """The record's format version and decrypted content."""
        secret = check_passphrase(passphrase)
        path = self.record_path(handle)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise VoiceNotFound() from None
        version = MAGICS.get(data[:len(MAGIC)])
        header = len(MAGIC) + SALT_BYTES + NONCE_BYTES
        if version is None or len(data) <= header + 16:
            raise VoiceLocked()
        salt, nonce = data[len(MAGIC):len(MAGIC) + SALT_BYTES], data[len(MAGIC) + SALT_BYTES:header]
        try:
            return version, AESGCM(_derive(secret, salt)).decrypt(nonce, data[header:], _associated(path, version))
        except InvalidTag:
            raise VoiceLocked() from None

    def erase(self, handle: str, passphrase: str) -> None:
        """Remove the record after proving the passphrase opens it (nobody erases another's voice by guessing);
        records of every format version can be erased."""
        self._open(handle, passphrase)
        path = self.record_path(handle)
        path.unlink(missing_ok=True)
        fsync_folder(self.root)


def _associated(path: Path, version: int) -> bytes:
    return b"linly-voiceprint|%d|%s" % (version, path.name.encode())


def _refuse_overlap(store: Path, ephemeral: Path) -> None:
    if within(store, ephemeral) or within(ephemeral, store):
        raise ConfigError("LINLY_VOICE_STORE must not overlap the ephemeral root (LINLY_EPHEMERAL_DIR): "
                          "voiceprints are kept apart from portrait data.")
