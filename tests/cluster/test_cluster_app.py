"""The app with LINLY_RAY_ADDRESS set, driven through gradio_client against a real local multi-node cluster:
concurrent sessions each get their own video, marked and signed; a cluster that cannot be reached or refuses the
token stops the app at start-up; a cluster that goes away later fails renders plainly while the page stays up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from linly_demo.cli.verify import deployment_provenance
from linly_demo.config import Settings
from linly_demo.provenance.verify import verify_video
from tests.cluster.conftest import TOKEN_FILE, LocalCluster, start_cluster, stop_cluster
from tests.conftest import REPO, encode
from tests.speech import encode_audio, synthetic_voice
from tests.web.conftest import start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

FILE_NAMES = [f"holiday-portrait-{i}.jpg" for i in range(4)]


def cluster_env(cluster: LocalCluster, temp_dir: Path) -> dict[str, str]:
    return {"LINLY_RAY_ADDRESS": cluster.address, "LINLY_RAY_TOKEN_FILE": str(TOKEN_FILE),
            "LINLY_RAY_TEMP_DIR": str(temp_dir), "LINLY_RAY_CHUNK_SECONDS": "1"}


@pytest.fixture(scope="module")
def app(ray_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory):
    temp_dir = Path("/dev/shm") / f"lra-{secrets.token_hex(3)}"  # nosec B108: tmpfs, short
    server = start_server(tmp_path_factory.mktemp("cluster-app"), ttl=60, extra=cluster_env(ray_cluster, temp_dir))
    yield server, temp_dir
    stop_server(server)
    import shutil

    shutil.rmtree(temp_dir, ignore_errors=True)


def _generate(client: Client, photo: Path, speech: Path) -> tuple[str, str]:
    """(video, the aligned-face preview)."""
    preview = client.predict(handle_file(photo), api_name="/process_portrait")[1]
    return client.predict(handle_file(speech), "", "en", False, "", "", api_name="/generate")[0], preview


def test_four_concurrent_sessions_each_get_their_own_marked_video(app, ray_cluster: LocalCluster, tmp_path: Path,
                                                                   astronaut: np.ndarray,
                                                                   browser: Callable[[str], Client]) -> None:
    server, temp_dir = app
    jobs, faces = [], []
    for i in range(4):
        tint = np.array([1.0, 1.0, 1.0]) + 0.3 * np.array([i % 2, (i // 2) % 2, 0])
        face = np.clip(astronaut * tint / tint.max(), 0, 255).astype(np.uint8)
        face = np.ascontiguousarray(face[:, ::-1]) if i % 2 else face
        photo, speech = tmp_path / FILE_NAMES[i], tmp_path / f"speech-{i}.flac"
        photo.write_bytes(encode(face))
        seconds = 2.0 + 0.6 * i
        speech.write_bytes(encode_audio(synthetic_voice(seconds, seed=i), "flac", "flac"))
        jobs.append((photo, speech, seconds))
        faces.append(face)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: _generate(browser(server.url), job[0], job[1]), jobs))
    videos = [video for video, _ in results]

    first_frames = []
    for video, (_, _, seconds) in zip(videos, jobs, strict=True):
        with av.open(video) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
            assert container.streams.audio[0].codec_context.name == "aac"
        assert abs(len(frames) / 25 - seconds) <= 1 / 25  # its own speech, every chunk joined
        first_frames.append(frames[0].astype(np.float64))
    previews = [np.asarray(Image.open(p).convert("RGB").resize((512, 512)), np.float64) for _, p in results]
    for i, frame in enumerate(first_frames):  # its own portrait: closest to its own aligned face (tint and side)
        distances = [np.mean(np.abs(frame - preview)) for preview in previews]
        assert int(np.argmin(distances)) == i, distances
    provenance = deployment_provenance(Settings.from_env({**os.environ, "LINLY_AUDIT_LOG": str(server.audit)}))
    for video in videos:  # marked on the workers, signed here
        report = verify_video(Path(video).read_bytes(), provenance)
        assert report["layers_found"] == ["c2pa", "watermark", "label"], report
        assert report["watermark"]["render_id_known"] and report["c2pa"]["signer_is_this_deployment"]

    needles = [name.encode() for name in FILE_NAMES] + [encode(f)[:64] for f in faces]
    for folder in (ray_cluster.temp_dir, temp_dir):
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink() and not path.is_socket():
                data = path.read_bytes()
                assert not any(needle in data for needle in needles), path
                assert not data.startswith((b"\xff\xd8\xff", b"\x89PNG", b"fLaC", b"RIFF")), path
    kept = sorted(p.suffix for p in server.files())
    assert kept == [".mp4"] * 4 + [".png"] * 4  # each session's video and preview; no upload, no segment


def test_a_worker_node_killed_while_the_app_renders_still_gives_the_video(app, ray_cluster: LocalCluster,
                                                                          tmp_path: Path,
                                                                          astronaut: np.ndarray,
                                                                          browser: Callable[[str], Client]) -> None:
    server, _ = app
    photo, speech = tmp_path / "face.jpg", tmp_path / "speech.flac"
    photo.write_bytes(encode(astronaut))
    seconds = 30.0
    speech.write_bytes(encode_audio(synthetic_voice(seconds, seed=3), "flac", "flac"))
    client = browser(server.url)
    client.predict(handle_file(photo), api_name="/process_portrait")
    job = client.submit(handle_file(speech), "", "en", False, "", "", api_name="/generate")
    time.sleep(3.0)  # decoding done, the render's thirty 1 s chunks running on both nodes
    assert not job.done()  # the kill lands mid-render
    ray_cluster.kill_worker(ray_cluster.workers[0])
    try:
        video = job.result(timeout=240)[0]
    finally:
        ray_cluster.add_worker()
    with av.open(video) as container:
        frames = sum(1 for _ in container.decode(container.streams.video[0]))
    assert abs(frames / 25 - seconds) <= 1 / 25  # every chunk, the retried ones included


def test_a_cluster_that_cannot_be_reached_or_refuses_the_token_stops_the_app_at_start(
        ray_cluster: LocalCluster, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("0" * 64)
    for address, token, expected in ((f"127.0.0.1:{_closed_port()}", TOKEN_FILE, "cannot be reached"),
                                     (ray_cluster.address, wrong, "refused this app's token")):
        root, ray_dir = (Path(f"/dev/shm/{prefix}-{secrets.token_hex(3)}") for prefix in ("linly-rs", "lrs"))
        env = dict(os.environ, LINLY_EPHEMERAL_DIR=str(root), LINLY_VOICE_STORE=str(tmp_path / "v"),
                   PYTHONPATH=str(REPO), LINLY_RAY_ADDRESS=address, LINLY_RAY_TOKEN_FILE=str(token),
                   LINLY_RAY_TEMP_DIR=str(ray_dir))
        started = time.monotonic()
        result = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True, cwd=REPO, env=env,
                                timeout=240)
        assert result.returncode == 1 and "cannot start" in result.stderr and expected in result.stderr, \
            result.stderr[-2000:]
        assert time.monotonic() - started < 200
        assert not ray_dir.exists() and not (root.exists() and any(root.iterdir()))  # nothing left behind
        if root.exists():
            root.rmdir()


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_cluster_that_goes_away_fails_renders_plainly_and_the_page_stays_up(tmp_path: Path,
                                                                            astronaut: np.ndarray,
                                                                            browser: Callable[[str], Client]) -> None:
    doomed = start_cluster(workers=1)
    temp_dir = Path("/dev/shm") / f"lrd-{secrets.token_hex(3)}"  # nosec B108: tmpfs, short
    server = start_server(tmp_path / "app", ttl=60, extra=cluster_env(doomed, temp_dir))
    try:
        photo, speech = tmp_path / "face.jpg", tmp_path / "speech.flac"
        photo.write_bytes(encode(astronaut))
        speech.write_bytes(encode_audio(synthetic_voice(2.0, seed=1), "flac", "flac"))
        assert Path(_generate(browser(server.url), photo, speech)[0]).exists()  # it works while the cluster is there
        doomed.cluster.shutdown()  # type: ignore[attr-defined]
        for _ in range(2):  # the render in flight when the driver notices, and one after
            started = time.monotonic()
            with pytest.raises(Exception, match="busy"):
                _generate(browser(server.url), photo, speech)
            assert time.monotonic() - started < 150
            assert httpx.get(server.url, timeout=10).status_code == 200  # the page is still served
            assert server.process.poll() is None
        assert sorted(p.suffix for p in server.files()) == [".mp4"] + [".png"] * 3  # one video, three previews
    finally:
        stop_server(server)
        stop_cluster(doomed)
        import shutil

        shutil.rmtree(temp_dir, ignore_errors=True)
