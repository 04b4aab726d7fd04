"""Start-up: importing app.py starts nothing; unsafe settings refuse to start; host and port follow the settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from linly_demo.config import Settings
from tests.conftest import REPO
from tests.web.conftest import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


def test_importing_app_starts_no_server_and_does_not_import_gradio() -> None:
    code = "import sys, app; print('gradio' in sys.modules, 'uvicorn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "False False"


def test_a_disk_backed_ephemeral_root_refuses_to_start(tmp_path: Path) -> None:
    env = dict(os.environ, LINLY_EPHEMERAL_DIR=str(tmp_path / "on-disk"), LINLY_VOICE_STORE=str(tmp_path / "v"),
               PYTHONPATH=str(REPO))
    env.pop("LINLY_ALLOW_DISK_EPHEMERAL", None)
    result = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True, cwd=REPO, env=env,
                            timeout=120)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "memory-backed" in result.stderr


def test_a_voice_store_inside_the_ephemeral_root_refuses_to_start(tmp_path: Path) -> None:
    root = Path("/dev/shm") / f"linly-start-{os.getpid()}"
    env = dict(os.environ, LINLY_EPHEMERAL_DIR=str(root), LINLY_VOICE_STORE=str(root / "voices"),
               PYTHONPATH=str(REPO))
    try:
        result = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True, cwd=REPO, env=env,
                                timeout=120)
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
    assert result.returncode == 1 and "must not overlap" in result.stderr


def test_host_and_port_settings() -> None:
    assert Settings.from_env({}).host == "127.0.0.1" and Settings.from_env({}).port == 7860
    assert Settings.from_env({"SPACE_ID": "me/demo"}).host == "0.0.0.0"
    assert Settings.from_env({"LINLY_HOST": "192.168.1.5"}).host == "192.168.1.5"
    assert Settings.from_env({"GRADIO_SERVER_PORT": "8080"}).port == 8080
    assert Settings.from_env({"GRADIO_SERVER_PORT": "8080", "LINLY_PORT": "9090"}).port == 9090


def test_sigterm_wipes_the_ephemeral_root(tmp_path: Path) -> None:
    import httpx

    server = start_server(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            http.get("/")
            http.post("gradio_api/upload", files=[("files", ("a.wav", b"RIFF0000WAVE", "audio/wav"))])
        assert server.files()
        server.process.terminate()
        output, _ = server.process.communicate(timeout=60)
        assert server.process.returncode in (0, -15), output  # wiped, then ended by the signal
        assert not server.ephemeral.exists() or server.files() == []
    finally:
        if server.process.poll() is None:
            server.process.kill()
        subprocess.run(["rm", "-rf", str(server.ephemeral)], check=False)


def test_building_the_interface_writes_nothing_into_the_source_tree() -> None:
    before = {p for p in (REPO / "linly_demo").rglob("*") if "__pycache__" not in p.parts}
    code = "import linly_demo.web.page"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    after = {p for p in (REPO / "linly_demo").rglob("*") if "__pycache__" not in p.parts}
    assert after == before


def test_a_second_server_on_the_same_root_refuses_and_leaves_the_first_ones_files(tmp_path: Path) -> None:
    (tmp_path / "first").mkdir()
    first = start_server(tmp_path / "first")
    try:
        held = first.ephemeral / "held-by-the-first-server.png"
        held.write_bytes(b"a file the first server owns")
        env = dict(os.environ, LINLY_EPHEMERAL_DIR=str(first.ephemeral), LINLY_VOICE_STORE=str(tmp_path / "v2"),
                   LINLY_PORT=str(free_port()), PYTHONPATH=str(REPO))
        second = subprocess.run([sys.executable, "app.py"], capture_output=True, text=True, cwd=REPO, env=env,
                                timeout=120)
        assert second.returncode == 1 and "Another linly-demo server" in second.stderr
        assert held.exists() and first.process.poll() is None  # neither wiped nor disturbed
    finally:
        stop_server(first)
