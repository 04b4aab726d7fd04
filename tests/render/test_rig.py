"""The face rig: the skin beside the mouth corners comes along when the lips pucker or spread."""

from __future__ import annotations

import numpy as np

from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.render.driving import CHANNEL_INDEX
from linly_demo.render.rig import CHEEK_CORNERS, CHEEK_SHARE, RING_SOURCES, build_rig


def test_the_skin_beside_the_corners_follows_the_pucker_and_the_spread(
        astronaut_features: PortraitFeatures) -> None:
    rig = build_rig(astronaut_features.template, astronaut_features.landmarks68, astronaut_features.template_size)
    ring_start = len(rig.vertices) - len(RING_SOURCES)
    cheeks = ring_start + len(RING_SOURCES) - len(CHEEK_CORNERS) + np.arange(len(CHEEK_CORNERS))
    left, right = rig.vertices[cheeks]
    # The points lie outside the corners, along the mouth, within the face.
    assert left[0] < rig.vertices[48, 0] - 0.2 * rig.eye_distance
    assert right[0] > rig.vertices[54, 0] + 0.2 * rig.eye_distance
    for channel in ("lip_round", "lip_spread"):
        basis = rig.bases[CHANNEL_INDEX[channel]]
        assert np.allclose(basis[cheeks], CHEEK_SHARE * basis[CHEEK_CORNERS])
        assert np.abs(basis[cheeks, 0]).min() > 0.02 * rig.eye_distance  # they do move
    rounding = rig.bases[CHANNEL_INDEX["lip_round"]]
    assert rounding[cheeks[0], 0] > 0 > rounding[cheeks[1], 0]  # a pucker draws them in towards the mouth
