"""How recognisably the enrolled voice is the speaker, what it costs in intelligibility, time and speed.

For each speaker in ../shared/devdata/speech: enroll on all but the last utterance, speak SENTENCES plainly and
in the enrolled voice, and score each with resemblyzer's speaker encoder against the speaker's held-out last
utterance. Reported per speaker:
- plain, converted and gain (converted minus plain);
- target-specific gain: the gain on the speaker minus the mean gain of the same conversion scored against the
  other speakers' held-out utterances (a change that only sounds "more human" scores zero here);
- word error rate of plain and converted speech with an offline recogniser (pocketsphinx's bundled English model);
- enrollment (fit) time per 30 s of samples and the conversion's real-time factor.
Targets (issue 17): mean gain >= 0.15, target-specific gain >= 0.08 for every speaker, converted word error at
most 10 points above plain, fit <= 15 s per 30 s of samples, conversion <= 0.3x real time.
Run: `make bench` or `.venv/bin/python -m benchmarks.voice_bench`.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linly_demo.audio import decode_audio
from linly_demo.voice.conversion import RATE, VoiceConverter, fit_codebook, to_rate
from linly_demo.voice.encoder import SpeakerEncoder
from linly_demo.voice.tts import Speaker

SPEECH = Path(__file__).resolve().parent.parent.parent / "shared" / "devdata" / "speech"
SENTENCES = [
    "I would like to tell you about the little town where I grew up, many years ago.",
    "Please remember to close the window before you leave the house this evening.",
    "Numbers and letters were written on the old wooden board beside the door.",
    "The children walked to school together along the river every morning.",
    "We should have dinner at the small restaurant near the station tonight.",
    "She opened the letter slowly and read it twice before she said a word.",
]
MEAN_GAIN, TARGET_SPECIFIC, WER_POINTS, FIT_PER_30S, REAL_TIME = 0.15, 0.08, 10.0, 15.0, 0.3


@dataclass(frozen=True)
class SpeakerResult:
    name: str
    plain: float
    converted: float
    gain: float
    target_specific: float
    wer_plain: float
    wer_converted: float
    fit_per_30s: float
    real_time_factor: float


def word_error_rate(waves: list[np.ndarray], sentences: list[str]) -> float:
    """Percent word error of pocketsphinx's default English model on 16 kHz speech (jiwer's alignment)."""
    import jiwer
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=RATE, loglevel="FATAL")
    hypotheses = []
    for wave in waves:
        decoder.start_utt()
        decoder.process_raw((np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
        decoder.end_utt()
        hypotheses.append(decoder.hyp().hypstr if decoder.hyp() else "")
    normalise = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                               jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    return 100.0 * jiwer.wer(sentences, hypotheses, reference_transform=normalise, hypothesis_transform=normalise)


def _gain(plain: list[np.ndarray], converted: list[np.ndarray], reference: np.ndarray) -> tuple[float, float, float]:
    """Mean similarity of plain and of converted speech to `reference`, and their difference."""
    plain_score = statistics.mean(float(e @ reference) for e in plain)
    converted_score = statistics.mean(float(e @ reference) for e in converted)
    return plain_score, converted_score, converted_score - plain_score


def measure(speakers: dict[str, list[np.ndarray]], sentences: list[str] = SENTENCES,
            with_word_error: bool = True) -> list[SpeakerResult]:
    """Each speaker enrolled on all but their last utterance and scored on `sentences` (word error NaN when
    `with_word_error` is off)."""
    encoder, speaker = SpeakerEncoder(), Speaker()
    held_out = {name: encoder.embed([waves[-1]]) for name, waves in speakers.items()}
    plain_waves = [to_rate(speaker.speak(s)) for s in sentences]
    plain_embeddings = [encoder.embed([w]) for w in plain_waves]
    wer_plain = word_error_rate(plain_waves, sentences) if with_word_error else float("nan")
    results = []
    for name, waves in speakers.items():
        enrolled = waves[:-1]
        started = time.perf_counter()
        codebook = fit_codebook(enrolled, speaker)
        fit_seconds = time.perf_counter() - started
        converter = VoiceConverter(codebook)
        converted_waves, converting, spoken_seconds = [], 0.0, 0.0
        for sentence in sentences:
            spoken = speaker.speak(sentence, rate_wpm=codebook.rate_wpm, variant=codebook.variant)
            samples = to_rate(spoken)
            started = time.perf_counter()
            converted_waves.append(converter.convert(samples))
            converting += time.perf_counter() - started
            spoken_seconds += len(samples) / RATE
        converted_embeddings = [encoder.embed([w]) for w in converted_waves]

        plain, converted, gain = _gain(plain_embeddings, converted_embeddings, held_out[name])
        others = [_gain(plain_embeddings, converted_embeddings, held_out[other])[2]
                  for other in speakers if other != name]
        enrolled_seconds = sum(len(w) for w in enrolled) / RATE
        wer_converted = word_error_rate(converted_waves, sentences) if with_word_error else float("nan")
        results.append(SpeakerResult(
            name, plain, converted, gain, gain - (statistics.mean(others) if others else 0.0), wer_plain,
            wer_converted, fit_seconds * 30.0 / enrolled_seconds, converting / spoken_seconds))
    return results


def development_speakers() -> dict[str, list[np.ndarray]]:
    """Each speaker's utterances in ../shared/devdata/speech (16 kHz), in file order; empty when it is absent."""
    files = sorted(SPEECH.glob("*.flac")) if SPEECH.is_dir() else []
    names = sorted({f.name.split("-")[0] for f in files})
    return {name: [decode_audio(f.read_bytes(), 1 << 30, 600).samples for f in files
                   if f.name.startswith(name + "-")] for name in names}


def main() -> int:
    speakers = development_speakers()
    if not speakers:
        print("../shared/devdata/speech is absent: no real speakers to measure")
        return 0
    results = measure(speakers)
    print("| speaker | plain | converted | gain | target-specific gain | word error plain / converted | "
          "fit per 30 s | real-time factor |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r.name} | {r.plain:.3f} | {r.converted:.3f} | {r.gain:+.3f} | {r.target_specific:+.3f} | "
              f"{r.wer_plain:.0f}% / {r.wer_converted:.0f}% | {r.fit_per_30s:.1f} s | {r.real_time_factor:.2f}x |")
    mean_gain = statistics.mean(r.gain for r in results)
    checks = {
        f"mean gain {mean_gain:+.3f} >= {MEAN_GAIN}": mean_gain >= MEAN_GAIN,
        f"target-specific gain >= {TARGET_SPECIFIC} for every speaker":
            all(r.target_specific >= TARGET_SPECIFIC for r in results),
        f"word error at most {WER_POINTS:.0f} points above plain":
            all(r.wer_converted - r.wer_plain <= WER_POINTS for r in results),
        f"fit <= {FIT_PER_30S:.0f} s per 30 s of samples": all(r.fit_per_30s <= FIT_PER_30S for r in results),
        f"conversion <= {REAL_TIME}x real time": all(r.real_time_factor <= REAL_TIME for r in results),
    }
    for check, met in checks.items():
        print(f"{'met' if met else 'NOT MET'}: {check}")
    from linly_demo.voice.store import SALT_BYTES, _derive

    started = time.perf_counter()
    _derive(b"a passphrase for timing", b"s" * SALT_BYTES)
    print(f"passphrase key derivation (scrypt n=2^17, r=8): {time.perf_counter() - started:.2f} s (target 0.2-1 s)")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
