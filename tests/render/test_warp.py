"""The warp field: sharp where lips and lids part, smooth elsewhere, the same on the GPU path as on the CPU."""

from __future__ import annotations

import numpy as np
import torch

from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS
from linly_demo.render.rig import build_rig
from linly_demo.render.warp import Warper, exact_regions, opening_masks, smooth_region, target_vertices


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
    by_opencv = warper._blend_opencv(rough, sharp)
    by_torch = warper._blend_torch(rough, sharp)
    assert float((by_opencv - by_torch).abs().max()) < 1e-3
    assert float(by_opencv.std()) < 0.5 * float(rough.std())  # it did blur


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
