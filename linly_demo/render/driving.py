"""Driving signals: speech -> per-frame face coefficients (mouth, eyes, brows, head).

Guarantees: one row per video frame; the mouth leads the sound by one frame (40 ms at 25 fps) with fast attack
and slower release, and closes in pauses; blinks are random, 2-6 s apart, about 150 ms long; head motion is a
degree or two of slow rotation and drift, a little more on stressed syllables and nearly none in pauses;
identical for the same speech and seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linly_demo.audio import Speech
from linly_demo.render.prosody import SpeechFeatures, speech_features

CHANNELS = (
    "jaw_open",  # 0 closed .. 1 wide open
    "lip_spread",  # 0 .. 1, corners pulled outward ("ee")
    "lip_round",  # 0 .. 1, corners pulled inward, lips pursed ("oo")
    "upper_lip_raise",  # 0 .. 1, upper lip lifted off the teeth ("f", "s")
    "blink",  # 0 open .. 1 closed
    "brow_raise",  # 0 .. 1
    "head_roll",  # degrees, positive = clockwise on screen
    "head_yaw",  # degrees, positive = face turns to the viewer's right
    "head_pitch",  # degrees, positive = nod down
    "head_dx",  # fraction of the frame width
    "head_dy",  # fraction of the frame height
)
CHANNEL_INDEX = {name: i for i, name in enumerate(CHANNELS)}
LEAD_FRAMES = 1
BLINK_PROFILE = np.array([0.55, 1.0, 0.75, 0.3])  # 4 frames = 160 ms at 25 fps


@dataclass(frozen=True)
class DrivingSignals:
    """Coefficient tracks, one row per video frame, columns named by CHANNELS."""

    fps: int
    coefficients: np.ndarray  # (n_frames, len(CHANNELS)) float32, read-only

    @property
    def n_frames(self) -> int:
        return int(self.coefficients.shape[0])

    def track(self, name: str) -> np.ndarray:
        return self.coefficients[:, CHANNEL_INDEX[name]]


def driving_from_speech(speech: Speech, fps: int = 25, seed: int = 0) -> DrivingSignals:
    """Coefficients for a clip of speech (loudness, voicing and spectral shape drive the mouth)."""
    return driving_from_features(speech_features(speech, fps), seed)


def driving_from_features(features: SpeechFeatures, seed: int = 0) -> DrivingSignals:
    n, fps = features.n_frames, features.fps
    tracks = np.zeros((n, len(CHANNELS)), dtype=np.float64)
    speaking = features.loudness > 0.12

    # Opening follows the amplitude (a wider mouth radiates more sound); voiced sounds open wider.
    amplitude = np.sqrt(np.clip(features.rms / np.percentile(features.rms, 95), 0.0, 1.2))
    opening = np.where(speaking, np.minimum(amplitude * (0.6 + 0.5 * features.voicing), 1.05), 0.0)
    tracks[:, CHANNEL_INDEX["jaw_open"]] = _lead(_attack_release(opening, attack=0.8, release=0.55))

    vowel = speaking & (features.voicing > 0.45)
    spread = np.where(vowel, np.clip(0.4 * features.centroid, 0, 1), 0.0)
    rounding = np.where(vowel, np.clip(-0.4 * features.centroid, 0, 1), 0.0)
    fricative = speaking & (features.voicing < 0.45)
    raise_upper = np.where(fricative, np.clip((features.high_band - 0.15) * 2.5, 0, 1), 0.0)
    tracks[:, CHANNEL_INDEX["lip_spread"]] = _lead(_attack_release(spread, 0.6, 0.4))
    tracks[:, CHANNEL_INDEX["lip_round"]] = _lead(_attack_release(rounding, 0.6, 0.4))
    tracks[:, CHANNEL_INDEX["upper_lip_raise"]] = _lead(_attack_release(0.6 * raise_upper, 0.7, 0.5))

    rng = np.random.default_rng(seed)
    tracks[:, CHANNEL_INDEX["blink"]] = _blinks(n, fps, rng)
    stress = _stress_pulses(features.loudness, fps)
    tracks[:, CHANNEL_INDEX["brow_raise"]] = 0.5 * stress
    activity = _attack_release(speaking.astype(np.float64), 0.15, 0.05)
    calm = 0.3 + 0.7 * activity  # nearly still in pauses
    t = np.arange(n) / fps
    tracks[:, CHANNEL_INDEX["head_roll"]] = calm * _drift(t, rng, 0.9)
    tracks[:, CHANNEL_INDEX["head_yaw"]] = calm * _drift(t, rng, 1.4)
    tracks[:, CHANNEL_INDEX["head_pitch"]] = calm * _drift(t, rng, 0.8) + 1.2 * stress
    tracks[:, CHANNEL_INDEX["head_dx"]] = calm * _drift(t, rng, 0.004)
    tracks[:, CHANNEL_INDEX["head_dy"]] = calm * _drift(t, rng, 0.003) + 0.002 * stress

    coefficients = tracks.astype(np.float32)
    coefficients.setflags(write=False)
    return DrivingSignals(fps, coefficients)


def _attack_release(target: np.ndarray, attack: float, release: float) -> np.ndarray:
    """One-pole follower: moves `attack` of the way up per frame, `release` of the way down."""
    out = np.zeros_like(target, dtype=np.float64)
    level = 0.0
    for i, goal in enumerate(target):
        level += (attack if goal > level else release) * (goal - level)
        out[i] = level
    return out


def _lead(track: np.ndarray, frames: int = LEAD_FRAMES) -> np.ndarray:
    """Shift earlier so the mouth moves just before the sound, as real mouths do."""
    return np.concatenate([track[frames:], np.repeat(track[-1:], frames)]) if len(track) > frames else track


def _blinks(n: int, fps: int, rng: np.random.Generator) -> np.ndarray:
    track = np.zeros(n)
    time = rng.uniform(0.6, 2.5)
    while True:
        start = int(time * fps)
        if start >= n:
            return track
        end = min(n, start + len(BLINK_PROFILE))
        track[start:end] = np.maximum(track[start:end], BLINK_PROFILE[: end - start])
        time += rng.uniform(2.0, 6.0)


def _stress_pulses(loudness: np.ndarray, fps: int) -> np.ndarray:
    """Raised-cosine bumps (300 ms) on loudness peaks above 0.75 that are at least 0.35 s apart."""
    n = len(loudness)
    pulse_len = max(3, int(0.3 * fps))
    pulse = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(pulse_len) / (pulse_len - 1))
    track = np.zeros(n)
    last = -fps
    for i in range(1, n - 1):
        if loudness[i] > 0.75 and loudness[i] >= loudness[i - 1] and loudness[i] >= loudness[i + 1] \
                and i - last >= int(0.35 * fps):
            start = max(0, i - pulse_len // 2)
            end = min(n, start + pulse_len)
            track[start:end] = np.maximum(track[start:end], pulse[: end - start])
            last = i
    return track


def _drift(t: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Slow, smooth motion: three sinusoids (0.05-0.35 Hz) with random phases, peak about `amplitude`."""
    freqs = rng.uniform(0.05, 0.35, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    weights = np.array([0.5, 0.3, 0.2])
    return amplitude * (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(axis=0)
