"""Render fixtures: the astronaut's features (computed once) and speech to drive them."""

from __future__ import annotations

import numpy as np
import pytest

from linly_demo.audio import Speech
from linly_demo.config import Settings
from linly_demo.portrait.pipeline import PortraitFeatures, PortraitModels, PortraitPipeline
from tests.conftest import encode
from tests.speech import real_speech_with_pauses, synthetic_voice


@pytest.fixture(scope="session")
def astronaut_features(portrait_models: PortraitModels, astronaut: np.ndarray) -> PortraitFeatures:
    return PortraitPipeline(Settings.from_env({}), models=portrait_models).process_bytes(encode(astronaut))


@pytest.fixture(scope="session")
def speech() -> Speech:
    """Real read speech with pauses where ../shared is present, else a synthetic voiced signal with pauses."""
    return real_speech_with_pauses() or Speech(synthetic_voice(10.0))
