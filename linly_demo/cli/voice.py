"""`voice enroll|erase`: consent-gated voice enrollment and erasure from the command line.

Guarantees: without `--consent` the samples are not even read and nothing is stored; the passphrase comes from
LINLY_PASSPHRASE or a prompt that does not echo, never from a flag (it would land in shell history).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys

from linly_demo.cli.files import read_user_file
from linly_demo.errors import VoiceInputRejected
from linly_demo.runtime import build_runtime


def add_commands(commands: argparse._SubParsersAction) -> None:
    voice = commands.add_parser("voice", help="enroll or erase a cloned voice (encrypted, consent required)")
    actions = voice.add_subparsers(dest="action", required=True)
    enroll = actions.add_parser("enroll", help="enroll your voice from speech samples (at least 5 s of speech)")
    enroll.add_argument("--handle", required=True, help="a name you choose for your voice")
    enroll.add_argument("--samples", required=True, nargs="+", help="speech recordings of you; only read")
    enroll.add_argument("--consent", action="store_true",
                        help="I consent to a voiceprint of my voice being stored, encrypted with my passphrase")
    enroll.set_defaults(handler=run_enroll)
    erase = actions.add_parser("erase", help="erase an enrolled voice (also withdraws consent)")
    erase.add_argument("--handle", required=True)
    erase.set_defaults(handler=run_erase)


def passphrase_from_user(confirm: bool = False) -> str:
    """LINLY_PASSPHRASE, else a no-echo prompt on the terminal."""
    value = os.environ.get("LINLY_PASSPHRASE")
    if value:
        return value
    if not sys.stdin.isatty():
        raise VoiceInputRejected("Set LINLY_PASSPHRASE or run in a terminal to be asked for the passphrase.")
    value = getpass.getpass("Voice passphrase (at least 10 characters): ")
    if confirm and getpass.getpass("Repeat the passphrase: ") != value:
        raise VoiceInputRejected("The two passphrases differ.")
    return value


def run_enroll(args: argparse.Namespace) -> int:
    runtime = build_runtime(start_sweeper=False, renders=False)
    settings, service = runtime.settings, runtime.voices
    subject = f"cli-{secrets.token_hex(8)}"
    if not args.consent:
        service.enroll(False, args.handle, "", [], subject)  # refused and audited; nothing read or stored
    passphrase = passphrase_from_user(confirm=True)
    samples = [read_user_file(path, settings.max_audio_bytes, "voice sample") for path in args.samples]
    result = service.enroll(True, args.handle, passphrase, samples, subject)
    print(json.dumps({
        "enrolled": True,
        "speech_seconds": round(result.speech_seconds, 1),
        "similarity_plain_tts": round(result.similarity_plain, 3),
        "similarity_enrolled_voice": round(result.similarity_converted, 3),
    }))
    return 0


def run_erase(args: argparse.Namespace) -> int:
    service = build_runtime(start_sweeper=False, renders=False).voices
    service.erase(args.handle, passphrase_from_user(), f"cli-{secrets.token_hex(8)}")
    print(json.dumps({"erased": True}))
    return 0
