"""Does the mouth say the words, and does the face move like a person's? Every development photo, measured on the
output video by `evaluate` (dlib's 68 points on the decoded frames):

- text ("Maybe Bob put the blue boat by the pier", eSpeak NG) over several render seeds (the head, blinks and eyes
  differ per seed; the web app draws a new one per render): closure rate and rounding contrast (gates; with the
  least closed p/b/m's gap over the closure threshold, its margin: below 1 counts as closed), mouth-gap
  reversals per second and high-frequency share (naturalness targets), head roll, travel, blinks;
- real read speech at seed 0, as the quality tests take it (two LibriSpeech utterances of one speaker from
  ../shared/devdata/speech, joined with pauses): lip-sync r, silence gap ratio, identity distance and face rate
  (gates), reversals and high-frequency share, and how wide the mouth opens (p90 / max of the inner-lip gap; real
  talking-head videos: 0.19-0.38 / 0.21-0.45).

Each row says which targets it misses; the last lines give each figure's range over the rows. Nothing but the
printout is produced: renders live in the ephemeral root and are deleted once measured.
Run: `.venv/bin/python -m benchmarks.naturalness_bench [--seeds 0,1,2] [PHOTO ...]`.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.samples import astronaut_bytes, has_astronaut
from linly_demo.audio import Speech, speech_with_rest
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.evaluate import QualityReport, VideoEvaluator
from linly_demo.portrait.pipeline import PortraitFeatures, PortraitPipeline
from linly_demo.render.pipeline import render_video
from linly_demo.voice.tts import Speaker, SynthesizedSpeech
from tests.speech import real_speech_with_pauses

SENTENCE = "Maybe Bob put the blue boat by the pier."
SPEAKERS = ("2033", "1688")
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "devdata"
TEXT_FIGURES = ("bilabial_closure_rate", "bilabial_worst_share", "rounding_contrast", "gap_reversals_per_s",
                "gap_high_frequency_share", "head_roll_std_deg", "head_travel", "blinks_per_minute")
SPEECH_FIGURES = ("lip_sync_r", "silence_gap_ratio", "identity_distance_mean", "face_detected_rate",
                  "gap_reversals_per_s", "gap_high_frequency_share", "mouth_opening_p90", "mouth_opening_max")


def photos(named: list[Path]) -> list[tuple[str, bytes]]:
    if named:
        return [(path.stem, path.read_bytes()) for path in named]
    found = [("astronaut", astronaut_bytes("PNG"))] if has_astronaut() else []
    faces = SHARED / "faces"
    return found + [(path.stem, path.read_bytes()) for path in sorted(faces.glob("*")) if faces.is_dir()]


def measure(evaluator: VideoEvaluator, features: PortraitFeatures, reference: np.ndarray, speech: Speech,
            ephemeral: EphemeralRoot, seed: int, spoken: SynthesizedSpeech | None) -> QualityReport:
    """One render of `speech` (with its synthesis `spoken` for text) measured against the portrait's dlib
    descriptor `reference`; the video is deleted once measured."""
    rendered = render_video(features, speech, ephemeral, seed=seed,
                            phonemes=spoken.phonemes if spoken is not None else None)
    try:
        return evaluator.evaluate(rendered.video.path, reference, SENTENCE if spoken is not None else None,
                                  spoken=spoken)
    finally:
        ephemeral.delete(rendered.video.path)


def missed(report: QualityReport, figures: tuple[str, ...]) -> list[str]:
    passes = {**report.passes(), **report.naturalness_passes()}
    return [name for name in figures if name in passes and not passes[name] and getattr(report, name) is not None]


def row(label: str, report: QualityReport, figures: tuple[str, ...], ranges: dict[str, list[float]]) -> str:
    cells = []
    for name in figures:
        value = getattr(report, name)
        if value is not None:
            ranges[name].append(float(value))
        cells.append(f"{name.replace('_', ' ')} {'-' if value is None else f'{value:.3f}'}")
    misses = missed(report, figures)
    return f"  {label:34s} " + ", ".join(cells) + (f"  MISSES {', '.join(misses)}" if misses else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photos", nargs="*", type=Path, help="default: the astronaut and ../shared/devdata/faces")
    parser.add_argument("--seeds", default="0,1,2", help="render seeds for the text clips")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    settings = Settings.from_env()
    ephemeral = EphemeralRoot.from_settings(settings)
    pipeline = PortraitPipeline(settings, ephemeral=ephemeral)
    evaluator = VideoEvaluator()
    spoken = Speaker().speak(SENTENCE)
    sentence = speech_with_rest(spoken.samples, spoken.sample_rate)  # as the app renders text
    recordings = [(f"speaker {speaker}", speech) for speaker in SPEAKERS
                  if (speech := real_speech_with_pauses(speaker)) is not None]
    text_ranges: dict[str, list[float]] = defaultdict(list)
    speech_ranges: dict[str, list[float]] = defaultdict(list)
    for name, photo in photos(args.photos):
        features = pipeline.process_bytes(photo)
        reference = evaluator.reference_descriptor(features.template, features.landmarks68)
        print(f"{name} (template {features.template_size} px)")
        for seed in seeds:
            report = measure(evaluator, features, reference, sentence, ephemeral, seed, spoken)
            print(row(f"text, seed {seed}", report, TEXT_FIGURES, text_ranges), flush=True)
        for clip, speech in recordings:
            report = measure(evaluator, features, reference, speech, ephemeral, 0, None)
            print(row(f"speech {clip}", report, SPEECH_FIGURES, speech_ranges), flush=True)
    for title, ranges in (("text", text_ranges), ("real speech", speech_ranges)):
        if ranges:
            print(f"{title}: " + ", ".join(f"{name.replace('_', ' ')} {min(v):.3f}-{max(v):.3f}"
                                             for name, v in ranges.items()))


if __name__ == "__main__":
    main()
