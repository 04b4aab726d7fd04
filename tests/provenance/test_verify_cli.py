"""`python -m linly_demo verify VIDEO`: one JSON report, and an exit status that says which layers were found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import cv2
import numpy as np

from linly_demo import __version__
from linly_demo.audit import AuditLog
from linly_demo.config import Settings
from linly_demo.provenance.identity import load_identity
from linly_demo.provenance.service import Provenance
from linly_demo.provenance.verify import exit_status
from tests.conftest import REPO
from tests.provenance.conftest import mp4_of


def _verify(path: Path, audit: Path) -> tuple[int, dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO), LINLY_AUDIT_LOG=str(audit))
    done = subprocess.run([sys.executable, "-m", "linly_demo", "verify", str(path)], capture_output=True, text=True,
                          env=env, timeout=120)
    return done.returncode, json.loads(done.stdout)


def test_verify_reports_each_layer_and_says_so_in_its_exit_status(tmp_path: Path, astronaut: np.ndarray) -> None:
    audit = tmp_path / "audit.jsonl"
    settings = Settings.from_env({**os.environ, "LINLY_AUDIT_LOG": str(audit)})
    identity = load_identity(None, None, settings.provenance_dir, settings.ephemeral_dir)  # this session's deployment
    provenance = Provenance(identity, AuditLog(str(audit), b"k" * 32))
    still = cv2.resize(astronaut, (512, 512))
    frames = np.stack([np.roll(still, shift, axis=0) for shift in range(0, 50, 1)])

    plain = tmp_path / "plain.mp4"
    plain.write_bytes(mp4_of(frames.copy()))
    status, report = _verify(plain, audit)
    assert status == 10 and report["layers_found"] == [] and report["c2pa"]["state"] == "absent"

    render_id = provenance.new_render_id()
    marked = tmp_path / "marked.mp4"
    marked.write_bytes(mp4_of(provenance.marker(render_id)(frames.copy())))
    os.chmod(marked, 0o600)
    status, report = _verify(marked, audit)
    assert status == 10 + 2 + 4 and report["layers_found"] == ["watermark", "label"]
    assert report["watermark"]["payload"]["render_id"] == render_id

    provenance.seal(marked, render_id)
    status, report = _verify(marked, audit)
    assert status == 0 and report["layers_found"] == ["c2pa", "watermark", "label"], report
    assert report["c2pa"]["signer_is_this_deployment"] and report["watermark"]["deployment_tag_matches"]
    assert exit_status({"layers_found": ["c2pa"]}) == 11


def test_the_version_is_the_packages() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
