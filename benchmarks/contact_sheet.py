"""Contact sheet of rendered frames per portrait: rest, half open, wide open, rounded, spread, blink, head turned.

For looking at the renderer's output before calling a change done. Writes one PNG per run (public development
photos only: the astronaut and ../shared/devdata/faces); nothing else is written.
Run: `.venv/bin/python benchmarks/contact_sheet.py --out contact-sheet.png [PHOTO ...]`.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from linly_demo.config import Settings  # noqa: E402
from linly_demo.portrait.pipeline import PortraitPipeline  # noqa: E402
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS, DrivingSignals  # noqa: E402
from linly_demo.render.frames import render_frames  # noqa: E402

SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "devdata" / "faces"
POSES = {
    "photo": None,
    "closed": {},
    "half open": {"jaw_open": 0.45},
    "wide open": {"jaw_open": 1.0},
    "rounded": {"jaw_open": 0.35, "lip_round": 1.0},
    "spread": {"jaw_open": 0.3, "lip_spread": 1.0, "upper_lip_raise": 0.5},
    "blink": {"blink": 1.0, "jaw_open": 0.1},
    "head": {"jaw_open": 0.5, "head_yaw": 2.5, "head_roll": 2.0, "head_pitch": 2.0, "brow_raise": 1.0},
}


def astronaut_png() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "PNG")
    return buffer.getvalue()


def sheet_row(pipeline: PortraitPipeline, photo: bytes, tile: int) -> np.ndarray:
    features = pipeline.process_bytes(photo)
    rows = []
    for pose in POSES.values():
        if pose is None:
            rows.append(features.template)
            continue
        coefficients = np.zeros((1, len(CHANNELS)), np.float32)
        for name, value in pose.items():
            coefficients[0, CHANNEL_INDEX[name]] = value
        rows.append(next(render_frames(features, DrivingSignals(25, coefficients)))[0])
    return np.hstack([cv2.resize(image, (tile, tile), interpolation=cv2.INTER_LANCZOS4) for image in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photos", nargs="*", type=Path, help="default: the astronaut and ../shared/devdata/faces")
    parser.add_argument("--out", type=Path, default=Path("contact-sheet.png"))
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args()
    photos = args.photos or sorted(SHARED_FACES.glob("*")) if SHARED_FACES.is_dir() else args.photos
    inputs = [astronaut_png()] + [p.read_bytes() for p in photos]
    pipeline = PortraitPipeline(Settings.from_env({}))
    header = np.full((28, args.tile * len(POSES), 3), 255, np.uint8)
    for i, name in enumerate(POSES):
        cv2.putText(header, name, (i * args.tile + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    sheet = np.vstack([header] + [sheet_row(pipeline, photo, args.tile) for photo in inputs])
    Image.fromarray(sheet).save(args.out)
    print(f"wrote {args.out} ({len(inputs)} portraits x {len(POSES)} poses)")


if __name__ == "__main__":
    main()
