"""MP4 out: frames + speech -> a browser-playable H.264/AAC file under the ephemeral root.

Guarantees: encoded in-process with PyAV (no frame or audio ever touches disk outside the output file); H.264
yuv420p with `+faststart` and AAC audio; the video lasts as long as the audio to within one frame; frames are
upscaled to the output size with bicubic interpolation during the colour conversion; the file is 0600 with a random name
under the ephemeral root (so it expires with the TTL); a failed encode leaves no file behind.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

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
    path = ephemeral.new_name(".mp4")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except OSError as exc:
        raise (ServerBusy() if _is_full(exc) else exc) from None
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
            video = container.add_stream("libx264", rate=fps)
            video.width = video.height = size
            video.pix_fmt = "yuv420p"
            video.options = {"preset": X264_PRESET, "crf": str(crf), "tune": "film"}
            audio = container.add_stream("aac", rate=speech.sample_rate)
            audio.layout = "mono"
            audio.bit_rate = AUDIO_BITRATE
            while not stop.is_set():
                try:
                    batch = pending.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    continue
                if batch is _END:
                    break
                for rgb in batch:  # type: ignore[attr-defined]
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    frame = frame.reformat(width=size, height=size, format="yuv420p", interpolation="BICUBIC")
                    frame.pts = count
                    container.mux(video.encode(frame))
                    count += 1
            if stop.is_set():
                raise RenderFailed()
            container.mux(video.encode(None))
            samples = np.ascontiguousarray(speech.samples, dtype=np.float32).reshape(1, -1)
            sound = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            sound.sample_rate = speech.sample_rate
            sound.pts = 0
            container.mux(audio.encode(sound))
            container.mux(audio.encode(None))
        outcome["frames"] = count
    except BaseException as exc:  # reported to the producer thread, which cleans up
        outcome["error"] = ServerBusy() if _is_full(exc) else exc
