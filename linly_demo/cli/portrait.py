"""`python -m linly_demo portrait FACE [--embedding]`: face features of a photo as one JSON line."""

from __future__ import annotations

import argparse
import json
import secrets

from linly_demo.cli.files import read_user_file
from linly_demo.portrait.pipeline import STAGES
from linly_demo.runtime import build_runtime


def add_commands(commands: argparse._SubParsersAction) -> None:
    portrait = commands.add_parser("portrait", help="extract face features from a photo and print them as JSON")
    portrait.add_argument("face", help="the photo (JPEG, PNG or WebP); it is only read")
    portrait.add_argument("--embedding", action="store_true", help="include the face embedding in the output")
    portrait.set_defaults(handler=run_portrait)


def run_portrait(args: argparse.Namespace) -> int:
    runtime = build_runtime(start_sweeper=False, renders=False)
    data = read_user_file(args.face, runtime.settings.max_upload_bytes, "photo")
    features = runtime.portraits.process_bytes(data, subject=f"cli-{secrets.token_hex(8)}")
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
