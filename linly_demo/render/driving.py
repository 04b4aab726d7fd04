"""Driving signals: speech (+ phoneme timing when known) -> per-frame visemes and face coefficients.

Guarantees: one row per video frame; mouth shapes come from visemes (exact from eSpeak's phonemes for text,
estimated from the signal for uploaded speech) while loudness sets the overall opening; the mouth leads the sound
by one frame (40 ms at 25 fps) and moves towards its targets at a finite speed (no frame switches from shut to
open), approaching and leaving every p/b/m over two frames and closing exactly on it (the jaw is the smoothest track
near its targets that is shut on every p/b/m, so a short vowel between two closures opens less than a long one),
and rests in pauses; blinks
are random, 2-4 s apart (about 20 a minute, at different frames for different seeds), about 150 ms long; the eyes
fixate 1-4 s at a time, mostly near the camera, with quick saccades between and a slight drift; the head
rolls and drifts as real talking heads do (a roll spread of 0.7-1.3 degrees drawn per clip, slow drift, a tilt to a
random side and a nod on stressed syllables, calmer in pauses), with brow lifts on stress; identical for the same
speech and seed.
A loudness-only mode (no visemes) is kept as a baseline for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.linalg import solveh_banded

from linly_demo.audio import Speech
from linly_demo.render.prosody import SpeechFeatures, speech_features
from linly_demo.render.visemes import (
    VISEME_INDEX,
    VISEMES,
    blur_tracks,
    is_stressed,
    visemes_from_audio,
    visemes_from_phonemes,
)

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
    "lip_press",  # 0 .. 1, lips brought fully together ("p", "b", "m"), whatever the jaw does
    "lower_lip_tuck",  # 0 .. 1, lower lip raised to the upper teeth ("f", "v")
    "teeth_show",  # 0 .. 1, teeth visible through a small opening ("s", "t", "th", "ee")
    "gaze_x",  # -1 .. 1, the irises look to the viewer's left .. right (see render.eyes.GAZE_REACH)
    "gaze_y",  # -1 .. 1, up .. down
)
CHANNEL_INDEX = {name: i for i, name in enumerate(CHANNELS)}
LEAD_FRAMES = 1
BLINK_PROFILE = np.array([0.55, 1.0, 0.75, 0.3])  # 4 frames = 160 ms at 25 fps
BLINK_GAP_S = (2.0, 4.0)
SACCADE_GAP_S = (1.0, 4.0)  # fixations between saccades
SACCADE_FRAMES = 2  # a saccade takes 2 frames (about 60 ms)
FIXATION_SPREAD = (0.45, 0.3)  # std of where the eyes settle (gaze units), mostly near the camera
MIN_SACCADE = 0.2  # gaze units
DRIFT_SPREAD = 0.06  # fixational drift, gaze units (a fraction of a pixel to a pixel)
HEAD_ROLL_DEG, HEAD_YAW_DEG, HEAD_PITCH_DEG = 2.2, 2.0, 1.2  # peak drift
HEAD_SHIFT = 0.008  # peak drift, fraction of the frame
HEAD_ROLL_STD_DEG = (0.7, 1.3)  # the roll drift's spread over a clip, drawn per clip


MODES = ("visemes", "loudness")
# What each viseme does to the mouth (the jaw value scales the loudness-driven opening).
VISEME_MOUTH = {  # viseme: (jaw, spread, round, upper-lip raise, lower-lip tuck, teeth)
    "neutral": (0.85, 0.0, 0.0, 0.0, 0.0, 0.0),
    "closed": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "labiodental": (0.25, 0.1, 0.0, 0.45, 1.0, 0.9),
    "rounded": (0.65, 0.0, 1.0, 0.0, 0.0, 0.0),
    "spread": (0.75, 1.0, 0.0, 0.2, 0.0, 0.5),
    "open": (1.4, 0.15, 0.0, 0.1, 0.0, 0.2),
    "dental": (0.45, 0.35, 0.0, 0.3, 0.0, 1.0),
}
PAUSE_FRAMES = 5  # 200 ms: shorter silences are the quiet of stop consonants, not pauses
PAUSE_PRESS = 0.8  # how firmly the lips rest together in a pause
QUIET_PRESS = 0.6  # and, lightly, in the brief quiet of a stop consonant
JAW_PRESS = 0.85  # how far pressing the lips raises the jaw
JAW_SMOOTH_FRAMES = 1.2  # std of the jaw's zero-phase smoothing, in frames
JAW_STIFFNESS = 0.5  # weight of the jaw's acceleration against its distance from its targets (see _shut_on)
LIP_SMOOTH_FRAMES = 0.5  # the same for the lip shapes
SHAPES_CARRIED = (0, 1)  # lip spread and rounding (columns of the lip shapes) carry across a p/b/m
CLOSURE_APPROACH = (0.45, 0.2)  # how far the lips are pressed one and two frames from a p/b/m's frames
# Lips pressed together are flattened against each other: of the rounding around a p/b/m they keep this much (a
# fully puckered pressed mouth drew a pale knot with no seam, which a small face's landmarks read as parted lips).
PRESSED_ROUNDING = 0.4
_MOUTH = np.array([VISEME_MOUTH[name] for name in VISEMES])  # (len(VISEMES), 6)


class PhonemeTiming(Protocol):
    @property
    def symbol(self) -> str: ...

    @property
    def start(self) -> float: ...  # seconds from the start of the speech


@dataclass(frozen=True)
class DrivingSignals:
    """Coefficient tracks, one row per video frame, columns named by CHANNELS; viseme weights per frame."""

    fps: int
    coefficients: np.ndarray  # (n_frames, len(CHANNELS)) float32, read-only
    visemes: np.ndarray | None = None  # (n_frames, len(VISEMES)) float32 weights summing to 1, read-only
    viseme_source: str = "none"  # "phonemes", "audio" or "none" (loudness-only baseline)

    @property
    def n_frames(self) -> int:
        return int(self.coefficients.shape[0])

    def track(self, name: str) -> np.ndarray:
        return self.coefficients[:, CHANNEL_INDEX[name]]


def driving_from_speech(speech: Speech, fps: int = 25, seed: int = 0,
                        phonemes: Sequence[PhonemeTiming] | None = None, mode: str = "visemes") -> DrivingSignals:
    """Coefficients for a clip of speech; `phonemes` (eSpeak's timing, for text) make the mouth shapes exact,
    without them they are estimated from the signal; mode "loudness" is the viseme-free baseline."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    features = speech_features(speech, fps)
    if mode == "loudness":
        return driving_from_features(features, seed)
    if phonemes:
        weights = visemes_from_phonemes([p.symbol for p in phonemes], [p.start for p in phonemes],
                                        speech.duration, features.n_frames, fps)
        stressed = [p.start for p in phonemes if is_stressed(p.symbol)]
        return driving_from_features(features, seed, weights, "phonemes", stressed)
    return driving_from_features(features, seed, visemes_from_audio(features), "audio")


def driving_from_features(features: SpeechFeatures, seed: int = 0, visemes: np.ndarray | None = None,
                          viseme_source: str = "none", stressed_at: Sequence[float] | None = None) -> DrivingSignals:
    n, fps = features.n_frames, features.fps
    tracks = np.zeros((n, len(CHANNELS)), dtype=np.float64)
    speaking = features.loudness > 0.12

    # Opening follows the amplitude (a wider mouth radiates more sound); voiced sounds open wider.
    amplitude = np.sqrt(np.clip(features.rms / np.percentile(features.rms, 95), 0.0, 1.2))
    opening = np.where(speaking, np.minimum(amplitude * (0.6 + 0.5 * features.voicing), 1.05), 0.0)
    if visemes is None:
        _loudness_mouth(tracks, features, speaking, opening)
    else:
        _viseme_mouth(tracks, visemes, opening, ~speaking)

    rng = np.random.default_rng(seed)
    tracks[:, CHANNEL_INDEX["blink"]] = _blinks(n, fps, rng)
    # The eyes draw from their own stream, so the head and blinks of a seed do not depend on them.
    tracks[:, [CHANNEL_INDEX["gaze_x"], CHANNEL_INDEX["gaze_y"]]] = _gaze(n, fps, np.random.default_rng([seed, 1]))
    if stressed_at is not None:
        stress = _pulses_at(np.asarray(stressed_at) * fps, n, fps)
    else:
        stress = _stress_pulses(features.loudness, fps)
    tracks[:, CHANNEL_INDEX["brow_raise"]] = 0.5 * stress
    activity = _attack_release(speaking.astype(np.float64), 0.15, 0.05)
    calm = 0.35 + 0.65 * activity  # calmer in pauses
    t = np.arange(n) / fps
    # Real talking heads roll about 0.5-3 degrees (std) and travel 0.05-0.7 eye distances: slow drift plus a tilt
    # and a nod on stressed syllables, the tilt's side chosen at random per syllable.
    tilt = _signed_pulses(stress, rng)
    roll = calm * _drift(t, rng, HEAD_ROLL_DEG)
    roll -= roll.mean()  # about the photo's own pose; short clips roll as much as long ones
    roll *= rng.uniform(*HEAD_ROLL_STD_DEG) / max(float(np.std(roll)), 1e-6)
    tracks[:, CHANNEL_INDEX["head_roll"]] = roll + 1.2 * tilt
    tracks[:, CHANNEL_INDEX["head_yaw"]] = calm * _drift(t, rng, HEAD_YAW_DEG)
    tracks[:, CHANNEL_INDEX["head_pitch"]] = calm * _drift(t, rng, HEAD_PITCH_DEG) + 1.5 * stress
    tracks[:, CHANNEL_INDEX["head_dx"]] = calm * _drift(t, rng, HEAD_SHIFT) + 0.004 * tilt
    tracks[:, CHANNEL_INDEX["head_dy"]] = calm * _drift(t, rng, 0.75 * HEAD_SHIFT) + 0.004 * stress

    coefficients = tracks.astype(np.float32)
    coefficients.setflags(write=False)
    frozen_visemes = None
    if visemes is not None:
        frozen_visemes = visemes.astype(np.float32)
        frozen_visemes.setflags(write=False)
    return DrivingSignals(fps, coefficients, frozen_visemes, viseme_source)


def viseme_pose(viseme: str, opening: float = 0.8) -> np.ndarray:
    """One frame's coefficients holding a viseme at a typical speaking loudness (for previews and tests)."""
    row = np.zeros(len(CHANNELS), np.float32)
    jaw, spread, rounding, lift, tuck, teeth = VISEME_MOUTH[viseme]
    row[CHANNEL_INDEX["jaw_open"]] = opening * jaw
    for name, value in (("lip_spread", spread), ("lip_round", rounding), ("upper_lip_raise", lift),
                        ("lower_lip_tuck", tuck), ("teeth_show", teeth)):
        row[CHANNEL_INDEX[name]] = value
    row[CHANNEL_INDEX["lip_press"]] = 1.0 if viseme == "closed" else 0.0
    return row


def _loudness_mouth(tracks: np.ndarray, features: SpeechFeatures, speaking: np.ndarray,
                    opening: np.ndarray) -> None:
    """The baseline: loudness opens the jaw, spectral shape alone spreads or rounds the lips."""
    tracks[:, CHANNEL_INDEX["jaw_open"]] = _lead(_attack_release(opening, attack=0.8, release=0.55))
    vowel = speaking & (features.voicing > 0.45)
    spread = np.where(vowel, np.clip(0.4 * features.centroid, 0, 1), 0.0)
    rounding = np.where(vowel, np.clip(-0.4 * features.centroid, 0, 1), 0.0)
    fricative = speaking & (features.voicing < 0.45)
    raise_upper = np.where(fricative, np.clip((features.high_band - 0.15) * 2.5, 0, 1), 0.0)
    tracks[:, CHANNEL_INDEX["lip_spread"]] = _lead(_attack_release(spread, 0.6, 0.4))
    tracks[:, CHANNEL_INDEX["lip_round"]] = _lead(_attack_release(rounding, 0.6, 0.4))
    tracks[:, CHANNEL_INDEX["upper_lip_raise"]] = _lead(_attack_release(0.6 * raise_upper, 0.7, 0.5))


def _viseme_mouth(tracks: np.ndarray, visemes: np.ndarray, opening: np.ndarray, silent: np.ndarray) -> None:
    """Visemes shape the mouth (they already lead the sound); loudness sets how far it opens. Articulators move,
    they do not switch: the jaw and lip shapes follow their targets through a zero-phase smoothing (no lag), the
    jaw as a mass that has to be exactly shut on every p/b/m (_shut_on), and
    the lips approach and leave each p/b/m over the two frames either side, while the closure itself stays exact
    (on its frames the lips meet and the jaw is shut) and the lips keep their spreading and some of their rounding
    through it (pressed lips flatten: PRESSED_ROUNDING).
    Where the sound goes quiet the lips rest lightly together, in a pause (200 ms or more) firmly."""
    mouth = visemes @ _MOUTH  # (n, 6)
    closure = visemes[:, VISEME_INDEX["closed"]]
    jaw = np.minimum(_smooth(_lead(opening) * mouth[:, 0], JAW_SMOOTH_FRAMES), 1.2)
    # Lips rest lightly together whenever the sound goes quiet, and firmly in a pause.
    resting = _lead(np.maximum(_attack_release(silent.astype(float), 0.35, 0.6) * QUIET_PRESS,
                               _attack_release(_pauses(silent).astype(float), 0.35, 0.6) * PAUSE_PRESS))
    approach = closure.copy()
    for distance, share in enumerate(CLOSURE_APPROACH, 1):
        approach[distance:] = np.maximum(approach[distance:], share * closure[:-distance])
        approach[:-distance] = np.maximum(approach[:-distance], share * closure[distance:])
    press = np.maximum(approach, resting)
    # Lips can only meet with the jaw nearly shut, and on a p/b/m's own frames it is shut; between closures the
    # jaw moves as a mass does, so a short vowel squeezed between two of them opens less than a long one.
    tracks[:, CHANNEL_INDEX["jaw_open"]] = _shut_on(jaw * (1.0 - JAW_PRESS * press), closure >= 1.0, JAW_STIFFNESS)
    shapes = _smooth(_carried_across(mouth[:, 1:], closure, SHAPES_CARRIED), LIP_SMOOTH_FRAMES)
    shapes[:, 1] *= 1.0 - (1.0 - PRESSED_ROUNDING) * approach ** 2  # eased in over the frames approaching it
    for column, name in enumerate(("lip_spread", "lip_round", "upper_lip_raise", "lower_lip_tuck", "teeth_show")):
        tracks[:, CHANNEL_INDEX[name]] = shapes[:, column]
    tracks[:, CHANNEL_INDEX["lip_press"]] = press


def _shut_on(target: np.ndarray, shut: np.ndarray, stiffness: float) -> np.ndarray:
    """The track nearest `target` with little acceleration that is exactly 0 on the `shut` frames: it minimises
    sum (x - target)^2 + stiffness * sum (second difference of x)^2 with x = 0 there (a zero-phase low-pass with
    hard constraints: away from them a frequency f keeps 1 / (1 + stiffness (2 - 2 cos 2 pi f / fps)^2) of its
    amplitude), clipped at 0. Removing the shut frames keeps the system banded, so it is solved in linear time."""
    n = len(target)
    free = np.flatnonzero(~shut)
    out = np.zeros(n)
    if n < 3 or not len(free):
        return np.where(shut, 0.0, np.maximum(target, 0.0))
    normal = stiffness * _second_difference_gram(n)
    normal[2] += 1.0
    reduced = np.zeros((3, len(free)))
    for offset in range(3):  # the band `offset` above the diagonal, numbered over the free frames
        rows, columns = free[:len(free) - offset], free[offset:]
        distance = columns - rows
        reduced[2 - offset, offset:] = np.where(distance <= 2, normal[2 - np.minimum(distance, 2), columns], 0.0)
    out[free] = solveh_banded(reduced, target[free])
    return np.maximum(out, 0.0)


def _second_difference_gram(n: int) -> np.ndarray:
    """D^T D for the (n - 2) x n second-difference matrix D, in solveh_banded's upper form: row 0 the band two
    above the diagonal, row 1 the band one above, row 2 the diagonal, each entry in its column."""
    k = np.arange(n)
    two_above = (k >= 2).astype(float)
    above = -2.0 * (k >= 2) - 2.0 * ((k >= 1) & (k <= n - 2))
    diagonal = 1.0 * (k <= n - 3) + 4.0 * ((k >= 1) & (k <= n - 2)) + 1.0 * (k >= 2)
    return np.stack([two_above, above, diagonal])


def _carried_across(shapes: np.ndarray, closure: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """`shapes` with the given columns interpolated across the frames of each p/b/m: the lips keep rounding or
    spreading while they are pressed together ("b" in "boat" is already rounded), so a closure does not pull the
    vowels beside it back to neutral."""
    carried = shapes.copy()
    held, free = np.flatnonzero(closure >= 1.0), np.flatnonzero(closure < 1.0)
    if len(held) and len(free):
        for column in columns:
            carried[held, column] = np.interp(held, free, shapes[free, column])
    return carried


def _pauses(silent: np.ndarray) -> np.ndarray:
    """The silent frames that belong to a pause (a silent stretch of at least PAUSE_FRAMES), not the brief quiet
    of a stop consonant inside a word."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(np.int8), [0]])))  # run starts, then ends
    pauses = np.zeros_like(silent)
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start >= PAUSE_FRAMES:
            pauses[start:end] = True
    return pauses


def _smooth(track: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along time (edges held), for one track or columns of tracks."""
    columns = track.reshape(len(track), -1)
    return blur_tracks(columns, sigma_frames).reshape(track.shape)


def _pulses_at(frames: np.ndarray, n: int, fps: int) -> np.ndarray:
    """Raised-cosine bumps (300 ms) centred on the given frame positions, at least 0.35 s apart."""
    pulse_len = max(3, int(0.3 * fps))
    pulse = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(pulse_len) / (pulse_len - 1))
    track = np.zeros(n)
    last = -float(fps)
    for centre in sorted(frames):
        if centre - last < 0.35 * fps or not 0 <= centre < n:
            continue
        start = max(0, int(centre) - pulse_len // 2)
        end = min(n, start + pulse_len)
        track[start:end] = np.maximum(track[start:end], pulse[: end - start])
        last = centre
    return track


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


def _signed_pulses(pulses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`pulses` with each separate bump given a random sign."""
    starts = np.flatnonzero((pulses > 0) & (np.concatenate([[0.0], pulses[:-1]]) == 0))
    signs = np.ones(len(pulses))
    for start in starts:
        signs[start:] = rng.choice((-1.0, 1.0))
    return pulses * signs


def _blinks(n: int, fps: int, rng: np.random.Generator) -> np.ndarray:
    """About 20 blinks a minute (2-4 s apart) at random times: different clips (seeds) blink at different frames."""
    track = np.zeros(n)
    time = rng.uniform(0.3, 2.5)
    while True:
        start = int(time * fps)
        if start >= n:
            return track
        end = min(n, start + len(BLINK_PROFILE))
        track[start:end] = np.maximum(track[start:end], BLINK_PROFILE[: end - start])
        time += rng.uniform(*BLINK_GAP_S)


def _gaze(n: int, fps: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) gaze: fixations 1-4 s long, mostly near the camera (every other one back towards it), joined by
    saccades of SACCADE_FRAMES frames, with a slow fixational drift on top."""
    track = np.zeros((n, 2))
    here = np.zeros(2)
    start, toward_camera = 0, False
    while start < n:
        length = int(rng.uniform(*SACCADE_GAP_S) * fps)
        spread = np.array(FIXATION_SPREAD) * (0.4 if toward_camera else 1.0)
        there = here
        while np.linalg.norm(there - here) < MIN_SACCADE:  # a saccade moves the eyes noticeably
            there = np.clip(rng.normal(0.0, np.maximum(spread, MIN_SACCADE)), -1.0, 1.0)
        ramp = np.minimum(np.arange(1, length + 1) / SACCADE_FRAMES, 1.0)[:, None] if start else np.ones((length, 1))
        end = min(n, start + length)
        track[start:end] = (here + ramp * (there - here))[: end - start]
        here, start, toward_camera = there, end, not toward_camera
    drift = np.cumsum(rng.normal(0.0, 1.0, (n, 2)), axis=0)
    drift -= np.linspace(drift[0], drift[-1], n)  # a random walk tied down at both ends
    drift /= max(float(np.abs(drift).max()), 1e-9)
    return np.clip(track + DRIFT_SPREAD * drift, -1.0, 1.0)


def _stress_pulses(loudness: np.ndarray, fps: int) -> np.ndarray:
    """Pulses on loudness peaks above 0.75 (the accents of speech without a transcript)."""
    peaks = [i for i in range(1, len(loudness) - 1)
             if loudness[i] > 0.75 and loudness[i] >= loudness[i - 1] and loudness[i] >= loudness[i + 1]]
    return _pulses_at(np.array(peaks, dtype=float), len(loudness), fps)


def _drift(t: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Slow, smooth motion: three sinusoids (0.1-0.45 Hz) with random phases, peak about `amplitude`."""
    freqs = rng.uniform(0.1, 0.45, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    weights = np.array([0.5, 0.3, 0.2])
    return amplitude * (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(axis=0)
