"""Every failure while encoding ends in bounded time with a plain error and no partial file."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import linly_demo.video as video_module
from linly_demo.audio import Speech
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.errors import RenderTimedOut, ServerBusy
from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.render.pipeline import render_video
from linly_demo.video import encode_video

BOUND_S = 20.0


def noise_frames(count: int, side: int = 256, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield rng.integers(0, 256, (1, side, side, 3), dtype=np.uint8)


def within_bound(call) -> BaseException | None:
    """Run `call` on a thread; fail the test if it has not ended within BOUND_S; return what it raised."""
    raised: list[BaseException | None] = [None]

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed back to the test
            raised[0] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND_S)
    assert not worker.is_alive(), "the encode did not end"
    return raised[0]


class _ContainerFailingAtClose:
    """A stand-in for PyAV's container whose closing write (the moov atom) hits a full disk."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def add_stream(self, *args, **kwargs):
        class Stream:
            def encode(self, frame):
                return []

        return Stream()

    def mux(self, packets) -> None:
        pass


def test_an_encoder_failing_after_the_last_frame_ends_the_render(monkeypatch: pytest.MonkeyPatch,
                                                                  ephemeral: EphemeralRoot) -> None:
    monkeypatch.setattr(video_module.av, "open", _ContainerFailingAtClose)
    speech = Speech(np.zeros(16000, np.float32))
    raised = within_bound(lambda: encode_video(noise_frames(5, 64), speech, ephemeral, size=64))
    assert isinstance(raised, ServerBusy)
    assert ephemeral.entries() == []


def test_a_frame_source_that_fails_ends_the_encode_and_leaves_nothing(ephemeral: EphemeralRoot) -> None:
    def failing():
        yield from noise_frames(3, 64)
        raise RuntimeError("renderer broke")

    raised = within_bound(lambda: encode_video(failing(), Speech(np.zeros(16000, np.float32)), ephemeral, size=64))
    assert isinstance(raised, RuntimeError)
    assert ephemeral.entries() == []


def test_a_render_past_its_time_limit_stops_and_leaves_nothing(astronaut_features: PortraitFeatures,
                                                               speech: Speech, ephemeral: EphemeralRoot) -> None:
    raised = within_bound(lambda: render_video(astronaut_features, speech, ephemeral, timeout_s=0.05))
    assert isinstance(raised, RenderTimedOut)
    assert ephemeral.entries() == []


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 2 MB tmpfs (root only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = Path("/dev/shm") / f"linly-small-{secrets.token_hex(4)}"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
                            capture_output=True)
    if result.returncode != 0:
        mount_point.rmdir()
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)
    mount_point.rmdir()


@pytest.mark.namespaces
def test_a_full_ephemeral_root_while_encoding_is_server_busy_with_no_partial_file(small_tmpfs: Path) -> None:
    root = EphemeralRoot.from_settings(Settings.from_env({"LINLY_EPHEMERAL_DIR": str(small_tmpfs / "root")}))
    speech = Speech(np.zeros(16000 * 8, np.float32))
    raised = within_bound(lambda: encode_video(noise_frames(200), speech, root, size=256, crf=0))
    assert isinstance(raised, ServerBusy)
    assert root.entries() == []
