"""The GPU render entry: portrait features + driving signals -> frames, batch by batch.

Guarantees: runs on CUDA when available, else the CPU, with the same results up to float rounding; on Hugging
Face ZeroGPU it is decorated with `spaces.GPU`, and without the `spaces` package it runs unchanged; frames are
streamed in memory-bounded batches and never written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import numpy as np
import torch

from linly_demo.render.driving import DrivingSignals
from linly_demo.render.eyes import EyePainter
from linly_demo.render.mouth import MouthPainter
from linly_demo.render.ordered import in_order
from linly_demo.render.rig import build_rig
from linly_demo.render.warp import WarpBoxes, clip_boxes, clip_warper, default_batch_size

Fn = TypeVar("Fn", bound=Callable[..., object])
CPU_WORKERS = 2  # batches rendered at once on the CPU, at most


class Portrait(Protocol):
    """What the renderer reads of a portrait's features (frozen dataclasses provide it read-only)."""

    @property
    def template(self) -> np.ndarray: ...

    @property
    def landmarks68(self) -> np.ndarray: ...


def on_gpu(function: Fn) -> Fn:
    """`spaces.GPU(function)` on a Hugging Face Space with the `spaces` package, else `function` unchanged."""
    if not os.environ.get("SPACE_ID"):
        return function
    try:
        import spaces  # optional: present only on Hugging Face ZeroGPU
    except ImportError:
        return function
    return spaces.GPU(duration=120)(function)


def warp_boxes(features: Portrait, driving: DrivingSignals) -> WarpBoxes:
    """The warp boxes of a whole clip at the template's resolution (handed with each part of a clip rendered in
    parts, so the parts are the one-piece frames)."""
    return clip_boxes(build_rig(features.template, features.landmarks68, features.template.shape[0]),
                      driving.coefficients)


@on_gpu
def render_frames(features: Portrait, driving: DrivingSignals, device: torch.device | None = None,
                  size: int | None = None, batch_size: int | None = None,
                  boxes: WarpBoxes | None = None, workers: int | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 RGB frame batches (B, size, size, 3), one frame per row of `driving`.

    `size` defaults to the template's own resolution (the video encoder upscales it, bicubic); a larger size
    upscales the template first and warps at that size (worthwhile on a GPU). `boxes` (from `warp_boxes` of the
    whole clip) make a part of a clip exactly the frames the one-piece render gives it. Batches are rendered on
    `workers` threads (default: `default_workers`) and yielded in order; the frames do not depend on it.
    """
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rig = build_rig(features.template, features.landmarks68, size or features.template.shape[0])
    painter, eyes = MouthPainter(rig), EyePainter(rig)
    warper, targets = clip_warper(rig, driving, device, boxes)
    batch_size = batch_size or default_batch_size(device, rig.size)

    def batch(start: int) -> np.ndarray:
        chunk = targets[start:start + batch_size]
        with torch.inference_mode():
            frames = warper.frames(chunk)
        for frame, landmarks, row in zip(frames, chunk, driving.coefficients[start:start + len(frames)], strict=True):
            eyes.paint(frame, landmarks, row)
            painter.paint(frame, landmarks, row)
        return frames

    yield from in_order(batch, range(0, len(targets), batch_size), workers or default_workers(device))


def default_workers(device: torch.device) -> int:
    """Batches rendered at once: one on a GPU (it is the GPU's work that counts); on the CPU one per core, up to
    CPU_WORKERS (OpenCV's own threads leave a core partly idle while Python paints the eyes and mouth)."""
    return 1 if device.type != "cpu" else max(1, min(CPU_WORKERS, os.cpu_count() or 1))
