"""The voice profile: a WORLD-vocoder conversion of the TTS voice toward an enrolled speaker.

A signal-processing profile, not a neural clone: the eSpeak NG voice variant, F0 level and range, a frequency
warp of the spectral envelope (vocal-tract length), a spectral tilt and breathiness. Fitted by maximising the
similarity of resemblyzer's pretrained speaker encoder between converted TTS speech and the enrolled samples.

Guarantees: conversion keeps the timing of its input sample for sample (so phoneme timing stays aligned);
fitting is deterministic for the same samples; raw samples never leave the process.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import asdict, dataclass
from math import gcd
from typing import Any

import numpy as np
from scipy.signal import resample_poly

with warnings.catch_warnings():  # pyworld imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    import pyworld

from linly_demo.voice.tts import Speaker, SynthesizedSpeech

RATE = 16_000
FRAME_MS = 5.0
VARIANTS = ("", "m1", "m3", "m7", "f1", "f2", "f4")
FIT_TEXT = ("The quick brown fox jumps over the lazy dog near the river bank. "
            "She sells sea shells by the sea shore, while rain falls on the plain.")
EQ_BAND_HZ = np.geomspace(100.0, 7600.0, 20)
EQ_LIMIT_DB = 12.0
BOUNDS = {
    "f0_shift_semitones": (-12.0, 12.0),
    "f0_range": (0.4, 2.0),
    "formant_scale": (0.8, 1.25),
    "tilt_db_per_octave": (-9.0, 9.0),
    "breathiness": (0.0, 0.8),
    "equaliser_strength": (0.0, 1.0),
}


@dataclass(frozen=True)
class VoiceProfile:
    """Conversion parameters fitted to one speaker (neutral values leave the TTS voice unchanged)."""

    variant: str = ""
    f0_shift_semitones: float = 0.0
    f0_range: float = 1.0
    formant_scale: float = 1.0
    tilt_db_per_octave: float = 0.0
    breathiness: float = 0.0  # share of the periodic part turned into noise (eSpeak is buzzier than people)
    equaliser_db: tuple[float, ...] = ()  # long-term spectrum correction per band (EQ_BAND_HZ), fitted, not searched
    equaliser_strength: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VoiceProfile:
        values = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        variant = str(values.pop("variant", ""))
        equaliser = tuple(float(v) for v in values.pop("equaliser_db", ()))
        profile = cls(variant=variant, equaliser_db=equaliser, **{k: float(v) for k, v in values.items()})
        if equaliser and len(equaliser) != len(EQ_BAND_HZ):
            raise ValueError("equaliser has the wrong number of bands")
        if profile.variant not in VARIANTS:
            raise ValueError("unknown voice variant")
        return profile


class SpeakerEncoder:
    """resemblyzer's pretrained speaker encoder (weights ship in the wheel), loaded once per process."""

    _lock = threading.Lock()
    _encoder: Any = None

    def __init__(self) -> None:
        with SpeakerEncoder._lock:
            if SpeakerEncoder._encoder is None:
                from resemblyzer import VoiceEncoder  # deferred: torch + librosa + weights, enrollment only

                SpeakerEncoder._encoder = VoiceEncoder("cpu", verbose=False)

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """L2-normalised 256-d embedding of one or more 16 kHz clips of one speaker."""
        from resemblyzer import preprocess_wav  # deferred, as in __init__

        prepared = [preprocess_wav(np.asarray(w, np.float32), RATE) for w in waves]
        prepared = [w for w in prepared if len(w) > RATE // 2] or [np.asarray(waves[0], np.float32)]
        with SpeakerEncoder._lock:
            embedding = SpeakerEncoder._encoder.embed_speaker(prepared)
        return (embedding / np.linalg.norm(embedding)).astype(np.float32)


def to_rate(speech: SynthesizedSpeech) -> np.ndarray:
    """TTS output resampled to 16 kHz float64."""
    samples = speech.samples.astype(np.float64)
    if speech.sample_rate == RATE:
        return samples
    divisor = gcd(speech.sample_rate, RATE)
    return resample_poly(samples, RATE // divisor, speech.sample_rate // divisor)


@dataclass(frozen=True)
class WorldAnalysis:
    """F0, spectral envelope and aperiodicity of a 16 kHz signal, and its length in samples."""

    f0: np.ndarray
    envelope: np.ndarray
    aperiodicity: np.ndarray
    n_samples: int


def analyse(samples: np.ndarray) -> WorldAnalysis:
    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0, times = pyworld.dio(x, RATE, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, times, RATE)
    envelope = pyworld.cheaptrick(x, f0, times, RATE)
    aperiodicity = pyworld.d4c(x, f0, times, RATE)
    return WorldAnalysis(f0, envelope, aperiodicity, len(x))


def resynthesise(analysis: WorldAnalysis, profile: VoiceProfile) -> np.ndarray:
    """Apply the profile's F0 and envelope changes; the output has exactly the input's length."""
    f0 = analysis.f0.copy()
    voiced = f0 > 0
    if voiced.any():
        log_f0 = np.log(f0[voiced])
        centre = float(np.mean(log_f0))
        shifted = centre + profile.f0_shift_semitones * np.log(2) / 12 + profile.f0_range * (log_f0 - centre)
        f0[voiced] = np.clip(np.exp(shifted), 50.0, 600.0)
    bins = analysis.envelope.shape[1]
    freqs = np.linspace(0, RATE / 2, bins)
    # Formants move by `formant_scale`: the new envelope at f is the old one at f / scale.
    source = np.clip(freqs / profile.formant_scale, 0, RATE / 2)
    envelope = np.stack([np.interp(source, freqs, row) for row in analysis.envelope])
    octaves = np.log2(np.maximum(freqs, 62.5) / 1000.0)
    gain_db = profile.tilt_db_per_octave * octaves
    if profile.equaliser_db and profile.equaliser_strength:
        gain_db = gain_db + profile.equaliser_strength * np.interp(freqs, EQ_BAND_HZ, profile.equaliser_db)
    envelope = envelope * 10 ** (gain_db / 10)[None, :]
    aperiodicity = analysis.aperiodicity + profile.breathiness * (1.0 - analysis.aperiodicity) * 0.5
    out = pyworld.synthesize(f0, np.ascontiguousarray(envelope), np.ascontiguousarray(aperiodicity), RATE, FRAME_MS)
    out = np.resize(out, analysis.n_samples) if len(out) != analysis.n_samples else out
    peak = np.max(np.abs(out)) or 1.0
    return (out / peak * 0.9).astype(np.float32)


def convert(speech: SynthesizedSpeech, profile: VoiceProfile) -> np.ndarray:
    """TTS speech (spoken with the profile's variant) -> 16 kHz float32 in the profile's voice."""
    return resynthesise(analyse(to_rate(speech)), profile)


def band_levels(waves: list[np.ndarray]) -> np.ndarray:
    """Long-term average spectrum (dB) of the speech frames of `waves`, in bands centred on EQ_BAND_HZ."""
    n_fft, hop = 512, 160
    window = np.hanning(n_fft)
    frames = []
    for wave in waves:
        x = np.asarray(wave, np.float64)
        if len(x) < n_fft:
            continue
        index = np.arange(n_fft)[None, :] + hop * np.arange((len(x) - n_fft) // hop + 1)[:, None]
        power = np.abs(np.fft.rfft(x[index] * window, axis=1)) ** 2
        energy = 10 * np.log10(power.sum(axis=1) + 1e-12)
        frames.append(power[energy > energy.max() - 30])
    power = np.concatenate(frames).mean(axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1 / RATE)
    edges = np.sqrt(EQ_BAND_HZ[:-1] * EQ_BAND_HZ[1:])
    edges = np.concatenate([[EQ_BAND_HZ[0] / 1.2], edges, [EQ_BAND_HZ[-1] * 1.05]])
    levels = [power[(freqs >= lo) & (freqs < hi)].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return 10 * np.log10(np.asarray(levels) + 1e-12)


def _equaliser(target: np.ndarray, current: np.ndarray) -> tuple[float, ...]:
    difference = target - current
    difference -= difference.mean()  # level is normalised anyway; only the shape matters
    smoothed = np.convolve(np.pad(difference, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    return tuple(float(v) for v in np.round(np.clip(smoothed, -EQ_LIMIT_DB, EQ_LIMIT_DB), 2))


@dataclass(frozen=True)
class FitResult:
    profile: VoiceProfile
    similarity_plain: float  # cosine similarity of plain TTS to the samples
    similarity_converted: float


def fit_profile(target: np.ndarray, encoder: SpeakerEncoder, speaker: Speaker,
                samples: list[np.ndarray] | None = None) -> FitResult:
    """Choose the variant and coordinate-search the parameters that bring TTS closest to `target`."""
    plain = speaker.speak(FIT_TEXT, "en")
    similarity_plain = float(encoder.embed([to_rate(plain)]) @ target)
    by_variant = {}
    for variant in VARIANTS:
        speech = speaker.speak(FIT_TEXT, "en", variant=variant)
        by_variant[variant] = (float(encoder.embed([to_rate(speech)]) @ target), speech)
    ranked = sorted(by_variant, key=lambda v: -by_variant[v][0])[:3]
    analyses = {v: analyse(to_rate(by_variant[v][1])) for v in ranked}

    def score(profile: VoiceProfile) -> float:
        return float(encoder.embed([resynthesise(analyses[profile.variant], profile)]) @ target)

    # A coarse grid over the three closest variants (pitch level x vocal-tract length), then coordinate search.
    starts = [VoiceProfile(variant=v, f0_shift_semitones=shift, formant_scale=scale)
              for v in ranked for shift in (-6.0, 0.0, 6.0) for scale in (0.9, 1.0, 1.1)]
    scored = [(score(p), p) for p in starts]
    best_score, best = max(scored, key=lambda item: item[0])
    if samples:
        # Match the long-term spectrum of the samples (voice colour and recording channel), then search its weight.
        current = band_levels([resynthesise(analyses[best.variant], best)])
        best = VoiceProfile(**{**best.as_dict(), "equaliser_db": _equaliser(band_levels(samples), current),
                               "equaliser_strength": 0.5})
        best_score = score(best)
    steps = {"f0_shift_semitones": 2.0, "f0_range": 0.3, "formant_scale": 0.04, "tilt_db_per_octave": 3.0,
             "breathiness": 0.3, "equaliser_strength": 0.25 if samples else 0.0}
    for _round in range(3):
        for name, step in steps.items():
            if step == 0:
                continue
            low, high = BOUNDS[name]
            for direction in (1, -1):
                while True:
                    value = float(np.clip(getattr(best, name) + direction * step, low, high))
                    if value == getattr(best, name):
                        break
                    candidate = VoiceProfile(**{**best.as_dict(), name: value})
                    candidate_score = score(candidate)
                    if candidate_score <= best_score + 1e-4:
                        break
                    best, best_score = candidate, candidate_score
        steps = {name: step / 2 for name, step in steps.items()}
    return FitResult(best, similarity_plain, best_score)
