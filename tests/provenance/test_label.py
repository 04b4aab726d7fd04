"""The visible label: on every frame, scaled with the frame, legible at 256 px, and found again after encoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from linly_demo.provenance.label import FOUND_CORRELATION, label_found, label_frames, label_score, stamp_for
from tests.provenance.conftest import frames_of, mp4_of


@pytest.mark.parametrize("size", [256, 384, 512, 1024])
def test_the_label_scales_with_the_frame_and_stays_in_its_corner(size: int) -> None:
    stamp = stamp_for(size, size)
    height, width = stamp.alpha.shape[:2]
    assert height >= 15 and 0.05 <= height / size <= 0.07
    assert stamp.top + height < size and stamp.left + width < size and stamp.left > size / 2
    assert stamp.text_mask.sum() > 0.1 * stamp.text_mask.size  # glyphs, not a blank plate
    assert 0.5 <= float(stamp.alpha.max()) <= 0.95  # semi-transparent


def test_labelled_frames_are_found_after_encoding_and_unlabelled_ones_are_not(astronaut: np.ndarray) -> None:
    base = cv2.resize(astronaut, (256, 256))
    moving = np.stack([np.roll(base, shift, axis=1) for shift in range(0, 40, 2)])
    plain = frames_of(mp4_of(moving.copy(), crf=28))
    labelled = frames_of(mp4_of(label_frames(moving.copy()), crf=28))
    assert all(label_score(frame) >= FOUND_CORRELATION + 0.2 for frame in labelled)
    assert all(label_score(frame) < FOUND_CORRELATION - 0.2 for frame in plain)
    assert label_found(labelled)[0] and not label_found(plain)[0] and not label_found([])[0]


def test_labelling_touches_only_the_plate() -> None:
    frames = np.full((2, 512, 512, 3), 120, np.uint8)
    marked = label_frames(frames.copy())
    stamp = stamp_for(512, 512)
    changed = np.argwhere(np.any(marked != frames, axis=(0, 3)))
    assert changed[:, 0].min() >= stamp.top and changed[:, 1].min() >= stamp.left
