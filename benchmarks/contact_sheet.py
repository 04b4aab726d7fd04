"""Contact sheets of rendered frames, one PNG per portrait: the photo, closed "m", rounded "oo", spread "ee",
open "a", "f", "th", a blink and a turned head; and two close-up strips per portrait: the mouth over 20
consecutive frames of "Maybe Bob put the blue boat by the pier" (NAME-mouth.png), and the eyes over the 20 frames
around the first blink of a clip (NAME-eyes.png).

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

from benchmarks.samples import astronaut_bytes, has_astronaut
from linly_demo.audio import Speech, speech_with_rest
from linly_demo.config import Settings
from linly_demo.portrait.pipeline import PortraitPipeline
from linly_demo.render.driving import CHANNEL_INDEX, DrivingSignals, driving_from_speech, viseme_pose
from linly_demo.render.frames import render_frames
from linly_demo.voice.tts import Speaker

SENTENCE = "Maybe Bob put the blue boat by the pier."

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


def close_up_strip(frames: np.ndarray, points: np.ndarray, tile: int, per_row: int = 10) -> np.ndarray:
    """The same box around `points` (template pixels) cut from every frame, enlarged to `tile` wide, in rows."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    pad_x, pad_y = 0.35 * (x1 - x0), 0.6 * (y1 - y0)
    box = np.round([x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y]).astype(int)
    box = np.clip(box, 0, frames.shape[1])
    height = int(round(tile * (box[3] - box[1]) / (box[2] - box[0])))
    tiles = []
    for index, frame in enumerate(frames):
        crop = cv2.resize(frame[box[1]:box[3], box[0]:box[2]], (tile, height), interpolation=cv2.INTER_CUBIC)
        cv2.putText(crop, str(index), (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
        tiles.append(crop)
    while len(tiles) % per_row:
        tiles.append(np.zeros_like(tiles[0]))
    return np.vstack([np.hstack(tiles[i:i + per_row]) for i in range(0, len(tiles), per_row)])


def strips(pipeline: PortraitPipeline, photo: bytes, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """(mouth strip over the first 20 frames of the sentence, eye strip over the 20 frames around a blink)."""
    features = pipeline.process_bytes(photo)
    spoken = Speaker().speak(SENTENCE)
    speech = speech_with_rest(spoken.samples, spoken.sample_rate)
    driving = driving_from_speech(speech, 25, 0, spoken.phonemes)
    frames = np.concatenate(list(render_frames(features, driving)))
    marks = features.landmarks68
    mouth = close_up_strip(frames[:20], marks[48:68], tile)
    long_clip = driving_from_speech(Speech(np.tile(speech.samples, 4)), 25, 0)
    blink = int(np.argmax(long_clip.track("blink") > 0.5))
    start = max(0, blink - 8)
    window = DrivingSignals(25, long_clip.coefficients[start:start + 20])
    eyes = close_up_strip(np.concatenate(list(render_frames(features, window))), marks[36:48], tile)
    return mouth, eyes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("photos", nargs="*", type=Path, help="default: the astronaut and ../shared/devdata/faces")
    parser.add_argument("--out-dir", type=Path, default=Path("contact-sheets"))
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args()
    photos = args.photos or (sorted(SHARED_FACES.glob("*")) if SHARED_FACES.is_dir() else [])
    # In the runtime-only environment (no scikit-image) the sheets are of the given or shared photos alone.
    inputs = {**({"astronaut": astronaut_png()} if has_astronaut() or not photos else {}),
              **{p.stem: p.read_bytes() for p in photos}}
    pipeline = PortraitPipeline(Settings.from_env({}))
    header = np.full((28, args.tile * len(POSES), 3), 255, np.uint8)
    for i, name in enumerate(POSES):
        cv2.putText(header, name, (i * args.tile + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, photo in inputs.items():
        out = args.out_dir / f"{name}.png"
        Image.fromarray(np.vstack([header, sheet_row(pipeline, photo, args.tile)])).save(out)
        mouth, eyes = strips(pipeline, photo, args.tile)
        Image.fromarray(mouth).save(args.out_dir / f"{name}-mouth.png")
        Image.fromarray(eyes).save(args.out_dir / f"{name}-eyes.png")
        print(f"wrote {out} ({len(POSES)} poses), {name}-mouth.png and {name}-eyes.png")


if __name__ == "__main__":
    main()
