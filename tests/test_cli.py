"""`python -m linly_demo portrait`: JSON out, the user's photo untouched, clean rejections."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, encode, files_under

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), LINLY_AUDIT_LOG=str(cwd / "audit.jsonl"))
    return subprocess.run([sys.executable, "-m", "linly_demo", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_portrait_prints_one_json_line_and_leaves_the_photo_untouched(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo = tmp_path / "my holiday photo.jpg"
    photo.write_bytes(encode(astronaut))
    digest, stat_before = hashlib.sha256(photo.read_bytes()).hexdigest(), photo.stat()
    before = files_under(tmp_path)

    result = _run("portrait", str(photo), "--embedding", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["faces_found"] == 1
    assert set(summary["face_used"]) == {"x", "y", "width", "height", "probability"}
    assert summary["embedding_dim"] == len(summary["embedding"]) in (128, 512)
    assert summary["embedding_backend"]
    assert set(summary["timings_ms"]) == {"decode", "detect", "align", "landmarks", "embed"}
    assert abs(np.linalg.norm(summary["embedding"]) - 1) < 1e-4
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == digest
    assert photo.stat().st_mtime_ns == stat_before.st_mtime_ns and photo.stat().st_ino == stat_before.st_ino
    assert files_under(tmp_path) - before == {str(tmp_path / "audit.jsonl")}
    assert "holiday" not in (tmp_path / "audit.jsonl").read_text()


def test_without_embedding_flag_no_embedding_is_printed(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo = tmp_path / "face.png"
    photo.write_bytes(encode(astronaut, "PNG"))
    summary = json.loads(_run("portrait", str(photo), cwd=tmp_path).stdout)
    assert "embedding" not in summary


def test_a_rejected_photo_exits_non_zero_with_a_one_line_reason(tmp_path: Path) -> None:
    photo = tmp_path / "notes.png"
    photo.write_text("not an image")
    result = _run("portrait", str(photo), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "JPEG, PNG or WebP" in lines[0]
    assert photo.read_text() == "not an image"


def test_a_missing_photo_is_a_clear_error(tmp_path: Path) -> None:
    result = _run("portrait", str(tmp_path / "absent.jpg"), cwd=tmp_path)
    assert result.returncode == 2 and "Cannot read the photo" in result.stderr
