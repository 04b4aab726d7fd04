"""Frames and video: browser-playable MP4 under the ephemeral root, deterministic frames, no tearing at extremes."""

from __future__ import annotations

import stat

import av
import numpy as np
import pytest

from linly_demo.audio import Speech
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS, DrivingSignals, driving_from_speech
from linly_demo.render.frames import on_gpu, render_frames
from linly_demo.render.pipeline import render_video
from linly_demo.video import encode_video


def all_frames(features: PortraitFeatures, driving: DrivingSignals) -> np.ndarray:
    return np.concatenate(list(render_frames(features, driving)))


def constant_driving(values: dict[str, float], n: int = 4) -> DrivingSignals:
    row = np.zeros(len(CHANNELS), np.float32)
    for name, value in values.items():
        row[CHANNEL_INDEX[name]] = value
    coefficients = np.tile(row, (n, 1))
    coefficients.setflags(write=False)
    return DrivingSignals(25, coefficients)


def test_video_is_browser_playable_h264_aac_at_25fps_lasting_as_long_as_the_speech(
        astronaut_features: PortraitFeatures, speech: Speech, ephemeral: EphemeralRoot) -> None:
    rendered = render_video(astronaut_features, speech, ephemeral, fps=25, size=512, seed=1)
    path = rendered.video.path
    assert ephemeral.contains(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.stem) == 32 and path.suffix == ".mp4"
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert container.format.name.startswith("mov,mp4")
        assert video.codec_context.name == "h264" and video.format.name == "yuv420p"
        assert (video.width, video.height) == (512, 512) and video.average_rate == 25
        assert audio.codec_context.name == "aac"
        frames = sum(1 for _ in container.decode(video=0))
    assert abs(frames / 25 - speech.duration) <= 1 / 25
    assert frames == rendered.driving.n_frames == rendered.video.n_frames
    with open(path, "rb") as handle:  # +faststart: the index (moov) comes before the media data
        head = handle.read(1 << 16)
    assert 0 <= head.find(b"moov") < head.find(b"mdat")
    assert set(rendered.timings) == {"driving", "mark_host", "frames", "encode", "identity", "provenance", "total"}


def test_same_inputs_and_seed_give_identical_frames(astronaut_features: PortraitFeatures, speech: Speech) -> None:
    short = Speech(speech.samples[: 3 * speech.sample_rate])
    first = all_frames(astronaut_features, driving_from_speech(short, 25, seed=5))
    again = all_frames(astronaut_features, driving_from_speech(short, 25, seed=5))
    other = all_frames(astronaut_features, driving_from_speech(short, 25, seed=6))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_rest_pose_reproduces_the_template_outside_the_mouth(astronaut_features: PortraitFeatures) -> None:
    frame = all_frames(astronaut_features, constant_driving({}, n=1))[0].astype(np.float64)
    difference = np.abs(frame - astronaut_features.template).mean(axis=2)
    # The astronaut smiles with parted lips: at rest the rig closes them, which moves the lower face and chin.
    above_mouth = int(astronaut_features.landmarks68[33, 1])
    assert difference[:above_mouth].mean() < 0.3


@pytest.mark.parametrize("pose", [
    {"jaw_open": 1.05, "lip_spread": 1.0, "upper_lip_raise": 1.0},
    {"jaw_open": 1.05, "lip_round": 1.0, "blink": 1.0, "brow_raise": 1.0},
    {"jaw_open": 0.3, "head_roll": 3.0, "head_yaw": 3.0, "head_pitch": 3.0, "head_dx": 0.01, "head_dy": 0.01},
], ids=["wide", "round-blink", "head"])
def test_extreme_coefficients_keep_the_image_whole(astronaut_features: PortraitFeatures, pose: dict) -> None:
    frame = all_frames(astronaut_features, constant_driving(pose, n=1))[0]
    template = astronaut_features.template
    size = template.shape[0]
    assert frame.shape == template.shape and frame.dtype == np.uint8
    # No holes: no pure-black or unsampled pixels appear that the template did not have.
    assert np.sum(frame.max(axis=2) < 4) <= np.sum(template.max(axis=2) < 4) + size // 4
    # The frame border stays put; without head motion, so do the background and hair above and beside the face.
    border = np.ones((size, size), bool)
    border[2:-2, 2:-2] = False
    if not any(name.startswith("head_") for name in pose):
        border[: size // 8] = border[:, : size // 8] = border[:, -size // 8:] = True
    assert np.mean(np.abs(frame[border].astype(float) - template[border])) < 2.0
    # The face changed where it should: the mouth region differs from rest.
    assert np.mean(np.abs(frame.astype(float) - template)) > 0.5


def test_open_mouth_is_dark_inside_and_closed_mouth_is_not(astronaut_features: PortraitFeatures) -> None:
    marks = astronaut_features.landmarks68
    x0, x1 = int(marks[60, 0]) + 3, int(marks[64, 0]) - 3
    y = int(round(marks[62:67:4, 1].mean()))

    def mouth_luma(jaw: float) -> float:
        frame = all_frames(astronaut_features, constant_driving({"jaw_open": jaw}, n=1))[0]
        y_mid = y + int(0.5 * jaw * 0.46 * np.linalg.norm(marks[36:42].mean(0) - marks[42:48].mean(0)) * 0.5)
        return float(frame[y_mid - 1:y_mid + 2, x0:x1].mean())

    lips = float(astronaut_features.template[int(marks[57, 1]) - 2:int(marks[57, 1]) + 1, x0:x1].mean())
    assert mouth_luma(1.0) < 0.7 * lips
    assert mouth_luma(0.0) > 0.7 * lips


def test_a_failed_render_leaves_no_file(speech: Speech, ephemeral: EphemeralRoot) -> None:
    def broken_frames():
        yield np.zeros((2, 64, 64, 3), np.uint8)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        encode_video(broken_frames(), speech, ephemeral, 25, 64)
    assert ephemeral.entries() == []


def test_gpu_wrapper_is_a_no_op_without_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)

    def function() -> int:
        return 1

    assert on_gpu(function) is function
