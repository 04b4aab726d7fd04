"""`python -m linly_demo voice enroll|erase` and `render --text`: consent, no passphrase flag, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import REPO, encode, files_under
from tests.speech import encode_audio
from tests.voice.conftest import PASSPHRASE

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path, store: Path, ephemeral_dir: Path, passphrase: str | None = PASSPHRASE):
    env = dict(os.environ, PYTHONPATH=str(REPO), LINLY_AUDIT_LOG=str(cwd / "audit.jsonl"),
               LINLY_VOICE_STORE=str(store), LINLY_EPHEMERAL_DIR=str(ephemeral_dir))
    env.pop("LINLY_PASSPHRASE", None)
    if passphrase is not None:
        env["LINLY_PASSPHRASE"] = passphrase
    return subprocess.run([sys.executable, "-m", "linly_demo", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300, stdin=subprocess.DEVNULL)


def test_voice_cli_flow(tmp_path: Path, samples: list[np.ndarray], astronaut: np.ndarray,
                        ephemeral_dir: Path) -> None:
    store = tmp_path / "voices"
    paths = []
    for i, wave in enumerate(samples[:3]):
        path = tmp_path / f"my voice {i}.flac"
        path.write_bytes(encode_audio(wave, "flac", "flac"))
        paths.append(str(path))
    common = dict(cwd=tmp_path, store=store, ephemeral_dir=ephemeral_dir)

    refused = _run("voice", "enroll", "--handle", "ada", "--samples", *paths, **common)
    assert refused.returncode != 0 and "consent" in refused.stderr and refused.stdout == ""
    assert not list(store.glob("*.voice"))

    no_passphrase = _run("voice", "enroll", "--handle", "ada", "--samples", *paths, "--consent",
                         **{**common, "passphrase": None})
    assert no_passphrase.returncode == 2 and "LINLY_PASSPHRASE" in no_passphrase.stderr

    enrolled = _run("voice", "enroll", "--handle", "ada", "--samples", *paths, "--consent", **common)
    assert enrolled.returncode == 0, enrolled.stderr
    summary = json.loads(enrolled.stdout)
    assert summary["enrolled"] and summary["similarity_enrolled_voice"] > summary["similarity_plain_tts"]
    assert len(list(store.glob("*.voice"))) == 1
    assert all(Path(p).exists() for p in paths)  # the user's own files are only read

    photo, out = tmp_path / "me.jpg", tmp_path / "me talking.mp4"
    photo.write_bytes(encode(astronaut))
    rendered = _run("render", "--portrait", str(photo), "--text", "Maybe Bob put the blue boat by the pier.",
                    "--voice-handle", "ada", "--out", str(out), **common)
    assert rendered.returncode == 0, rendered.stderr
    with av.open(str(out)) as container:
        assert container.streams.audio and container.streams.video[0].frames > 25
    wrong = _run("render", "--portrait", str(photo), "--text", "Hello there.", "--voice-handle", "ada",
                 "--out", str(tmp_path / "x.mp4"), **{**common, "passphrase": "wrong passphrase!"})
    assert wrong.returncode == 1 and "cannot be unlocked" in wrong.stderr and not (tmp_path / "x.mp4").exists()

    erased = _run("voice", "erase", "--handle", "ada", **common)
    assert erased.returncode == 0 and json.loads(erased.stdout) == {"erased": True}
    assert not list(store.glob("*.voice"))
    again = _run("render", "--portrait", str(photo), "--text", "Hello there.", "--voice-handle", "ada",
                 "--out", str(tmp_path / "y.mp4"), **common)
    assert again.returncode == 1 and "No voiceprint" in again.stderr
    assert files_under(ephemeral_dir) == set()
    audit = (tmp_path / "audit.jsonl").read_text()
    for secret in ('"ada"', PASSPHRASE, "my voice", "Maybe Bob"):
        assert secret not in audit


def test_plain_tts_render_in_mandarin(tmp_path: Path, astronaut: np.ndarray, ephemeral_dir: Path) -> None:
    photo, out = tmp_path / "me.jpg", tmp_path / "out.mp4"
    photo.write_bytes(encode(astronaut))
    result = _run("render", "--portrait", str(photo), "--text", "你好，欢迎使用这个演示。", "--lang", "zh",
                  "--out", str(out), cwd=tmp_path, store=tmp_path / "voices", ephemeral_dir=ephemeral_dir)
    assert result.returncode == 0, result.stderr
    assert 1.5 < json.loads(result.stdout)["audio_seconds"] < 6
