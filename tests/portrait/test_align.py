"""Alignment beyond the photo's edge: the template continues the photo out of focus, never in streaks."""

from __future__ import annotations

import cv2
import numpy as np

from linly_demo.portrait.align import align_face, alignment_matrix, normalise_lighting
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
