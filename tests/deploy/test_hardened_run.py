"""`make run-hardened` end to end: offline, read-only, uid 10001 without privileges; the whole flow still works."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from linly_demo.voice.store import MAGIC
from tests.conftest import FACES, REPO, SPEECH, encode
from tests.speech import encode_audio, real_speech_with_pauses, synthetic_voice

pytestmark = [
    pytest.mark.namespaces,
    pytest.mark.skipif(os.geteuid() != 0, reason="the locked-down run needs root (namespaces, mounts, setpriv)"),
    pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("nsenter") is None,
                       reason="util-linux unshare/nsenter is missing"),
]
WRITE_ERRORS = ("Read-only file system", "Permission denied", "Errno 30", "Errno 13", "No space left")


def _child(pid: int, launcher: subprocess.Popen, marker: str, timeout: float = 120) -> int:
    """The child of `pid` whose command line contains `marker` (start-up also runs short-lived children)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in command:
                return int(child)
        if launcher.poll() is not None:
            raise RuntimeError(f"run-hardened exited with {launcher.returncode}: {launcher.stdout.read()[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError("no child process appeared")


def _in_netns(pid: int, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", *command], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_locked_down_offline_run(tmp_path: Path, astronaut: np.ndarray) -> None:
    store = Path("/var/tmp") / f"linly-hardened-{secrets.token_hex(4)}"
    port = 7000 + secrets.randbelow(900)
    env = dict(os.environ, LINLY_OFFLINE="1", LINLY_PORT=str(port), LINLY_VOICE_STORE=str(store),
               LINLY_SECRET_KEY=secrets.token_hex(16))
    photo = FACES / "alex-lacamoire-1.jpg"
    if not photo.exists():
        photo = tmp_path / "portrait.jpg"
        photo.write_bytes(encode(astronaut))
    real = real_speech_with_pauses()
    speech, sample = tmp_path / "speech.flac", tmp_path / "sample.flac"
    speech.write_bytes(encode_audio(real.samples[:64000] if real else synthetic_voice(4.0), "flac", "flac"))
    voice = (sorted(SPEECH.glob("1688-*.flac"))[0].read_bytes() if SPEECH.is_dir()
             else encode_audio(synthetic_voice(8.0, seed=5), "flac", "flac"))
    sample.write_bytes(voice)
    for path in (speech, sample):
        path.chmod(0o644)

    launcher = subprocess.Popen(["bash", "deploy/run-hardened.sh"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    try:
        unshare = launcher.pid
        init = _child(unshare, launcher, "bash")  # PID 1 of the new PID namespace
        app = _child(init, launcher, "app.py")
        ready = False
        for _ in range(240):
            probe = _in_netns(app, sys.executable, "-c",
                              f"import httpx; httpx.get('http://127.0.0.1:{port}/', timeout=2)", timeout=30)
            if probe.returncode == 0:
                ready = True
                break
            time.sleep(0.5)
        assert ready, "the app did not come up inside its namespace"

        status = Path(f"/proc/{app}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines())
        assert fields["NoNewPrivs"].strip() == "1"
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(fields[cap].strip(), 16) == 0, cap
        assert fields["Uid"].split() == ["10001"] * 4 and fields["Gid"].split() == ["10001"] * 4

        # No network: from inside, nothing but loopback exists.
        links = _in_netns(app, "ip", "-o", "link").stdout
        assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]

        flow = _in_netns(app, sys.executable, str(REPO / "tests/deploy/hardened_client.py"),
                         f"http://127.0.0.1:{port}/", str(photo), str(speech), str(sample))
        assert flow.returncode == 0, flow.stderr[-3000:]
        result = json.loads(flow.stdout.strip().splitlines()[-1])
        assert "original photo has been deleted" in result["portrait"]
        assert "Voice enrolled" in result["enroll"]
        assert result["voice_video"] == ["h264", "aac"] and result["speech_video_frames"] == 100
        assert "Erased" in result["erase_session"]

        records = sorted(store.iterdir())
        voices = [p for p in records if p.suffix == ".voice"]
        assert len(voices) == 1 and {p.name for p in records} == {voices[0].name, "record-names.key"}
        record = voices[0].read_bytes()  # an 8+ byte needle: random ciphertext cannot hold one by chance
        assert record.startswith(MAGIC) and b"lovelace" not in record.lower()

        os.kill(app, signal.SIGTERM)
        output, _ = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
        shutil.rmtree(store, ignore_errors=True)
    assert "entries left in the ephemeral root: 0" in output, output[-2000:]
    # Offline, on a read-only root, the embedder was FaceNet 512-d (converted in memory, nothing written).
    assert '"event":"portrait.models_loaded"' in output and '"reason":"facenet_casia_512"' in output
    for error in WRITE_ERRORS:
        assert error not in output, output[-3000:]


def test_run_hardened_explains_itself_to_non_root(tmp_path: Path) -> None:
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash",
                             str(REPO / "deploy/run-hardened.sh")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "needs root" in result.stderr
