"""Portrait features + speech -> an MP4 under the ephemeral root, with per-stage timings.

Guarantees: frames stream from the renderer to the encoder in memory-bounded batches (nothing but the output
file is written, and only under the ephemeral root); the video has one frame per 1/fps of speech; the same
features, speech and seed give the same frames, whether they are rendered here or, with a `cluster`, in encoded
segments elsewhere (which receive only the template, its landmarks, the clip's mean luma that shapes the
watermark, the driving signals and the marking).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import torch

from linly_demo.audio import Speech
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.provenance.marking import FrameMarker
from linly_demo.provenance.service import Provenance
from linly_demo.render.driving import DrivingSignals, PhonemeTiming, driving_from_speech
from linly_demo.render.frames import Portrait, render_frames, warp_boxes
from linly_demo.render.segments import RenderTemplate, Segment, SegmentSpec, frames_at, mark_host
from linly_demo.video import VideoFile, encode_video, join_segments

IDENTITY_SAMPLES = 4  # frames checked against the portrait's identity
OPEN_EYES_BELOW = 0.2  # blink coefficient under which a frame counts as eyes open, for the identity check


class SegmentRenderer(Protocol):
    """Renders a whole clip as encoded segments somewhere else (a Ray cluster), in order, by `deadline`."""

    def render(self, face: RenderTemplate, driving: DrivingSignals, spec: SegmentSpec,
               deadline: float | None) -> list[Segment]: ...


@dataclass(frozen=True)
class RenderedVideo:
    """The encoded video, the driving signals that made it, and seconds per stage."""

    video: VideoFile
    driving: DrivingSignals
    timings: dict[str, float] = field(default_factory=dict)
    render_id: str | None = None  # set when the video was marked and signed (provenance)


def render_video(features: Portrait, speech: Speech, ephemeral: EphemeralRoot, fps: int = 25, size: int = 512,
                 seed: int = 0, device: torch.device | None = None, driving: DrivingSignals | None = None,
                 phonemes: Sequence[PhonemeTiming] | None = None, mode: str = "visemes",
                 timeout_s: float | None = None,
                 identity_check: Callable[[list[np.ndarray]], None] | None = None,
                 provenance: Provenance | None = None, subject: str | None = None,
                 cluster: SegmentRenderer | None = None) -> RenderedVideo:
    """Render `speech` spoken by the portrait. `phonemes` (eSpeak's timing, for text) give exact mouth shapes;
    `mode="loudness"` is the viseme-free baseline; `driving` overrides the signals derived from the speech.
    With `timeout_s`, a render still running after that many seconds stops with `RenderTimedOut`, leaving no file.
    With `identity_check`, IDENTITY_SAMPLES frames spread over the clip (with the eyes open) are handed to it once
    the video is encoded; whatever it raises (the face drifted from the portrait's person) deletes the video and is
    raised.
    With `provenance` (the app and the command line always pass it), every frame carries the invisible watermark
    and the visible label, and the finished MP4 a signed C2PA manifest, all with one fresh render id; a failed
    signature deletes the video.
    With `cluster`, the frames are rendered and encoded there in segments and joined here with the speech."""
    started = time.perf_counter()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    if driving is None:
        driving = driving_from_speech(speech, fps, seed, phonemes, mode)
    driving_time = time.perf_counter() - started
    frame_time = [0.0]
    render_id = provenance.new_render_id() if provenance is not None else None
    mark = provenance.mark_spec(render_id) if provenance is not None and render_id else None
    positions = identity_positions(driving) if identity_check is not None else ()
    sampled: dict[int, np.ndarray] = {}  # the identity check's frames, unmarked (the label is not the person)
    encode_started = time.perf_counter()
    face = RenderTemplate(np.asarray(features.template), np.asarray(features.landmarks68))
    if mark is not None:
        face = replace(face, mark_host=mark_host(face, driving, warp_boxes(face, driving), device))
    host_time = time.perf_counter() - encode_started
    if cluster is not None:
        segments = cluster.render(face, driving, SegmentSpec(size, mark=mark, samples=positions), deadline)
        frame_time[0] = time.perf_counter() - encode_started - host_time
        video = join_segments([segment.video for segment in segments], speech, ephemeral, fps, size)
        for segment in segments:
            sampled.update(segment.samples)
    else:
        marker = None if mark is None else FrameMarker(mark, face.mark_host)
        video = encode_video(_timed(render_frames(features, driving, device), frame_time, positions, sampled, marker),
                             speech, ephemeral, fps, size, deadline=deadline)
    total_after_driving = time.perf_counter() - encode_started

    identity_started = time.perf_counter()
    if identity_check is not None:
        try:
            identity_check([sampled[i] for i in sorted(sampled)])
        except BaseException:
            ephemeral.delete(video.path)
            raise
    sealing_started = time.perf_counter()
    if provenance is not None and render_id:
        provenance.seal(video.path, render_id, subject)
    timings = {
        "driving": driving_time,
        "frames": frame_time[0],
        "mark_host": host_time,
        "encode": max(0.0, total_after_driving - host_time - frame_time[0]),
        "identity": sealing_started - identity_started,
        "provenance": time.perf_counter() - sealing_started,
        "total": time.perf_counter() - started,
    }
    return RenderedVideo(video, driving, timings, render_id)


def identity_positions(driving: DrivingSignals, count: int = IDENTITY_SAMPLES) -> tuple[int, ...]:
    """`count` different frames spread evenly over the clip for the identity check, each the nearest to its place
    with the eyes open: a blink is not a change of person, and a face with its eyes shut and its mouth wide open is
    one a face detector can miss (it did, on one render in forty of a tinted astronaut, and the render was refused)."""
    spread = np.linspace(0, driving.n_frames - 1, count).round().astype(int)
    candidates = np.flatnonzero(driving.track("blink") < OPEN_EYES_BELOW)
    chosen: list[int] = []
    for place in spread:
        free = candidates[~np.isin(candidates, chosen)]
        if len(free):
            chosen.append(int(free[np.argmin(np.abs(free - place))]))
        elif int(place) not in chosen:
            chosen.append(int(place))
    return tuple(sorted(chosen))


def _timed(batches: Iterator[np.ndarray], frame_time: list[float], positions: tuple[int, ...],
           sampled: dict[int, np.ndarray], marker: FrameMarker | None) -> Iterator[np.ndarray]:
    """The frame batches, timed into `frame_time[0]`, the frames at `positions` copied into `sampled` before they
    are marked."""
    done = 0
    while True:
        tick = time.perf_counter()
        batch = next(batches, None)
        frame_time[0] += time.perf_counter() - tick
        if batch is None:
            return
        sampled.update(frames_at(batch, done, positions))
        if marker is not None:
            batch = marker(batch)
        done += len(batch)
        yield batch
