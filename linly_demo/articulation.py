"""Does the mouth say the words? Closure on p/b/m and rounding on u/o/w, measured on the output video.

The phoneme timing is re-derived from eSpeak NG for the text and aligned to the video's own soundtrack by
dynamic time warping on MFCCs (librosa), so it also holds after voice conversion or for another voice reading
the same text. The mouth is measured by the independent detector's landmarks (never the driving coefficients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from linly_demo.audio import SPEECH_RATE, Speech, speech_from_pcm
from linly_demo.face_geometry import FrameMeasurements, inner_lip_gap, mouth_width
from linly_demo.render.visemes import viseme_of
from linly_demo.voice.tts import Speaker, SynthesizedSpeech

HOP_SECONDS = 0.01
CLOSURE_SHARE = 0.3  # of the speaking gap
SPEAKING_PERCENTILE = 75  # of the opening over vowel frames: the speaking gap
CLOSURE_WINDOW = 0.04  # seconds either side of the phoneme
BILABIALS = {"p", "b", "m"}
VOWEL_VISEMES = {"rounded", "spread", "open"}
CONSONANTS = {"S", "Z", "tS", "dZ", "w", "W", "j"}  # lip-shaped consonants, not vowels


@dataclass(frozen=True)
class Articulation:
    bilabial_closure_rate: float | None
    bilabial_count: int
    # The least closed p/b/m: its smallest gap over the closure threshold (below 1 it counts as closed). How far the
    # closure gate is from flipping: a render at 0.9 passes by a hair that another CPU's rounding could take away.
    bilabial_worst_share: float | None
    rounding_contrast: float | None
    mouth_width_rounded: float | None
    mouth_width_spread: float | None

    def as_fields(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _mfcc(samples: np.ndarray) -> np.ndarray:
    import librosa  # deferred: librosa (numba) takes about a second to import and only `evaluate --text` needs it

    hop = int(SPEECH_RATE * HOP_SECONDS)
    mfcc = librosa.feature.mfcc(y=np.asarray(samples, np.float32), sr=SPEECH_RATE, n_mfcc=20, n_fft=400,
                                hop_length=hop, n_mels=40)
    mfcc = mfcc[1:]  # drop energy: levels differ between voices
    return (mfcc - mfcc.mean(axis=1, keepdims=True)) / (mfcc.std(axis=1, keepdims=True) + 1e-6)


def time_map(reference: np.ndarray, target: np.ndarray):
    """A function mapping reference seconds to target seconds, from DTW on MFCCs."""
    import librosa  # deferred, as in _mfcc

    _cost, path = librosa.sequence.dtw(X=_mfcc(reference), Y=_mfcc(target), metric="euclidean")
    path = path[::-1]
    ref_t, tgt_t = path[:, 0] * HOP_SECONDS, path[:, 1] * HOP_SECONDS
    order = np.argsort(ref_t, kind="stable")
    ref_t, tgt_t = ref_t[order], tgt_t[order]
    unique_ref, first = np.unique(ref_t, return_index=True)
    counts = np.diff(np.append(first, len(ref_t)))
    mean_tgt = np.add.reduceat(tgt_t, first) / counts
    return lambda seconds: np.interp(seconds, unique_ref, mean_tgt)


def articulation(measured: FrameMeasurements, speech: Speech, text: str, language: str = "en",
                 spoken: SynthesizedSpeech | None = None) -> Articulation:
    """Metrics from per-frame landmarks and the video's soundtrack. `spoken` is the synthesis the video was made
    from, when known: aligning that very waveform to the soundtrack is exact, while speaking the text again gives a
    slightly different waveform each call (eSpeak NG keeps state between calls), which can shift the alignment."""
    spoken = spoken or Speaker().speak(text, language)
    reference = speech_from_pcm(spoken.samples, spoken.sample_rate)
    # The app's text renders hold silence after the last word (audio.speech_with_rest): the reference gets as much,
    # so silence aligns to silence and the last phoneme ends where its sound does, not inside the rest.
    extra = len(speech.samples) - len(reference.samples)
    aligned = np.pad(reference.samples, (0, extra)) if extra > 0 else reference.samples
    to_video = time_map(aligned, speech.samples)
    fps = measured.fps
    gap, width = inner_lip_gap(measured.landmarks), mouth_width(measured.landmarks)
    centres = (np.arange(len(gap)) + 0.5) / fps
    starts = [p.start for p in spoken.phonemes]
    ends = starts[1:] + [reference.duration]
    # The speaking gap, the reference for a closure: the upper quartile of the opening over the vowels' frames, their
    # open phase (with the transcript known, this keeps the closures being measured out of their own reference).
    # Not the median: the mouth moves from one target to the next, so part of each vowel's frames are its way in
    # and out, and next to a p/b/m those are nearly closed. A quartile of many frames, not each vowel's widest
    # one, so the detector's frame-to-frame noise cannot inflate it.
    vowel_frames = np.zeros(len(gap), bool)
    for phoneme, start, end in zip(spoken.phonemes, starts, ends, strict=True):
        if viseme_of(phoneme.symbol) in VOWEL_VISEMES and phoneme.symbol.lstrip("',%=") not in CONSONANTS:
            vowel_frames |= (centres >= float(to_video(start))) & (centres < float(to_video(end)))
    vowel_frames &= np.isfinite(gap)
    speaking_gap = float(np.percentile(gap[vowel_frames], SPEAKING_PERCENTILE)) if vowel_frames.any() else np.nan

    closed, total = 0, 0
    shares: list[float] = []
    rounded, spread = [], []
    for phoneme, start, end in zip(spoken.phonemes, starts, ends, strict=True):
        base = phoneme.symbol.lstrip("',%=")
        begin, finish = float(to_video(start)), float(to_video(end))
        if base in BILABIALS:
            window = (centres >= begin - CLOSURE_WINDOW) & (centres <= finish + CLOSURE_WINDOW) & np.isfinite(gap)
            if window.any():
                total += 1
                shares.append(float(np.min(gap[window]) / (CLOSURE_SHARE * speaking_gap)))
                closed += int(shares[-1] < 1.0)
            continue
        viseme = viseme_of(phoneme.symbol)
        inside = (centres >= begin) & (centres < finish) & np.isfinite(width)
        if viseme == "rounded" and base not in CONSONANTS:
            rounded.extend(width[inside])
        elif viseme == "spread" and base not in CONSONANTS:
            spread.extend(width[inside])
    rounded_width = float(np.median(rounded)) if rounded else None
    spread_width = float(np.median(spread)) if spread else None
    contrast = spread_width - rounded_width if spread_width is not None and rounded_width is not None else None
    worst = max(shares) if shares else None
    return Articulation(closed / total if total else None, total, worst, contrast, rounded_width, spread_width)
