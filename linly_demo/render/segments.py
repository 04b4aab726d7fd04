"""A render in pieces: one run of frames -> one encoded H.264 segment, from the template, its landmarks and that
run's driving signals only (what a cluster worker receives; nothing else crosses).

Guarantees: the frames of a chunk are exactly the frames a one-piece render makes at the same positions (the
renderer is frame-local and the watermark is shaped on one picture per render, `mark_host`), so chunks rendered
anywhere, in any order, join without a visible step; a segment holds the marked, labelled frames encoded in
memory, plus the few unmarked frames asked for (the identity check's samples); nothing is written to any
filesystem.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from linly_demo.provenance.marking import FrameMarker, MarkSpec
from linly_demo.provenance.watermark import average_luma
from linly_demo.render.driving import DrivingSignals
from linly_demo.render.frames import render_frames
from linly_demo.render.warp import WarpBoxes
from linly_demo.video import encode_segment

MARK_HOST_FRAMES = 16  # frames averaged to estimate a clip's mean frame (measured: 8 lose a third of the gain)


@dataclass(frozen=True)
class RenderTemplate:
    """The aligned face a render warps: the template pixels (S, S, 3) uint8 and its 68 landmarks (68, 2); for a
    marked render, the clip's estimated mean luma (S, S) float16 the watermark is shaped on (`mark_host`)."""

    template: np.ndarray
    landmarks68: np.ndarray
    mark_host: np.ndarray | None = None


@dataclass(frozen=True)
class DrivingChunk:
    """Frames [start, start + len(coefficients)) of a render: their rows of the driving signals and the whole
    clip's warp boxes (a few integers)."""

    fps: int
    start: int
    coefficients: np.ndarray  # (n, len(CHANNELS)) float32
    boxes: WarpBoxes

    @property
    def n_frames(self) -> int:
        return int(self.coefficients.shape[0])


@dataclass(frozen=True)
class SegmentSpec:
    """How a chunk is encoded and marked: output size, quality, the marking (None: unmarked), and which frames
    (render positions) to hand back unmarked for the identity check."""

    size: int
    crf: int = 20
    mark: MarkSpec | None = None
    samples: tuple[int, ...] = ()


@dataclass(frozen=True)
class Segment:
    """One chunk's encoded video (an MP4 without audio) and its requested unmarked frames, by render position."""

    start: int
    n_frames: int
    video: bytes
    samples: dict[int, np.ndarray]


def chunk_bounds(n_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """[start, stop) runs of at most `chunk_frames` covering 0..n_frames, as even as possible."""
    count = max(1, -(-n_frames // max(1, chunk_frames)))
    edges = np.linspace(0, n_frames, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def chunk_of(driving: DrivingSignals, start: int, stop: int, boxes: WarpBoxes) -> DrivingChunk:
    """Rows [start, stop) of the driving signals (a copy: it is what a worker is sent) with the clip's boxes."""
    return DrivingChunk(driving.fps, start, np.ascontiguousarray(driving.coefficients[start:stop], np.float32), boxes)


def mark_host(face: RenderTemplate, driving: DrivingSignals, boxes: WarpBoxes,
              device: torch.device | None = None) -> np.ndarray:
    """The clip's mean luma (S, S), estimated from MARK_HOST_FRAMES unmarked frames spread evenly over it
    (rendered with the clip's boxes, so they are its own frames), in half precision (it crosses to a cluster once
    per render; the mark's shape needs no more). The watermark shaped on it cancels what the
    clip's average picture leaks into the detector's reading; shaped on the still template it could not cancel
    the moving head's share (measured: about 1.5 of the weakest clips' bit-to-noise ratio of 2)."""
    picks = np.unique(np.linspace(0, driving.n_frames - 1, MARK_HOST_FRAMES).round().astype(int))
    sample = DrivingSignals(driving.fps, driving.coefficients[picks])
    frames = [frame for batch in render_frames(face, sample, device, boxes=boxes) for frame in batch]
    return average_luma(frames).astype(np.float16)


def frames_at(batch: np.ndarray, first: int, positions: Iterable[int]) -> dict[int, np.ndarray]:
    """Copies of the frames of `batch` (its first frame at render position `first`) that lie at `positions`."""
    return {i: batch[i - first].copy() for i in positions if first <= i < first + len(batch)}


def chunk_frames(face: RenderTemplate, chunk: DrivingChunk, spec: SegmentSpec,
                 samples: dict[int, np.ndarray] | None = None) -> Iterator[np.ndarray]:
    """The chunk's frame batches, marked as `spec` says; the unmarked frames at `spec.samples` go to `samples`."""
    host = face.template if face.mark_host is None else face.mark_host
    marker = None if spec.mark is None else FrameMarker(spec.mark, host)
    done = chunk.start
    for batch in render_frames(face, DrivingSignals(chunk.fps, chunk.coefficients), boxes=chunk.boxes):
        if samples is not None:
            samples.update(frames_at(batch, done, spec.samples))
        done += len(batch)
        yield batch if marker is None else marker(batch)


def render_segment(face: RenderTemplate, chunk: DrivingChunk, spec: SegmentSpec) -> Segment:
    """Render and encode one chunk in memory (what a cluster worker runs)."""
    samples: dict[int, np.ndarray] = {}
    video = encode_segment(chunk_frames(face, chunk, spec, samples), chunk.fps, spec.size, spec.crf)
    return Segment(chunk.start, chunk.n_frames, video, samples)
