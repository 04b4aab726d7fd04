"""Render a 10 s clip and print the time of each stage (driving, frames/warp, encode) and the real-time factor.

Target on the 2-core development CPU after warm-up: the whole 10 s clip in at most 1.5 s (>= 6.7x real time).
With a CUDA GPU it also times the warp alone at 512x512 (target above 500 frames/s).
Nothing is written outside the ephemeral root.
Run: `make bench` or `.venv/bin/python -m benchmarks.render_bench [--runs N] [--seconds S]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.samples import astronaut_bytes
from linly_demo.audio import SPEECH_RATE, Speech, decode_audio
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.portrait.identity import IdentityCheck
from linly_demo.portrait.pipeline import PortraitPipeline
from linly_demo.render.driving import driving_from_speech
from linly_demo.render.pipeline import render_video
from linly_demo.render.rig import build_rig
from linly_demo.render.warp import warp_batches

SHARED_SPEECH = Path(__file__).resolve().parent.parent.parent / "shared" / "devdata" / "speech"


def clip(seconds: float) -> tuple[Speech, str]:
    """`seconds` of real read speech from ../shared (looped), else a synthetic voiced signal."""
    files = sorted(SHARED_SPEECH.glob("*.flac")) if SHARED_SPEECH.is_dir() else []
    if files:
        samples = np.concatenate([decode_audio(f.read_bytes(), 1 << 30, 600).samples for f in files[:2]])
        source = "LibriSpeech (../shared)"
    else:
        from tests.speech import synthetic_voice

        samples, source = synthetic_voice(seconds), "synthetic voiced signal"
    n = int(seconds * SPEECH_RATE)
    return Speech(np.resize(samples, n).astype(np.float32)), source


def astronaut_png() -> bytes:
    return astronaut_bytes("PNG")


def gpu_warp_fps(features, speech: Speech, size: int = 512) -> float:
    device = torch.device("cuda")
    rig = build_rig(features.template, features.landmarks68, size)
    driving = driving_from_speech(speech, 25, seed=0)
    for _ in warp_batches(rig, driving, device):  # warm-up
        pass
    torch.cuda.synchronize()
    started = time.perf_counter()
    frames = sum(len(batch) for batch, _ in warp_batches(rig, driving, device))
    torch.cuda.synchronize()
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--photo", type=Path, help="portrait to render (default: the astronaut, a 256 px face; "
                        "../shared/devdata/faces/alex-lacamoire-1.jpg renders at the native 512 px)")
    args = parser.parse_args()
    settings = Settings.from_env()
    ephemeral = EphemeralRoot.from_settings(settings)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pipeline = PortraitPipeline(settings, ephemeral=ephemeral)
    features = pipeline.process_bytes(args.photo.read_bytes() if args.photo else astronaut_png())
    check = IdentityCheck(pipeline.models, features.embedding)  # as the app renders: identity checked
    speech, source = clip(args.seconds)
    threads = torch.cuda.get_device_name() if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"device: {device.type} ({threads})")
    side = settings.video_size
    print(f"clip: {speech.duration:.1f} s of {source}; face template {features.template_size} px, output "
          f"{side}x{side} at {settings.fps} fps")
    runs = []
    warm_up = render_video(features, speech, ephemeral, settings.fps, settings.video_size, device=device,
                           identity_check=check)
    ephemeral.delete(warm_up.video.path)
    for _ in range(args.runs):
        rendered = render_video(features, speech, ephemeral, settings.fps, settings.video_size, device=device,
                                identity_check=check)
        ephemeral.delete(rendered.video.path)
        runs.append(rendered.timings)
    for stage in ("driving", "frames", "encode", "identity", "total"):
        print(f"  {stage:8s} median {statistics.median(r[stage] for r in runs) * 1000:8.1f} ms")
    total = statistics.median(r["total"] for r in runs)
    print(f"  whole clip: {total:.2f} s for {speech.duration:.1f} s of speech = "
          f"{speech.duration / total:.1f}x real time "
          f"(real-time factor {total / speech.duration:.3f}); target <= 1.5 s on the 2-core CPU")
    if device.type == "cuda":
        print(f"  GPU warp at 512x512: {gpu_warp_fps(features, speech):.0f} frames/s (target > 500)")


if __name__ == "__main__":
    main()
