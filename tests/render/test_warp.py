"""The warp field: sharp where lips and lids part, smooth elsewhere, the same on the GPU path as on the CPU."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS
from linly_demo.render.rig import build_rig
from linly_demo.render.warp import (
    Warper,
    _opening_box,
    _relative,
    exact_regions,
    fold_pixels,
    opening_masks,
    smooth_region,
    target_vertices,
)


def open_mouth_targets(features: PortraitFeatures):
    rig = build_rig(features.template, features.landmarks68, features.template.shape[0])
    coefficients = np.zeros((3, len(CHANNELS)), np.float32)
    coefficients[:, CHANNEL_INDEX["jaw_open"]] = [0.0, 0.6, 1.0]
    coefficients[2, CHANNEL_INDEX["lip_round"]] = 0.8
    coefficients[1, CHANNEL_INDEX["blink"]] = 1.0
    return rig, target_vertices(rig, coefficients)


def test_the_torch_blend_used_on_gpus_matches_the_opencv_blend(astronaut_features: PortraitFeatures) -> None:
    rig, targets = open_mouth_targets(astronaut_features)
    warper = Warper(rig, torch.device("cpu"), exact_regions(rig, targets), smooth_region(rig, targets))
    y0, y1, x0, x1 = warper.smooth_box
    rough = torch.randn(len(targets), y1 - y0, x1 - x0, 2, generator=torch.Generator().manual_seed(0))
    sharp = opening_masks(targets, warper.smooth_box)
    identity = warper._identity[y0:y1, x0:x1].numpy()
    field = rough.numpy() + identity  # the OpenCV blend takes the field, not its displacement
    sharp_box = _opening_box(targets, warper.smooth_box)
    sy0, sy1, sx0, sx1 = sharp_box
    warper._blend_opencv(field, sharp[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0], _relative(sharp_box, warper.smooth_box))
    by_opencv = field - identity
    by_torch = warper._blend_torch(rough, sharp).numpy()
    assert float(np.abs(by_opencv - by_torch).max()) < 1e-3  # edges (the identity's correction) included
    assert float(by_opencv.std()) < 0.5 * float(rough.std())  # it did blur
    assert np.allclose(by_torch[sharp == 1], rough.numpy()[sharp == 1], atol=1e-5)  # and kept the openings


def test_openings_lie_within_their_box(astronaut_features: PortraitFeatures) -> None:
    rig, targets = open_mouth_targets(astronaut_features)
    whole = (0, rig.size, 0, rig.size)
    masks = opening_masks(targets, whole)
    y0, y1, x0, x1 = _opening_box(targets, whole)
    inside = np.zeros(masks.shape, bool)
    inside[:, y0:y1, x0:x1] = True
    assert masks[inside].any() and not masks[~inside].any()
    assert np.allclose(opening_masks(targets, (y0, y1, x0, x1)), masks[:, y0:y1, x0:x1], atol=1e-6)


def test_field_is_exact_at_the_openings_and_smooth_around_them(astronaut_features: PortraitFeatures) -> None:
    rig, targets = open_mouth_targets(astronaut_features)
    regions = exact_regions(rig, targets)
    smoothed = Warper(rig, torch.device("cpu"), regions, smooth_region(rig, targets)).maps(targets)
    exact = Warper(rig, torch.device("cpu"), regions).maps(targets)  # no smoothing box
    sharp = np.zeros(exact.shape[:3], np.float32)
    y0, y1, x0, x1 = smooth_region(rig, targets)
    sharp[:, y0:y1, x0:x1] = opening_masks(targets, (y0, y1, x0, x1))
    difference = (smoothed - exact).abs().amax(dim=-1).numpy()
    assert difference[sharp >= 0.999].max() < 1e-3  # where the lips part and the lids meet: untouched
    assert difference.max() > 0.05  # elsewhere the field did change (the kinks were smoothed)
    assert difference.max() < 0.05 * rig.eye_distance  # but only by a few pixels at most


def test_openings_are_marked_with_a_band_around_them(astronaut_features: PortraitFeatures) -> None:
    rig, targets = open_mouth_targets(astronaut_features)
    box = (0, rig.size, 0, rig.size)
    masks = opening_masks(targets, box)
    mouth = np.round(targets[2, 60:68].mean(axis=0)).astype(int)
    assert masks[2, mouth[1], mouth[0]] == 1.0  # inside the open mouth
    assert masks[2, 5, 5] == 0.0  # far from every opening
    eye = np.round(targets[1, 36:42].mean(axis=0)).astype(int)
    assert masks[1, eye[1], eye[0]] == 1.0  # a closed (blinking) eye is still kept sharp


def test_the_torch_upsampling_used_on_gpus_matches_opencvs(astronaut_features: PortraitFeatures) -> None:
    rig, _targets = open_mouth_targets(astronaut_features)
    warper = Warper(rig, torch.device("cpu"), [])
    count = len(warper._coarse_positions)
    coarse = torch.rand(2, count, count, 2, generator=torch.Generator().manual_seed(0)) * rig.size
    by_opencv, by_torch = warper._upsampled_opencv(coarse), warper._upsampled_torch(coarse)
    assert by_opencv.shape == by_torch.shape == (2, rig.size, rig.size, 2)
    assert float((by_opencv - by_torch).abs().max()) < 1e-3


def test_the_coarse_field_is_close_to_the_exact_map(astronaut_features: PortraitFeatures) -> None:
    """Between its exact boxes the field is interpolated from samples every few pixels; where the map is smooth
    (nearly everywhere) that is within a fraction of a pixel of the per-pixel map (samples on the pixels 0, 8, 16,
    ... with the frame's last row and column clamped measured 0.88 here)."""
    rig, targets = open_mouth_targets(astronaut_features)
    regions = exact_regions(rig, targets)
    coarse = Warper(rig, torch.device("cpu"), regions).maps(targets)
    exact = Warper(rig, torch.device("cpu"), [(0, rig.size, 0, rig.size)]).maps(targets)
    error = (coarse - exact).abs().amax(dim=-1).numpy()
    assert np.median(error) < 0.01
    assert np.percentile(error, 99) < 0.7  # 0.51 now


def test_folds_are_marked_on_both_sides_of_a_jump_and_nowhere_on_a_smooth_map() -> None:
    ys, xs = np.mgrid[0:20, 0:30].astype(np.float32)
    smooth = np.stack([xs + 0.3 * np.sin(ys / 5), ys + 0.02 * xs], axis=-1)[None]
    assert not fold_pixels(smooth).any()
    folded = smooth.copy()
    folded[0, 10:, :, 1] += 3.0  # rows from 10 down sample 3 px further: a lip boundary
    marked = fold_pixels(folded)[0]
    assert marked[9].all() and marked[10].all()
    assert not marked[:9].any() and not marked[11:].any()


def test_where_pressed_lips_meet_the_seam_is_anti_aliased(astronaut_features: PortraitFeatures) -> None:
    """Pixels on the fold are the mean of samples of the exact map over their area: colours between those of the
    lips on either side, not a staircase of whole pixels from one lip or the other. Nothing else changes."""
    rig = build_rig(astronaut_features.template, astronaut_features.landmarks68,
                    astronaut_features.template.shape[0])
    coefficients = np.zeros((2, len(CHANNELS)), np.float32)
    coefficients[:, CHANNEL_INDEX["lip_press"]] = 1.0
    coefficients[1, CHANNEL_INDEX["head_roll"]] = 4.0  # a slanted seam
    targets = target_vertices(rig, coefficients)
    warper = Warper(rig, torch.device("cpu"), exact_regions(rig, targets), smooth_region(rig, targets))
    frames = warper.frames(targets).astype(int)
    field = warper.maps(targets).numpy()
    stepped = np.stack([cv2.remap(rig.source, m, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                        for m in field]).astype(int)
    y0, y1, x0, x1 = exact_regions(rig, targets)[-1]  # the lips
    on_fold = np.zeros(frames.shape[:3], bool)
    on_fold[:, y0:y1, x0:x1] = fold_pixels(field[:, y0:y1, x0:x1])
    assert on_fold.sum() > 2 * (x1 - x0) // 3  # the seam, at least
    assert np.array_equal(frames[~on_fold], stepped[~on_fold])
    changed = np.abs(frames - stepped).max(axis=-1)[on_fold]
    assert (changed > 4).mean() > 0.2
    # No flecks: no anti-aliased pixel is brighter than the stepped pixels around it, and nearly none darker (a
    # pixel or two in a mouth corner's shadow, where a sliver triangle's single sample missed it).
    square = np.ones((3, 3), np.uint8)
    lowest = np.stack([cv2.erode(frame.astype(np.uint8), square) for frame in stepped]).astype(int)
    highest = np.stack([cv2.dilate(frame.astype(np.uint8), square) for frame in stepped]).astype(int)
    assert (frames[on_fold] <= highest[on_fold] + 6).all()
    assert (frames[on_fold] < lowest[on_fold] - 6).any(axis=-1).mean() < 0.01
