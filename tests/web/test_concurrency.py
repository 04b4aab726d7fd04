"""Eight clients generating at once each get their own, correct video; none can read another's outputs."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from linly_demo.web.guard import COOKIE
from tests.conftest import encode
from tests.speech import encode_audio, synthetic_voice
from tests.web.conftest import Server

pytestmark = pytest.mark.slow


def test_eight_clients_at_once(server: Server, tmp_path: Path, astronaut: np.ndarray,
                               browser: Callable[[str], Client]) -> None:
    jobs = []
    for i in range(8):
        # Eight visibly different portraits (tinted, mirrored) and speech of eight different lengths.
        tint = np.array([1.0, 1.0, 1.0]) + 0.25 * np.array([i % 2, (i // 2) % 2, (i // 4) % 2])
        face = np.clip(astronaut * tint / tint.max(), 0, 255).astype(np.uint8)
        face = face[:, ::-1] if i % 3 == 0 else face
        photo, speech = tmp_path / f"face-{i}.jpg", tmp_path / f"speech-{i}.flac"
        photo.write_bytes(encode(np.ascontiguousarray(face)))
        seconds = 2.0 + 0.2 * i
        speech.write_bytes(encode_audio(synthetic_voice(seconds, seed=i), "flac", "flac"))
        jobs.append((photo, speech, seconds))

    def run(job):
        photo, speech, seconds = job
        client = browser(server.url)
        preview = client.predict(handle_file(photo), api_name="/process_portrait")[1]
        video = client.predict(handle_file(speech), "", "en", False, "", "", api_name="/generate")[0]
        return client.cookies[COOKIE], preview, video, seconds

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, jobs))

    first_frames = []
    for _cookie, _preview, video, seconds in results:
        with av.open(video) as container:
            stream = container.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert abs(len(frames) / 25 - seconds) <= 1 / 25  # its own speech
        first_frames.append(frames[0].astype(np.float64))
    previews = [np.asarray(Image.open(p).convert("RGB").resize((512, 512)), np.float64) for _, p, _, _ in results]
    for i, frame in enumerate(first_frames):  # its own portrait: closest to its own aligned face
        distances = [np.mean(np.abs(frame - preview)) for preview in previews]
        assert int(np.argmin(distances)) == i, distances

    videos = sorted(p for p in server.files() if p.suffix == ".mp4")
    assert len(videos) >= 8
    cookies = [cookie for cookie, *_ in results]
    for video in videos:
        allowed = [httpx.get(f"{server.url}gradio_api/file={video}", cookies={COOKIE: c}).status_code == 200
                   for c in cookies]
        assert sum(allowed) == 1  # exactly one session may read each video
