"""Mouth shapes (visemes) per video frame: exact from eSpeak's phoneme timing, or estimated from the audio.

Guarantees: weights are non-negative and sum to 1 per frame; neighbouring visemes blend (coarticulation), but a
bilabial closure (p, b, m) is never blended away: every one holds the lips fully closed on the frames whose middle
it covers (at least one), and no more, so the vowels beside it keep theirs;
the mouth shape leads the sound by LEAD_SECONDS, as real mouths do; deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from linly_demo.render.prosody import SpeechFeatures

VISEMES = ("neutral", "closed", "labiodental", "rounded", "spread", "open", "dental")
VISEME_INDEX = {name: i for i, name in enumerate(VISEMES)}
LEAD_SECONDS = 0.04
COARTICULATION_SECONDS = 0.035  # Gaussian blur of the viseme targets
SILENCE = {"_", "_:", "_!", "_|", "_^_", ""}

# eSpeak NG phoneme mnemonics (English and Mandarin voices), without stress marks.
_BY_PHONEME = {
    **dict.fromkeys(["p", "b", "m", "m-"], "closed"),
    **dict.fromkeys(["f", "v"], "labiodental"),
    **dict.fromkeys(["u", "u:", "U", "w", "oU", "O", "O:", "O@", "0", "OI", "@U", "o", "o:", "aU", "S", "Z",
                     "tS", "dZ", "y", "ui", "uo", "ou", "ong", "uan", "uang", "ua", "o-", "W"], "rounded"),
    **dict.fromkeys(["i", "i:", "I", "e", "E", "eI", "i@", "i@3", "I2", "I#", "e@", "j", "ie", "iE", "ian",
                     "in", "ing", "ei", "i."], "spread"),
    **dict.fromkeys(["a", "A", "A:", "aI", "a#", "A@", "V", "3:", "@", "@2", "@5", "a:", "ai", "ao", "an",
                     "ang", "3", "aa", "&"], "open"),
    **dict.fromkeys(["T", "D", "t", "d", "l", "n", "s", "z", "t#", "d#", "ts", "ts.", "s.", "n-", "l-"],
                    "dental"),
}


def viseme_of(symbol: str) -> str:
    """The viseme of one eSpeak phoneme mnemonic (stress marks and tone digits ignored)."""
    base = symbol.strip().lstrip("',%=")
    if _is_silence(symbol):
        return "neutral"
    if base in _BY_PHONEME:
        return _BY_PHONEME[base]
    stripped = base.rstrip("0123456789")
    if stripped in _BY_PHONEME:
        return _BY_PHONEME[stripped]
    for letters, viseme in (("uowy", "rounded"), ("ie", "spread"), ("a", "open")):  # unknown vowels by letter
        if any(c in letters for c in stripped.lower()):
            return viseme
    return "neutral"


def _is_silence(symbol: str) -> bool:
    """eSpeak's pause and silence mnemonics ("_", "_:", "_!", ...)."""
    base = symbol.strip().lstrip("',%=")
    return base in SILENCE or base.startswith("_")


def is_stressed(symbol: str) -> bool:
    """eSpeak marks primary stress with a leading apostrophe."""
    return symbol.startswith("'")


def visemes_from_phonemes(symbols: Sequence[str], starts: Sequence[float], duration: float, n_frames: int,
                          fps: int) -> np.ndarray:
    """(n_frames, len(VISEMES)) weights from a phoneme timeline (start times in seconds)."""
    step = 0.002
    times = np.arange(0.0, n_frames / fps + step, step)
    targets = np.zeros((len(times), len(VISEMES)))
    targets[:, 0] = 1.0
    ends = list(starts[1:]) + [duration]
    silent = [_is_silence(symbol) for symbol in symbols]
    closures = []
    for index, (symbol, start, end) in enumerate(zip(symbols, starts, ends, strict=True)):
        viseme = viseme_of(symbol)
        # The mouth anticipates the next sound, not silence: it holds a sound until it ends, then comes to rest.
        begin = start if silent[index] else start - LEAD_SECONDS
        finish = end if index + 1 < len(symbols) and silent[index + 1] else end - LEAD_SECONDS
        span = (times >= begin) & (times < finish)
        if viseme == "closed":  # set exactly below; blurring it would only dull the vowels around it
            closures.append((begin, finish, start, end))
            continue
        targets[span] = 0.0
        targets[span, VISEME_INDEX[viseme]] = 1.0
    weights = _frame_average(blur_tracks(targets, COARTICULATION_SECONDS / step), times, n_frames, fps)
    for begin, finish, start, end in closures:
        _force_closed(weights, begin, finish, start, end, fps)
    return weights


def visemes_from_audio(features: SpeechFeatures) -> np.ndarray:
    """An estimate without a transcript: rounding from a low spectral centroid (low second formant), spreading
    from a high one, closures from short energy dips inside voiced stretches and from nasal murmur (voiced, quiet,
    energy almost all below 1 kHz), labiodental friction from weak high-band noise, openness from loud vowels."""
    n = features.n_frames
    loud, voiced = features.loudness, features.voicing
    speaking = loud > 0.12
    vowel = speaking & (voiced > 0.45)
    targets = np.zeros((n, len(VISEMES)))
    targets[:, VISEME_INDEX["neutral"]] = 0.4
    targets[:, VISEME_INDEX["rounded"]] = np.where(vowel, np.clip(-0.9 * (features.centroid + 0.25), 0, 1.2), 0)
    targets[:, VISEME_INDEX["spread"]] = np.where(vowel, np.clip(0.9 * (features.centroid - 0.25), 0, 1.2), 0)
    targets[:, VISEME_INDEX["open"]] = np.where(vowel, np.clip((loud - 0.55) * 2.5, 0, 1.2), 0)
    fricative = speaking & (voiced < 0.45)
    targets[:, VISEME_INDEX["labiodental"]] = np.where(fricative & (features.high_band < 0.35), 0.6, 0)
    targets[:, VISEME_INDEX["dental"]] = np.where(fricative & (features.high_band >= 0.35), 0.8, 0)
    weights = blur_tracks(targets, 0.6)
    weights /= weights.sum(axis=1, keepdims=True)
    lead = int(round(LEAD_SECONDS * features.fps))
    weights = np.concatenate([weights[lead:], np.repeat(weights[-1:], lead, axis=0)]) if lead else weights
    for frame in _closure_frames(features):
        _force_closed(weights, (frame - lead) / features.fps, (frame - lead + 1) / features.fps,
                      frame / features.fps, (frame + 1) / features.fps, features.fps)
    return weights


def _closure_frames(features: SpeechFeatures) -> list[int]:
    loud, low = features.loudness, features.low_band
    closures: list[int] = []
    for i in range(2, features.n_frames - 2):
        window = loud[max(0, i - 4):i + 5]
        dip = loud[i] <= window.min() + 1e-9 and window.max() - loud[i] > 0.25
        inside_speech = loud[max(0, i - 4):i].max() > 0.45 and loud[i + 1:i + 5].max() > 0.45
        murmur = features.voicing[i] > 0.5 and low[i] > 0.85 and loud[i] < 0.6
        if inside_speech and (dip or murmur) and (not closures or i - closures[-1] > 2):
            closures.append(i)
    return closures


def blur_tracks(tracks: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing of (n, channels) tracks along time, edges held."""
    radius = max(1, int(3 * sigma_samples))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / max(sigma_samples, 1e-6)) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(tracks, ((radius, radius), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(tracks.shape[1])], axis=1)


def _frame_average(tracks: np.ndarray, times: np.ndarray, n_frames: int, fps: int) -> np.ndarray:
    index = np.minimum((times * fps).astype(int), n_frames - 1)
    sums = np.zeros((n_frames, tracks.shape[1]))
    np.add.at(sums, index, tracks)
    counts = np.bincount(index, minlength=n_frames)[:, None]
    weights = sums / np.maximum(counts, 1)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)


def _force_closed(weights: np.ndarray, begin: float, finish: float, start: float, end: float, fps: int) -> None:
    """Full closure on every frame whose middle lies in [begin, finish) (the p/b/m's span, led), and on the frame
    holding the middle of its sound [start, end) when none of those has its middle at or after
    start - LEAD_SECONDS / 2: every p/b/m closes at least one frame at least 20 ms inside its sound's +-40 ms (where
    an alignment off by 10 ms still finds it; the short "p" of "Bob put" kept only a frame 4 ms inside), and a
    short one does not take the frames around it from the vowels beside it."""
    n = len(weights)
    middles = (np.arange(n) + 0.5) / fps
    frames = np.flatnonzero((middles >= begin) & (middles < finish))
    if not np.any(middles[frames] >= start - LEAD_SECONDS / 2 - 1e-9):
        frames = np.append(frames, int(np.clip(np.floor((start + end) / 2 * fps), 0, n - 1)))
    weights[frames] = 0.0
    weights[frames, VISEME_INDEX["closed"]] = 1.0
