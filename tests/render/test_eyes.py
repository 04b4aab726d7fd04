"""Eyes: the iris moves inside still lids, a blink is a lid closing over an eyeball that keeps its shape, and
saccades and blinks come at natural, seed-dependent times."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from linly_demo.audio import Speech
from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS, SACCADE_FRAMES, DrivingSignals, driving_from_speech
from linly_demo.render.eyes import EYES, GAZE_REACH, _opening
from linly_demo.render.frames import render_frames
from linly_demo.render.rig import build_rig
from linly_demo.render.warp import target_vertices, warp_batches
from tests.speech import synthetic_voice

FPS = 25


def poses(**columns: list[float]) -> DrivingSignals:
    count = len(next(iter(columns.values())))
    coefficients = np.zeros((count, len(CHANNELS)), np.float32)
    for name, values in columns.items():
        coefficients[:, CHANNEL_INDEX[name]] = values
    return DrivingSignals(FPS, coefficients)


def frames_for(features: PortraitFeatures, driving: DrivingSignals) -> np.ndarray:
    return np.concatenate(list(render_frames(features, driving)))


def opening_mask(features: PortraitFeatures, driving: DrivingSignals, frame: int, grow: int = 0) -> np.ndarray:
    """Where the eye openings of `frame` are (coverage > 0), grown by `grow` pixels."""
    rig = build_rig(features.template, features.landmarks68, features.template.shape[0])
    marks = target_vertices(rig, driving.coefficients)[frame].astype(np.float64)
    mask = np.zeros((rig.size, rig.size), bool)
    for eye in EYES:
        upper, lower = marks[[eye[0], eye[1], eye[2], eye[3]]], marks[[eye[0], eye[5], eye[4], eye[3]]]
        mask |= _opening(upper, lower, (rig.size, rig.size)) > 0
    if grow:
        mask = cv2.dilate(mask.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
    return mask


def iris_x(frame: np.ndarray, mask: np.ndarray) -> float:
    """The x centroid of the darkest quarter of the pixels inside `mask` (the iris and pupil)."""
    luma = frame.astype(np.float64) @ [0.299, 0.587, 0.114]
    ys, xs = np.nonzero(mask)
    values = luma[ys, xs]
    dark = values <= np.percentile(values, 25)
    return float(xs[dark].mean())


def test_gaze_moves_the_iris_and_nothing_outside_the_eye_openings(astronaut_features: PortraitFeatures) -> None:
    driving = poses(gaze_x=[0.0, 1.0, -1.0])
    frames = frames_for(astronaut_features, driving)
    marks = astronaut_features.landmarks68
    for eye in EYES:
        box = np.zeros(frames.shape[1:3], bool)
        x0, x1 = int(marks[eye[0], 0]), int(marks[eye[3], 0]) + 1
        y0, y1 = int(marks[list(eye), 1].min()), int(marks[list(eye), 1].max()) + 1
        box[y0:y1, x0:x1] = True
        inside = box & opening_mask(astronaut_features, driving, 0)
        reach = GAZE_REACH[0] * (marks[eye[3], 0] - marks[eye[0], 0])
        rest, right, left = (iris_x(frame, inside) for frame in frames)
        assert right - rest > 0.4 * reach and rest - left > 0.4 * reach  # the irises look right, then left
    outside = ~opening_mask(astronaut_features, driving, 0, grow=1)
    assert np.array_equal(frames[1][outside], frames[0][outside])  # lids, lashes and skin stay where they are
    assert np.array_equal(frames[2][outside], frames[0][outside])


def test_a_blink_is_a_lid_closing_over_an_eyeball_that_keeps_its_shape(
        astronaut_features: PortraitFeatures) -> None:
    driving = poses(blink=[0.0, 0.3, 1.0])
    frames = frames_for(astronaut_features, driving).astype(np.float64)
    half_open = opening_mask(astronaut_features, driving, 1)
    assert half_open.sum() > 50
    # What still shows of the eye a third of the way through the blink is the open eye's own pixels, where they
    # were (the
    # eyeball is covered, not squashed into the smaller opening).
    core = cv2.erode(half_open.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # away from the lid's edge
    assert core.sum() > 10
    difference = np.abs(frames[1] - frames[0]).mean(axis=-1)
    assert np.median(difference[core]) < 4.0
    # Shut: the lids meet and no eyeball pixel is drawn (the frame is what the warp alone gives).
    plain = poses(blink=[1.0])
    rig = build_rig(astronaut_features.template, astronaut_features.landmarks68, astronaut_features.template_size)
    shut = target_vertices(rig, plain.coefficients)[0]
    for eye in EYES:
        assert np.allclose(shut[[eye[1], eye[2]], 1], shut[[eye[5], eye[4]], 1])
    warped = next(warp_batches(rig, plain, torch.device("cpu")))[0][0]
    painted = frames_for(astronaut_features, plain)[0]
    assert np.array_equal(painted[: int(shut[48:68, 1].min()) - 2], warped[: int(shut[48:68, 1].min()) - 2])


def test_saccades_come_every_one_to_four_seconds_and_blinks_at_seed_dependent_times() -> None:
    long_speech = Speech(synthetic_voice(40.0, seed=5))
    blinks = []
    for seed in range(3):
        driving = driving_from_speech(long_speech, FPS, seed)
        gaze = np.stack([driving.track("gaze_x"), driving.track("gaze_y")], axis=1)
        assert np.abs(gaze).max() <= 1.0
        step = np.linalg.norm(np.diff(gaze, axis=0), axis=1)
        jumps = np.flatnonzero(step > 0.05)
        # Saccades: quick (a few frames), 1-4 s apart; in between only a slow drift.
        starts = jumps[np.concatenate([[True], np.diff(jumps) > SACCADE_FRAMES])]
        gaps = np.diff(starts) / FPS
        assert len(starts) >= 8 and np.all((gaps >= 0.9) & (gaps <= 4.2))
        assert np.percentile(step, 50) < 0.02
        blink = driving.track("blink")
        onsets = np.flatnonzero((blink[1:] > 0.5) & (blink[:-1] <= 0.5))
        assert 10 <= len(onsets) * 60 / long_speech.duration <= 40  # per minute
        blinks.append(tuple(onsets))
    assert len(set(blinks)) == 3  # each clip blinks at its own times


@pytest.mark.parametrize("channel", ["gaze_x", "gaze_y"])
def test_gaze_is_part_of_the_seeded_signals(channel: str) -> None:
    speech = Speech(synthetic_voice(6.0, seed=2))
    first, again = driving_from_speech(speech, FPS, 4), driving_from_speech(speech, FPS, 4)
    assert np.array_equal(first.track(channel), again.track(channel))
    assert not np.array_equal(first.track(channel), driving_from_speech(speech, FPS, 5).track(channel))
