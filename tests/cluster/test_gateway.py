"""The gateway's refusals that need no cluster: settings, Ray's folder, and what it accepts from its driver."""

from __future__ import annotations

import os
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from linly_demo.cluster.gateway import ClusterGateway, _loads
from linly_demo.config import Settings
from linly_demo.errors import ConfigError
from linly_demo.render.segments import Segment


@pytest.mark.parametrize(("env", "message"), [
    ({"LINLY_RAY_ADDRESS": "ray-head:6379"}, "LINLY_RAY_TOKEN_FILE"),
    ({"LINLY_RAY_ADDRESS": "ray://head:10001", "LINLY_RAY_TOKEN_FILE": "/t"}, "host:port"),
    ({"LINLY_RAY_ADDRESS": "head", "LINLY_RAY_TOKEN_FILE": "/t"}, "host:port"),
    ({"LINLY_RAY_ADDRESS": "head:99999", "LINLY_RAY_TOKEN_FILE": "/t"}, "host:port"),
    ({"LINLY_RAY_ADDRESS": "local", "LINLY_RAY_CHUNK_SECONDS": "0.1"}, "LINLY_RAY_CHUNK_SECONDS"),
    ({"LINLY_RAY_ADDRESS": "local", "LINLY_RAY_GPUS_PER_RENDER": "-1"}, "LINLY_RAY_GPUS_PER_RENDER"),
])
def test_cluster_settings_that_cannot_be_safe_refuse_to_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_cluster_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.ray_address is None  # in-process rendering, unchanged
    settings = Settings.from_env({"LINLY_RAY_ADDRESS": "10.0.0.5:6379", "LINLY_RAY_TOKEN_FILE": "/run/s/t"})
    assert settings.ray_address == "10.0.0.5:6379" and settings.ray_token_file == Path("/run/s/t")
    assert settings.ray_gpus_per_render is None and settings.ray_chunk_seconds == 4.0  # None: a GPU if any
    assert Settings.from_env({"LINLY_RAY_GPUS_PER_RENDER": "0.25"}).ray_gpus_per_render == 0.25
    assert str(settings.ray_temp_dir).startswith("/dev/shm/")


def test_ray_s_folder_on_disk_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings.from_env({"LINLY_RAY_ADDRESS": "local", "LINLY_RAY_TEMP_DIR": str(tmp_path / "ray")})
    with pytest.raises(ConfigError, match="not memory-backed"):
        ClusterGateway.start(settings)


def test_an_unreachable_cluster_refuses_to_start_at_once() -> None:
    folder = Path(f"/dev/shm/lrg-{os.getpid()}")  # nosec B108: tmpfs, as the check requires
    settings = Settings.from_env({"LINLY_RAY_ADDRESS": "127.0.0.1:9", "LINLY_RAY_TOKEN_FILE": "/nonexistent",
                                  "LINLY_RAY_TEMP_DIR": str(folder)})
    try:
        with pytest.raises(ConfigError, match="cannot be reached"):
            ClusterGateway.start(settings)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Boom:
    def __reduce__(self):
        return (os.system, ("true",))


def test_the_driver_s_messages_may_hold_segments_and_arrays_but_never_code() -> None:
    segment = Segment(0, 2, b"video", {1: np.zeros((4, 4, 3), np.uint8)})
    message = _loads(pickle.dumps(("done", "r1", [segment])))
    assert message[2][0].samples[1].shape == (4, 4, 3) and message[2][0].video == b"video"
    with pytest.raises(pickle.UnpicklingError):
        _loads(pickle.dumps(("done", "r1", _Boom())))


@pytest.mark.slow
@pytest.mark.cluster
def test_a_local_cluster_renders_the_same_frames_and_goes_away_with_the_app(astronaut: np.ndarray,
                                                                            portrait_models) -> None:
    from linly_demo.audio import Speech
    from linly_demo.portrait.pipeline import PortraitPipeline
    from linly_demo.render.driving import driving_from_speech
    from linly_demo.render.frames import render_frames
    from linly_demo.render.segments import RenderTemplate, SegmentSpec
    from tests.conftest import encode
    from tests.speech import synthetic_voice

    folder = Path(f"/dev/shm/lrl-{os.getpid()}")  # nosec B108: tmpfs, as the check requires
    settings = Settings.from_env({"LINLY_RAY_ADDRESS": "local", "LINLY_RAY_TEMP_DIR": str(folder),
                                  "LINLY_RAY_CHUNK_SECONDS": "1"})
    features = PortraitPipeline(settings, models=portrait_models).process_bytes(encode(astronaut))
    face = RenderTemplate(np.asarray(features.template), np.asarray(features.landmarks68))
    driving = driving_from_speech(Speech(synthetic_voice(3.0, seed=2)), 25, 4)
    gateway = ClusterGateway.start(settings)
    try:
        assert gateway.summary["nodes"] == 1 and folder.is_dir()
        assert gateway.summary["gpus_per_render"] == (1.0 if gateway.summary["gpus"] else 0.0)
        segments = gateway.render(face, driving, SegmentSpec(512, samples=(10, 60)), None)
        assert [s.start for s in segments] == [0, 25, 50] and sum(s.n_frames for s in segments) == 75
        here = np.concatenate(list(render_frames(face, driving)))
        assert all(np.array_equal(s.samples[i], here[i]) for s in segments for i in s.samples)
        driver = gateway._driver
        assert driver is not None
    finally:
        gateway.close()
    assert driver.process.poll() is not None and not folder.exists()  # the driver, its cluster, Ray's folder
    deadline = time.monotonic() + 30
    while _processes_naming(folder) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_naming(folder) == []  # no Ray process of that cluster is left


def _processes_naming(folder: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(folder).encode() in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except OSError:
            continue
    return found
