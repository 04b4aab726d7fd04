"""Per-video-frame speech features: loudness, voicing, spectral shape.

Guarantees: one row per video frame (frame i covers the audio around i / fps); values are normalised per clip
so that quiet and loud recordings drive the face alike; deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linly_demo.audio import Speech


@dataclass(frozen=True)
class SpeechFeatures:
    """Frame-rate features of one clip (all arrays have one value per video frame)."""

    fps: int
    loudness: np.ndarray  # 0 (pause) .. 1 (loudest speech), from dB between the clip's floor and peak
    rms: np.ndarray  # linear RMS amplitude
    voicing: np.ndarray  # 0 .. 1, normalised autocorrelation peak in the 60-400 Hz pitch range
    centroid: np.ndarray  # spectral centroid, z-scored over the clip's voiced frames
    high_band: np.ndarray  # share of energy above 3.5 kHz (fricatives)
    low_band: np.ndarray  # share of energy below 1 kHz

    @property
    def n_frames(self) -> int:
        return len(self.loudness)


def frame_count(duration: float, fps: int) -> int:
    """Video frames for a clip: the video's duration matches the audio's to within half a frame."""
    return max(1, int(round(duration * fps)))


def speech_features(speech: Speech, fps: int) -> SpeechFeatures:
    rate = speech.sample_rate
    n = frame_count(speech.duration, fps)
    window = int(rate * 0.05)  # 50 ms analysis window centred on each frame's midpoint
    centres = ((np.arange(n) + 0.5) * rate / fps).astype(int)
    padded = np.pad(speech.samples.astype(np.float32), (window, window))
    starts = centres - window // 2 + window
    frames = np.stack([padded[s:s + window] for s in starts])  # (n, window)

    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)) + 1e-9
    db = 20 * np.log10(rms)
    peak = np.percentile(db, 95)
    floor = max(np.percentile(db, 10), peak - 40.0)
    loudness = np.clip((db - floor) / max(peak - floor, 6.0), 0.0, 1.0)

    spectrum = np.abs(np.fft.rfft(frames * np.hanning(window), axis=1)) ** 2
    freqs = np.fft.rfftfreq(window, 1 / rate)
    energy = spectrum.sum(axis=1) + 1e-12
    centroid_hz = (spectrum * freqs).sum(axis=1) / energy
    high_band = spectrum[:, freqs >= 3500].sum(axis=1) / energy
    low_band = spectrum[:, freqs < 1000].sum(axis=1) / energy

    voicing = _voicing(frames, rate)
    voiced = (voicing > 0.5) & (loudness > 0.3)
    reference = centroid_hz[voiced] if voiced.sum() >= 5 else centroid_hz
    centroid = (centroid_hz - np.median(reference)) / (np.std(reference) + 1e-6)
    return SpeechFeatures(fps, loudness, rms, voicing, centroid, high_band, low_band)


def _voicing(frames: np.ndarray, rate: int) -> np.ndarray:
    """Peak of the normalised autocorrelation over pitch lags (60-400 Hz)."""
    centred = frames - frames.mean(axis=1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * frames.shape[1])))
    spectrum = np.fft.rfft(centred, size, axis=1)
    auto = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1)[:, : frames.shape[1]]
    lo, hi = int(rate / 400), int(rate / 60)
    peak = auto[:, lo:hi].max(axis=1)
    return np.clip(peak / (auto[:, 0] + 1e-9), 0.0, 1.0)
