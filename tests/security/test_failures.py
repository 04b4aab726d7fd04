"""Failures of the machine, not the input: a full tmpfs and a server killed mid-render end cleanly."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import encode
from tests.security.probe import ANSWER_WITHIN_S, Client, _ref
from tests.speech import encode_audio, synthetic_voice
from tests.web.conftest import Server, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.namespaces]


@pytest.fixture
def small_tmpfs():
    """An 8 MB tmpfs (root only): room for the app's start-up and one portrait, not for a video."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = Path("/dev/shm") / f"linly-full-{secrets.token_hex(4)}"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        mount_point.rmdir()
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)
    mount_point.rmdir()


def fill(folder: Path) -> Path:
    """Write one file until the filesystem is full."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\x00" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def test_a_full_tmpfs_answers_server_busy_leaves_no_partial_file_and_recovers(
        small_tmpfs: Path, tmp_path: Path, astronaut: np.ndarray) -> None:
    server = start_server(tmp_path, extra={"LINLY_EPHEMERAL_DIR": str(small_tmpfs / "root")})
    try:
        client = Client(server.url)
        # An upload larger than the free space: 503 with a plain message, no partial file.
        refused = client.upload("big.flac", os.urandom(9 * 2**20))
        assert refused.status_code == 503 and "busy" in refused.json()["detail"]
        assert server.files() == []
        assert client.call("process_portrait", [_ref(client.upload("me.jpg", encode(astronaut)).json()[0])])[0] \
            == "complete"
        speech = encode_audio(synthetic_voice(6.0), "flac", "flac")
        uploaded = client.upload("speech.flac", speech).json()[0]
        filler = fill(small_tmpfs)
        started = time.monotonic()
        kind, message = client.call("generate", [_ref(uploaded), "", "en", False, "", ""])
        assert time.monotonic() - started < ANSWER_WITHIN_S
        assert kind == "error" and "busy" in message, message
        assert not [p for p in server.files() if p.suffix == ".mp4"]
        # Space again: the same session renders (its render slot was freed).
        filler.unlink()
        kind, outputs = client.call("generate", [_ref(client.upload("speech.flac", speech).json()[0]), "", "en",
                                                 False, "", ""])
        assert kind == "complete", outputs
    finally:
        stop_server(server)


def test_a_server_killed_mid_render_leaves_nothing_once_restarted(tmp_path: Path, astronaut: np.ndarray) -> None:
    ephemeral = Path("/dev/shm") / f"linly-kill-{secrets.token_hex(4)}"
    extra = {"LINLY_EPHEMERAL_DIR": str(ephemeral)}
    server = start_server(tmp_path, extra=extra)
    client = Client(server.url)
    assert client.call("process_portrait", [_ref(client.upload("me.jpg", encode(astronaut)).json()[0])])[0] \
        == "complete"
    speech = client.upload("speech.flac", encode_audio(synthetic_voice(30.0), "flac", "flac")).json()[0]
    threading.Thread(target=lambda: _swallow(client.call, "generate", [_ref(speech), "", "en", False, "", ""]),
                     daemon=True).start()
    deadline = time.time() + 60
    while not [p for p in server.files() if p.suffix == ".mp4"] and time.time() < deadline:
        time.sleep(0.05)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)
    assert server.files(), "kill -9 skips the wipe, so the render's files are still there"
    restarted: Server = start_server(tmp_path, extra=extra)
    try:
        assert restarted.files() == []  # the new server wiped what the killed one left
        assert "ephemeral.leftovers_wiped" in restarted.audit.read_text()
    finally:
        stop_server(restarted)


def _swallow(call, *args) -> None:
    with contextlib.suppress(Exception):  # the server is killed under this request on purpose
        call(*args)
