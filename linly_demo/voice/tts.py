"""Offline text to speech with eSpeak NG (library and data shipped in the `espeakng-loader` wheel), via ctypes.

Guarantees: no network, no files written; one synthesis at a time inside the process (eSpeak NG keeps global
state), so it is safe to call from any thread; text longer than MAX_TEXT_CHARS or with nothing to say is a clear
error; the result carries the phoneme timing eSpeak reports (for mouth shapes), in seconds from the start.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Any

import espeakng_loader
import numpy as np

from linly_demo.errors import TextRejected

MAX_TEXT_CHARS = 500
VOICES = {"en": "en-us", "zh": "cmn"}
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PHONEME_EVENTS = 1  # espeakINITIALIZE_PHONEME_EVENTS
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_SENTENCE, _EVENT_PHONEME = 0, 1, 2, 7
_RATE, _PITCH = 1, 3


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Phoneme:
    """One phoneme as eSpeak NG spoke it: its mnemonic (e.g. 'p', 'u:', 'aI') and start time in seconds."""

    symbol: str
    start: float


@dataclass(frozen=True)
class SynthesizedSpeech:
    """Mono float32 PCM in [-1, 1] at `sample_rate`, with eSpeak's phoneme timing and word starts (seconds)."""

    samples: np.ndarray
    sample_rate: int
    phonemes: tuple[Phoneme, ...]
    language: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


class Speaker:
    """The process's eSpeak NG engine; `speak` is serialised by a lock."""

    _lock = threading.Lock()
    _library: ctypes.CDLL | None = None
    _sample_rate = 0

    def __init__(self) -> None:
        with Speaker._lock:
            if Speaker._library is None:
                Speaker._library, Speaker._sample_rate = _load()

    @property
    def sample_rate(self) -> int:
        return Speaker._sample_rate

    def speak(self, text: str, language: str = "en", rate_wpm: int = 165, pitch: int = 50,
              variant: str = "") -> SynthesizedSpeech:
        """Synthesise `text` (at most MAX_TEXT_CHARS) in `language` ('en' or 'zh'), optionally in an eSpeak voice
        variant such as 'm3' or 'f2'."""
        text = (text or "").strip()
        if not text:
            raise TextRejected("Please type some text to speak.")
        if len(text) > MAX_TEXT_CHARS:
            raise TextRejected(f"The text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}.")
        if language not in VOICES:
            raise TextRejected(f"Unsupported language; choose one of: {', '.join(sorted(VOICES))}.")
        if variant and not (variant[0] in "mf" and variant[1:].isdigit()):
            raise TextRejected("Unknown voice variant.")
        if not 80 <= rate_wpm <= 450 or not 0 <= pitch <= 99:
            raise TextRejected("The speaking rate must be 80-450 words per minute and the pitch 0-99.")
        chunks: list[np.ndarray] = []
        phonemes: list[Phoneme] = []

        def collect(wave: Any, count: int, events: Any) -> int:  # ctypes pointers (short samples, events)
            if count > 0 and wave:
                chunks.append(np.ctypeslib.as_array(wave, shape=(count,)).copy())
            index = 0
            while events and events[index].type != _EVENT_LIST_TERMINATED:
                event = events[index]
                if event.type == _EVENT_PHONEME:
                    symbol = bytes(event.id.string).split(b"\0", 1)[0].decode("ascii", "replace")
                    phonemes.append(Phoneme(symbol, event.audio_position / 1000.0))
                index += 1
            return 0

        callback = _CALLBACK(collect)
        encoded = text.encode("utf-8") + b"\0"
        library = Speaker._library
        assert library is not None  # loaded in __init__  # nosec B101
        with Speaker._lock:
            library.espeak_SetSynthCallback(callback)
            voice = VOICES[language] + (f"+{variant}" if variant else "")
            if library.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"eSpeak NG has no voice {voice}")
            library.espeak_SetParameter(_RATE, rate_wpm, 0)
            library.espeak_SetParameter(_PITCH, pitch, 0)
            status = library.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            library.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"eSpeak NG synthesis failed with status {status}")
        samples = (np.concatenate(chunks).astype(np.float32) / 32768.0) if chunks else np.zeros(0, np.float32)
        if np.max(np.abs(samples), initial=0.0) < 1e-3:
            raise TextRejected("The text has nothing that can be spoken. Please type words.")
        samples.setflags(write=False)
        return SynthesizedSpeech(samples, Speaker._sample_rate, tuple(phonemes), language)


def _load() -> tuple[ctypes.CDLL, int]:
    library = ctypes.CDLL(espeakng_loader.get_library_path())
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    library.espeak_Initialize.restype = ctypes.c_int
    library.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    library.espeak_SetSynthCallback.restype = None
    library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    library.espeak_SetVoiceByName.restype = ctypes.c_int
    library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    library.espeak_SetParameter.restype = ctypes.c_int
    library.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
    library.espeak_Synth.restype = ctypes.c_int
    library.espeak_Synchronize.restype = ctypes.c_int
    data_dir = str(__import__("pathlib").Path(espeakng_loader.get_data_path()).parent).encode()
    rate = library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_dir, _PHONEME_EVENTS)
    if rate <= 0:
        raise RuntimeError("eSpeak NG failed to initialise")
    return library, rate
