"""Offline TTS: English and Mandarin of plausible length with phoneme timing; clear errors; thread-safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from linly_demo.errors import TextRejected
from linly_demo.voice.tts import MAX_TEXT_CHARS, Speaker

SENTENCE = "Maybe Bob put the blue boat by the pier."


def test_english_has_plausible_duration_and_phoneme_timing() -> None:
    spoken = Speaker().speak(SENTENCE, "en")
    assert spoken.samples.dtype == np.float32 and spoken.sample_rate > 8000
    assert 1.5 < spoken.duration < 5.0  # 9 words at about 165 words per minute
    symbols = [p.symbol for p in spoken.phonemes]
    assert symbols.count("b") >= 4 and "p" in symbols and "m" in symbols
    starts = [p.start for p in spoken.phonemes]
    assert starts == sorted(starts) and starts[0] >= 0 and starts[-1] <= spoken.duration + 0.05


def test_mandarin_speaks_chinese_characters() -> None:
    spoken = Speaker().speak("你好，欢迎使用这个演示。", "zh")
    assert 1.5 < spoken.duration < 6.0 and len(spoken.phonemes) > 15
    assert np.sqrt(np.mean(spoken.samples ** 2)) > 0.01


def test_rate_and_pitch_change_the_speech() -> None:
    speaker = Speaker()
    slow, fast = speaker.speak(SENTENCE, rate_wpm=120), speaker.speak(SENTENCE, rate_wpm=300)
    assert slow.duration > 1.6 * fast.duration
    low, high = speaker.speak(SENTENCE, pitch=10), speaker.speak(SENTENCE, pitch=90)
    assert not np.array_equal(low.samples[:4000], high.samples[:4000])


@pytest.mark.parametrize("text,language,fragment", [
    ("", "en", "type some text"),
    ("   \n ", "en", "type some text"),
    ("a" * (MAX_TEXT_CHARS + 1), "en", "limit is 500"),
    ("hello", "fr", "Unsupported language"),
])
def test_bad_text_is_a_clear_error(text: str, language: str, fragment: str) -> None:
    with pytest.raises(TextRejected, match=fragment):
        Speaker().speak(text, language)


def test_concurrent_calls_never_mix_their_speech() -> None:
    """eSpeak NG keeps global state: each call must get exactly its own phonemes and a whole utterance."""
    texts = ["One two three.", "The blue boat.", "Good morning everyone.", "Maybe Bob."]
    sequential = [Speaker().speak(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda t: Speaker().speak(t), texts * 3))
    for i, spoken in enumerate(parallel):
        expected = sequential[i % 4]
        assert [p.symbol for p in spoken.phonemes] == [p.symbol for p in expected.phonemes]
        assert abs(spoken.duration - expected.duration) < 0.05
