"""The command line over the same core as the app: `python -m linly_demo portrait FACE [--embedding]`.

Guarantees: a photo the user names is only read (never modified, moved or copied); output is one JSON line on
stdout; a rejected input exits non-zero with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Sequence

from linly_demo.errors import InputRejected, LinlyError

EXIT_REJECTED = 2
EXIT_FAILED = 1


def _portrait(args: argparse.Namespace) -> int:
    from linly_demo.audit import AuditLog
    from linly_demo.config import Settings
    from linly_demo.device import torch_device
    from linly_demo.keys import ServerSecret
    from linly_demo.portrait.pipeline import STAGES, PortraitPipeline

    settings = Settings.from_env()
    try:
        with open(args.face, "rb") as handle:
            data = handle.read(settings.max_upload_bytes + 1)
    except OSError as exc:
        raise InputRejected(f"Cannot read the photo: {exc.strerror or 'unreadable file'}.") from None
    secret = ServerSecret(settings.secret_key)
    audit = AuditLog(settings.audit_log, secret.key_for("audit-subject"))
    pipeline = PortraitPipeline(settings, audit, device=torch_device(settings.device))
    features = pipeline.process_bytes(data, subject=f"cli-{secrets.token_hex(8)}")
    result: dict[str, object] = {
        "faces_found": features.faces_found,
        "face_used": features.face_box.as_dict(),
        "embedding_backend": features.embedding_backend,
        "embedding_dim": features.embedding_dim,
        "template_size": features.template_size,
        "timings_ms": {stage: round(features.timings[stage] * 1000, 1) for stage in STAGES},
    }
    if args.embedding:
        result["embedding"] = [round(float(v), 7) for v in features.embedding]
    print(json.dumps(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m linly_demo", description="linly-demo command line")
    commands = parser.add_subparsers(dest="command", required=True)
    portrait = commands.add_parser("portrait", help="extract face features from a photo and print them as JSON")
    portrait.add_argument("face", help="the photo (JPEG, PNG or WebP); it is only read")
    portrait.add_argument("--embedding", action="store_true", help="include the face embedding in the output")
    portrait.set_defaults(handler=_portrait)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except InputRejected as exc:
        print(f"linly-demo: rejected: {exc.user_message}", file=sys.stderr)
        return EXIT_REJECTED
    except LinlyError as exc:
        print(f"linly-demo: error: {exc.user_message}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
