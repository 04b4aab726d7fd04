"""How much closer the voice profile brings TTS to real speakers (resemblyzer cosine similarity).

For each speaker in ../shared/devdata/speech: enroll on three utterances, then speak three sentences that were
not used for fitting, plain and with the profile, and compare each with the speaker's fourth, held-out
utterance. Gate: mean gain >= 0.05 over speakers; target 0.10. Also prints the enrollment (fitting) time.
Run: `make bench` or `.venv/bin/python -m benchmarks.voice_bench`.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from linly_demo.audio import decode_audio
from linly_demo.voice.profile import SpeakerEncoder, convert, fit_profile, to_rate
from linly_demo.voice.tts import Speaker

SPEECH = Path(__file__).resolve().parent.parent.parent / "shared" / "devdata" / "speech"
SENTENCES = [
    "I would like to tell you about the little town where I grew up, many years ago.",
    "Please remember to close the window before you leave the house this evening.",
    "Numbers and letters were written on the old wooden board beside the door.",
]
GATE, TARGET = 0.05, 0.10


def main() -> int:
    files = sorted(SPEECH.glob("*.flac")) if SPEECH.is_dir() else []
    speakers = sorted({f.name.split("-")[0] for f in files})
    if not speakers:
        print("../shared/devdata/speech is absent: no real speakers to measure")
        return 0
    encoder, speaker = SpeakerEncoder(), Speaker()
    gains = []
    for name in speakers:
        waves = [decode_audio(f.read_bytes(), 1 << 30, 600).samples for f in files if f.name.startswith(name)]
        enrolled, held_out = waves[:-1], waves[-1]
        started = time.perf_counter()
        fit = fit_profile(encoder.embed(enrolled), encoder, speaker, enrolled)
        fit_seconds = time.perf_counter() - started
        reference = encoder.embed([held_out])
        plain = [float(encoder.embed([to_rate(speaker.speak(s))]) @ reference) for s in SENTENCES]
        converted = [float(encoder.embed([convert(speaker.speak(s, variant=fit.profile.variant), fit.profile)])
                           @ reference) for s in SENTENCES]
        gain = statistics.mean(converted) - statistics.mean(plain)
        gains.append(gain)
        print(f"speaker {name}: plain TTS {statistics.mean(plain):.3f} -> with profile "
              f"{statistics.mean(converted):.3f} "
              f"(gain {gain:+.3f}) on held-out speech; fit {fit_seconds:.1f} s; profile {fit.profile}")
    mean_gain = statistics.mean(gains)
    from linly_demo.voice.store import SALT_BYTES, _derive

    started = time.perf_counter()
    _derive(b"a passphrase for timing", b"s" * SALT_BYTES)
    print(f"passphrase key derivation (scrypt n=2^17, r=8): {time.perf_counter() - started:.2f} s (target 0.2-1 s)")
    verdict = ("meets the target" if mean_gain >= TARGET else "passes the gate" if mean_gain >= GATE
               else "FAILS the gate")
    print(f"mean cosine gain over {len(gains)} speakers: {mean_gain:+.3f} ({verdict}: gate {GATE}, target {TARGET})")
    return 0 if mean_gain >= GATE else 1


if __name__ == "__main__":
    sys.exit(main())
