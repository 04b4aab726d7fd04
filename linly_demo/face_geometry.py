"""Face geometry on dlib's 68-point layout, shared by the renderer (rigging a photo) and the evaluator (measuring
output frames), so both read a mouth and an eye distance the same way.

Every function takes landmarks shaped (..., 68, 2): one face or a batch of frames (NaN rows for frames without a
face give NaN results).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH_CORNERS = (48, 54)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))


@dataclass(frozen=True)
class FrameMeasurements:
    """Per-frame landmarks (NaN where no face was found) and the loudness envelope."""

    landmarks: np.ndarray  # (n, 68, 2)
    envelope: np.ndarray  # (n,) RMS of the soundtrack around each frame
    fps: float


def eye_axis(landmarks: np.ndarray) -> np.ndarray:
    """The vector from the left eye's centre to the right eye's (image left to right), in pixels."""
    return landmarks[..., RIGHT_EYE, :].mean(axis=-2) - landmarks[..., LEFT_EYE, :].mean(axis=-2)


def eye_distance(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the two eye centres, in pixels."""
    return np.linalg.norm(eye_axis(landmarks), axis=-1)


def mouth_width_pixels(landmarks: np.ndarray) -> np.ndarray:
    """Mouth corner to corner (48-54), in pixels."""
    return np.linalg.norm(landmarks[..., MOUTH_CORNERS[1], :] - landmarks[..., MOUTH_CORNERS[0], :], axis=-1)


def mouth_width(landmarks: np.ndarray) -> np.ndarray:
    """Mouth corner to corner over the eye distance."""
    return mouth_width_pixels(landmarks) / eye_distance(landmarks)


def inner_lip_gap(landmarks: np.ndarray) -> np.ndarray:
    """Mean inner-lip opening (61-67, 62-66, 63-65) over the eye distance, measured along the face's own vertical
    (perpendicular to the line between the eyes) and never below zero: lips cannot pass through each other, so
    where a detector puts the upper inner lip below the lower one (it does, on some closed mouths) the mouth reads
    as closed, not as open by the size of the crossing."""
    across = eye_axis(landmarks)
    distance = np.linalg.norm(across, axis=-1)
    down = np.stack([-across[..., 1], across[..., 0]], axis=-1) / distance[..., None]
    opening = np.mean([np.sum((landmarks[..., b, :] - landmarks[..., a, :]) * down, axis=-1)
                       for a, b in INNER_LIP_PAIRS], axis=0)
    return np.maximum(opening, 0.0) / distance
