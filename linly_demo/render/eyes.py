"""The eyes: an eyeball that keeps its shape behind moving lids and looks around.

Guarantees: built once per rig from the portrait's own eye pixels (kept in memory only, never written); in every
frame each eyeball (iris, sclera, catch-lights) is drawn only inside the moved lids' opening, carried with the head
(the similarity that moves the eye's corners) and shifted by the gaze coefficients, never squashed: a blink is the
upper lid closing over the eye, and where the lids meet nothing of the eyeball shows; the opening's edge is
anti-aliased; at rest (no gaze, lids open) the eye is the photo's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from linly_demo.render.driving import CHANNEL_INDEX
from linly_demo.render.lips import smooth_curve
from linly_demo.render.rig import FaceRig

# Per eye: corner, upper lid, upper lid, corner, lower lid, lower lid (dlib's order), image left to right.
EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))
GAZE_REACH = (0.13, 0.06)  # iris travel per unit of gaze_x / gaze_y, as a share of the eye's width
MARGIN = 0.3  # the eyeball texture reaches this share of the eye's width beyond its corners and lids
LID_INSET = 1.0  # pixels: the photo's lid margin (lashes) is not part of the eyeball


@dataclass(frozen=True)
class Eyeball:
    """One eye's box of the source with the sclera continued under the lids (so it can move behind them)."""

    colour: np.ndarray  # (h, w, 3) float32 RGB
    origin: np.ndarray  # (2,) source position (x, y) of the box's top-left pixel
    corners: tuple[int, int]  # landmark indices of the eye's two corners
    upper: tuple[int, ...]  # corner, upper lid, upper lid, corner
    lower: tuple[int, ...]  # corner, lower lid, lower lid, corner


def eyeball(source: np.ndarray, marks: np.ndarray, eye: tuple[int, ...]) -> Eyeball:
    """The eyeball of `eye` (indices as in EYES): the photo's pixels inside the lids, continued outward by
    inpainting."""
    outline = marks[list(eye)]
    width = float(outline[3, 0] - outline[0, 0])
    x0, y0 = np.floor(outline.min(axis=0) - MARGIN * width).astype(int)
    x1, y1 = np.ceil(outline.max(axis=0) + MARGIN * width).astype(int) + 1
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(source.shape[1], int(x1)), min(source.shape[0], int(y1))
    box = np.ascontiguousarray(source[y0:y1, x0:x1])
    opening = _opening(outline[[0, 1, 2, 3]] - [x0, y0], outline[[0, 5, 4, 3]] - [x0, y0], box.shape[:2], LID_INSET)
    hidden = (opening < 0.99).astype(np.uint8)
    filled = cv2.inpaint(box, hidden, 3, cv2.INPAINT_TELEA) if hidden.any() and hidden.min() == 0 else box
    return Eyeball(filled.astype(np.float32), np.array([x0, y0], np.float64), (eye[0], eye[3]),
                   tuple(eye[i] for i in (0, 1, 2, 3)), tuple(eye[i] for i in (0, 5, 4, 3)))


def _opening(upper: np.ndarray, lower: np.ndarray, shape: tuple[int, int], inset: float = 0.0,
             offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(h, w) float32 coverage of the opening between the lid curves (points in the box's pixels), anti-aliased,
    `inset` pixels inside the lids."""
    height, width = shape
    xs = np.arange(width, dtype=np.float32) + offset[0]
    ys = np.arange(height, dtype=np.float32)[:, None] + offset[1]
    top = smooth_curve(upper, xs)[None, :] + inset
    bottom = smooth_curve(lower, xs)[None, :] - inset
    left, right = float(min(upper[0, 0], lower[0, 0])), float(max(upper[-1, 0], lower[-1, 0]))
    # Each pixel covers [y - 0.5, y + 0.5]: its coverage is the length of that span inside the opening (zero
    # where the lids meet).
    inside_x = np.clip(np.minimum(right - inset, xs + 0.5) - np.maximum(left + inset, xs - 0.5), 0, 1)
    inside_y = np.clip(np.minimum(bottom, ys + 0.5) - np.maximum(top, ys - 0.5), 0, 1)
    coverage = inside_y * inside_x[None, :]
    return np.nan_to_num(coverage).astype(np.float32)


class EyePainter:
    """Paints both eyeballs into frames, given each frame's moved landmarks and coefficients."""

    def __init__(self, rig: FaceRig) -> None:
        self.rig = rig
        marks = rig.vertices[:68].astype(np.float64)
        self.eyes = [eyeball(rig.source, marks, eye) for eye in EYES]

    def paint(self, frame: np.ndarray, landmarks: np.ndarray, coefficients: np.ndarray) -> None:
        """Composite the eyeballs into `frame` (S, S, 3) uint8, in place."""
        gaze = np.array([coefficients[CHANNEL_INDEX["gaze_x"]], coefficients[CHANNEL_INDEX["gaze_y"]]], np.float64)
        marks = landmarks.astype(np.float64)
        for eye in self.eyes:
            self._paint_eye(frame, marks, eye, gaze)

    def _paint_eye(self, frame: np.ndarray, landmarks: np.ndarray, eye: Eyeball, gaze: np.ndarray) -> None:
        upper, lower = landmarks[list(eye.upper)], landmarks[list(eye.lower)]
        size = frame.shape[0]
        points = np.vstack([upper, lower])
        x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int) - 1, 0, size)
        x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int) + 2, 0, size)
        if x1 - x0 < 3 or y1 - y0 < 2:
            return
        # The lids' smooth curves pass through points at slightly different x, so they never quite coincide:
        # when the lids meet (the gap between the lid points under 1 px) the opening fades out entirely.
        lid_gap = float(np.mean(lower[1:3, 1] - upper[1:3, 1]))
        alpha = _opening(upper, lower, (int(y1 - y0), int(x1 - x0)), offset=(int(x0), int(y0)))
        alpha *= float(np.clip(lid_gap, 0.0, 1.0))
        if float(alpha.max()) <= 0.01:
            return  # the lids are closed
        # Source -> frame: the similarity that carries the eye's corners, then the gaze shift.
        source_corners = self.rig.vertices[list(eye.corners)].astype(np.float64)
        target_corners = landmarks[list(eye.corners)]
        matrix = _similarity(source_corners, target_corners)
        width = float(np.linalg.norm(target_corners[1] - target_corners[0]))
        matrix[:, 2] += gaze * np.array(GAZE_REACH) * width
        # Texture pixel (u, v) sits at source (u, v) + origin; the frame box starts at (x0, y0).
        matrix[:, 2] += matrix[:, :2] @ eye.origin - [x0, y0]
        drawn = cv2.warpAffine(eye.colour, matrix, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
        region = frame[y0:y1, x0:x1].astype(np.float32)
        blended = region + (drawn - region) * alpha[..., None]
        frame[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 rotation, uniform scale and shift taking two source points onto two target points."""
    a, b = source[1] - source[0], target[1] - target[0]
    scale = np.linalg.norm(b) / max(float(np.linalg.norm(a)), 1e-9)
    angle = np.arctan2(b[1], b[0]) - np.arctan2(a[1], a[0])
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]])
    return np.hstack([linear, (target[0] - linear @ source[0])[:, None]])
