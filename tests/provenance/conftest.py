"""Provenance fixtures: a small MP4 made in memory, and this test session's deployment."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.watermark_bench import decode, encode
from linly_demo.audit import AuditLog
from linly_demo.provenance.identity import SigningIdentity, generate_identity
from linly_demo.provenance.service import Provenance


def mp4_of(frames, fps: int = 25, crf: int = 20) -> bytes:
    """H.264 MP4 bytes of uint8 RGB frames (the benchmark's encoder)."""
    return encode(list(frames), fps, crf)


def frames_of(data: bytes) -> list[np.ndarray]:
    return decode(data)


@pytest.fixture(scope="session")
def identity() -> SigningIdentity:
    return generate_identity("memory")


@pytest.fixture
def provenance(identity: SigningIdentity, tmp_path) -> Provenance:
    return Provenance(identity, AuditLog(str(tmp_path / "audit.jsonl"), b"k" * 32))
