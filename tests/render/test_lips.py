"""Lip landmarks against the photo: an upper lip put on the teeth is lifted off them; right ones are kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from linly_demo.portrait.pipeline import PortraitFeatures, PortraitPipeline
from linly_demo.render.lips import upper_lip_off_the_teeth
from tests.conftest import FACES

SKIN, LIP, TEETH = (200, 160, 140), (170, 70, 70), (240, 238, 232)
OUTER = [(34, 80), (42, 72), (52, 70), (64, 71), (76, 70), (86, 72), (94, 80), (86, 90), (76, 94), (64, 95), (52, 94),
         (42, 90)]
INNER = [(38, 80), (52, 76), (64, 76), (76, 76), (90, 80), (76, 86), (64, 87), (52, 86)]
EYE_DISTANCE = 60.0


def grinning_mouth() -> tuple[np.ndarray, np.ndarray]:
    """A drawn mouth (lips around a row of teeth) and its true 68 landmarks (only 48-67 matter here)."""
    image = np.full((128, 128, 3), SKIN, np.uint8)
    cv2.fillPoly(image, [np.array(OUTER, np.int32)], LIP)
    cv2.fillPoly(image, [np.array(INNER, np.int32)], TEETH)
    marks = np.zeros((68, 2))
    marks[48:60], marks[60:68] = OUTER, INNER
    return image, marks


def test_lip_landmarks_that_fit_the_photo_are_kept() -> None:
    image, marks = grinning_mouth()
    np.testing.assert_array_equal(upper_lip_off_the_teeth(image, marks, EYE_DISTANCE), marks)


def test_an_upper_lip_put_on_the_teeth_is_lifted_off_them_keeping_its_thickness() -> None:
    image, true_marks = grinning_mouth()
    marks = true_marks.copy()
    marks[[49, 50, 51, 52, 53, 61, 62, 63], 1] += 4  # the detector put the whole upper lip 4 px down, on the teeth
    lifted = upper_lip_off_the_teeth(image, marks, EYE_DISTANCE)
    np.testing.assert_allclose(lifted[[61, 62, 63], 1], true_marks[[61, 62, 63], 1], atol=1.0)
    np.testing.assert_allclose(lifted[[50, 51, 52], 1], true_marks[[50, 51, 52], 1], atol=1.0)
    untouched = [i for i in range(68) if i not in (49, 50, 51, 52, 53, 61, 62, 63)]
    np.testing.assert_array_equal(lifted[untouched], marks[untouched])


def test_the_blurred_grin_gets_its_upper_lip_lifted_and_the_clear_smile_does_not(
        astronaut_features: PortraitFeatures, pipeline: PortraitPipeline) -> None:
    def lift_over_eye_distance(features: PortraitFeatures) -> float:
        marks = features.landmarks68.astype(np.float64)
        distance = float(np.linalg.norm(marks[36:42].mean(axis=0) - marks[42:48].mean(axis=0)))
        lifted = upper_lip_off_the_teeth(features.template, marks, distance)
        return float(np.max(marks[[61, 62, 63], 1] - lifted[[61, 62, 63], 1])) / distance

    assert lift_over_eye_distance(astronaut_features) == 0.0
    if not FACES.is_dir():
        pytest.skip("../shared/devdata/faces is absent (it sits beside the repository on development machines)")
    assert lift_over_eye_distance(pipeline.process_bytes((FACES / "alex-lacamoire-1.jpg").read_bytes())) == 0.0
    assert lift_over_eye_distance(pipeline.process_bytes((FACES / "alex-lacamoire-2.png").read_bytes())) > 0.05


def test_the_fast_monotone_cubic_is_scipys_pchip() -> None:
    from scipy.interpolate import PchipInterpolator

    from linly_demo.render.lips import smooth_curve

    rng = np.random.default_rng(0)
    for n in (3, 4, 5, 6):
        for _ in range(200):
            px = np.sort(rng.uniform(0, 100, n))
            if np.diff(px).min() < 0.5:
                continue
            py = rng.normal(0, 10, n)
            if rng.random() < 0.3:
                py[rng.integers(0, n - 1)] = py[rng.integers(0, n)]  # flat stretches and repeated values
            xs = np.linspace(px[0] - 5, px[-1] + 5, 97)
            expected = PchipInterpolator(px, py, extrapolate=False)(np.clip(xs, px[0], px[-1]))
            assert np.allclose(smooth_curve(np.c_[px, py], xs), expected, atol=1e-9)
