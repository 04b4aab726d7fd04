"""The photo's own teeth: found only where the photo shows them, hung from the upper lip, addressed per lip."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.gate_margins import CAVITY_CONTRAST_NEEDED, cavity_contrast
from linly_demo.portrait.pipeline import PortraitFeatures, PortraitPipeline
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS, DrivingSignals
from linly_demo.render.frames import render_frames
from linly_demo.render.lips import LOWER_CONTOUR, UPPER_CONTOUR, smooth_curve, teeth_mask
from linly_demo.render.rig import build_rig
from linly_demo.render.teeth import TeethTexture, photo_teeth
from linly_demo.render.warp import target_vertices
from tests.conftest import FACES

LUMA = np.array([0.299, 0.587, 0.114])


def eye_distance(marks: np.ndarray) -> float:
    return float(np.linalg.norm(marks[36:42].mean(axis=0) - marks[42:48].mean(axis=0)))


def test_the_astronauts_teeth_are_cut_out_and_painted_over_teeth_are_not_found(
        astronaut_features: PortraitFeatures) -> None:
    rig = build_rig(astronaut_features.template, astronaut_features.landmarks68, astronaut_features.template.shape[0])
    assert rig.teeth is not None
    teeth = rig.teeth
    assert teeth.colour.shape[:2] == teeth.alpha.shape
    assert float(teeth.median_colour @ LUMA) > 180  # bright, as the photo's teeth are
    assert np.all(teeth.lower_end > teeth.upper_start)
    # The rig's source has the teeth painted over (closed lips never show flecks of them): nothing is found there.
    marks = rig.vertices[:68]
    painted_over = teeth_mask(rig.source, marks, eye_distance(marks))
    assert photo_teeth(rig.source, painted_over, marks, eye_distance(marks)) is None


@pytest.mark.parametrize("photo, shows_teeth", [("alex-lacamoire-1.jpg", True), ("lin-manuel-miranda.png", False),
                                                ("two-faces.jpg", False)])
def test_teeth_are_taken_only_from_photos_that_show_them(photo: str, shows_teeth: bool,
                                                         pipeline: PortraitPipeline) -> None:
    if not FACES.is_dir():
        pytest.skip("../shared/devdata/faces is absent (it sits beside the repository on development machines)")
    features = pipeline.process_bytes((FACES / photo).read_bytes())
    rig = build_rig(features.template, features.landmarks68, features.template.shape[0])
    assert (rig.teeth is not None) == shows_teeth


def teeth_band(frame: np.ndarray, column: int, top: float, bottom: float, threshold: float) -> tuple[int, int]:
    """First and last row of the bright run starting within 3 px under `top` in `column` of `frame`."""
    luma = frame[:, column].astype(float) @ LUMA
    rows = [row for row in range(int(np.floor(top)), int(np.ceil(bottom)) + 1) if luma[row] > threshold]
    assert rows, "no teeth in the opening"
    first = rows[0]
    last = first
    while last + 1 < len(luma) and luma[last + 1] > threshold:
        last += 1
    return first, last


def test_upper_teeth_hang_from_the_upper_lip_with_the_photos_length(astronaut_features: PortraitFeatures) -> None:
    rig = build_rig(astronaut_features.template, astronaut_features.landmarks68, astronaut_features.template.shape[0])
    teeth = rig.teeth
    assert teeth is not None
    photo_length = float(teeth.lower_end[int(teeth.centre)] - teeth.upper_start[int(teeth.centre)])
    threshold = 0.5 * (float(teeth.median_colour @ LUMA) + 40.0)
    tops = []
    for raise_ in (0.0, 1.0):
        coefficients = np.zeros((1, len(CHANNELS)), np.float32)
        coefficients[0, CHANNEL_INDEX["jaw_open"]] = 1.0
        coefficients[0, CHANNEL_INDEX["upper_lip_raise"]] = raise_
        frame = next(render_frames(astronaut_features, DrivingSignals(25, coefficients)))[0]
        moved = target_vertices(rig, coefficients)[0]
        column = int(round(moved[62, 0]))
        first, last = teeth_band(frame, column, moved[62, 1], moved[66, 1], threshold)
        assert abs(first - moved[62, 1]) <= 2.0  # the teeth start right under the upper lip...
        assert abs((last - first + 1) - photo_length) <= 2.5  # ...keep the photo's length...
        assert moved[66, 1] - last > 3  # ...and the wide-open mouth shows its dark cavity below them
        tops.append(first - moved[62, 1])
    assert abs(tops[0] - tops[1]) <= 1.5  # lifting the lip lifts the teeth with it


def test_upper_teeth_follow_the_upper_lip_and_lower_teeth_the_lower_lip() -> None:
    height, width = 12, 9
    colour = np.zeros((height, width, 3), np.float32)
    colour[:6] = 250.0  # upper teeth rows 2..5, lower teeth rows 6..9
    colour[6:] = 200.0
    alpha = np.zeros((height, width), np.float32)
    alpha[2:10] = 1.0
    texture = TeethTexture(colour=colour, alpha=alpha, centre=4.0, upper_start=np.full(width, 2.0, np.float32),
                           split=np.full(width, 6.0, np.float32), lower_end=np.full(width, 9.0, np.float32),
                           median_colour=np.array([240.0, 240.0, 240.0]))
    columns = np.full((1, 3), 4.0, np.float32)
    offsets = np.array([[0.0, 2.0, 6.0]], np.float32)  # pixels below the upper lip / above the lower lip
    upper_colour, upper_alpha, lower_colour, lower_alpha = texture.sample(columns, offsets, offsets)
    np.testing.assert_allclose(upper_alpha[0], [1.0, 1.0, 0.0], atol=1e-5)  # 4 rows of upper teeth, then none
    np.testing.assert_allclose(upper_colour[0, :2, 0], [250.0, 250.0])
    np.testing.assert_allclose(lower_alpha[0], [1.0, 1.0, 0.0], atol=1e-5)  # 4 rows of lower teeth, then none
    np.testing.assert_allclose(lower_colour[0, :2, 0], [200.0, 200.0])
    outside = texture.sample(np.full((1, 1), 20.0, np.float32), np.zeros((1, 1), np.float32),
                             np.zeros((1, 1), np.float32))
    assert outside[1][0, 0] == 0 and outside[3][0, 0] == 0  # beyond the photo's teeth: no teeth


PORTRAITS = ["astronaut", "alex-lacamoire-1.jpg", "alex-lacamoire-2.png", "lin-manuel-miranda.png", "two-faces.jpg"]


@pytest.mark.parametrize("portrait", PORTRAITS, ids=[p.split(".")[0] for p in PORTRAITS])
def test_the_open_mouth_is_shaded_and_darker_at_the_back_at_every_opening(
        portrait: str, astronaut_features: PortraitFeatures, pipeline: PortraitPipeline) -> None:
    if portrait == "astronaut":
        features = astronaut_features
    elif FACES.is_dir():
        features = pipeline.process_bytes((FACES / portrait).read_bytes())
    else:
        pytest.skip("../shared/devdata/faces is absent (it sits beside the repository on development machines)")
    rig = build_rig(features.template, features.landmarks68, features.template.shape[0])
    openings = [0.2, 0.4, 0.7, 1.0, 1.4]
    coefficients = np.zeros((len(openings), len(CHANNELS)), np.float32)
    coefficients[:, CHANNEL_INDEX["jaw_open"]] = openings
    frames = next(render_frames(features, DrivingSignals(25, coefficients)))
    for jaw, frame, moved in zip(openings, frames, target_vertices(rig, coefficients), strict=True):
        left, right = moved[60, 0], moved[64, 0]
        columns = np.arange(int(left + 0.3 * (right - left)), int(right - 0.3 * (right - left)) + 1)
        top = smooth_curve(moved[UPPER_CONTOUR], columns.astype(float))
        bottom = smooth_curve(moved[LOWER_CONTOUR], columns.astype(float))
        luma = frame.astype(float) @ LUMA
        inside = np.concatenate([luma[int(np.ceil(t)) + 1:int(np.floor(b)), c]
                                 for c, t, b in zip(columns, top, bottom, strict=True)])
        assert len(inside) > 10, f"jaw {jaw}: the mouth did not open"
        assert inside.std() > 4.0, f"jaw {jaw}: a flat interior (std {inside.std():.1f})"
        if jaw >= 0.7:  # wide open: the cavity behind teeth and lips is darker than next to the lower lip
            # Measured as the darkest quarter of the middle columns' interior: a fixed row (mid-height) can land on
            # the tips of a photo's long teeth or beside them depending on sub-pixel rounding.
            contrast = cavity_contrast(frame, moved)
            assert contrast > CAVITY_CONTRAST_NEEDED, f"jaw {jaw}: back only {contrast:.0f} darker than the lower lip"
