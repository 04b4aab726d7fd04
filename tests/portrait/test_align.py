"""Alignment: a template as large as the photo's detail allows, and beyond the photo's edge the template continues
the photo out of focus, never in streaks."""

from __future__ import annotations

import cv2
import numpy as np

from linly_demo.portrait.align import (
    CANONICAL_LANDMARKS5,
    align_face,
    alignment_matrix,
    native_template_size,
    normalise_lighting,
)
from linly_demo.portrait.detect import choose_face
from linly_demo.portrait.pipeline import PortraitModels

SIZE = 256


def streakiness(image: np.ndarray, region: np.ndarray) -> float:
    """Gradient energy across columns over energy along them, inside `region` (streaks: rows copied outward)."""
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    across = np.abs(np.diff(luma, axis=1))[:-1][region[:-1, :-1]]
    along = np.abs(np.diff(luma, axis=0))[:, :-1][region[:-1, :-1]]
    return float(across.mean() / max(along.mean(), 1e-6))


def test_the_template_beyond_a_tight_crop_is_not_smeared(portrait_models: PortraitModels,
                                                         astronaut: np.ndarray) -> None:
    tight = np.ascontiguousarray(astronaut[20:300, 120:380])  # the head touches the top of the photo
    landmarks5 = choose_face(portrait_models.detector.detect(tight)).detection.landmarks5
    matrix = alignment_matrix(landmarks5, SIZE)
    coverage = cv2.warpAffine(np.ones(tight.shape[:2], np.float32), matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    beyond = coverage < 0.01
    assert beyond.sum() > 200  # this crop does reach past the photo's edge
    filled = align_face(tight, landmarks5, SIZE).template
    smeared = normalise_lighting(cv2.warpAffine(tight, matrix, (SIZE, SIZE), flags=cv2.INTER_CUBIC,
                                                borderMode=cv2.BORDER_REPLICATE))
    assert streakiness(smeared, beyond) > 5  # the edge row copied outward: the measure sees streaks
    assert streakiness(filled, beyond) < 2.5


def test_a_photo_that_covers_the_template_is_warped_as_before(portrait_models: PortraitModels,
                                                              astronaut: np.ndarray) -> None:
    landmarks5 = choose_face(portrait_models.detector.detect(astronaut)).detection.landmarks5
    plain = normalise_lighting(cv2.warpAffine(astronaut, alignment_matrix(landmarks5, SIZE), (SIZE, SIZE),
                                              flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE))
    assert np.array_equal(align_face(astronaut, landmarks5, SIZE).template, plain)


def eyes_apart(pixels: float) -> np.ndarray:
    """Five landmarks of a frontal face with `pixels` between the eyes."""
    spread = pixels / float(CANONICAL_LANDMARKS5[1, 0] - CANONICAL_LANDMARKS5[0, 0])
    return (CANONICAL_LANDMARKS5 * spread + 40).astype(np.float32)


def test_the_template_is_as_large_as_the_faces_own_detail() -> None:
    canonical = float(CANONICAL_LANDMARKS5[1, 0] - CANONICAL_LANDMARKS5[0, 0])
    assert native_template_size(eyes_apart(300), 512) == 512  # plenty of detail: the video's size
    assert native_template_size(eyes_apart(300), 384) == 384  # never beyond the configured largest
    assert native_template_size(eyes_apart(40), 512) == 256  # a small face: the smallest template
    medium = native_template_size(eyes_apart(90), 512)
    assert medium % 64 == 0 and 256 <= medium < 512
    assert medium * canonical <= 90 * 1.1  # the face is never upscaled more than 10%
