"""`python -m linly_demo verify VIDEO`: which provenance layers a video carries, as one JSON report.

Guarantees: the video is only read (at most MAX_VIDEO_MB); the exit status says which layers were found
(0: all three; otherwise 10 + c2pa 1 + watermark 2 + label 4, so 10 is none); checks use this deployment's
trust anchor and audit log, as the app's "Check a video" box does.
"""

from __future__ import annotations

import argparse
import json

from linly_demo.audit import AuditLog
from linly_demo.cli.files import read_user_file
from linly_demo.config import Settings
from linly_demo.errors import InputRejected
from linly_demo.keys import AUDIT_SUBJECT, ServerSecret
from linly_demo.provenance.identity import load_identity
from linly_demo.provenance.service import Provenance
from linly_demo.provenance.verify import exit_status, verify_video

MAX_VIDEO_MB = 200


def add_commands(commands: argparse._SubParsersAction) -> None:
    verify = commands.add_parser("verify", help="report the provenance layers of a video (C2PA, watermark, label)")
    verify.add_argument("video", help="the video file (MP4); it is only read")
    verify.set_defaults(handler=run_verify)


def deployment_provenance(settings: Settings) -> Provenance:
    """This deployment's provenance (its signing identity and audit log), without loading any model."""
    audit = AuditLog(settings.audit_log, ServerSecret(settings.secret_key).key_for(AUDIT_SUBJECT))
    identity = load_identity(settings.c2pa_cert, settings.c2pa_key, settings.provenance_dir, settings.ephemeral_dir)
    return Provenance(identity, audit, settings.visible_label)


def run_verify(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    limit = MAX_VIDEO_MB * 1024 * 1024
    data = read_user_file(args.video, limit, "video")
    if len(data) > limit:
        raise InputRejected(f"The video is larger than {MAX_VIDEO_MB} MB.")
    report = verify_video(data, deployment_provenance(settings))
    print(json.dumps(report))
    return exit_status(report)
