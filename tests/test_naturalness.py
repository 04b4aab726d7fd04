"""Naturalness statistics on landmarks whose motion is known: each measure reads what it claims, and can fail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from linly_demo.face_geometry import FrameMeasurements
from linly_demo.naturalness import (
    NATURALNESS_TARGETS,
    blink_onsets,
    eye_aspect_ratio,
    high_frequency_share,
    naturalness,
    naturalness_passes,
    reversals,
    sharpness_ratio,
)

FPS = 25.0


def face(n: int) -> np.ndarray:
    """A frontal 68-point face (eye distance 60 px), repeated n times."""
    marks = np.zeros((68, 2))
    marks[:17] = np.c_[np.linspace(60, 200, 17), 140 + 60 * np.sin(np.linspace(0, np.pi, 17))]
    marks[17:27] = np.c_[np.linspace(75, 185, 10), np.full(10, 85.0)]
    marks[27:36] = np.c_[np.full(9, 130.0), np.linspace(95, 140, 9)]
    for first, centre in ((36, 100.0), (42, 160.0)):  # eye corners, upper lid, corner, lower lid
        marks[first:first + 6] = [[centre - 12, 100], [centre - 5, 95], [centre + 5, 95], [centre + 12, 100],
                                  [centre + 5, 105], [centre - 5, 105]]
    marks[48:60] = np.c_[130 + 25 * np.cos(np.linspace(0, 2 * np.pi, 12, endpoint=False)),
                         170 + 8 * np.sin(np.linspace(0, 2 * np.pi, 12, endpoint=False))]
    marks[60:68] = np.c_[130 + 18 * np.cos(np.linspace(0, 2 * np.pi, 8, endpoint=False)),
                         170 + 0.1 * np.sin(np.linspace(0, 2 * np.pi, 8, endpoint=False))]
    return np.repeat(marks[None], n, axis=0).astype(np.float64)


def with_gap(marks: np.ndarray, gap_px: np.ndarray) -> np.ndarray:
    moved = marks.copy()
    moved[:, 65:68, 1] += gap_px[:, None]  # lower inner lip down by the gap
    return moved


def test_a_mouth_snapping_every_frame_reverses_and_is_high_frequency() -> None:
    n = 250
    snapping = np.where(np.arange(n) % 2, 12.0, 0.0)  # open for one frame, shut the next
    smooth = 6.0 - 6.0 * np.cos(2 * np.pi * 2.0 * np.arange(n) / FPS)  # 2 Hz syllables
    gap_snap = with_gap(face(n), snapping)
    gap_smooth = with_gap(face(n), smooth)
    snap, calm = (naturalness(FrameMeasurements(m, np.zeros(n), FPS)) for m in (gap_snap, gap_smooth))
    assert snap.gap_reversals_per_s > 4 and calm.gap_reversals_per_s == 0
    assert calm.gap_high_frequency_share < 0.01
    assert high_frequency_share(np.sin(2 * np.pi * 9 * np.arange(n) / FPS), FPS) > 0.95
    assert reversals(np.array([0.0, 1.0, 0.0, 1.0, 0.0])) == 3
    assert reversals(np.array([0.0, 1.0, 0.9, 1.0, 0.0])) == 0  # small wiggles are not reversals
    # How wide it opens, over the eye distance (60 px): the snapping mouth opens 12 px on half its frames.
    assert snap.mouth_opening_max == pytest.approx(12 / 60, abs=0.01)
    assert snap.mouth_opening_p90 == pytest.approx(12 / 60, abs=0.01)
    assert calm.mouth_opening_p90 == pytest.approx(np.percentile(smooth, 90) / 60, abs=0.01)


def test_head_roll_travel_and_blinks_are_read_from_the_landmarks() -> None:
    n = 500
    marks = face(n)
    angle = np.radians(2.0) * np.sin(2 * np.pi * 0.3 * np.arange(n) / FPS)
    centre = marks[0].mean(axis=0)
    rotation = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)],
                        -2)
    rolled = np.einsum("nij,nkj->nki", rotation, marks - centre) + centre
    for start in range(40, n, 100):  # a blink every 4 s: lids meet for 3 frames
        rolled[start:start + 3, [37, 38, 43, 44], 1] += 9.0
    result = naturalness(FrameMeasurements(rolled, np.zeros(n), FPS))
    assert result.head_roll_std_deg == pytest.approx(2.0 / np.sqrt(2), rel=0.05)
    drifting = face(n)
    drifting[:, :, 0] += 6.0 * np.sin(2 * np.pi * 0.1 * np.arange(n) / FPS)[:, None]  # sideways, 6 px
    drift = naturalness(FrameMeasurements(drifting, np.zeros(n), FPS))
    assert drift.head_travel == pytest.approx((6.0 / np.sqrt(2)) / 60.0, rel=0.02)
    assert result.blinks_per_minute == pytest.approx(5 / (n / FPS) * 60, rel=0.01)
    frozen = naturalness(FrameMeasurements(face(n), np.zeros(n), FPS))
    assert frozen.head_roll_std_deg == 0 and frozen.head_travel == 0 and frozen.blinks_per_minute == 0
    passes = naturalness_passes(frozen)
    assert not passes["head_roll_std_deg"] and not passes["head_travel"] and not passes["blinks_per_minute"]
    assert set(passes) == set(NATURALNESS_TARGETS)
    assert blink_onsets(eye_aspect_ratio(rolled)) == 5


def test_sharpness_compares_the_frame_with_the_photo_at_the_same_scale() -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)
    photo_marks = face(1)[0] * 1.5  # the face at 1.5 times the frame's eye distance
    frame = cv2.resize(photo, None, fx=2 / 3, fy=2 / 3, interpolation=cv2.INTER_AREA)  # all its detail, smaller
    blurred = cv2.GaussianBlur(frame, (0, 0), 2.0)
    marks = face(1)[0]
    sharp_ratio = sharpness_ratio(frame, marks, photo, photo_marks)
    blurred_ratio = sharpness_ratio(blurred, marks, photo, photo_marks)
    assert sharp_ratio == pytest.approx(1.0, abs=0.25)
    assert blurred_ratio < 0.2
