"""A render in segments is the same render: the chunks' frames are the one-piece frames, joined segments play as
one video with no step at a join, and a worker's segment carries only what it was given."""

from __future__ import annotations

from dataclasses import replace

import av
import cv2
import numpy as np
import pytest

from linly_demo.audio import Speech
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.provenance.marking import FrameMarker, MarkSpec
from linly_demo.provenance.watermark import Payload, average_luma, detect
from linly_demo.render.driving import driving_from_speech
from linly_demo.render.frames import render_frames, warp_boxes
from linly_demo.render.segments import (
    MARK_HOST_FRAMES,
    RenderTemplate,
    SegmentSpec,
    chunk_bounds,
    chunk_frames,
    chunk_of,
    mark_host,
    render_segment,
)
from linly_demo.video import join_segments

MARK = MarkSpec(0x1D2C, 0xDEADBEEF)


def test_chunk_bounds_cover_every_frame_once_in_even_runs() -> None:
    assert chunk_bounds(250, 100) == [(0, 83), (83, 167), (167, 250)]
    assert chunk_bounds(7, 100) == [(0, 7)]
    assert chunk_bounds(1, 1) == [(0, 1)]
    for n, size in [(1, 5), (99, 10), (250, 64), (3, 1)]:
        runs = chunk_bounds(n, size)
        assert runs[0][0] == 0 and runs[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(runs, runs[1:], strict=False))
        assert max(b - a for a, b in runs) <= size


def _face(features: PortraitFeatures) -> RenderTemplate:
    return RenderTemplate(np.asarray(features.template), np.asarray(features.landmarks68))


def test_chunks_render_exactly_the_one_piece_frames_marks_included(astronaut_features: PortraitFeatures,
                                                                   speech: Speech) -> None:
    driving = driving_from_speech(Speech(speech.samples[:48000]), 25, seed=5)
    face, spec = _face(astronaut_features), SegmentSpec(512, mark=MARK)
    boxes = warp_boxes(face, driving)
    face = replace(face, mark_host=mark_host(face, driving, boxes))
    marker = FrameMarker(MARK, face.mark_host)
    whole = np.concatenate([marker(batch) for batch in render_frames(astronaut_features, driving)])
    pieces = [np.concatenate(list(chunk_frames(face, chunk_of(driving, a, b, boxes), spec)))
              for a, b in reversed(chunk_bounds(driving.n_frames, 29))]  # any order
    assert np.array_equal(np.concatenate(pieces[::-1]), whole)


def test_the_mark_host_is_the_mean_of_the_clips_own_frames_spread_over_it(astronaut_features: PortraitFeatures,
                                                                          speech: Speech) -> None:
    driving = driving_from_speech(Speech(speech.samples[:48000]), 25, seed=3)
    face = _face(astronaut_features)
    host = mark_host(face, driving, warp_boxes(face, driving))
    unmarked = np.concatenate(list(render_frames(face, driving)))
    picks = np.linspace(0, driving.n_frames - 1, MARK_HOST_FRAMES).round().astype(int)
    assert len(set(picks.tolist())) == MARK_HOST_FRAMES and picks[0] == 0 and picks[-1] == driving.n_frames - 1
    assert host.shape == face.template.shape[:2] and host.dtype == np.float16
    assert np.array_equal(host, average_luma(list(unmarked[picks])).astype(np.float16))
    short = driving_from_speech(Speech(speech.samples[:3200]), 25, seed=3)  # fewer frames than MARK_HOST_FRAMES
    assert np.array_equal(mark_host(face, short, warp_boxes(face, short)),
                          average_luma(list(np.concatenate(list(render_frames(face, short))))).astype(np.float16))


@pytest.mark.slow
def test_joined_segments_play_as_one_video_without_a_step_at_the_joins(
        astronaut_features: PortraitFeatures, speech: Speech, ephemeral: EphemeralRoot) -> None:
    clip = Speech(speech.samples[:64000])
    driving = driving_from_speech(clip, 25, seed=2)
    face = _face(astronaut_features)
    boxes = warp_boxes(face, driving)
    runs = chunk_bounds(driving.n_frames, 30)
    wanted = (0, 40, driving.n_frames - 1)
    segments = [render_segment(face, chunk_of(driving, a, b, boxes), SegmentSpec(512, mark=MARK, samples=wanted))
                for a, b in runs]
    unmarked = np.concatenate(list(render_frames(face, driving)))
    samples = {i: frame for segment in segments for i, frame in segment.samples.items()}
    assert sorted(samples) == list(wanted)
    assert all(np.array_equal(samples[i], unmarked[i]) for i in wanted)  # unmarked, at render positions

    video = join_segments([segment.video for segment in segments], clip, ephemeral, 25, 512)
    with av.open(str(video.path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])
    ephemeral.delete(video.path)
    assert video.n_frames == driving.n_frames == len(decoded)

    marker = FrameMarker(MARK, astronaut_features.template)
    source = np.concatenate([marker(batch) for batch in render_frames(face, driving)])
    source = np.stack([cv2.resize(frame, (512, 512), interpolation=cv2.INTER_CUBIC) for frame in source])
    error = np.abs(decoded.astype(np.float32) - source.astype(np.float32)).mean(axis=(1, 2, 3))
    assert error.max() < 4.0, error.max()  # every frame, joins included, is its own source frame
    steps = np.abs(np.diff(decoded.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    source_steps = np.abs(np.diff(source.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    joins = [start - 1 for start, _ in runs[1:]]
    # A join is a keyframe: the codec's error resets there (about 1 grey level on average, measured), no more.
    assert np.all(steps[joins] <= source_steps[joins] + 2.0), (steps[joins], source_steps[joins])
    detection = detect(average_luma(list(decoded)))
    assert detection.found and detection.payload == Payload(MARK.deployment_tag, MARK.render_id)
