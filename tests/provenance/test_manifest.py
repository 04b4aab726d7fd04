"""The C2PA manifest: signed by this deployment, validated against its trust anchor, broken by a changed byte,
nothing personal inside; the signing identity is the operator's or generated, kept 0600, never in tmpfs."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import c2pa
import numpy as np
import pytest

from linly_demo.errors import ConfigError
from linly_demo.provenance.identity import KEY_FILE, SigningIdentity, generate_identity, load_identity
from linly_demo.provenance.manifest import SOURCE_TYPE, read_manifest, sign_video
from tests.provenance.conftest import mp4_of


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "talking.mp4"
    ramp = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
    path.write_bytes(mp4_of(np.stack([np.roll(ramp, i, axis=0) for i in range(25)])))
    return path


def test_a_signed_video_validates_here_and_only_here(video: Path, identity: SigningIdentity) -> None:
    unsigned = video.read_bytes()
    assert read_manifest(unsigned, identity).state == "absent"
    sign_video(video, identity, "0a1b2c3d")
    signed = video.read_bytes()
    assert stat.S_IMODE(video.stat().st_mode) == 0o600 and not list(video.parent.glob("*.signing"))
    mine = read_manifest(signed, identity)
    assert (mine.state, mine.this_deployment, mine.render_id) == ("trusted", True, "0a1b2c3d")
    assert mine.digital_source_type == SOURCE_TYPE and mine.generator and mine.generator.startswith("linly-demo ")
    theirs = read_manifest(signed, generate_identity("memory"))
    assert (theirs.state, theirs.this_deployment) == ("valid", False)  # signed, but not by a signer trusted here
    # A byte changed in the video stream breaks validation.
    data = bytearray(signed)
    data[signed.index(b"mdat") + 500] ^= 0x01
    assert read_manifest(bytes(data), identity).state == "invalid"
    assert read_manifest(b"not a video at all", identity).state in ("absent", "invalid")


def test_the_manifest_holds_nothing_about_the_person(video: Path, identity: SigningIdentity) -> None:
    sign_video(video, identity, "0a1b2c3d")
    with c2pa.Reader("video/mp4", io.BytesIO(video.read_bytes())) as reader:
        store = json.loads(reader.json())
    manifest = store["manifests"][store["active_manifest"]]
    text = json.dumps(manifest)
    assert "talking.mp4" not in text and str(video.parent) not in text
    actions = [a for assertion in manifest["assertions"] if assertion["label"].startswith("c2pa.actions")
               for a in assertion["data"]["actions"]]
    assert [a["action"] for a in actions] == ["c2pa.created"]
    assert set(actions[0]["parameters"]) == {"org.linly-demo.render_id"}
    labels = {assertion["label"] for assertion in manifest["assertions"]}
    assert labels <= {"c2pa.actions", "c2pa.actions.v2", "c2pa.hash.bmff.v3", "c2pa.hash.bmff.v2"}, labels


def test_the_generated_identity_is_kept_private_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / "config" / "provenance"
    first = load_identity(None, None, str(folder), tmp_path / "shm")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    again = load_identity(None, None, str(folder), tmp_path / "shm")
    assert again.deployment_id == first.deployment_id and again.render_id_key() == first.render_id_key()
    assert "PRIVATE" not in repr(first) and (folder / KEY_FILE).exists()
    assert load_identity(None, None, "memory", tmp_path / "shm").deployment_id != first.deployment_id
    assert not list((tmp_path / "shm").glob("*")) if (tmp_path / "shm").exists() else True
    with pytest.raises(ConfigError, match="ephemeral root"):
        load_identity(None, None, str(tmp_path / "shm" / "keys"), tmp_path / "shm")


def test_an_operator_certificate_is_used_and_a_mismatched_key_refused(tmp_path: Path, video: Path) -> None:
    operator, other = generate_identity("memory"), generate_identity("memory")
    (tmp_path / "chain.pem").write_bytes(operator.chain_pem)
    (tmp_path / "key.pem").write_bytes(operator.key_pem)
    (tmp_path / "other.pem").write_bytes(other.key_pem)
    loaded = load_identity(tmp_path / "chain.pem", tmp_path / "key.pem", "memory", tmp_path / "shm")
    assert loaded.source == "operator" and loaded.deployment_id == operator.deployment_id
    sign_video(video, loaded, "00000001")
    assert read_manifest(video.read_bytes(), loaded).state == "trusted"
    with pytest.raises(ConfigError, match="does not belong"):
        load_identity(tmp_path / "chain.pem", tmp_path / "other.pem", "memory", tmp_path / "shm")
    with pytest.raises(ConfigError, match="PEM"):
        load_identity(tmp_path / "chain.pem", tmp_path / "missing.pem", "memory", tmp_path / "shm")
