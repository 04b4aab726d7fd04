"""MP4 out: frames + speech -> a browser-playable H.264/AAC file under the ephemeral root.

Guarantees: encoded in-process with PyAV (no frame or audio ever touches disk outside the output file); H.264
yuv420p with `+faststart` and AAC audio; the video lasts as long as the audio to within one frame; frames are
upscaled to the output size with bicubic interpolation during the colour conversion; the file is 0600 with a random name
under the ephemeral root (so it expires with the TTL); a failed encode leaves no file behind.
"""

from __future__ import annotations

import io
import os
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from linly_demo.audio import Speech
from linly_demo.ephemeral import EphemeralRoot, storage_full
from linly_demo.errors import RenderFailed, RenderTimedOut, ServerBusy

AUDIO_BITRATE = 64_000
X264_PRESET = "superfast"  # keeps encoding (on its own thread) about as fast as rendering on 2 cores
_END = object()
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class VideoFile:
    """An encoded video under the ephemeral root."""

    path: Path
    n_frames: int
    fps: int
    size: int
    duration: float


def encode_video(frames: Iterable[np.ndarray], speech: Speech, ephemeral: EphemeralRoot, fps: int = 25,
                 size: int = 512, crf: int = 20, deadline: float | None = None) -> VideoFile:
    """Encode RGB frame batches (B, H, W, 3) with `speech` as the soundtrack; encoding overlaps frame production.

    Ends in bounded time whatever fails: an encoder error stops frame production, a full ephemeral root is
    `ServerBusy`, passing `deadline` (a `time.monotonic()` value) is `RenderTimedOut`; on every failure the
    output file is deleted."""
    path = _new_video_file(ephemeral)
    pending: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()
    outcome: dict[str, object] = {}
    worker = threading.Thread(target=_encode_worker, args=(path, pending, stop, speech, fps, size, crf, outcome),
                              name="linly-encoder", daemon=True)
    worker.start()
    finished = False
    try:
        for batch in frames:
            _check_deadline(deadline)
            if not _hand_over(pending, batch, worker, deadline):
                break
        _hand_over(pending, _END, worker, deadline)
        while worker.is_alive():
            worker.join(_POLL_SECONDS)
            _check_deadline(deadline)
        error = outcome.get("error")
        if isinstance(error, BaseException):
            raise error
        finished = True
    finally:
        stop.set()
        if not finished:
            worker.join(_POLL_SECONDS)
            ephemeral.delete(path)
    return VideoFile(path, int(outcome["frames"]), fps, size, int(outcome["frames"]) / fps)  # type: ignore[call-overload]


def _new_video_file(ephemeral: EphemeralRoot) -> Path:
    """A new empty 0600 file with a random name under the ephemeral root; a full root is `ServerBusy`."""
    path = ephemeral.new_name(".mp4")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except OSError as exc:
        raise (ServerBusy() if _is_full(exc) else exc) from None
    return path


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise RenderTimedOut()


def _hand_over(pending: queue.Queue[object], item: object, worker: threading.Thread, deadline: float | None) -> bool:
    """Queue `item` for the encoder; False when the encoder has stopped (it failed), so nothing waits on it."""
    while worker.is_alive():
        try:
            pending.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            _check_deadline(deadline)
    return False


def _is_full(exc: BaseException) -> bool:
    """storage_full, or PyAV's wrapping of it (an FFmpeg error whose message says so)."""
    return storage_full(exc) or (isinstance(exc, OSError) and "No space" in str(exc))


def _encode_worker(path: Path, pending: queue.Queue[object], stop: threading.Event, speech: Speech, fps: int,
                   size: int, crf: int, outcome: dict[str, object]) -> None:
    """Encode until the end marker; on any error record it and return at once (the producer sees it stop)."""
    count = 0
    try:
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            video = _video_stream(container, fps, size, crf)
            audio = _audio_stream(container, speech)
            while not stop.is_set():
                try:
                    batch = pending.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    continue
                if batch is _END:
                    break
                count = _encode_batch(container, video, batch, size, count)  # type: ignore[arg-type]
            if stop.is_set():
                raise RenderFailed()
            container.mux(video.encode(None))
            _mux_speech(container, audio, speech)
        outcome["frames"] = count
    except BaseException as exc:  # reported to the producer thread, which cleans up
        outcome["error"] = ServerBusy() if _is_full(exc) else exc


def _video_stream(container: Any, fps: int, size: int, crf: int) -> Any:
    """The H.264 stream every video and segment is encoded with (the same settings, so segments join)."""
    video = container.add_stream("libx264", rate=fps)
    video.width = video.height = size
    video.pix_fmt = "yuv420p"
    video.options = {"preset": X264_PRESET, "crf": str(crf), "tune": "film"}
    return video


def _encode_batch(container: Any, video: Any, batch: np.ndarray, size: int, count: int) -> int:
    """Encode RGB frames (B, H, W, 3), upscaled bicubically to `size`, numbered from `count`; the next number."""
    for rgb in batch:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(width=size, height=size, format="yuv420p", interpolation="BICUBIC")
        frame.pts = count
        container.mux(video.encode(frame))
        count += 1
    return count


def _audio_stream(container: Any, speech: Speech) -> Any:
    """The AAC soundtrack's stream (added before anything is muxed: the header is written with the first packet)."""
    audio = container.add_stream("aac", rate=speech.sample_rate)
    audio.layout = "mono"
    audio.bit_rate = AUDIO_BITRATE
    return audio


def _mux_speech(container: Any, audio: Any, speech: Speech) -> None:
    """The speech as the AAC soundtrack, from time zero."""
    samples = np.ascontiguousarray(speech.samples, dtype=np.float32).reshape(1, -1)
    sound = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
    sound.sample_rate = speech.sample_rate
    sound.pts = 0
    container.mux(audio.encode(sound))
    container.mux(audio.encode(None))


def encode_segment(frames: Iterable[np.ndarray], fps: int = 25, size: int = 512, crf: int = 20) -> bytes:
    """RGB frame batches -> a video-only H.264 MP4 in memory (nothing touches a filesystem), encoded exactly as
    `encode_video` encodes, so `join_segments` can put segments end to end without re-encoding."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        video = _video_stream(container, fps, size, crf)
        count = 0
        for batch in frames:
            count = _encode_batch(container, video, batch, size, count)
        container.mux(video.encode(None))
    return buffer.getvalue()


def join_segments(segments: Sequence[bytes], speech: Speech, ephemeral: EphemeralRoot, fps: int = 25,
                  size: int = 512) -> VideoFile:
    """Segments from `encode_segment`, in order, + speech -> one MP4 under the ephemeral root (0600, random name,
    `+faststart`), the video packets copied as they are with their timestamps moved on (no re-encoding, no frame
    dropped or repeated at a join). A failure deletes the file; a full root is `ServerBusy`."""
    path = _new_video_file(ephemeral)
    count = 0
    try:
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
            with av.open(io.BytesIO(segments[0]), mode="r") as first:
                video = output.add_stream_from_template(first.streams.video[0])
            audio = _audio_stream(output, speech)
            for data in segments:
                with av.open(io.BytesIO(data), mode="r") as segment:
                    source = segment.streams.video[0]
                    shift = round(Fraction(count, fps) / (source.time_base or Fraction(1, fps)))
                    for packet in segment.demux(source):
                        if packet.dts is None or packet.pts is None:  # the demuxer's end-of-stream marker
                            continue
                        packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                        packet.stream = video
                        output.mux(packet)
                        count += 1
            _mux_speech(output, audio, speech)
    except BaseException as exc:
        ephemeral.delete(path)
        if _is_full(exc):
            raise ServerBusy() from exc
        raise
    return VideoFile(path, count, fps, size, count / fps)
