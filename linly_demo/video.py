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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from linly_demo.audio import Speech
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.errors import ServerBusy

AUDIO_BITRATE = 64_000
X264_PRESET = "superfast"  # keeps encoding (on its own thread) about as fast as rendering on 2 cores
_END = object()


@dataclass(frozen=True)
class VideoFile:
    """An encoded video under the ephemeral root."""

    path: Path
    n_frames: int
    fps: int
    size: int
    duration: float


def encode_video(frames: Iterable[np.ndarray], speech: Speech, ephemeral: EphemeralRoot, fps: int = 25,
                 size: int = 512, crf: int = 20) -> VideoFile:
    """Encode RGB frame batches (B, H, W, 3) with `speech` as the soundtrack; encoding overlaps frame production."""
    path = ephemeral.new_name(".mp4")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    pending: queue.Queue[object] = queue.Queue(maxsize=2)
    outcome: dict[str, object] = {}
    worker = threading.Thread(target=_encode_worker, args=(path, pending, speech, fps, size, crf, outcome),
                              name="linly-encoder", daemon=True)
    worker.start()
    try:
        for batch in frames:
            pending.put(batch)
            if "error" in outcome:
                break
    except BaseException:
        outcome.setdefault("error", RuntimeError("frame production failed"))
        raise
    finally:
        pending.put(_END)
        worker.join()
        if "error" in outcome:
            ephemeral.delete(path)
    error = outcome.get("error")
    if isinstance(error, OSError) and "No space" in str(error):
        raise ServerBusy()
    if isinstance(error, BaseException):
        raise error
    n_frames = int(outcome["frames"])  # type: ignore[arg-type]
    return VideoFile(path, n_frames, fps, size, n_frames / fps)


def _encode_worker(path: Path, pending: queue.Queue[object], speech: Speech, fps: int, size: int, crf: int,
                   outcome: dict[str, object]) -> None:
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
            while (batch := pending.get()) is not _END:
                if "error" in outcome:
                    continue
                for rgb in batch:  # type: ignore[attr-defined]
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    frame = frame.reformat(width=size, height=size, format="yuv420p", interpolation="BICUBIC")
                    frame.pts = count
                    container.mux(video.encode(frame))
                    count += 1
            container.mux(video.encode(None))
            samples = np.ascontiguousarray(speech.samples, dtype=np.float32).reshape(1, -1)
            sound = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            sound.sample_rate = speech.sample_rate
            sound.pts = 0
            container.mux(audio.encode(sound))
            container.mux(audio.encode(None))
        outcome["frames"] = count
    except BaseException as exc:  # reported to the producer thread, which cleans up
        outcome["error"] = exc
        while pending.get() is not _END:
            pass
