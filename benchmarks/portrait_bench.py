"""Median time per portrait and per stage (decode, detect, align, landmarks, embed) over 20 runs on the CPU.

Target on the 2-core development machine: under 0.5 s per portrait after warm-up.
Run: `make bench` or `.venv/bin/python -m benchmarks.portrait_bench [--runs N] [PHOTO ...]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from benchmarks.samples import astronaut_bytes
from linly_demo.config import Settings
from linly_demo.portrait.embed import load_embedder
from linly_demo.portrait.pipeline import STAGES, PortraitModels, PortraitPipeline


def astronaut_jpeg() -> bytes:
    return astronaut_bytes("JPEG", quality=92)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photos", nargs="*", type=Path, help="photos to time (default: the astronaut image)")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    inputs = {p.name: p.read_bytes() for p in args.photos} or {"astronaut.jpg": astronaut_jpeg()}

    settings = Settings.from_env({})
    started = time.perf_counter()
    embedder = load_embedder(settings.facenet_weights, settings.allow_downloads, torch.device("cpu"))
    print(f"{embedder.backend} ready: {time.perf_counter() - started:.2f} s (first in the process: imports, graph "
          "read, conversion into torch; target <= 3 s)")
    started = time.perf_counter()
    models = PortraitModels.load(settings, torch.device("cpu"))
    print(f"model load: {time.perf_counter() - started:.2f} s (once per process)")
    pipeline = PortraitPipeline(settings, models=models)
    print(f"embedding backend: {models.embedder.backend}; torch threads: {torch.get_num_threads()}")
    for name, data in inputs.items():
        for _ in range(2):
            pipeline.process_bytes(data)  # warm-up
        totals, stages = [], {stage: [] for stage in STAGES}
        for _ in range(args.runs):
            started = time.perf_counter()
            features = pipeline.process_bytes(data)
            totals.append(time.perf_counter() - started)
            for stage in STAGES:
                stages[stage].append(features.timings[stage])
        per_stage = ", ".join(f"{stage} {statistics.median(v) * 1000:.0f} ms" for stage, v in stages.items())
        print(f"{name}: median {statistics.median(totals) * 1000:.0f} ms per portrait over {args.runs} runs "
              f"({per_stage})")


if __name__ == "__main__":
    main()
