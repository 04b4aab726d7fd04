"""Speech in: every supported container decodes to 16 kHz mono; every bad input is a clear error that leaves nothing."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from linly_demo.audio import SPEECH_RATE, decode_audio, decode_audio_file, speech_from_pcm
from linly_demo.errors import (
    AudioTooLarge,
    AudioTooLong,
    CorruptAudio,
    EmptyAudio,
    InputRejected,
    SilentAudio,
    UnsupportedAudio,
)
from tests.speech import encode_audio, synthetic_voice

MB = 1 << 20
FORMATS = [  # container, codec, sample rate, layout
    ("wav", "pcm_s16le", 44100, "stereo"),
    ("flac", "flac", 16000, "mono"),
    ("mp3", "libmp3lame", 22050, "mono"),
    ("ogg", "libopus", 48000, "mono"),
    ("ipod", "aac", 44100, "stereo"),  # .m4a
    ("webm", "libopus", 48000, "mono"),  # what browsers record
]


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    return synthetic_voice(4.0)


@pytest.mark.parametrize("fmt,codec,rate,layout", FORMATS, ids=[f[0] for f in FORMATS])
def test_each_container_decodes_to_the_same_mono_16k_speech(voice: np.ndarray, fmt: str, codec: str, rate: int,
                                                            layout: str) -> None:
    data = encode_audio(resample_poly(voice, rate, SPEECH_RATE), fmt, codec, rate, layout)
    speech = decode_audio(data, 30 * MB, 60)
    assert speech.sample_rate == SPEECH_RATE and speech.samples.ndim == 1 and speech.samples.dtype == np.float32
    assert abs(speech.duration - 4.0) < 0.06
    n = int(3.5 * SPEECH_RATE)  # lossy codecs keep the envelope: compare 20 ms RMS envelopes
    envelope = lambda x: np.sqrt(np.mean(x[:n].reshape(-1, 320) ** 2, axis=1))  # noqa: E731
    assert np.corrcoef(envelope(speech.samples), envelope(voice))[0, 1] > 0.97


def test_pcm_from_tts_is_resampled_to_the_internal_rate(voice: np.ndarray) -> None:
    speech = speech_from_pcm(resample_poly(voice, 22050, SPEECH_RATE), 22050)
    assert speech.sample_rate == SPEECH_RATE and abs(speech.duration - 4.0) < 0.01
    assert not speech.samples.flags.writeable


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SPEECH_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.mark.parametrize("case,error", [
    ("empty", EmptyAudio),
    ("zero_length_wav", EmptyAudio),
    ("corrupt", CorruptAudio),
    ("truncated_mp3", CorruptAudio),
    ("silent", SilentAudio),
    ("too_long", AudioTooLong),
    ("too_large", AudioTooLarge),
    ("text", UnsupportedAudio),
    ("image", UnsupportedAudio),
])
def test_bad_audio_is_a_clear_error_and_the_upload_is_deleted(ephemeral, voice: np.ndarray, case: str,
                                                               error: type[InputRejected]) -> None:
    data = {
        "empty": lambda: b"",
        "zero_length_wav": lambda: _wav(np.zeros(0, np.float32)),
        "corrupt": lambda: b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8,
        "truncated_mp3": lambda: encode_audio(voice, "mp3", "libmp3lame")[:300],
        "silent": lambda: _wav(np.zeros(3 * SPEECH_RATE, np.float32)),
        "too_long": lambda: _wav(np.tile(voice, 3)),  # 12 s against a 10 s limit
        "too_large": lambda: _wav(np.tile(voice, 20)),
        "text": lambda: b"hello, this is not audio",
        "image": lambda: b"\x89PNG\r\n\x1a\n" + bytes(100),
    }[case]()
    upload = ephemeral.write_bytes(data, ".bin")
    with pytest.raises(error) as raised:
        decode_audio_file(upload, ephemeral, max_bytes=2 * MB, max_seconds=10)
    message = raised.value.user_message
    assert message.endswith(".") and str(ephemeral.path) not in message and upload.name not in message
    assert ephemeral.entries() == []


def test_decoding_stops_at_the_limit_without_decoding_the_rest(voice: np.ndarray) -> None:
    long_flac = encode_audio(np.tile(voice, 30), "flac", "flac")  # 120 s
    with pytest.raises(AudioTooLong, match="longer than 5 seconds"):
        decode_audio(long_flac, 30 * MB, 5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_samples_are_refused(voice: np.ndarray, bad: float) -> None:
    from tests.security.inputs import float_wav

    samples = voice.copy()
    samples[100:200] = bad
    with pytest.raises(CorruptAudio, match="invalid samples"):
        decode_audio(float_wav(samples), 1 << 26, 60)
