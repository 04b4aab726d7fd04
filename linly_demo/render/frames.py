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
from linly_demo.render.rig import build_rig
from linly_demo.render.warp import WarpBoxes, clip_boxes, warp_batches

Fn = TypeVar("Fn", bound=Callable[..., object])


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
                  boxes: WarpBoxes | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 RGB frame batches (B, size, size, 3), one frame per row of `driving`.

    `size` defaults to the template's own resolution (the video encoder upscales it, bicubic); a larger size
    upscales the template first and warps at that size (worthwhile on a GPU). `boxes` (from `warp_boxes` of the
    whole clip) make a part of a clip exactly the frames the one-piece render gives it.
    """
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rig = build_rig(features.template, features.landmarks68, size or features.template.shape[0])
    painter, eyes = MouthPainter(rig), EyePainter(rig)
    done = 0
    for frames, targets in warp_batches(rig, driving, device, batch_size, boxes):
        for frame, landmarks, row in zip(frames, targets, driving.coefficients[done:done + len(frames)], strict=True):
            eyes.paint(frame, landmarks, row)
            painter.paint(frame, landmarks, row)
        done += len(frames)
        yield frames
