"""The mouth: puckered lips make an oval, not a pointed diamond; synthesised teeth take the photo's own light."""

from __future__ import annotations

import cv2
import numpy as np

from linly_demo.render.lips import smooth_curve
from linly_demo.render.mouth import _towards_ellipse, eye_white


def diamond() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper and lower inner-lip curves through five points each that meet in points at the corners."""
    xs = np.arange(100, 141, dtype=np.float32)
    upper = np.array([[100, 50], [110, 47], [120, 44], [130, 47], [140, 50]], np.float64)
    lower = np.array([[100, 50], [110, 56], [120, 62], [130, 56], [140, 50]], np.float64)
    return xs, smooth_curve(upper, xs)[None, :], smooth_curve(lower, xs)[None, :]


def test_a_full_pucker_turns_the_diamond_into_an_ellipse_and_none_leaves_it() -> None:
    xs, top, bottom = diamond()
    same_top, same_bottom = _towards_ellipse(top, bottom, xs, np.array([100.0, 50.0]), np.array([140.0, 50.0]), 0.0)
    assert np.allclose(same_top, top) and np.allclose(same_bottom, bottom)
    oval_top, oval_bottom = _towards_ellipse(top, bottom, xs, np.array([100.0, 50.0]), np.array([140.0, 50.0]), 1.0)
    height = (oval_bottom - oval_top)[0]
    middle, near_corner = height[20], height[4]  # x = 120 (centre) and x = 104 (80% of the way out)
    assert np.isclose(middle, 18.0)  # as tall as the opening was
    assert near_corner >= 0.55 * middle  # an ellipse keeps 60% of its height there
    assert (bottom - top)[0][4] < 0.35 * middle  # the diamond kept 20-30%


def test_pressed_lips_stay_shut_when_puckered_even_where_a_smile_sags_below_the_corners() -> None:
    # A closed smiling mouth: both lips on one curve that sags 6 px below the corner line (a rounded "b").
    xs = np.arange(100, 141, dtype=np.float32)
    seam = smooth_curve(np.array([[100, 50], [110, 54], [120, 56], [130, 54], [140, 50]], np.float64), xs)[None, :]
    top, bottom = _towards_ellipse(seam, seam, xs, np.array([100.0, 50.0]), np.array([140.0, 50.0]), 1.0)
    assert np.abs(bottom - top).max() < 1e-6  # no oval opens (it used to open as tall as the sag: teeth showed)
    # ...and the seam stays where the lips touch (it was drawn on the straight corner line, up to 6 px above them).
    assert np.abs(top - seam).max() < 1e-6
    # Slightly parted, the oval is no taller than the opening.
    top, bottom = _towards_ellipse(seam - 1.0, seam + 1.0, xs, np.array([100.0, 50.0]), np.array([140.0, 50.0]), 1.0)
    assert (bottom - top).max() <= 2.0 + 1e-6


def eyes_image(white: tuple[int, int, int], iris: tuple[int, int, int] = (60, 40, 30)) -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured image with two almond eyes (sclera `white`, a dark iris in the middle) and their landmarks."""
    image = np.full((200, 200, 3), (190, 140, 120), np.uint8)
    marks = np.zeros((68, 2))
    for first, centre in ((36, 70.0), (42, 130.0)):
        marks[first:first + 6] = [[centre - 18, 100], [centre - 7, 92], [centre + 7, 92], [centre + 18, 100],
                                  [centre + 7, 108], [centre - 7, 108]]
        cv2.fillPoly(image, [np.round(marks[first:first + 6]).astype(np.int32)], white)
        cv2.circle(image, (int(centre), 100), 6, iris, -1)
    return image, marks


def test_the_eye_whites_are_read_from_the_sclera_not_the_iris_or_skin() -> None:
    image, marks = eyes_image((205, 210, 225))
    assert np.allclose(eye_white(image, marks), (205, 210, 225), atol=2)
    tiny = marks.copy()
    tiny[36:48] = tiny[36:48].mean(axis=0) + (tiny[36:48] - tiny[36:48].mean(axis=0)) * 0.1
    assert eye_white(image, tiny) is None  # too few pixels to tell
