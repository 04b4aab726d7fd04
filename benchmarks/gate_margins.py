"""How far is each photo from flipping the renderer's decisions and the tests' gates, under another CPU's rounding?

Numerics differ between CPUs (SIMD kernels in torch, OpenCV and numpy): MTCNN's five points move by about 1e-5 px,
which changes the aligned template's sub-pixel rounding, and dlib's shape predictor (integer points, regression
trees that compare pixel pairs) then moves some of the 68 points by several pixels. Here each photo is aligned
again with MTCNN's points moved by a few hundredths of a pixel (`--sigma`), which moves dlib's points as far as
that (printed), and every decision and gate that hangs on a threshold is measured on each variant:

- teeth: the visible-teeth area over the squared eye distance (`teeth.MIN_TEETH_AREA` decides whether the photo
  "shows teeth"), whether the photo's teeth were taken, and whether a lower row was found;
- the open interior: how much darker the cavity's back is than the row beside the lower lip, at jaw 0.7-1.4
  (tests/render/test_teeth.py wants more than 5 levels);
- with `--renders N`, the first N variants speak "Maybe Bob put the blue boat by the pier" (seed 0) and the least
  closed p/b/m's gap over the closure threshold is printed (below 1 counts as closed; the gate wants all closed).

A decision that differs between variants, or a figure whose range reaches its threshold, is a gate that rounding
can flip. Run: `.venv/bin/python -m benchmarks.gate_margins [--variants 8] [--renders 0] [PHOTO ...]`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from benchmarks.naturalness_bench import SENTENCE, photos
from linly_demo.audio import speech_with_rest
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.evaluate import VideoEvaluator
from linly_demo.portrait.align import align_face, native_template_size
from linly_demo.portrait.decode import decode_image
from linly_demo.portrait.detect import choose_face
from linly_demo.portrait.pipeline import PortraitFeatures, PortraitPipeline
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS, DrivingSignals
from linly_demo.render.frames import render_frames
from linly_demo.render.lips import LOWER_CONTOUR, UPPER_CONTOUR, smooth_curve, teeth_mask, upper_lip_off_the_teeth
from linly_demo.render.pipeline import render_video
from linly_demo.render.rig import build_rig
from linly_demo.render.teeth import MIN_TEETH_AREA
from linly_demo.render.warp import target_vertices
from linly_demo.voice.tts import Speaker

LUMA = np.array([0.299, 0.587, 0.114])
WIDE_OPENINGS = (0.7, 1.0, 1.4)
CAVITY_CONTRAST_NEEDED = 5.0  # levels, as tests/render/test_teeth.py asks


def cavity_contrast(frame: np.ndarray, moved: np.ndarray) -> float:
    """How much darker the back of an open mouth is than the row just above the lower lip, over the middle
    columns: the darkest quarter of the interior (a fixed row could land on or beside long teeth's tips)."""
    left, right = moved[60, 0], moved[64, 0]
    columns = np.arange(int(left + 0.3 * (right - left)), int(right - 0.3 * (right - left)) + 1)
    top = smooth_curve(moved[UPPER_CONTOUR], columns.astype(float))
    bottom = smooth_curve(moved[LOWER_CONTOUR], columns.astype(float))
    luma = frame.astype(float) @ LUMA
    middle = list(range(len(columns) // 2 - 2, len(columns) // 2 + 3))
    cavity = np.concatenate([luma[int(np.ceil(top[i])) + 2:int(np.floor(bottom[i])) - 1, columns[i]]
                             for i in middle])
    back = float(np.percentile(cavity, 25))
    near_lip = float(luma[np.floor(bottom[middle]).astype(int) - 1, columns[middle]].mean())
    return near_lip - back


def variants(pipeline: PortraitPipeline, photo: bytes, count: int, sigma: float) -> list[PortraitFeatures]:
    """The photo's features as the app computes them, then `count - 1` more with MTCNN's five points moved by
    N(0, sigma) px before alignment (what another CPU's rounding does, magnified)."""
    base = pipeline.process_bytes(photo)
    models = pipeline.models
    rgb = decode_image(photo, 1 << 30, 1 << 30)
    points = choose_face(models.detector.detect(rgb)).detection.landmarks5
    found = [base]
    rng = np.random.default_rng(0)
    for _ in range(count - 1):
        moved = points + rng.normal(0.0, sigma, points.shape).astype(np.float32)
        aligned = align_face(rgb, moved, native_template_size(moved, base.template_size))
        found.append(dataclasses.replace(base, template=aligned.template, landmarks5=aligned.landmarks5,
                                         landmarks68=models.landmarks.predict(aligned.template)))
    return found


def still_figures(features: PortraitFeatures) -> tuple[float, bool, bool, float]:
    """(teeth area over eye distance squared, photo teeth taken, lower row found, weakest cavity contrast)."""
    rig = build_rig(features.template, features.landmarks68, features.template.shape[0])
    marks = upper_lip_off_the_teeth(features.template, features.landmarks68.astype(np.float64), rig.eye_distance)
    area = float(teeth_mask(features.template, marks, rig.eye_distance).sum()) / rig.eye_distance ** 2
    lower = rig.teeth is not None and bool(np.any(rig.teeth.split < rig.teeth.lower_end))
    coefficients = np.zeros((len(WIDE_OPENINGS), len(CHANNELS)), np.float32)
    coefficients[:, CHANNEL_INDEX["jaw_open"]] = WIDE_OPENINGS
    frames = next(render_frames(features, DrivingSignals(25, coefficients)))
    contrast = min(cavity_contrast(frame, moved)
                   for frame, moved in zip(frames, target_vertices(rig, coefficients), strict=True))
    return area, rig.teeth is not None, lower, contrast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photos", nargs="*", type=Path, help="default: the astronaut and ../shared/devdata/faces")
    parser.add_argument("--variants", type=int, default=8, help="alignments per photo, the app's own first")
    parser.add_argument("--sigma", type=float, default=0.02, help="px moved of MTCNN's five points")
    parser.add_argument("--renders", type=int, default=0, help="variants that also speak the sentence")
    args = parser.parse_args()
    settings = Settings.from_env()
    ephemeral = EphemeralRoot.from_settings(settings)
    pipeline = PortraitPipeline(settings, ephemeral=ephemeral)
    evaluator = VideoEvaluator() if args.renders else None
    spoken = Speaker().speak(SENTENCE) if args.renders else None
    speech = speech_with_rest(spoken.samples, spoken.sample_rate) if spoken is not None else None  # as the app
    try:
        for name, photo in photos(args.photos):
            found = variants(pipeline, photo, args.variants, args.sigma)
            moved = max(float(np.abs(f.landmarks68 - found[0].landmarks68).max()) for f in found)
            figures = [still_figures(features) for features in found]
            areas = [f[0] for f in figures]
            print(f"{name}: {len(found)} alignments, dlib's points moved up to {moved:.0f} px")
            print(f"  teeth area {min(areas):.4f}-{max(areas):.4f} (shows teeth from {MIN_TEETH_AREA}); "
                  f"photo teeth taken {sum(f[1] for f in figures)}/{len(found)}, "
                  f"lower row {sum(f[2] for f in figures)}/{len(found)}")
            print(f"  cavity back darker than beside the lower lip by {min(f[3] for f in figures):.0f}-"
                  f"{max(f[3] for f in figures):.0f} levels (needs > {CAVITY_CONTRAST_NEEDED:.0f})", flush=True)
            if spoken is not None and speech is not None and evaluator is not None:
                shares = []
                for features in found[:args.renders]:
                    rendered = render_video(features, speech, ephemeral, seed=0, phonemes=spoken.phonemes)
                    try:
                        report = evaluator.evaluate(rendered.video.path, None, SENTENCE, spoken=spoken)
                    finally:
                        ephemeral.delete(rendered.video.path)
                    shares.append(report.bilabial_worst_share)
                print("  least closed p/b/m over the closure threshold (< 1 closed): "
                      + " ".join("-" if share is None else f"{share:.2f}" for share in shares), flush=True)
    finally:
        ephemeral.wipe()


if __name__ == "__main__":
    main()
