"""Checking a video: which of the three provenance layers it carries, as one JSON-ready report.

Guarantees: works on bytes in memory (the caller deletes any upload at once); never raises on a video it cannot
read: every layer then reports "not found"; reads at most MAX_FRAMES frames; says for each layer what it found
and how sure it is, and whether this deployment made the video (its signer, its audit log).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from linly_demo.provenance.label import label_found
from linly_demo.provenance.manifest import ManifestReport, read_manifest
from linly_demo.provenance.service import Provenance
from linly_demo.provenance.watermark import detect, luma

MAX_FRAMES = 1500
LABEL_SAMPLES = 12
LAYER_BITS = {"c2pa": 1, "watermark": 2, "label": 4}


@dataclass(frozen=True)
class VideoFrames:
    """What the checks need of a video's pictures: a few frames for the label, the mean luma for the mark."""

    samples: list[np.ndarray]
    mean_luma: np.ndarray | None
    count: int


def read_frames(data: bytes) -> VideoFrames:
    """Decode up to MAX_FRAMES frames from `data` (nothing when it is not a readable video)."""
    import av  # deferred: only `verify` decodes

    total: np.ndarray | None = None
    frames: list[np.ndarray] = []
    count = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            expected = stream.frames or 0
            every = max(1, expected // LABEL_SAMPLES) if expected else 10
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                frame_luma = luma(rgb)
                total = frame_luma.astype(np.float64) if total is None else total + frame_luma
                if count % every == 0 and len(frames) < LABEL_SAMPLES:
                    frames.append(rgb)
                count += 1
                if count >= MAX_FRAMES:
                    break
    except (av.error.FFmpegError, IndexError, ValueError, OSError):
        pass
    return VideoFrames(frames, None if total is None else (total / max(count, 1)).astype(np.float32), count)


def verify_video(data: bytes, provenance: Provenance | None) -> dict[str, Any]:
    """The report: {"c2pa": ..., "watermark": ..., "label": ..., "layers_found": [...]}."""
    manifest: ManifestReport = read_manifest(data, provenance.identity if provenance else None)
    pictures = read_frames(data)
    lookups: dict[str, bool | None] = {}

    def known(render_id: str) -> bool | None:
        """Whether this deployment's audit log records `render_id` (one read of the log per distinct id)."""
        if render_id not in lookups:
            lookups[render_id] = provenance.knows(render_id) if provenance is not None else None
        return lookups[render_id]

    watermark: dict[str, Any] = {"found": False, "payload": None, "confidence": 0.0, "render_id_known": None,
                                 "deployment_tag_matches": None}
    if pictures.mean_luma is not None:
        detection = detect(pictures.mean_luma)
        watermark["confidence"] = round(detection.sync_z, 1)
        if detection.found and detection.payload is not None:
            render_id = f"{detection.payload.render_id:08x}"
            watermark.update(found=True, payload={"deployment_tag": f"{detection.payload.deployment_tag:04x}",
                                                  "render_id": render_id})
            if provenance is not None:
                watermark["deployment_tag_matches"] = detection.payload.deployment_tag == provenance.deployment_tag
                watermark["render_id_known"] = known(render_id)
    labelled, score = label_found(pictures.samples)
    report: dict[str, Any] = {
        "frames_read": pictures.count,
        "c2pa": {**manifest.as_dict(),
                 "render_id_known": known(manifest.render_id) if manifest.render_id else None},
        "watermark": watermark,
        "label": {"found": labelled, "score": round(score, 3)},
    }
    found = [layer for layer, present in (("c2pa", manifest.state in ("valid", "trusted")),
                                          ("watermark", watermark["found"]), ("label", labelled)) if present]
    report["layers_found"] = found
    return report


def exit_status(report: dict[str, Any]) -> int:
    """0 when all three layers were found, else 10 + the sum of the found layers' bits (c2pa 1, watermark 2,
    label 4): 10 means none was found."""
    found = sum(LAYER_BITS[layer] for layer in report["layers_found"])
    return 0 if found == sum(LAYER_BITS.values()) else 10 + found
