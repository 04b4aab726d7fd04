"""Does the face move like a person's? Motion statistics from per-frame landmarks of an output video, defined as
they were measured on real talking-head videos, and the sharpness of frame 0 against the photo.

Every measure reads only dlib's 68 points (and pixels for sharpness) found on the decoded frames by an
independent detector, never the coefficients that drove the render; frames without a face are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from linly_demo.face_geometry import LEFT_EYE, RIGHT_EYE, FrameMeasurements, eye_axis, eye_distance, inner_lip_gap

REVERSAL_STEP = 0.35  # of the clip's gap range: both steps around a change of direction must exceed it
HIGH_FREQUENCY_HZ = 6.0
BLINK_BELOW = 0.75  # of the clip's median eye aspect ratio

# What real talking-head videos measure (11 clips), and the targets for renders.
NATURALNESS_TARGETS: dict[str, tuple[str, Any]] = {
    "gap_reversals_per_s": ("<=", 0.3),
    "gap_high_frequency_share": ("<=", 0.07),
    "head_roll_std_deg": ("in", (0.5, 2.5)),
    "head_travel": (">=", 0.04),
    "blinks_per_minute": ("in", (10.0, 40.0)),
    "sharpness_ratio": (">=", 0.6),
}


@dataclass(frozen=True)
class Naturalness:
    gap_reversals_per_s: float | None
    gap_high_frequency_share: float | None
    head_roll_std_deg: float | None
    head_travel: float | None
    blinks_per_minute: float | None
    sharpness_ratio: float | None = None  # only with the photo
    # How wide the mouth opens (inner-lip gap over the eye distance), reported beside the real videos' range.
    mouth_opening_p90: float | None = None
    mouth_opening_max: float | None = None

    def as_fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


def naturalness(measured: FrameMeasurements) -> Naturalness:
    """The five motion statistics of a clip (None when too few frames show a face)."""
    found = np.isfinite(measured.landmarks).all(axis=(1, 2))
    if found.sum() < max(10, measured.fps):
        return Naturalness(None, None, None, None, None)
    marks = measured.landmarks[found]
    seconds = len(measured.landmarks) / measured.fps
    gap = inner_lip_gap(marks)
    return Naturalness(
        gap_reversals_per_s=reversals(gap) / seconds,
        gap_high_frequency_share=high_frequency_share(gap, measured.fps),
        head_roll_std_deg=float(np.std(np.degrees(roll(marks)))),
        head_travel=head_travel(marks),
        blinks_per_minute=blink_onsets(eye_aspect_ratio(marks)) / seconds * 60.0,
        mouth_opening_p90=float(np.percentile(gap, 90)),
        mouth_opening_max=float(np.max(gap)),
    )


def reversals(gap: np.ndarray) -> int:
    """Changes of direction where the steps before and after both exceed REVERSAL_STEP of the gap's range."""
    steps = np.diff(gap)
    large = np.abs(steps) > REVERSAL_STEP * (float(gap.max()) - float(gap.min()))
    turns = np.sign(steps[1:]) != np.sign(steps[:-1])
    return int(np.sum(turns & large[1:] & large[:-1]))


def high_frequency_share(gap: np.ndarray, fps: float) -> float:
    """Share of the gap's variance (its power spectrum without DC) above HIGH_FREQUENCY_HZ."""
    power = np.abs(np.fft.rfft(gap - gap.mean())) ** 2
    frequencies = np.fft.rfftfreq(len(gap), 1.0 / fps)
    total = float(power[1:].sum())
    return float(power[frequencies > HIGH_FREQUENCY_HZ].sum()) / total if total > 0 else 0.0


def roll(marks: np.ndarray) -> np.ndarray:
    """Head roll per frame (radians): the angle of the line between the eye centres."""
    across = eye_axis(marks)
    return np.arctan2(across[:, 1], across[:, 0])


def head_travel(marks: np.ndarray) -> float:
    """Std of the eye midpoint's x plus std of its y, over the mean eye distance."""
    middle = (marks[:, LEFT_EYE].mean(axis=1) + marks[:, RIGHT_EYE].mean(axis=1)) / 2
    return float((middle[:, 0].std() + middle[:, 1].std()) / np.mean(eye_distance(marks)))


def eye_aspect_ratio(marks: np.ndarray) -> np.ndarray:
    """Mean over both eyes of (the two lid-to-lid heights) / (2 x corner-to-corner width), per frame."""
    ratios = []
    for first in (36, 42):
        p = marks[:, first:first + 6]
        height = np.linalg.norm(p[:, 1] - p[:, 5], axis=-1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=-1)
        ratios.append(height / (2 * np.linalg.norm(p[:, 0] - p[:, 3], axis=-1)))
    return np.mean(ratios, axis=0)


def blink_onsets(ear: np.ndarray) -> int:
    """Frames where the eye aspect ratio falls below BLINK_BELOW of its median (from at or above it)."""
    closed = ear < BLINK_BELOW * float(np.median(ear))
    return int(np.sum(closed[1:] & ~closed[:-1]) + int(closed[0]))


def sharpness_ratio(frame: np.ndarray, frame_marks: np.ndarray, photo: np.ndarray, photo_marks: np.ndarray) -> float:
    """Mean squared Laplacian of the face region in `frame` over the photo's, the photo first resampled to the
    frame's eye distance (so both are compared at the same scale)."""
    scale = float(eye_distance(frame_marks) / eye_distance(photo_marks))
    resampled = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_CUBIC)
    return _face_detail(frame, frame_marks) / max(_face_detail(resampled, photo_marks * scale), 1e-9)


def _face_detail(image: np.ndarray, marks: np.ndarray) -> float:
    """Mean squared Laplacian of luma inside the box from the brows to the chin, between the jaw's sides."""
    x0, y0 = np.floor(marks[:, 0].min()), np.floor(marks[17:27, 1].min())
    x1, y1 = np.ceil(marks[:, 0].max()), np.ceil(marks[:, 1].max())
    box = image[max(0, int(y0)):int(y1), max(0, int(x0)):int(x1)]
    luma = cv2.cvtColor(np.ascontiguousarray(box), cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(np.mean(cv2.Laplacian(luma, cv2.CV_64F) ** 2))


def meets(value: float | None, op: str, bound: Any) -> bool:
    """Whether a measured value meets its target (">=", "<=" a number, or "in" a (low, high) range); a value
    that could not be measured never does."""
    if value is None:
        return False
    if op == "in":
        return bool(bound[0] <= value <= bound[1])
    return bool(value >= bound if op == ">=" else value <= bound)


def naturalness_passes(values: Naturalness) -> dict[str, bool]:
    return {name: meets(getattr(values, name), op, bound) for name, (op, bound) in NATURALNESS_TARGETS.items()}
