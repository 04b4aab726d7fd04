"""The visible "AI-generated" mark: drawn on every frame, and found again in a video.

Guarantees: the mark's geometry depends only on the frame size (bottom-right corner, its height
LABEL_HEIGHT_SHARE of the frame's, never under MIN_TEXT_PX of text), so it scales with the video and reads at
256 px; drawing is a fixed alpha blend (a semi-transparent dark plate, near-white anti-aliased text), the same
on every frame; frames are changed in place only inside the plate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from linly_demo.provenance.watermark import luma

TEXT = "AI-generated"
LABEL_HEIGHT_SHARE = 0.065  # plate height / frame height
MIN_TEXT_PX = 9
MARGIN_SHARE = 0.02
PLATE_ALPHA, TEXT_ALPHA = 0.55, 0.92
PLATE_RGB, TEXT_RGB = (16, 16, 16), (245, 245, 245)
FOUND_CORRELATION = 0.5  # median over sampled frames of the text mask's correlation with the frame's luma


@dataclass(frozen=True)
class LabelStamp:
    """The mark for one frame size: where it goes and how it blends (alpha and colour per pixel)."""

    top: int
    left: int
    alpha: np.ndarray  # (h, w, 1) float32
    colour: np.ndarray  # (h, w, 3) float32
    text_mask: np.ndarray  # (h, w) bool: the glyphs' pixels

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """Blend the mark into uint8 RGB frames (B, H, W, 3) in place; returns them."""
        height, width = self.alpha.shape[:2]
        region = frames[:, self.top:self.top + height, self.left:self.left + width].astype(np.float32)
        blended = region * (1.0 - self.alpha) + self.colour * self.alpha
        frames[:, self.top:self.top + height, self.left:self.left + width] = np.clip(blended + 0.5, 0, 255)
        return frames


CANONICAL_HEIGHT = 1024  # the mark is drawn once at this frame height and resized for every other size


@functools.lru_cache(maxsize=1)
def _canonical() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Alpha, colour and glyph coverage of the mark for a CANONICAL_HEIGHT frame, and its margin in pixels."""
    plate_height = int(round(CANONICAL_HEIGHT * LABEL_HEIGHT_SHARE))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (_unit_width, unit_height), _ = cv2.getTextSize(TEXT, font, 1.0, 1)
    scale = plate_height * 0.6 / unit_height
    thickness = max(1, int(round(scale * 1.6)))
    (text_width, drawn_height), _baseline = cv2.getTextSize(TEXT, font, scale, thickness)
    pad = (plate_height - drawn_height) // 2
    plate_width = text_width + 2 * pad
    text = np.zeros((plate_height, plate_width), np.uint8)
    cv2.putText(text, TEXT, (pad, (plate_height + drawn_height) // 2), font, scale, 255, thickness, cv2.LINE_AA)
    coverage = text.astype(np.float32) / 255.0
    plate = np.zeros((plate_height, plate_width), np.uint8)  # a rounded rectangle
    radius = plate_height // 4
    cv2.rectangle(plate, (radius, 0), (plate_width - 1 - radius, plate_height - 1), 255, -1)
    cv2.rectangle(plate, (0, radius), (plate_width - 1, plate_height - 1 - radius), 255, -1)
    for x in (radius, plate_width - 1 - radius):
        for y in (radius, plate_height - 1 - radius):
            cv2.circle(plate, (x, y), radius, 255, -1, cv2.LINE_AA)
    shape = plate.astype(np.float32) / 255.0
    alpha = shape * PLATE_ALPHA * (1.0 - coverage) + coverage * TEXT_ALPHA
    weighted = (np.asarray(PLATE_RGB, np.float32) * (shape * PLATE_ALPHA * (1.0 - coverage))[..., None]
                + np.asarray(TEXT_RGB, np.float32) * (coverage * TEXT_ALPHA)[..., None])
    colour = weighted / np.maximum(alpha, 1e-6)[..., None]
    return alpha, colour, coverage, int(round(CANONICAL_HEIGHT * MARGIN_SHARE))


@functools.lru_cache(maxsize=8)
def stamp_for(frame_height: int, frame_width: int) -> LabelStamp:
    """The mark for a frame size: the canonical mark scaled by the frame's height (so a small frame upscaled
    carries the same mark as a large one), kept at least MIN_TEXT_PX tall in text."""
    alpha, colour, coverage, margin = _canonical()
    factor = max(frame_height / CANONICAL_HEIGHT, (MIN_TEXT_PX / 0.6) / alpha.shape[0])
    height, width = max(1, int(round(alpha.shape[0] * factor))), max(1, int(round(alpha.shape[1] * factor)))
    width = min(width, frame_width - 2)
    area = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    small_alpha = cv2.resize(alpha, (width, height), interpolation=area)
    small_colour = cv2.resize(colour * alpha[..., None], (width, height), interpolation=area)
    small_colour = small_colour / np.maximum(small_alpha, 1e-6)[..., None]
    mask = cv2.resize(coverage, (width, height), interpolation=area) > 0.5
    gap = max(2, int(round(margin * factor)))
    return LabelStamp(frame_height - height - gap, frame_width - width - gap,
                      small_alpha[..., None].astype(np.float32), small_colour.astype(np.float32), mask)


def label_frames(frames: np.ndarray) -> np.ndarray:
    """Frames (B, H, W, 3) uint8 with the mark, in place."""
    return stamp_for(frames.shape[1], frames.shape[2]).apply(frames)


def label_score(frame: np.ndarray) -> float:
    """Correlation between the mark's glyph mask and one RGB frame's luma where the mark belongs (about 1 for
    a labelled frame, even after lossy encoding; near 0 for other content)."""
    stamp = stamp_for(frame.shape[0], frame.shape[1])
    height, width = stamp.text_mask.shape
    patch = frame[stamp.top:stamp.top + height, stamp.left:stamp.left + width].astype(np.float32)
    patch_luma = luma(patch)
    mask = stamp.text_mask.astype(np.float32)
    if patch_luma.std() < 1e-3:
        return 0.0
    return float(np.corrcoef(patch_luma.ravel(), mask.ravel())[0, 1])


def label_found(frames: list[np.ndarray]) -> tuple[bool, float]:
    """Whether sampled RGB frames carry the mark, and the median score."""
    if not frames:
        return False, 0.0
    score = float(np.median([label_score(frame) for frame in frames]))
    return score >= FOUND_CORRELATION, score
