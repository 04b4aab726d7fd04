"""A real app server (`python app.py`, as `make run` starts it) on a free port, with its own ephemeral root."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO


@dataclass
class Server:
    url: str
    ephemeral: Path
    voice_store: Path
    audit: Path
    process: subprocess.Popen
    ttl: float

    def files(self) -> list[Path]:
        return sorted(p for p in self.ephemeral.rglob("*") if p.is_file()) if self.ephemeral.exists() else []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(tmp: Path, ttl: float = 300, extra: dict[str, str] | None = None) -> Server:
    port = free_port()
    env = dict(os.environ, LINLY_PORT=str(port),
               LINLY_EPHEMERAL_DIR=str(Path("/dev/shm") / f"linly-web-test-{secrets.token_hex(6)}"),
               LINLY_VOICE_STORE=str(tmp / "voices"), LINLY_AUDIT_LOG=str(tmp / "audit.jsonl"),
               LINLY_TTL_SECONDS=str(ttl), PYTHONPATH=str(REPO))
    env.update(extra or {})
    ephemeral = Path(env["LINLY_EPHEMERAL_DIR"])
    env.pop("LINLY_PASSPHRASE", None)
    process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited: {process.stdout.read()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return Server(url, ephemeral, tmp / "voices", tmp / "audit.jsonl", process, ttl)
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the app did not start within 120 s")


def stop_server(server: Server) -> str:
    server.process.terminate()
    try:
        output, _ = server.process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        output, _ = server.process.communicate()
    shutil.rmtree(server.ephemeral, ignore_errors=True)
    return output


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    running = start_server(tmp_path_factory.mktemp("app"), ttl=20)
    yield running
    stop_server(running)
