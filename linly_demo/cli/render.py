"""`render` and `evaluate`: a portrait and speech -> a talking video (and its quality metrics).

Guarantees: the portrait and speech files are only read; everything made along the way lives in memory or under
the ephemeral root and is deleted before the command returns, also on failure; `render --out` is the one path the
user chooses, written atomically with mode 0600.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from pathlib import Path

from linly_demo.audio import Speech, decode_audio
from linly_demo.cli.exit_codes import EXIT_BELOW_TARGET
from linly_demo.cli.files import read_user_file, write_user_output
from linly_demo.cli.voice import passphrase_from_user
from linly_demo.device import torch_device
from linly_demo.errors import InputRejected
from linly_demo.evaluate import VideoEvaluator
from linly_demo.portrait.decode import decode_image
from linly_demo.portrait.identity import IdentityCheck
from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.render.pipeline import RenderedVideo, render_video
from linly_demo.runtime import build_runtime
from linly_demo.voice.service import SpokenText
from linly_demo.voice.tts import SynthesizedSpeech


def add_commands(commands: argparse._SubParsersAction) -> None:
    render = commands.add_parser("render", help="make a talking video of a portrait speaking")
    _portrait_and_speech(render)
    render.add_argument("--out", required=True, help="where to write the MP4 (the one path the command writes)")
    render.set_defaults(handler=run_render)

    evaluate = commands.add_parser(
        "evaluate", help="quality metrics of a render (lip sync, mouth in silences, identity, face rate)")
    _portrait_and_speech(evaluate, video=True)
    evaluate.add_argument("--strict", action="store_true",
                          help=f"exit {EXIT_BELOW_TARGET} when any metric misses its target")
    evaluate.set_defaults(handler=run_evaluate)


def _portrait_and_speech(parser: argparse.ArgumentParser, video: bool = False) -> None:
    parser.add_argument("--portrait", required=True, help="the photo (JPEG, PNG or WebP); it is only read")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", help="speech: WAV, FLAC, MP3, OGG/Opus, M4A/AAC or WebM; it is only read")
    source.add_argument("--text", help="text to speak (at most 500 characters), with offline TTS")
    if video:
        source.add_argument("--video", help="an already rendered video to measure; it is only read")
        parser.add_argument("--transcript", help="with --video: the text it speaks (adds closure and rounding "
                                                 "metrics)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="language of --text (default en)")
    parser.add_argument("--mode", choices=("visemes", "loudness"), default="visemes",
                        help="mouth shapes from visemes (default) or the loudness-only baseline")
    parser.add_argument("--voice-handle", help="speak --text in your enrolled voice (passphrase from "
                                               "LINLY_PASSPHRASE or a prompt)")
    parser.add_argument("--seed", type=int, default=0, help="seed for blinks and head motion (default 0)")


class _Session:
    """The services one command needs, with per-stage timings and cleanup of its ephemeral files."""

    def __init__(self) -> None:
        self.runtime = build_runtime(start_sweeper=False)
        self.settings = self.runtime.settings
        self.audit = self.runtime.audit
        self.ephemeral = self.runtime.ephemeral
        self.device = torch_device(self.settings.device)
        self.subject = f"cli-{secrets.token_hex(8)}"
        self.timings: dict[str, float] = {}

    def lap(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = now - started
        return now

    def portrait(self, path: str) -> PortraitFeatures:
        started = time.perf_counter()
        data = read_user_file(path, self.settings.max_upload_bytes, "photo")
        features = self.runtime.portraits.process_bytes(data, subject=self.subject)
        self.lap("portrait", started)
        return features

    def speech(self, args: argparse.Namespace, features: PortraitFeatures):
        """(speech, phoneme timing or None) from --audio or --text."""
        started = time.perf_counter()
        if args.voice_handle and not args.text:
            raise InputRejected("--voice-handle needs --text (the enrolled voice speaks typed text).")
        if args.text:
            spoken = self._spoken_text(args, features)
            speech, phonemes = spoken.speech, spoken.phonemes
        else:
            data = read_user_file(args.audio, self.settings.max_audio_bytes, "audio")
            speech = decode_audio(data, self.settings.max_audio_bytes, self.settings.max_audio_seconds)
            phonemes = None
        self.lap("speech", started)
        return speech, phonemes

    def _spoken_text(self, args: argparse.Namespace, features: PortraitFeatures) -> SpokenText:
        tokens, voices = self.runtime.tokens, self.runtime.voices
        if not args.voice_handle:
            return voices.speak(args.text, args.lang)
        token = tokens.issue(features, self.subject)  # the same double verification as the app
        try:
            passphrase = passphrase_from_user()
            return voices.synthesize(token, args.text, args.voice_handle, passphrase, args.lang, self.subject)
        finally:
            tokens.revoke(token)

    def render(self, args: argparse.Namespace) -> tuple[PortraitFeatures, Speech, SynthesizedSpeech | None,
                                                        RenderedVideo]:
        """Portrait, speech, the synthesis (for --text) and the video."""
        features = self.portrait(args.portrait)
        speech, phonemes = self.speech(args, features)
        rendered = render_video(features, speech, self.ephemeral, self.settings.fps, self.settings.video_size,
                                seed=args.seed, device=self.device, phonemes=phonemes, mode=args.mode,
                                identity_check=IdentityCheck(self.runtime.portraits.models, features.embedding),
                                provenance=self.runtime.provenance, subject=self.subject,
                                cluster=self.runtime.cluster)
        for stage in ("driving", "frames", "encode"):
            self.timings[stage] = rendered.timings[stage]
        self.audit.record("render.completed", "ok", subject=self.subject, duration_s=rendered.timings["total"])
        spoken = (SynthesizedSpeech(speech.samples, speech.sample_rate, tuple(phonemes), args.lang)
                  if phonemes is not None else None)
        return features, speech, spoken, rendered

    def timings_ms(self) -> dict[str, float]:
        return {stage: round(seconds * 1000, 1) for stage, seconds in self.timings.items()}


def run_render(args: argparse.Namespace) -> int:
    session = _Session()
    started = time.perf_counter()
    _features, speech, _spoken, rendered = session.render(args)
    try:
        write_user_output(rendered.video.path, args.out)
    finally:
        session.ephemeral.delete(rendered.video.path)
    session.lap("total", started)
    print(json.dumps({
        "frames": rendered.video.n_frames,
        "fps": rendered.video.fps,
        "size": rendered.video.size,
        "video_seconds": round(rendered.video.duration, 3),
        "audio_seconds": round(speech.duration, 3),
        "seed": args.seed,
        "mouth_shapes": rendered.driving.viseme_source,
        "device": session.device.type,
        "timings_ms": session.timings_ms(),
        "real_time_factor": round(session.timings["total"] / max(speech.duration, 1e-6), 3),
    }))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    session = _Session()
    evaluator = VideoEvaluator()
    spoken: SynthesizedSpeech | None = None
    if args.video:
        features = session.portrait(args.portrait)
        video_path, rendered = Path(args.video), None
    else:
        features, _speech, spoken, rendered = session.render(args)
        video_path = rendered.video.path
    try:
        started = time.perf_counter()
        reference = evaluator.reference_descriptor(features.template, features.landmarks68)
        transcript = args.text or getattr(args, "transcript", None)
        photo = decode_image(read_user_file(args.portrait, session.settings.max_upload_bytes, "photo"),
                             session.settings.max_upload_bytes, session.settings.max_image_pixels)
        identity = IdentityCheck(session.runtime.portraits.models, features.embedding)
        report = evaluator.evaluate(video_path, reference, transcript, args.lang, photo=photo, identity=identity,
                                    spoken=spoken)
        session.lap("evaluate", started)
    finally:
        if rendered is not None:
            session.ephemeral.delete(rendered.video.path)
    result = report.as_dict()
    result["timings_ms"] = session.timings_ms()
    print(json.dumps(result))
    return EXIT_BELOW_TARGET if args.strict and not all(report.passes().values()) else 0
