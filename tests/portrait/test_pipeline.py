"""The portrait pipeline on real photos: features, identity, bad inputs, and where bytes may live."""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from linly_demo import errors
from linly_demo.audit import AuditLog
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.keys import PORTRAIT_TOKEN, ServerSecret
from linly_demo.portrait.embed import embedding_distance
from linly_demo.portrait.pipeline import PortraitPipeline
from linly_demo.tokens import TokenStore
from tests.conftest import REPO, encode, files_under


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_astronaut_upload_becomes_features_and_the_upload_is_gone(
    pipeline: PortraitPipeline, ephemeral: EphemeralRoot, astronaut: np.ndarray, fmt: str, suffix: str
) -> None:
    upload = ephemeral.write_bytes(encode(astronaut, fmt), suffix)
    features = pipeline.process_file(upload, subject="session-1")

    assert not upload.exists()
    assert ephemeral.entries() == []
    assert features.faces_found == 1
    side = features.template_size
    assert side == 256  # her face is small in the photo (44 px between the eyes): rendered at its own detail
    assert features.template.shape == (side, side, 3) and features.template.dtype == np.uint8
    assert features.landmarks68.shape == (68, 2)
    assert (features.landmarks68 >= 0).all() and (features.landmarks68 < side).all()
    assert features.landmarks5.shape == (5, 2)
    assert features.embedding_backend == pipeline.models.embedder.backend
    assert features.embedding_dim == pipeline.models.embedder.dim
    assert np.linalg.norm(features.embedding) == pytest.approx(1.0, abs=1e-5)
    assert not features.template.flags.writeable  # frozen features cannot be edited in place
    # The face box lies on the astronaut's face (her head is in the upper middle of the photo).
    box = features.face_box
    assert 150 < box.x0 < box.x1 < 300 and 40 < box.y0 < box.y1 < 220 and box.probability >= 0.9


def test_landmarks_sit_on_the_facial_features(pipeline: PortraitPipeline, astronaut: np.ndarray) -> None:
    features = pipeline.process_bytes(encode(astronaut))
    marks = features.landmarks68
    left_eye, right_eye = marks[36:42].mean(axis=0), marks[42:48].mean(axis=0)
    mouth, chin = marks[48:68].mean(axis=0), marks[8]
    # dlib's eye centres land near the canonical eye positions of the template (within 6% of its side).
    assert np.allclose(left_eye, features.landmarks5[0], atol=0.06 * features.template_size)
    assert np.allclose(right_eye, features.landmarks5[1], atol=0.06 * features.template_size)
    assert abs(left_eye[1] - right_eye[1]) < 0.03 * features.template_size  # aligned: eyes level
    assert left_eye[1] < mouth[1] < chin[1]


def test_identity_survives_shift_and_rescale_and_differs_between_people(
    pipeline: PortraitPipeline, astronaut: np.ndarray, shared_faces: Path
) -> None:
    reference = pipeline.process_bytes(encode(astronaut))
    shifted = np.full((820, 820, 3), 128, np.uint8)
    shifted[70:770, 100:800] = cv2.resize(astronaut, (700, 700), interpolation=cv2.INTER_CUBIC)
    moved = pipeline.process_bytes(encode(shifted, "PNG"))
    threshold = pipeline.models.embedder.same_person_threshold

    assert embedding_distance(reference.embedding, moved.embedding) < threshold
    other = pipeline.process_bytes((shared_faces / "lin-manuel-miranda.png").read_bytes())
    assert embedding_distance(reference.embedding, other.embedding) > threshold


def test_same_person_in_two_real_photos_is_closer_than_two_people(
    pipeline: PortraitPipeline, shared_faces: Path
) -> None:
    alex1 = pipeline.process_bytes((shared_faces / "alex-lacamoire-1.jpg").read_bytes())
    alex2 = pipeline.process_bytes((shared_faces / "alex-lacamoire-2.png").read_bytes())
    lin = pipeline.process_bytes((shared_faces / "lin-manuel-miranda.png").read_bytes())
    threshold = pipeline.models.embedder.same_person_threshold
    assert embedding_distance(alex1.embedding, alex2.embedding) < threshold
    assert embedding_distance(alex1.embedding, lin.embedding) > threshold
    assert embedding_distance(alex2.embedding, lin.embedding) > threshold


def test_several_faces_use_the_largest_and_say_so(pipeline: PortraitPipeline, shared_faces: Path) -> None:
    features = pipeline.process_bytes((shared_faces / "two-faces.jpg").read_bytes())
    assert features.faces_found == 2
    assert features.face_box.width > 80


def _png_bomb(side: int = 20000) -> bytes:
    """A valid grayscale PNG of side x side black pixels: tiny on disk, 400 MP when decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(compressor.compress(row * 500) for _ in range(side // 500)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bad_inputs(astronaut: np.ndarray) -> dict[str, tuple[bytes, str, type[errors.InputRejected]]]:
    from skimage import data

    small = np.full((480, 480, 3), 200, np.uint8)
    small[100:300, 100:300] = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)
    jpeg = encode(astronaut)
    return {
        "empty file": (b"", ".jpg", errors.EmptyUpload),
        "truncated JPEG": (jpeg[: len(jpeg) // 2], ".jpg", errors.CorruptImage),
        "text renamed .png": (b"hello, this is not an image\n" * 20, ".png", errors.UnsupportedFormat),
        "SVG": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle r="4"/></svg>',
                ".svg", errors.UnsupportedFormat),
        "20000x20000 PNG bomb": (_png_bomb(), ".png", errors.ImageTooLarge),
        "no face": (encode(data.coffee()), ".jpg", errors.NoFaceFound),
        "face too small": (encode(small, "PNG"), ".png", errors.FaceTooSmall),
        "oversize upload": (jpeg + b"\x00" * (11 * 2**20), ".jpg", errors.UploadTooLarge),
    }


BAD_INPUT_NAMES = [
    "empty file", "truncated JPEG", "text renamed .png", "SVG", "20000x20000 PNG bomb", "no face",
    "face too small", "oversize upload",
]


@pytest.mark.parametrize("name", BAD_INPUT_NAMES)
def test_bad_input_is_a_clear_error_and_leaves_nothing(
    name: str, pipeline: PortraitPipeline, ephemeral: EphemeralRoot, astronaut: np.ndarray, audit_path: Path,
    private_dirs: list[Path]
) -> None:
    data, suffix, expected = _bad_inputs(astronaut)[name]
    upload = ephemeral.write_bytes(data, suffix)
    before = files_under(*private_dirs)

    with pytest.raises(expected) as caught:
        pipeline.process_file(upload, subject="session-bad")

    message = caught.value.user_message
    assert len(message) > 20 and message.endswith(".")
    assert str(ephemeral.path) not in message and upload.name not in message
    assert not upload.exists() and ephemeral.entries() == []
    assert files_under(*private_dirs) - before == set()
    lines = [json.loads(line) for line in audit_path.read_text().splitlines()]
    assert {"event": "portrait.rejected", "reason": expected.code} in [
        {"event": line["event"], "reason": line.get("reason")} for line in lines
    ]


def test_unexpected_failure_is_generic_and_still_deletes_the_upload(
    pipeline: PortraitPipeline, ephemeral: EphemeralRoot, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError(f"boom at {ephemeral.path}")

    monkeypatch.setattr(pipeline.models.landmarks, "predict", explode)
    upload = ephemeral.write_bytes(encode(astronaut), ".jpg")
    with pytest.raises(errors.LinlyError) as caught:
        pipeline.process_file(upload)
    assert "internal error" in caught.value.user_message
    assert str(ephemeral.path) not in caught.value.user_message
    assert not upload.exists()


def test_files_outside_the_ephemeral_root_are_refused_and_left_alone(
    pipeline: PortraitPipeline, tmp_path: Path, astronaut: np.ndarray
) -> None:
    outside = tmp_path / "mine.jpg"
    outside.write_bytes(encode(astronaut))
    with pytest.raises(ValueError):
        pipeline.process_file(outside)
    assert outside.exists()


def test_processing_writes_nothing_outside_the_ephemeral_root(
    portrait_models, settings, astronaut: np.ndarray, private_dirs: list[Path]
) -> None:
    ephemeral = EphemeralRoot.from_settings(settings)
    audit = AuditLog("-", b"k" * 32)
    pipeline = PortraitPipeline(settings, audit, ephemeral, models=portrait_models)
    tokens = TokenStore(ServerSecret().key_for(PORTRAIT_TOKEN), 60, audit)
    watched = private_dirs
    uploads = [ephemeral.write_bytes(encode(astronaut, fmt), suffix)
               for fmt, suffix in (("JPEG", ".jpg"), ("PNG", ".png"))]
    before = files_under(*watched)
    mtimes = {path: os.stat(path).st_mtime_ns for path in before if path.startswith(str(REPO)) and ".venv" not in path}

    for upload in uploads:
        token = tokens.issue(pipeline.process_file(upload, subject="s"), subject="s")
        tokens.resolve(token)

    after = files_under(*watched)
    assert after - before == set()
    assert {p: os.stat(p).st_mtime_ns for p in mtimes if os.path.exists(p)} == mtimes
    assert ephemeral.entries() == []
    ephemeral.wipe()


def test_the_watch_on_private_dirs_sees_a_write_outside_the_root(private_dirs: list[Path]) -> None:
    before = files_under(*private_dirs)
    with tempfile.NamedTemporaryFile(delete=False) as stray:
        stray.write(b"a frame that should not be here")
    (Path.home() / "frame.png").write_bytes(b"nor here")
    assert len(files_under(*private_dirs) - before) == 2


def test_the_audit_log_of_a_full_run_holds_nothing_identifying(
    pipeline: PortraitPipeline, ephemeral: EphemeralRoot, astronaut: np.ndarray, audit_path: Path
) -> None:
    session_id = "raw-session-id-7f3a9c"
    tokens = TokenStore(b"t" * 32, 60, AuditLog(str(audit_path), b"k" * 32))
    upload = ephemeral.write_bytes(encode(astronaut), ".jpg")
    features = pipeline.process_file(upload, subject=session_id)
    token = tokens.issue(features, subject=session_id)
    tokens.revoke(token)
    with pytest.raises(errors.NoFaceFound):
        from skimage import data

        pipeline.process_file(ephemeral.write_bytes(encode(data.coffee()), ".jpg"), subject=session_id)

    text = audit_path.read_text()
    events = [json.loads(line)["event"] for line in text.splitlines()]
    for expected in ("portrait.received", "portrait.raw_deleted", "portrait.processed", "portrait.rejected",
                     "token.issued", "portrait.revoked"):
        assert expected in events
    assert upload.name not in text and upload.stem not in text
    assert str(ephemeral.path) not in text and "/dev/shm" not in text
    assert session_id not in text and token not in text
    for value in features.embedding:
        assert repr(float(value)) not in text and f"{float(value):.6f}" not in text
