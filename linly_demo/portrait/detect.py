"""Face detection with facenet-pytorch's MTCNN (weights ship inside the package; nothing is downloaded).

Guarantees: the face used is the largest one detected with probability >= 0.9; no face, an unclear face, or a
face under 64 px are distinct user-facing errors; the result says how many confident faces were found.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from linly_demo.errors import FaceTooSmall, FaceUnclear, NoFaceFound

MIN_PROBABILITY = 0.9
MIN_FACE_PIXELS = 64
# Detection runs on a copy no larger than this (long side); boxes are mapped back to full resolution.
DETECTION_MAX_SIDE = 1280


@dataclass(frozen=True)
class FaceBox:
    """A face's bounding box in source-image pixels, with its detection probability."""

    x0: float
    y0: float
    x1: float
    y1: float
    probability: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def as_dict(self) -> dict[str, float]:
        return {
            "x": round(self.x0, 1),
            "y": round(self.y0, 1),
            "width": round(self.width, 1),
            "height": round(self.height, 1),
            "probability": round(self.probability, 4),
        }


@dataclass(frozen=True)
class Detection:
    """One detected face: its box and MTCNN's five landmarks (eyes, nose, mouth corners) in image pixels."""

    box: FaceBox
    landmarks5: np.ndarray


@dataclass(frozen=True)
class ChosenFace:
    """The face the pipeline uses, and how many confident faces the photo holds."""

    detection: Detection
    faces_found: int


class FaceDetector:
    """MTCNN over a bounded-size copy of the image; thread-safe."""

    def __init__(self, device: torch.device) -> None:
        from facenet_pytorch import MTCNN  # deferred: it imports torchvision (seconds), needed once models load

        self._mtcnn = MTCNN(keep_all=True, min_face_size=20, post_process=False, device=device)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray, max_side: int = DETECTION_MAX_SIDE) -> list[Detection]:
        """All faces MTCNN finds, largest first, searched on a copy at most `max_side` pixels wide and high
        (boxes and points in `rgb`'s pixels)."""
        height, width = rgb.shape[:2]
        scale = min(1.0, max_side / max(height, width))
        small = rgb if scale == 1.0 else cv2.resize(
            rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
        )
        with self._lock, torch.inference_mode():
            boxes, probs, points = self._mtcnn.detect(small, landmarks=True)
        if boxes is None:
            return []
        found = [
            Detection(
                FaceBox(float(box[0]) / scale, float(box[1]) / scale, float(box[2]) / scale, float(box[3]) / scale,
                        float(prob)),
                np.asarray(pts, dtype=np.float32) / scale,
            )
            for box, prob, pts in zip(boxes, probs, points, strict=True)
        ]
        return sorted(found, key=lambda d: d.box.width * d.box.height, reverse=True)


def choose_face(detections: list[Detection]) -> ChosenFace:
    """The largest confident face, or the user-facing reason there is none."""
    confident = [d for d in detections if d.box.probability >= MIN_PROBABILITY]
    if not confident:
        raise FaceUnclear() if detections else NoFaceFound()
    largest = max(confident, key=lambda d: d.box.width * d.box.height)
    side = min(largest.box.width, largest.box.height)
    if side < MIN_FACE_PIXELS:
        raise FaceTooSmall(
            f"The face in this photo is only {side:.0f} pixels wide; at least {MIN_FACE_PIXELS} are needed. "
            "Please upload a closer or higher-resolution portrait."
        )
    return ChosenFace(largest, faces_found=len(confident))
