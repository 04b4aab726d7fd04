"""Every render says what it is: the label on every frame (or on none, when turned off), the invisible
watermark with the render id (surviving the everyday changes it is measured to survive), the signed manifest;
unmarked videos give no detection."""

from __future__ import annotations

import secrets

import cv2
import numpy as np
import pytest

from linly_demo.audio import Speech
from linly_demo.audit import AuditLog
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.provenance.identity import generate_identity
from linly_demo.provenance.label import FOUND_CORRELATION, label_score
from linly_demo.provenance.manifest import read_manifest
from linly_demo.provenance.service import Provenance
from linly_demo.provenance.watermark import Payload, average_luma, detect
from linly_demo.render.pipeline import render_video
from tests.provenance.conftest import frames_of, mp4_of

pytestmark = pytest.mark.slow

IDENTITY = generate_identity("memory")


def _render(features: PortraitFeatures, speech: Speech, ephemeral: EphemeralRoot,
            provenance: Provenance | None) -> tuple[bytes, str | None]:
    rendered = render_video(features, speech, ephemeral, seed=3, provenance=provenance, subject="session-1")
    data = rendered.video.path.read_bytes()
    ephemeral.delete(rendered.video.path)
    return data, rendered.render_id


def _marked(features: PortraitFeatures, speech: Speech, folder) -> tuple[bytes, str, Provenance]:
    from linly_demo.config import Settings

    root = f"/dev/shm/linly-marks-{secrets.token_hex(4)}"  # nosec B108: the memory-backed root is the point
    ephemeral = EphemeralRoot.from_settings(Settings.from_env({"LINLY_EPHEMERAL_DIR": root}))
    provenance = Provenance(IDENTITY, AuditLog(str(folder / "audit.jsonl"), b"k" * 32))
    data, render_id = _render(features, speech, ephemeral, provenance)
    ephemeral.wipe()
    assert render_id is not None
    return data, render_id, provenance


@pytest.fixture(scope="module")
def marked(astronaut_features: PortraitFeatures, speech: Speech, tmp_path_factory) -> tuple[bytes, str, Provenance]:
    """A marked render of the astronaut (a 256 px template, upscaled at encoding)."""
    return _marked(astronaut_features, speech, tmp_path_factory.mktemp("marks"))


@pytest.fixture(scope="module")
def marked_512(portrait_models, speech: Speech, tmp_path_factory) -> tuple[bytes, str, Provenance]:
    """A marked render of a development photo with a native 512 px template."""
    from linly_demo.config import Settings
    from linly_demo.portrait.pipeline import PortraitPipeline
    from tests.conftest import FACES

    if not FACES.is_dir():
        pytest.skip("../shared/devdata/faces is absent (it sits beside the repository on development machines)")
    pipeline = PortraitPipeline(Settings.from_env({}), models=portrait_models)
    features = pipeline.process_bytes((FACES / "lin-manuel-miranda.png").read_bytes())
    assert features.template.shape[0] == 512
    return _marked(features, speech, tmp_path_factory.mktemp("marks-512"))


def test_every_frame_is_labelled_watermarked_and_the_file_signed(marked) -> None:
    data, render_id, provenance = marked
    frames = frames_of(data)
    scores = [label_score(frame) for frame in frames]
    assert min(scores) >= FOUND_CORRELATION + 0.2, min(scores)
    detection = detect(average_luma(frames))
    assert detection.found and detection.payload == Payload(provenance.deployment_tag, int(render_id, 16))
    manifest = read_manifest(data, IDENTITY)
    assert manifest.state == "trusted" and manifest.render_id == render_id
    assert provenance.knows(render_id) is True and provenance.knows("00000000") is False


@pytest.mark.parametrize("attack", ["H.264 CRF 32", "half size", "crop 10%", "2 s excerpt", "brightness +10%",
                                    "contrast -10%", "30 fps"])
@pytest.mark.parametrize("clip", ["marked", "marked_512"])
def test_the_watermark_survives_everyday_changes(clip: str, attack: str, request: pytest.FixtureRequest) -> None:
    data, render_id, provenance = request.getfixturevalue(clip)
    frames = frames_of(data)
    height, width = frames[0].shape[:2]
    if attack == "H.264 CRF 32":
        changed = frames_of(mp4_of(frames, crf=32))
    elif attack == "crop 10%":
        top, left = height // 10, width // 10
        changed = frames_of(mp4_of([np.ascontiguousarray(f[top:height - top, left:width - left]) for f in frames]))
    elif attack == "brightness +10%":
        changed = frames_of(mp4_of([np.clip(f.astype(np.float32) + 25.5, 0, 255).astype(np.uint8) for f in frames]))
    elif attack == "contrast -10%":
        changed = frames_of(mp4_of([np.clip((f.astype(np.float32) - 128) * 0.9 + 128, 0, 255).astype(np.uint8)
                                    for f in frames]))
    elif attack == "2 s excerpt":
        changed = frames[len(frames) // 3:len(frames) // 3 + 50]
    elif attack == "30 fps":
        picks = np.floor(np.arange(0, len(frames) / 25, 1 / 30) * 25).astype(int)
        changed = frames_of(mp4_of([frames[i] for i in picks if i < len(frames)], fps=30))
    else:
        changed = frames_of(mp4_of([cv2.resize(f, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
                                    for f in frames]))
    detection = detect(average_luma(changed))
    assert detection.found and detection.payload == Payload(provenance.deployment_tag, int(render_id, 16))


def test_unmarked_videos_give_no_detection(astronaut_features: PortraitFeatures, speech: Speech,
                                           ephemeral: EphemeralRoot, audit_path, astronaut: np.ndarray) -> None:
    data, render_id = _render(astronaut_features, speech, ephemeral, None)
    frames = frames_of(data)
    assert render_id is None and read_manifest(data, IDENTITY).state == "absent"
    assert max(label_score(frame) for frame in frames) < FOUND_CORRELATION - 0.2
    assert not detect(average_luma(frames)).found
    still = cv2.resize(astronaut, (512, 512))
    assert not detect(average_luma(frames_of(mp4_of(np.stack([still] * 50))))).found


def test_the_label_can_be_turned_off_and_the_other_layers_stay(astronaut_features: PortraitFeatures,
                                                               speech: Speech, ephemeral: EphemeralRoot,
                                                               audit_path) -> None:
    provenance = Provenance(IDENTITY, AuditLog(str(audit_path), b"k" * 32), visible_label=False)
    data, render_id = _render(astronaut_features, speech, ephemeral, provenance)
    frames = frames_of(data)
    assert max(label_score(frame) for frame in frames) < FOUND_CORRELATION - 0.2
    assert detect(average_luma(frames)).found and read_manifest(data, IDENTITY).render_id == render_id
