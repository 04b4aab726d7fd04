"""Contact sheets of rendered frames, one PNG per portrait: the photo, closed "m", rounded "oo", spread "ee",
open "a", "f", "th", a blink and a turned head.

For looking at the renderer's output before calling a change done (public development photos only: the astronaut
and ../shared/devdata/faces); nothing but the PNGs is written.
Run: `.venv/bin/python -m benchmarks.contact_sheet --out-dir sheets/ [PHOTO ...]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from benchmarks.samples import astronaut_bytes
from linly_demo.config import Settings
from linly_demo.portrait.pipeline import PortraitPipeline
from linly_demo.render.driving import CHANNEL_INDEX, DrivingSignals, viseme_pose
from linly_demo.render.frames import render_frames

SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "devdata" / "faces"
POSES = {  # label: (viseme, extra coefficients)
    "photo": None,
    'closed "m"': ("closed", {}),
    'rounded "oo"': ("rounded", {}),
    'spread "ee"': ("spread", {}),
    'open "a"': ("open", {}),
    '"f"': ("labiodental", {}),
    '"th"': ("dental", {}),
    "blink": ("neutral", {"blink": 1.0, "jaw_open": 0.05}),
    "head": ("open", {"head_yaw": 2.5, "head_roll": 2.0, "head_pitch": 2.0, "brow_raise": 1.0}),
}


def astronaut_png() -> bytes:
    return astronaut_bytes("PNG")


def sheet_row(pipeline: PortraitPipeline, photo: bytes, tile: int) -> np.ndarray:
    features = pipeline.process_bytes(photo)
    rows = []
    for pose in POSES.values():
        if pose is None:
            rows.append(features.template)
            continue
        viseme, extra = pose
        coefficients = viseme_pose(viseme)[None].copy()
        for name, value in extra.items():
            coefficients[0, CHANNEL_INDEX[name]] = value
        rows.append(next(render_frames(features, DrivingSignals(25, coefficients)))[0])
    return np.hstack([cv2.resize(image, (tile, tile), interpolation=cv2.INTER_LANCZOS4) for image in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photos", nargs="*", type=Path, help="default: the astronaut and ../shared/devdata/faces")
    parser.add_argument("--out-dir", type=Path, default=Path("contact-sheets"))
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args()
    photos = args.photos or (sorted(SHARED_FACES.glob("*")) if SHARED_FACES.is_dir() else [])
    inputs = {"astronaut": astronaut_png(), **{p.stem: p.read_bytes() for p in photos}}
    pipeline = PortraitPipeline(Settings.from_env({}))
    header = np.full((28, args.tile * len(POSES), 3), 255, np.uint8)
    for i, name in enumerate(POSES):
        cv2.putText(header, name, (i * args.tile + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, photo in inputs.items():
        out = args.out_dir / f"{name}.png"
        Image.fromarray(np.vstack([header, sheet_row(pipeline, photo, args.tile)])).save(out)
        print(f"wrote {out} ({len(POSES)} poses)")


if __name__ == "__main__":
    main()
