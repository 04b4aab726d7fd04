"""The identity guard: a render is checked against the portrait with FaceNet before it is returned."""

from __future__ import annotations

import numpy as np
import pytest

from linly_demo.audio import Speech
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.errors import IdentityDrift
from linly_demo.portrait.identity import IdentityCheck
from linly_demo.portrait.pipeline import PortraitFeatures, PortraitModels, PortraitPipeline
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS, DrivingSignals
from linly_demo.render.pipeline import identity_positions, render_video
from tests.conftest import FACES
from tests.speech import synthetic_voice


@pytest.fixture(scope="module")
def short_speech() -> Speech:
    return Speech(synthetic_voice(3.0))


def test_a_normal_render_keeps_the_persons_identity(astronaut_features: PortraitFeatures, short_speech: Speech,
                                                    ephemeral: EphemeralRoot, portrait_models: PortraitModels) -> None:
    check = IdentityCheck(portrait_models, astronaut_features.embedding)
    seen: list[list[float]] = []

    def recording(frames: list[np.ndarray]) -> None:
        seen.append(check.distances(frames))
        check(frames)

    rendered = render_video(astronaut_features, short_speech, ephemeral, identity_check=recording)
    assert rendered.video.path.exists()
    assert len(seen[0]) == 4 and max(seen[0]) < check.threshold - 0.3  # measured: 0.2-0.35 (threshold 1.0)
    ephemeral.delete(rendered.video.path)


def test_a_render_that_is_someone_else_is_refused_and_leaves_nothing(
        astronaut_features: PortraitFeatures, short_speech: Speech, ephemeral: EphemeralRoot,
        portrait_models: PortraitModels, pipeline: PortraitPipeline) -> None:
    if not FACES.is_dir():
        pytest.skip("../shared/devdata/faces is absent (it sits beside the repository on development machines)")
    other = pipeline.process_bytes((FACES / "lin-manuel-miranda.png").read_bytes())
    # The astronaut's frames checked against another person's portrait: as if the frames had been replaced.
    with pytest.raises(IdentityDrift):
        render_video(astronaut_features, short_speech, ephemeral,
                     identity_check=IdentityCheck(portrait_models, other.embedding))
    assert ephemeral.entries() == []


def test_frames_without_a_face_are_refused(astronaut_features: PortraitFeatures,
                                           portrait_models: PortraitModels) -> None:
    check = IdentityCheck(portrait_models, astronaut_features.embedding)
    blank = np.full((256, 256, 3), 128, np.uint8)
    assert check.distances([blank]) == [float("inf")]
    with pytest.raises(IdentityDrift):
        check([astronaut_features.template.copy(), blank])
    check([astronaut_features.template.copy()])  # the portrait itself passes


def test_the_identity_is_checked_on_frames_with_the_eyes_open() -> None:
    # A face with its eyes shut (and its mouth open) is one the detector can miss: a blink must not refuse a render.
    coefficients = np.zeros((100, len(CHANNELS)), np.float32)
    blinking = [0, 1, 2, 32, 33, 34, 65, 66, 67, 97, 98, 99]  # a blink over each of the evenly spread frames
    coefficients[blinking, CHANNEL_INDEX["blink"]] = 1.0
    positions = identity_positions(DrivingSignals(25, coefficients))
    assert len(positions) == 4 and not set(positions) & set(blinking)
    assert positions[0] < 10 and positions[-1] > 90 and 25 < positions[1] < 40 and 60 < positions[2] < 75
    shut = DrivingSignals(25, np.ones((3, len(CHANNELS)), np.float32))  # eyes never open: the spread frames
    assert identity_positions(shut) == (0, 1, 2)
