"""Frame-level voice conversion of the TTS voice towards an enrolled speaker, with the WORLD vocoder (pyworld).

The enrolled voice is a `VoiceCodebook`: the speaker's log-F0 mean and spread, a linear frequency warp fitted
between the TTS voice's and the speaker's long-term spectra, and a codebook of the speaker's own voiced
spectral-envelope frames (mel-cepstra) with their aperiodicity. Converting TTS speech maps its F0 to the
speaker's statistics, warps its envelope, then replaces each voiced frame's envelope by its nearest neighbour in
the codebook (distance on the warped frame's mel-cepstrum after a mean correction, the choices smoothed over
three frames) at the TTS frame's own energy, and blends the aperiodicity half and half. eSpeak speaks at the
speaker's own pace (syllable rate measured on the samples), so the converted speech keeps its timing.

Guarantees: the output has exactly the input's length (timing kept sample for sample, so phoneme timing and
mouth shapes stay aligned) and follows its loudness frame by frame; conversion needs nothing of the input beyond
its own frames (no statistics of the whole utterance), so it runs chunk by chunk (`convert_stream`); fitting is
deterministic for the same samples and never optimises against the speaker encoder that scores it; raw samples
never leave the process (the codebook is what the voiceprint stores, under the store's encryption).
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from math import gcd
from typing import Any

import numpy as np
from scipy.signal import resample_poly

with warnings.catch_warnings():  # pyworld imports the deprecated pkg_resources
    warnings.simplefilter("ignore", UserWarning)
    import pyworld

from linly_demo.voice.pace import syllable_rate
from linly_demo.voice.tts import Speaker, SynthesizedSpeech

RATE = 16_000
FRAME_MS = 5.0
FFT_SIZE = 1024  # CheapTrick's size at 16 kHz: 513 envelope bins
CEPSTRUM_DIMS = 40  # stored per codebook frame (the envelope is decoded from them)
MATCH_DIMS = 16  # mel-cepstral coefficients 1..16 compared when choosing a neighbour (0 is the level)
SMOOTHING_FRAMES = 3
APERIODICITY_BLEND = 0.5
MAX_CODEBOOK_FRAMES = 4000  # 20 s of voiced frames; more are thinned evenly
WARP_RANGE = (0.8, 1.25)
WARP_BAND_HZ = (100.0, 6000.0)
VARIANTS = ("", "m1", "m3", "m7", "f1", "f2", "f4")
SOURCE_VARIANT = "m1"  # the eSpeak voice converted from, for every speaker (the one that converted best, see README)
TTS_RATE_WPM = 165  # eSpeak's pace for plain speech
RATE_LIMITS_WPM = (120, 200)
FIT_TEXT = ("The quick brown fox jumps over the lazy dog near the river bank. "
            "She sells sea shells by the sea shore, while rain falls on the plain.")
STREAM_CONTEXT_S = 0.1  # analysis context either side of a streamed chunk
STREAM_FADE_S = 0.01  # cross-fade between streamed chunks
CODEBOOK_VERSION = 1


@dataclass(frozen=True)
class VoiceCodebook:
    """What the conversion needs of one speaker. Revealing (it is the speaker's own spectral frames), so it is
    only ever stored inside the encrypted voiceprint."""

    variant: str  # the eSpeak voice variant converted from
    rate_wpm: int  # eSpeak's pace matched to the speaker's
    source_log_f0: tuple[float, float]  # mean and std of that variant's log F0
    target_log_f0: tuple[float, float]  # the speaker's
    warp: float  # the TTS envelope at f is read at f / warp
    cepstral_shift: np.ndarray  # (CEPSTRUM_DIMS,) speaker's mean mel-cepstrum minus the warped TTS voice's
    cepstra: np.ndarray  # (frames, CEPSTRUM_DIMS) float32: the speaker's voiced envelope frames
    aperiodicity: np.ndarray  # (frames, coded bands) float32: their coded aperiodicity

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": CODEBOOK_VERSION,
            "variant": self.variant,
            "rate_wpm": self.rate_wpm,
            "source_log_f0": list(self.source_log_f0),
            "target_log_f0": list(self.target_log_f0),
            "warp": self.warp,
            "cepstral_shift": [float(v) for v in self.cepstral_shift],
            "cepstra": _pack(self.cepstra),
            "aperiodicity": _pack(self.aperiodicity),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VoiceCodebook:
        """Raises ValueError for anything but a well-formed codebook of this version."""
        if data.get("version") != CODEBOOK_VERSION:
            raise ValueError("unknown codebook version")
        variant = str(data["variant"])
        if variant not in VARIANTS:
            raise ValueError("unknown voice variant")
        rate = int(data["rate_wpm"])
        if not RATE_LIMITS_WPM[0] <= rate <= RATE_LIMITS_WPM[1]:
            raise ValueError("speaking rate out of range")
        cepstra, aperiodicity = _unpack(data["cepstra"]), _unpack(data["aperiodicity"])
        shift = np.asarray(data["cepstral_shift"], np.float64)
        if (cepstra.ndim != 2 or cepstra.shape[1] != CEPSTRUM_DIMS or len(aperiodicity) != len(cepstra)
                or shift.shape != (CEPSTRUM_DIMS,) or not len(cepstra)):
            raise ValueError("malformed codebook")
        source, target = (tuple(float(v) for v in data[k]) for k in ("source_log_f0", "target_log_f0"))
        return cls(variant, rate, (source[0], source[1]), (target[0], target[1]), float(data["warp"]), shift,
                   cepstra, aperiodicity)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VoiceCodebook) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _pack(array: np.ndarray) -> dict[str, Any]:
    values = np.ascontiguousarray(array, dtype="<f2")
    return {"shape": list(values.shape), "f16": base64.b64encode(values.tobytes()).decode("ascii")}


def _unpack(packed: dict[str, Any]) -> np.ndarray:
    shape = tuple(int(v) for v in packed["shape"])
    values = np.frombuffer(base64.b64decode(packed["f16"]), dtype="<f2")
    if values.size != int(np.prod(shape)):
        raise ValueError("malformed codebook array")
    array = values.reshape(shape).astype(np.float32)
    array.setflags(write=False)
    return array


def to_rate(speech: SynthesizedSpeech) -> np.ndarray:
    """TTS output resampled to 16 kHz float64."""
    samples = speech.samples.astype(np.float64)
    if speech.sample_rate == RATE:
        return samples
    divisor = gcd(speech.sample_rate, RATE)
    return resample_poly(samples, RATE // divisor, speech.sample_rate // divisor)


@dataclass(frozen=True)
class WorldFrames:
    """WORLD analysis of a 16 kHz signal: F0 (0 where unvoiced), envelope, aperiodicity; and its length."""

    f0: np.ndarray
    envelope: np.ndarray
    aperiodicity: np.ndarray
    n_samples: int


def analyse(samples: np.ndarray) -> WorldFrames:
    """WORLD analysis with Harvest F0 tracking: slower than DIO, but with far fewer voicing and octave errors,
    on real recordings and on eSpeak's output alike (with DIO the converted voice was measurably less the
    speaker's: README)."""
    x = np.ascontiguousarray(samples, dtype=np.float64)
    f0, times = pyworld.harvest(x, RATE, frame_period=FRAME_MS, f0_floor=60.0, f0_ceil=500.0)
    envelope = pyworld.cheaptrick(x, f0, times, RATE, fft_size=FFT_SIZE)
    aperiodicity = pyworld.d4c(x, f0, times, RATE, fft_size=FFT_SIZE)
    return WorldFrames(f0, envelope, aperiodicity, len(x))


def _log_f0_stats(f0s: Iterable[np.ndarray]) -> tuple[float, float]:
    voiced = np.concatenate([np.log(f0[f0 > 0]) for f0 in f0s])
    if len(voiced) < 50:
        raise ValueError("too little voiced speech")
    return float(np.mean(voiced)), float(max(np.std(voiced), 0.02))


def _warped(envelope: np.ndarray, warp: float) -> np.ndarray:
    """Each row's envelope with its frequencies scaled by `warp` (the new envelope at f is the old at f / warp)."""
    freqs = np.linspace(0, RATE / 2, envelope.shape[1])
    source = np.clip(freqs / warp, 0, RATE / 2)
    position = source / (RATE / 2) * (envelope.shape[1] - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, envelope.shape[1] - 1)
    share = position - low
    return envelope[:, low] * (1 - share) + envelope[:, high] * share


def _long_term_log_spectrum(frames: list[WorldFrames]) -> np.ndarray:
    rows = [np.log(f.envelope[f.f0 > 0] + 1e-16) for f in frames]
    return np.concatenate(rows).mean(axis=0)


def fit_warp(source: list[WorldFrames], target: list[WorldFrames]) -> float:
    """The linear frequency warp that best maps the source's long-term voiced spectrum onto the target's
    (least squares on level-normalised log spectra in WARP_BAND_HZ)."""
    source_mean, target_mean = _long_term_log_spectrum(source), _long_term_log_spectrum(target)
    freqs = np.linspace(0, RATE / 2, len(target_mean))
    band = (freqs >= WARP_BAND_HZ[0]) & (freqs <= WARP_BAND_HZ[1])
    goal = target_mean[band] - target_mean[band].mean()
    best, best_error = 1.0, np.inf
    for warp in np.geomspace(*WARP_RANGE, 41):
        moved = np.log(_warped(np.exp(source_mean)[None, :], float(warp))[0])[band]
        error = float(np.mean((moved - moved.mean() - goal) ** 2))
        if error < best_error:
            best, best_error = float(warp), error
    return best


def _cepstra(envelope: np.ndarray) -> np.ndarray:
    return pyworld.code_spectral_envelope(np.ascontiguousarray(envelope), RATE, CEPSTRUM_DIMS)


def _envelope(cepstra: np.ndarray) -> np.ndarray:
    return pyworld.decode_spectral_envelope(np.ascontiguousarray(cepstra, dtype=np.float64), RATE, FFT_SIZE)


def fit_codebook(samples: list[np.ndarray], speaker: Speaker) -> VoiceCodebook:
    """The enrolled voice from 16 kHz samples of one speaker: their pace, F0 statistics, spectral warp and voiced
    frames. Deterministic; never scored by a speaker encoder. Raises ValueError with too little voiced speech."""
    rate = matched_rate_wpm(samples, speaker, SOURCE_VARIANT)
    target = [analyse(s) for s in samples]
    source = [analyse(to_rate(speaker.speak(FIT_TEXT, "en", rate_wpm=rate, variant=SOURCE_VARIANT)))]
    warp = fit_warp(source, target)
    cepstra, aperiodicity = [], []
    for frames in target:
        voiced = frames.f0 > 0
        if voiced.any():
            cepstra.append(_cepstra(frames.envelope[voiced]))
            aperiodicity.append(pyworld.code_aperiodicity(np.ascontiguousarray(frames.aperiodicity[voiced]), RATE))
    if not cepstra:
        raise ValueError("too little voiced speech")
    stacked, coded = np.concatenate(cepstra), np.concatenate(aperiodicity)
    source_cepstra = np.concatenate([_cepstra(_warped(f.envelope[f.f0 > 0], warp)) for f in source])
    shift = stacked.mean(axis=0) - source_cepstra.mean(axis=0)
    if len(stacked) > MAX_CODEBOOK_FRAMES:
        keep = np.linspace(0, len(stacked) - 1, MAX_CODEBOOK_FRAMES).round().astype(int)
        stacked, coded = stacked[keep], coded[keep]
    # Stored in order of spectral tilt, not of time: the codebook keeps how the voice sounds, not the sequence
    # of sounds (what was said) in the samples.
    order = np.lexsort((stacked[:, 2], stacked[:, 1]))
    stacked, coded = stacked[order], coded[order]
    return VoiceCodebook(SOURCE_VARIANT, rate, _log_f0_stats(f.f0 for f in source),
                         _log_f0_stats(t.f0 for t in target), warp, shift, stacked.astype(np.float32),
                         coded.astype(np.float32))


def matched_rate_wpm(samples: list[np.ndarray], speaker: Speaker, variant: str) -> int:
    """eSpeak's pace scaled by the speaker's syllable rate over the TTS voice's (RATE_LIMITS_WPM)."""
    theirs = syllable_rate(samples)
    ours = syllable_rate([to_rate(speaker.speak(FIT_TEXT, "en", rate_wpm=TTS_RATE_WPM, variant=variant))])
    return int(np.clip(round(TTS_RATE_WPM * theirs / ours), *RATE_LIMITS_WPM))


class VoiceConverter:
    """Converts 16 kHz TTS speech of the codebook's variant into the enrolled voice."""

    def __init__(self, codebook: VoiceCodebook) -> None:
        self.codebook = codebook
        self._keys = np.asarray(codebook.cepstra[:, 1:MATCH_DIMS + 1], np.float64)
        self._shift = np.asarray(codebook.cepstral_shift[1:MATCH_DIMS + 1], np.float64)
        self._key_norms = (self._keys ** 2).sum(axis=1)

    def convert(self, samples: np.ndarray) -> np.ndarray:
        """The whole signal converted; float32, exactly len(samples) long."""
        return self._convert_frames(analyse(samples))

    def speak(self, speaker: Speaker, text: str, language: str = "en") -> tuple[SynthesizedSpeech, np.ndarray]:
        """`text` spoken by eSpeak at the codebook's variant and pace, and that speech converted (16 kHz)."""
        spoken = speaker.speak(text, language, rate_wpm=self.codebook.rate_wpm, variant=self.codebook.variant)
        return spoken, self.convert(to_rate(spoken))

    def convert_stream(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Chunk by chunk: each output chunk has its input chunk's length and is yielded once the next chunk
        (STREAM_CONTEXT_S of look-ahead) has arrived; neighbouring chunks are cross-faded over STREAM_FADE_S."""
        context, fade = int(STREAM_CONTEXT_S * RATE), int(STREAM_FADE_S * RATE)
        history = np.zeros(0)  # input samples before the pending chunk (at most `context`)
        pending: np.ndarray | None = None
        tail = np.zeros(0)  # converted samples past the last yielded chunk, to fade into the next
        for chunk in chunks:
            chunk = np.asarray(chunk, np.float64)
            if pending is not None:
                out, tail, history = self._stream_step(history, pending, chunk[:context], tail, fade, context)
                yield out
            pending = chunk
        if pending is not None:
            out, _tail, _history = self._stream_step(history, pending, np.zeros(0), tail, fade, context)
            yield out

    def _stream_step(self, history: np.ndarray, chunk: np.ndarray, ahead: np.ndarray, tail: np.ndarray,
                     fade: int, context: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        window = np.concatenate([history, chunk, ahead])
        converted = self.convert(window) if len(window) else np.zeros(0, np.float32)
        start = len(history)
        extra = min(fade, len(ahead))
        out = converted[start:start + len(chunk)].astype(np.float64)
        overlap = min(len(tail), len(out))
        if overlap:
            ramp = np.linspace(0.0, 1.0, overlap + 2)[1:-1]
            out[:overlap] = tail[:overlap] * (1 - ramp) + out[:overlap] * ramp
        next_tail = converted[start + len(chunk):start + len(chunk) + extra].astype(np.float64)
        new_history = np.concatenate([history, chunk])[-context:]
        return out.astype(np.float32), next_tail, new_history

    def _convert_frames(self, frames: WorldFrames) -> np.ndarray:
        book = self.codebook
        f0 = frames.f0.copy()
        voiced = f0 > 0
        (source_mean, source_std), (target_mean, target_std) = book.source_log_f0, book.target_log_f0
        f0[voiced] = np.clip(np.exp(target_mean + (np.log(f0[voiced]) - source_mean) * target_std / source_std),
                             50.0, 600.0)
        envelope = _warped(frames.envelope, book.warp)
        aperiodicity = frames.aperiodicity.copy()
        if voiced.any():
            cepstra = _cepstra(envelope[voiced])
            nearest = self._nearest(cepstra[:, 1:MATCH_DIMS + 1] + self._shift)
            chosen = np.asarray(book.cepstra[nearest], np.float64)
            chosen = _smoothed(chosen, SMOOTHING_FRAMES)
            replaced = _envelope(chosen)
            # At the TTS frame's own energy: loudness (and with it the mouth's opening) follows the input.
            energy = envelope[voiced].sum(axis=1) / np.maximum(replaced.sum(axis=1), 1e-20)
            envelope[voiced] = replaced * energy[:, None]
            coded = _smoothed(np.asarray(book.aperiodicity[nearest], np.float64), SMOOTHING_FRAMES)
            theirs = pyworld.decode_aperiodicity(np.ascontiguousarray(coded), RATE, FFT_SIZE)
            aperiodicity[voiced] = (1 - APERIODICITY_BLEND) * aperiodicity[voiced] + APERIODICITY_BLEND * theirs
        out = pyworld.synthesize(f0, np.ascontiguousarray(envelope), np.ascontiguousarray(np.clip(aperiodicity, 0, 1)),
                                 RATE, FRAME_MS)
        if len(out) < frames.n_samples:
            out = np.pad(out, (0, frames.n_samples - len(out)))
        return np.clip(out[:frames.n_samples], -1.0, 1.0).astype(np.float32)

    def _nearest(self, queries: np.ndarray) -> np.ndarray:
        """Index of each query's nearest codebook key (squared Euclidean), in blocks to bound memory."""
        nearest = np.empty(len(queries), int)
        for start in range(0, len(queries), 512):
            block = queries[start:start + 512]
            distance = self._key_norms[None, :] - 2.0 * block @ self._keys.T
            nearest[start:start + 512] = np.argmin(distance, axis=1)
        return nearest


def _smoothed(rows: np.ndarray, frames: int) -> np.ndarray:
    """A centred moving average over `frames` consecutive rows (edges use the rows they have)."""
    if len(rows) < 2 or frames < 2:
        return rows
    half = frames // 2
    padded = np.concatenate([np.repeat(rows[:1], half, 0), rows, np.repeat(rows[-1:], half, 0)])
    summed = np.cumsum(np.concatenate([np.zeros((1, rows.shape[1])), padded]), axis=0)
    return (summed[frames:] - summed[:-frames]) / frames
