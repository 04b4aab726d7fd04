"""Bad photos and bad audio, as bytes: every kind tried against the app so far."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from tests.conftest import encode
from tests.speech import encode_audio, synthetic_voice


def _wav(samples: bytes, rate: int, channels: int, bits: int, fmt_code: int = 1) -> bytes:
    block = channels * bits // 8
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(samples), b"WAVE", b"fmt ", 16, fmt_code,
                         channels, rate, rate * block, block, bits, b"data", len(samples))
    return header + samples


def float_wav(values: np.ndarray, rate: int = 16000) -> bytes:
    return _wav(values.astype("<f4").tobytes(), rate, 1, 32, fmt_code=3)


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def bad_photos(photo: bytes) -> dict[str, bytes]:
    """Name -> bytes of photos the app must refuse with a plain message."""
    tiny = encode(np.full((1, 1, 3), 128, np.uint8), "PNG")
    return {
        "zero bytes": b"",
        "png header only": _png_header(640, 480),
        "truncated jpeg": photo[: len(photo) // 3],
        "claimed huge png": _png_header(100_000, 100_000) + b"\x00" * 64,
        "1x1 png": tiny,
        "text named .png": b"hello, this is not an image",
        "gif": b"GIF89a" + b"\x01\x00\x01\x00\x00\x00\x00;",
        "jpeg magic then noise": b"\xff\xd8\xff" + bytes(range(256)) * 8,
        "11.2 MB photo": photo + b"\x00" * int(11.2 * 2**20 - len(photo)),
        "blank image": encode(np.full((300, 300, 3), 200, np.uint8)),
    }


def bad_audio() -> dict[str, bytes]:
    """Name -> bytes of speech the app must refuse with a plain message (or accept: 8 channels is valid audio)."""
    voice = synthetic_voice(2.0)
    nan = voice.copy()
    nan[1000:5000] = np.nan
    inf = voice.copy()
    inf[2000:2100] = np.inf
    flac = encode_audio(voice, "flac", "flac")
    pcm16 = (voice * 20000).astype("<i2").tobytes()
    return {
        "zero bytes": b"",
        "wav header only": _wav(b"", 16000, 1, 16),
        "truncated flac": flac[: len(flac) // 4],
        "nan float wav": float_wav(nan),
        "all nan float wav": float_wav(np.full(32000, np.nan, np.float32)),
        "inf float wav": float_wav(inf),
        "rate 0 wav": _wav(pcm16, 0, 1, 16),
        "0 channels wav": _wav(pcm16, 16000, 0, 16),
        "8 channels wav": _wav(np.repeat((voice * 20000).astype("<i2"), 8).tobytes(), 16000, 8, 16),
        "midi": b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
        "video-only mp4": _video_only_mp4(),
        "silence": encode_audio(np.zeros(32000, np.float32), "flac", "flac"),
        "claimed huge wav": _wav(pcm16, 16000, 1, 16)[:40] + struct.pack("<I", 2**32 - 1) + pcm16,
    }


def _video_only_mp4() -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 20, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()
