"""The app end to end with gradio_client and raw HTTP: uploads vanish, outputs are private, erase and TTL work."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file

from linly_demo.cli.verify import deployment_provenance
from linly_demo.config import Settings
from linly_demo.provenance.verify import verify_video
from linly_demo.web.guard import COOKIE
from tests.conftest import FACES, encode
from tests.speech import encode_audio, real_speech_with_pauses, synthetic_voice
from tests.web.conftest import Server

pytestmark = pytest.mark.slow


def photo_file(tmp_path: Path, astronaut: np.ndarray) -> Path:
    if (FACES / "alex-lacamoire-1.jpg").exists():
        return FACES / "alex-lacamoire-1.jpg"
    path = tmp_path / "portrait.jpg"
    path.write_bytes(encode(astronaut))
    return path


def speech_file(tmp_path: Path, seconds: float = 4.0) -> Path:
    real = real_speech_with_pauses()
    samples = real.samples[: int(seconds * 16000)] if real is not None else synthetic_voice(seconds)
    path = tmp_path / f"speech-{seconds}.flac"
    path.write_bytes(encode_audio(samples, "flac", "flac"))
    return path


def file_url(server: Server, path: str | Path) -> str:
    return f"{server.url}gradio_api/file={path}"


def call_raw(server: Server, cookie: str, api: str, data: list) -> list:
    """Gradio's HTTP API (POST /call, then read the event stream), as any client could."""
    with httpx.Client(base_url=server.url, cookies={COOKIE: cookie}, timeout=120) as http:
        event = http.post(f"gradio_api/call/{api}", json={"data": data}).json()["event_id"]
        text = http.get(f"gradio_api/call/{api}/{event}").text
    lines = text.strip().splitlines()
    assert any(line.strip() == "event: complete" for line in lines), text
    return json.loads(lines[-1].removeprefix("data:").strip())


def test_whole_flow_with_gradio_client(server: Server, tmp_path: Path, astronaut: np.ndarray,
                                       browser: Callable[[str], Client]) -> None:
    client = browser(server.url)
    cookie = client.cookies[COOKIE]
    assert len(cookie) == 43

    # An upload is the uploader's alone, and gone (404) once a handler has read it.
    with httpx.Client(base_url=server.url, cookies={COOKIE: cookie}, timeout=60) as http:
        uploaded = http.post("gradio_api/upload", files=[("files", ("me.jpg", photo_file(tmp_path, astronaut)
                                                                     .read_bytes(), "image/jpeg"))]).json()[0]
        assert http.get(file_url(server, uploaded)).status_code == 200
    assert httpx.get(file_url(server, uploaded)).status_code == 404  # another client (no cookie)
    preview_data, summary = call_raw(server, cookie, "process_portrait",
                                     [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}])[1:3]
    assert "original photo has been deleted" in summary
    assert not Path(uploaded).exists()
    assert httpx.get(file_url(server, uploaded), cookies={COOKIE: cookie}).status_code == 404

    # gradio_client: portrait, then speech -> a valid MP4 with audio.
    _, preview, summary, privacy = client.predict(handle_file(photo_file(tmp_path, astronaut)),
                                                  api_name="/process_portrait")
    assert "1 face found" in summary and Path(preview).exists()
    video, cleared_audio, privacy = client.predict(handle_file(speech_file(tmp_path)), "", "en", False, "", "",
                                                   api_name="/generate")
    with av.open(video) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert abs(float(container.duration / 1e6) - 4.0) < 0.2
    assert cleared_audio is None and "video" in privacy

    # No raw upload remains: the root holds only this session's aligned faces and video.
    held = server.files()
    assert {p.suffix for p in held} <= {".png", ".mp4"}, held
    served_video = next(p for p in held if p.suffix == ".mp4")

    # The video the browser gets carries all three provenance layers, signed by this deployment; the
    # "Check a video" box says so and deletes its upload at once.
    provenance = deployment_provenance(Settings.from_env({**os.environ, "LINLY_AUDIT_LOG": str(server.audit)}))
    report = verify_video(Path(video).read_bytes(), provenance)
    assert report["layers_found"] == ["c2pa", "watermark", "label"], report
    assert report["c2pa"]["state"] == "trusted" and report["c2pa"]["signer_is_this_deployment"]
    assert report["c2pa"]["render_id"] == report["watermark"]["payload"]["render_id"]
    assert report["c2pa"]["render_id_known"] and report["watermark"]["render_id_known"]
    summary, checked, _cleared, _privacy = client.predict(handle_file(video), api_name="/check_video")
    assert checked["layers_found"] == ["c2pa", "watermark", "label"] and "has been deleted" in summary
    assert server.files() == held

    # The video is served to its own session only; traversal and outside paths are refused.
    assert httpx.get(file_url(server, served_video), cookies={COOKIE: cookie}).status_code == 200
    other = browser(server.url)
    assert other.cookies[COOKIE] != cookie
    for url in (file_url(server, served_video), f"{server.url}gradio_api/file={server.ephemeral}/../../etc/passwd",
                f"{server.url}gradio_api/file=/etc/passwd", f"{server.url}gradio_api/file/{served_video}"):
        assert httpx.get(url, cookies={COOKIE: other.cookies[COOKIE]}).status_code == 404
        assert httpx.get(url).status_code == 404

    # Another client cannot use this session's features (it has none of its own).
    with pytest.raises(Exception, match="upload your portrait"):
        other.predict(handle_file(speech_file(tmp_path)), "", "en", False, "", "", api_name="/generate")

    # Erase: nothing of the session remains.
    message = client.predict("", "", api_name="/erase")[0]
    assert "Erased" in message
    assert server.files() == []
    with pytest.raises(Exception, match="upload your portrait"):
        client.predict(handle_file(speech_file(tmp_path)), "", "en", False, "", "", api_name="/generate")

    # After the TTL the root holds nothing either (the server runs with a 20 s TTL).
    client.predict(handle_file(photo_file(tmp_path, astronaut)), api_name="/process_portrait")
    assert server.files()
    deadline = time.time() + server.ttl + 15
    while server.files() and time.time() < deadline:
        time.sleep(1)
    assert server.files() == []

    audit = server.audit.read_text()
    for secret in (cookie, "alex", "portrait.jpg", "speech-", str(server.ephemeral), "/tmp/"):
        assert secret not in audit


def test_rejections_are_plain_messages_and_leave_nothing(server: Server, tmp_path: Path,
                                                         browser: Callable[[str], Client]) -> None:
    client = browser(server.url)
    not_a_photo = tmp_path / "notes.png"
    not_a_photo.write_text("hello")
    with pytest.raises(Exception) as raised:
        client.predict(handle_file(not_a_photo), api_name="/process_portrait")
    assert "Traceback" not in str(raised.value) and str(server.ephemeral) not in str(raised.value)
    blank = tmp_path / "blank.jpg"
    blank.write_bytes(encode(np.full((300, 300, 3), 200, np.uint8)))
    with pytest.raises(Exception, match="No face was found"):
        client.predict(handle_file(blank), api_name="/process_portrait")
    with pytest.raises(Exception, match="consent"):
        client.predict(False, "ada", "correct horse battery", handle_file(speech_file(tmp_path, 6.0)),
                       api_name="/enroll_voice")
    assert not list((server.voice_store).glob("*.voice"))
    client.predict("", "", api_name="/erase")
    assert server.files() == []
