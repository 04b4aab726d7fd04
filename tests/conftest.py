"""Shared fixtures: real images, a fresh memory-backed ephemeral root per test, one model load per session."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image

from linly_demo.audit import AuditLog
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.portrait.pipeline import PortraitModels, PortraitPipeline

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "devdata"
FACES = SHARED / "faces"
SPEECH = SHARED / "speech"

# The deployment's C2PA signing key goes to the user's config directory by default; tests (and the servers they
# start, which inherit the environment) keep theirs in a folder of their own that goes with the session. Made when
# pytest starts, not at import: benchmarks import this module's helpers and must leave no folder behind.
_PROVENANCE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    _PROVENANCE.append(tempfile.mkdtemp(prefix="linly-test-provenance-"))
    os.environ.setdefault("LINLY_PROVENANCE_DIR", _PROVENANCE[-1])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for folder in _PROVENANCE:
        shutil.rmtree(folder, ignore_errors=True)


def encode(rgb: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture
def shared_faces() -> Path:
    if not FACES.is_dir():
        pytest.skip("../shared/devdata/faces is absent (it sits beside the repository on development machines)")
    return FACES


@pytest.fixture
def ephemeral_dir() -> Path:
    path = Path("/dev/shm") / f"linly-test-{secrets.token_hex(6)}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(ephemeral_dir: Path) -> Settings:
    return Settings.from_env({"LINLY_EPHEMERAL_DIR": str(ephemeral_dir)})


@pytest.fixture
def ephemeral(settings: Settings) -> EphemeralRoot:
    root = EphemeralRoot.from_settings(settings)
    yield root
    root.wipe()


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture(scope="session")
def portrait_models() -> PortraitModels:
    return PortraitModels.load(Settings.from_env({}), torch.device("cpu"))


@pytest.fixture
def pipeline(portrait_models: PortraitModels, settings: Settings, ephemeral: EphemeralRoot,
             audit_path: Path) -> PortraitPipeline:
    """A pipeline bound to this test's ephemeral root and audit file, sharing the session's loaded models."""
    return PortraitPipeline(settings, AuditLog(str(audit_path), b"k" * 32), ephemeral, models=portrait_models)


@pytest.fixture
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A private TMPDIR and HOME for this test, and the repository: the places a "writes nothing outside the
    ephemeral root" test watches. Private, so other jobs on a busy machine cannot make such a test fail."""
    tmp, home = tmp_path / "tmpdir", tmp_path / "home"
    tmp.mkdir()
    home.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return [tmp, home, REPO]


def files_under(*roots: Path) -> set[str]:
    found = set()
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            found.update(os.path.join(folder, name) for name in files)
    return found


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Client]]:
    """gradio_client Clients standing in for browsers. What they download (the aligned face, the video) and the
    scratch folders gradio_client makes for it go to a folder of this test's, deleted after it: not to
    /tmp/gradio, so the suite leaves no faces or videos on the machine."""
    with tempfile.TemporaryDirectory(prefix="linly-test-browser-") as folder:
        monkeypatch.setattr(tempfile, "tempdir", folder)
        yield lambda url: Client(url, verbose=False, download_files=folder)
