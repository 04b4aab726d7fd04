"""Renders on a real local Ray cluster (head + 2 worker nodes, token auth): the same frames as in-process, only
the template, its landmarks, driving chunks and the marking cross the wire, nothing lands on disk, a client
without the token runs nothing, and a worker node killed mid-render costs a retry, not the render."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from linly_demo.audio import Speech
from linly_demo.cluster import tasks
from linly_demo.cluster.tasks import RayRenderer
from linly_demo.config import Settings
from linly_demo.errors import RenderTimedOut
from linly_demo.portrait.pipeline import PortraitFeatures, PortraitPipeline
from linly_demo.provenance.marking import MarkSpec
from linly_demo.render.driving import CHANNELS, DrivingSignals, driving_from_speech
from linly_demo.render.frames import render_frames, warp_boxes
from linly_demo.render.segments import (
    DrivingChunk,
    RenderTemplate,
    Segment,
    SegmentSpec,
    chunk_bounds,
    chunk_of,
    mark_host,
    render_segment,
)
from linly_demo.render.warp import WarpBoxes
from tests.cluster.conftest import LocalCluster
from tests.conftest import encode
from tests.speech import synthetic_voice

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

SUBJECT, TOKEN, FILE_NAME = "session-subject-7f3a", "portrait-token-9c1e", "my-holiday-photo.jpg"
MAGICS = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"fLaC", b"OggS", b"ftypisom", b"ftypmp42", b"\x1aE\xdf\xa3")


@pytest.fixture(scope="module")
def upload(astronaut: np.ndarray) -> bytes:
    return encode(astronaut)


@pytest.fixture(scope="module")
def features(upload: bytes, portrait_models) -> PortraitFeatures:
    return PortraitPipeline(Settings.from_env({}), models=portrait_models).process_bytes(upload)


@pytest.fixture(scope="module")
def speech() -> Speech:
    return Speech(synthetic_voice(6.0, seed=4))


@pytest.fixture(scope="module")
def driver(ray_cluster: LocalCluster):
    import ray

    ray.init(address=ray_cluster.address, log_to_driver=False, logging_level="warning")
    tasks.warm_up(2)
    yield ray
    ray.shutdown()


def _job(features: PortraitFeatures, speech: Speech, seed: int = 3, chunk: int = 40):
    driving = driving_from_speech(speech, 25, seed)
    face = RenderTemplate(np.asarray(features.template), np.asarray(features.landmarks68))
    boxes = warp_boxes(face, driving)
    face = replace(face, mark_host=mark_host(face, driving, boxes))
    chunks = [chunk_of(driving, a, b, boxes) for a, b in chunk_bounds(driving.n_frames, chunk)]
    spec = SegmentSpec(512, mark=MarkSpec(0x2A2A, 0x01020304), samples=(0, 70, driving.n_frames - 1))
    return driving, face, chunks, spec


def objects_left(core, before: set, within_s: float = 15.0) -> set:
    """The object references the driver holds beyond `before`, once they are gone or `within_s` has passed: Ray
    releases a finished or cancelled task's objects asynchronously (well under a second on an idle machine, longer
    under load), so a fixed pause made these checks fail on a busy one."""
    deadline = time.monotonic() + within_s
    while (left := set(core.get_all_reference_counts()) - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_only_the_template_landmarks_driving_chunk_and_marking_cross_the_wire(
        driver, features: PortraitFeatures, speech: Speech, upload: bytes,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple] = []
    submit = tasks._submit

    def recording(face, chunk, spec, gpus):
        sent.append((driver.get(face), chunk, spec))
        return submit(face, chunk, spec, gpus)

    monkeypatch.setattr(tasks, "_submit", recording)
    driving, face, chunks, spec = _job(features, speech)
    segments = RayRenderer().render(face, chunks, spec, 120.0, "payload")
    assert [s.start for s in segments] == [c.start for c in chunks] and len(sent) == len(chunks)

    size = features.template.shape[0]
    secrets_ = [upload[:64], upload[len(upload) // 2:len(upload) // 2 + 64], features.embedding.tobytes()[:64],
                np.asarray(speech.samples, np.float32).tobytes()[4000:4064], SUBJECT.encode(), TOKEN.encode(),
                FILE_NAME.encode()]
    for template, chunk, task_spec in sent:
        assert type(template) is RenderTemplate
        assert set(vars(template)) == {"template", "landmarks68", "mark_host"}
        assert template.template.dtype == np.uint8 and template.template.shape == (size, size, 3)
        assert template.landmarks68.shape == (68, 2)
        assert template.mark_host.dtype == np.float16 and template.mark_host.shape == (size, size)
        assert type(chunk) is DrivingChunk and set(vars(chunk)) == {"fps", "start", "coefficients", "boxes"}
        assert chunk.coefficients.dtype == np.float32 and chunk.coefficients.shape[1] == len(CHANNELS)
        assert type(chunk.boxes) is WarpBoxes
        assert all(type(v) is int for box in chunk.boxes.exact + (chunk.boxes.smooth,) for v in box)
        assert type(task_spec) is SegmentSpec and type(task_spec.mark) is MarkSpec
        assert set(vars(task_spec)) == {"size", "crf", "mark", "samples"}
        blobs = [pickle.dumps(template), pickle.dumps(chunk), pickle.dumps(task_spec)]
        assert len(blobs[0]) <= size * size * (3 + 2) + 68 * 2 * 4 + 1024  # template, points, mean luma; no more
        assert len(blobs[1]) <= chunk.n_frames * len(CHANNELS) * 4 + 1024
        assert len(blobs[2]) <= 512
        for secret in secrets_:
            assert not any(secret in blob for blob in blobs)


def test_cluster_segments_are_the_frames_rendered_here(driver, features: PortraitFeatures, speech: Speech) -> None:
    driving, face, chunks, spec = _job(features, speech, seed=8)
    segments = RayRenderer().render(face, chunks, spec, 120.0, "same")
    here = np.concatenate(list(render_frames(face, driving)))
    samples = {i: f for s in segments for i, f in s.samples.items()}
    assert sorted(samples) == list(spec.samples)
    assert all(np.array_equal(samples[i], here[i]) for i in spec.samples)
    assert sum(s.n_frames for s in segments) == driving.n_frames
    local = render_segment(face, chunks[1], spec)
    assert _decoded(local.video).shape == _decoded(segments[1].video).shape
    assert np.abs(_decoded(local.video).astype(int) - _decoded(segments[1].video)).mean() < 0.5


def _decoded(video: bytes) -> np.ndarray:
    import io

    import av

    with av.open(io.BytesIO(video)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])


def test_objects_are_released_and_nothing_personal_is_on_disk(driver, ray_cluster: LocalCluster,
                                                              features: PortraitFeatures, speech: Speech,
                                                              upload: bytes) -> None:
    core = driver._private.worker.global_worker.core_worker
    before = set(core.get_all_reference_counts())
    driving, face, chunks, spec = _job(features, speech, seed=9)
    RayRenderer().render(face, chunks, spec, 120.0, "disk")
    assert objects_left(core, before) == set()  # template and segments freed

    needles = [upload[:64], np.ascontiguousarray(features.template).tobytes()[30000:30064],
               np.asarray(speech.samples, np.float32).tobytes()[8000:8064], FILE_NAME.encode()]
    checked = 0
    for path in ray_cluster.temp_dir.rglob("*"):
        if not path.is_file() or path.is_symlink() or path.is_socket():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        checked += 1
        assert not any(data.startswith(magic) or magic in data[:16] for magic in MAGICS), path
        assert not any(needle in data for needle in needles), path
    assert checked > 10  # Ray's logs and session files were really read
    assert not list(ray_cluster.temp_dir.rglob("spill/*"))  # nothing was spilled


def test_a_client_without_the_token_is_refused_and_runs_nothing(ray_cluster: LocalCluster, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = (f"import ray, pathlib\nray.init(address={ray_cluster.address!r})\n"
            f"ray.get(ray.remote(lambda: pathlib.Path({str(marker)!r}).write_text('x')).remote())\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    for env in (base, dict(base, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)):
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode != 0
        assert "Authentication" in result.stderr or "InvalidAuthToken" in result.stderr, result.stderr[-2000:]
        assert not marker.exists()


def test_a_worker_node_killed_mid_render_costs_a_retry_not_the_render(
        driver, ray_cluster: LocalCluster, features: PortraitFeatures) -> None:
    long_speech = Speech(synthetic_voice(30.0, seed=6))
    driving, face, chunks, spec = _job(features, long_speech, chunk=25)  # 30 tasks over 2 one-CPU nodes
    outcome: dict[str, object] = {}
    core = driver._private.worker.global_worker.core_worker
    before = set(core.get_all_reference_counts())

    def run() -> None:
        try:
            outcome["segments"] = RayRenderer().render(face, chunks, spec, 240.0, "kill")
        except Exception as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive()  # the kill lands mid-render
    victim = ray_cluster.workers[0]
    ray_cluster.kill_worker(victim)
    thread.join(300)
    ray_cluster.add_worker()  # the module's later tests get two nodes again
    assert "error" not in outcome, outcome.get("error")
    assert objects_left(core, before) == set()  # the retried render left no object behind
    segments: list[Segment] = outcome["segments"]  # type: ignore[assignment]
    assert [s.start for s in segments] == [c.start for c in chunks]
    here = np.concatenate(list(render_frames(face, DrivingSignals(25, driving.coefficients))))
    samples = {i: f for s in segments for i, f in s.samples.items()}
    assert all(np.array_equal(samples[i], here[i]) for i in spec.samples)


def test_a_render_past_its_time_is_stopped_and_leaves_no_object(driver, features: PortraitFeatures,
                                                                 speech: Speech) -> None:
    core = driver._private.worker.global_worker.core_worker
    before = set(core.get_all_reference_counts())
    driving, face, chunks, spec = _job(features, speech, seed=2, chunk=10)
    started = time.monotonic()
    with pytest.raises(RenderTimedOut):
        RayRenderer().render(face, chunks, spec, 0.05, "late")
    assert time.monotonic() - started < 10
    assert objects_left(core, before) == set()
