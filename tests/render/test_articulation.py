"""The mouth says the words, measured on the output video: closures on p/b/m, rounding on oo vs ee; the
loudness-only baseline scores lower on the same sentence (the metric can fail)."""

from __future__ import annotations

import numpy as np
import pytest

from linly_demo.audio import speech_with_rest
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.evaluate import TEXT_TARGETS, VideoEvaluator
from linly_demo.portrait.pipeline import PortraitFeatures, PortraitPipeline
from linly_demo.render.pipeline import render_video
from linly_demo.voice.tts import Speaker
from tests.conftest import FACES

pytestmark = pytest.mark.slow

SENTENCE = "Maybe Bob put the blue boat by the pier."
SEEDS = (0, 1, 2)
PHOTOS = ["alex-lacamoire-1.jpg", "alex-lacamoire-2.png", "lin-manuel-miranda.png", "two-faces.jpg"]


@pytest.fixture(scope="module")
def evaluator() -> VideoEvaluator:
    return VideoEvaluator()


@pytest.fixture(scope="module")
def spoken():
    return Speaker().speak(SENTENCE)


def measure(features: PortraitFeatures, spoken, ephemeral: EphemeralRoot, evaluator: VideoEvaluator,
            mode: str = "visemes", seed: int = 0):
    speech = speech_with_rest(spoken.samples, spoken.sample_rate)  # as the app renders text
    rendered = render_video(features, speech, ephemeral, seed=seed, phonemes=spoken.phonemes, mode=mode)
    try:
        reference = evaluator.reference_descriptor(features.template, features.landmarks68)
        return evaluator.evaluate(rendered.video.path, reference, SENTENCE, spoken=spoken)
    finally:
        ephemeral.delete(rendered.video.path)


def assert_says_the_words(report) -> None:
    assert report.bilabial_count >= 8  # all nine p/b/m were found in the aligned timeline (allow one at the edge)
    failed = {name: getattr(report, name) for name in TEXT_TARGETS if not report.passes()[name]}
    assert not failed, f"below target: {failed} (targets {TEXT_TARGETS})"
    assert report.passes()["identity_distance_mean"] and report.passes()["face_detected_rate"]


def test_astronaut_closes_and_rounds_and_the_baseline_does_not(astronaut_features: PortraitFeatures, spoken,
                                                              ephemeral: EphemeralRoot,
                                                              evaluator: VideoEvaluator) -> None:
    report = measure(astronaut_features, spoken, ephemeral, evaluator)
    assert_says_the_words(report)
    baseline = measure(astronaut_features, spoken, ephemeral, evaluator, mode="loudness")
    assert baseline.bilabial_closure_rate <= report.bilabial_closure_rate - 0.4
    assert not baseline.passes()["bilabial_closure_rate"]


@pytest.mark.parametrize("photo", PHOTOS, ids=[p.split(".")[0] for p in PHOTOS])
def test_real_photos_close_and_round(photo: str, spoken, pipeline: PortraitPipeline, ephemeral: EphemeralRoot,
                                     evaluator: VideoEvaluator) -> None:
    if not FACES.is_dir():
        pytest.skip("../shared/devdata/faces is absent (it sits beside the repository on development machines)")
    features = pipeline.process_bytes((FACES / photo).read_bytes())
    # The web app draws a new seed (head, eyes, blinks) for every render, and on the smallest face dlib's reading
    # of the mouth width moves with them: alex-lacamoire-2's rounding contrast is 0.046-0.11 over seeds 0-11
    # (mean 0.08). Every render must close every p/b/m and keep the face; the rounding is the renders' median.
    reports = [measure(features, spoken, ephemeral, evaluator, seed=seed) for seed in SEEDS]
    for report in reports:
        assert report.bilabial_count >= 8 and report.passes()["bilabial_closure_rate"], report.bilabial_closure_rate
        assert report.passes()["identity_distance_mean"] and report.passes()["face_detected_rate"]
    contrast = float(np.median([report.rounding_contrast for report in reports]))
    assert contrast >= TEXT_TARGETS["rounding_contrast"][1], [report.rounding_contrast for report in reports]
