"""The shared face geometry reads an opening as a viewer would: crossed inner lips are a closed mouth."""

from __future__ import annotations

import numpy as np

from linly_demo.face_geometry import inner_lip_gap


def mouth(upper_y: float, lower_y: float, roll_deg: float = 0.0) -> np.ndarray:
    """A 68-point layout with the eyes 60 px apart and the inner lips' middle points at the given heights,
    rotated about the face centre by `roll_deg`."""
    marks = np.zeros((68, 2))
    marks[36:42] = [100.0, 100.0]
    marks[42:48] = [160.0, 100.0]
    marks[[61, 62, 63]] = np.c_[[120.0, 130.0, 140.0], np.full(3, upper_y)]
    marks[[67, 66, 65]] = np.c_[[120.0, 130.0, 140.0], np.full(3, lower_y)]
    angle = np.deg2rad(roll_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (marks - [130.0, 130.0]) @ rotation.T + [130.0, 130.0]


def test_an_open_mouth_reads_its_gap_over_the_eye_distance_at_any_roll() -> None:
    for roll in (0.0, 12.0, -25.0):
        assert np.isclose(inner_lip_gap(mouth(170.0, 182.0, roll)), 12.0 / 60.0)


def test_inner_lips_placed_crossed_read_as_closed_not_as_open() -> None:
    # A detector sometimes puts the upper inner lip 5 px below the lower one on a closed mouth.
    assert inner_lip_gap(mouth(175.0, 170.0)) == 0.0
    assert inner_lip_gap(mouth(175.0, 170.0, 20.0)) == 0.0
    assert inner_lip_gap(mouth(170.0, 170.0)) == 0.0


def test_a_frame_without_a_face_stays_unknown() -> None:
    frames = np.stack([mouth(170.0, 176.0), np.full((68, 2), np.nan)])
    gaps = inner_lip_gap(frames)
    assert np.isclose(gaps[0], 0.1) and np.isnan(gaps[1])
