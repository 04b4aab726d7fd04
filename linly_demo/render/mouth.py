"""The open mouth's interior: a shaded cavity, teeth and a hint of tongue, composited between the moved inner lips.

Guarantees: the interior is drawn only between the upper and lower inner-lip contours of each frame, with soft
(anti-aliased, feathered) edges; its colours come from the portrait's own lips and lighting (no flat colours),
darker towards the back. When the photo shows teeth, those teeth are used (upper ones hung from the upper lip,
lower ones from the lower lip); otherwise synthesised upper teeth show only once the opening is large enough;
lower teeth and tongue only for wide openings; synthesised teeth take the photo's own light (its eye whites);
a closed mouth shows only a thin, dark lip line.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from linly_demo.render.driving import CHANNEL_INDEX
from linly_demo.render.lips import LOWER_CONTOUR, UPPER_CONTOUR, lip_colour, smooth_curve
from linly_demo.render.rig import FaceRig

TEETH_FROM_EYE_WHITE = np.array([1.0, 0.97, 0.9])


@dataclass(frozen=True)
class MouthPalette:
    """Colours (RGB floats 0-255) sampled from the portrait."""

    lips: np.ndarray
    light: float  # the face's brightness relative to a mid-grey face, 0.6-1.25
    eye_white: np.ndarray | None = None  # the photo's sclera, where enough of it shows


def mouth_palette(rig: FaceRig) -> MouthPalette:
    marks = rig.vertices[:68]
    cheeks = np.concatenate([_patch(rig.source, marks[[1, 2, 3, 31]]), _patch(rig.source, marks[[15, 14, 13, 35]])])
    luma = float(np.median(cheeks @ np.array([0.299, 0.587, 0.114]))) if len(cheeks) else 150.0
    return MouthPalette(lip_colour(rig.source, marks), float(np.clip(luma / 160.0, 0.6, 1.25)),
                        eye_white(rig.source, marks))


def eye_white(image: np.ndarray, marks: np.ndarray) -> np.ndarray | None:
    """Median RGB of the palest, least saturated quarter of the pixels inside both eye openings (the sclera, in
    this photo's light and white balance), or None when the eyes show too little of it."""
    pixels = np.concatenate([_patch(image, marks[36:42]), _patch(image, marks[42:48])])
    if len(pixels) < 40:
        return None
    saturation = pixels.max(axis=1) - pixels.min(axis=1)
    luma = pixels @ np.array([0.299, 0.587, 0.114])
    pale = (luma >= np.percentile(luma, 75)) & (saturation <= np.percentile(saturation, 50))
    return np.median(pixels[pale], axis=0) if pale.sum() >= 10 else None


def _lower_teeth_band(open_share: np.ndarray, width: float, bottom: np.ndarray, ys: np.ndarray,
                      centred: np.ndarray) -> np.ndarray:
    """Coverage of a band of lower teeth just above the lower lip, shown only for wide openings, fading towards
    the corners."""
    band = np.clip((open_share - 0.28) / 0.12, 0, 1) * np.clip(0.06 * width - (bottom - ys), 0, 1.0)
    return band * np.clip(1.0 - centred ** 2 * 1.4, 0, 1)


def _towards_ellipse(top: np.ndarray, bottom: np.ndarray, xs: np.ndarray, left: np.ndarray, right: np.ndarray,
                     share: float) -> tuple[np.ndarray, np.ndarray]:
    """The opening's edges moved `share` of the way to an ellipse between the corners, reaching as far above and
    below the corner line as the opening does, but never taller than the opening is: puckered lips make an oval,
    where the curves through the landmarks alone meet the corners in points (a diamond), and lips pressed together
    (a rounded "b") stay shut, though a smiling mouth's closed line sags below its corners. The oval hangs from the
    line where the lips meet as far as it is squeezed shut: pressed lips keep their seam where they touch (centred
    on the straight corner line, a rounded "b" drew its seam above the lips' junction)."""
    across = np.clip((xs - left[0]) / max(float(right[0] - left[0]), 1e-6), 0, 1)[None, :]
    corner_line = left[1] + (right[1] - left[1]) * across
    height = np.sqrt(np.clip(1.0 - (across * 2 - 1) ** 2, 0, 1))
    above = max(float(np.nanmax(corner_line - top, initial=0.0)), 0.0)
    below = max(float(np.nanmax(bottom - corner_line, initial=0.0)), 0.0)
    tallest = max(float(np.nanmax(bottom - top, initial=0.0)), 0.0)
    scale = min(1.0, tallest / max(above + below, 1e-6))
    centre = corner_line * scale + (top + bottom) / 2 * (1.0 - scale)
    top_oval, bottom_oval = centre - scale * above * height, centre + scale * below * height
    share = float(np.clip(share, 0, 1))
    return top + (top_oval - top) * share, bottom + (bottom_oval - bottom) * share


def _patch(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(quad).astype(np.int32)], 1)
    return image[mask.astype(bool)].reshape(-1, 3).astype(np.float64)


class MouthPainter:
    """Paints the interior into frames, given each frame's moved landmarks."""

    def __init__(self, rig: FaceRig) -> None:
        self.rig = rig
        self.palette = mouth_palette(rig)
        lips = self.palette.lips
        light = self.palette.light
        # A warm, dark cavity from the lips' own colour; teeth in the photo's light, never pure white.
        self._cavity_edge = np.clip(lips * np.array([0.52, 0.27, 0.26]) * light, 0, 255)
        self._cavity_back = np.clip(lips * np.array([0.13, 0.05, 0.05]) * light + 3, 0, 255)
        # Teeth stay clearly brighter than the lips even on dark or dim photos, as they are in real ones.
        ivory = np.array([236.0, 228.0, 210.0]) * min(1.0, 0.5 * light + 0.45)
        if self.palette.eye_white is not None:  # teeth in this photo's light: a little warmer than its eye whites
            ivory = np.maximum(self.palette.eye_white * TEETH_FROM_EYE_WHITE, 0.6 * ivory)
        self._teeth = np.clip(ivory, 0, 255)
        self._lip_shadow = np.clip(lips * 0.5, 0, 255)
        self._tongue = np.clip(lips * np.array([0.95, 0.55, 0.55]) * 0.62 * light, 0, 255)

    def paint(self, frame: np.ndarray, landmarks: np.ndarray, coefficients: np.ndarray | None = None) -> None:
        """Composite the interior into `frame` (S, S, 3) uint8, in place; `coefficients` is the frame's row of
        driving coefficients (teeth shown through small openings for "s", "t", "f", "ee")."""
        teeth_show = float(coefficients[CHANNEL_INDEX["teeth_show"]]) if coefficients is not None else 0.0
        upper = landmarks[UPPER_CONTOUR]
        lower = landmarks[LOWER_CONTOUR]
        x_left, x_right = float(upper[0, 0]), float(upper[-1, 0])
        width = x_right - x_left
        if width < 4:
            return
        size = frame.shape[0]
        x0 = int(max(0, np.floor(x_left) - 1))
        x1 = int(min(size, np.ceil(x_right) + 2))
        y0 = int(max(0, np.floor(min(upper[:, 1].min(), lower[:, 1].min())) - 2))
        y1 = int(min(size, np.ceil(max(upper[:, 1].max(), lower[:, 1].max())) + 3))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        xs = np.arange(x0, x1, dtype=np.float32)
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        top = smooth_curve(upper, xs)[None, :]
        bottom = smooth_curve(lower, xs)[None, :]
        rounding = float(coefficients[CHANNEL_INDEX["lip_round"]]) if coefficients is not None else 0.0
        if rounding > 0:
            top, bottom = _towards_ellipse(top, bottom, xs, upper[0], upper[-1], rounding)
        bottom = np.maximum(bottom, top)
        gap = bottom - top
        across = np.clip((xs - x_left) / width, 0, 1)[None, :]  # 0 .. 1 corner to corner
        centred = np.abs(across * 2 - 1)  # 0 at the centre, 1 at the corners

        # Coverage: anti-aliased inside test, feathered by a pixel; a closed mouth keeps a faint dark line.
        inside = np.clip(ys - top + 0.5, 0, 1) * np.clip(bottom - ys + 0.5, 0, 1)
        seam = np.clip(1.0 - np.abs(ys - (top + bottom) / 2) / 0.7, 0, 1) * 0.25
        corner_fade = np.clip((1 - centred) * 6, 0, 1)
        alpha = np.maximum(inside, seam) * corner_fade
        alpha = cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), 0.7)
        if float(alpha.max()) <= 0.01:
            return

        depth = np.clip(np.sqrt(((ys - (top + bottom) / 2) / np.maximum(gap / 2, 1.0)) ** 2 + centred ** 2), 0, 1)
        colour = self._cavity_back + (self._cavity_edge - self._cavity_back) * depth[..., None] ** 1.5

        # Nearly closed lips meet in a soft lip shadow rather than the dark back of the mouth.
        closing = np.clip(1.0 - gap / 3.0, 0, 1)[..., None]
        colour = colour * (1 - closing) + self._lip_shadow * closing

        open_share = gap / max(width, 1.0)  # opening relative to mouth width
        if self.rig.teeth is not None:
            colour = self._tongue_over(colour, across, ys, bottom, gap, open_share)
            colour = self._photo_teeth_over(colour, landmarks, xs, ys, top, bottom, centred, closing[..., 0],
                                            open_share, width)
        else:
            colour = self._synthetic_teeth_over(colour, across, centred, ys, top, bottom, gap, open_share, width,
                                                teeth_show)

        region = frame[y0:y1, x0:x1].astype(np.float32)
        blended = region + (colour.astype(np.float32) - region) * alpha[..., None]
        frame[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)

    def _tongue_over(self, colour: np.ndarray, across: np.ndarray, ys: np.ndarray, bottom: np.ndarray,
                     gap: np.ndarray, open_share: np.ndarray, hidden: np.ndarray | float = 0.0) -> np.ndarray:
        """A hint of tongue low in the mouth, for wide openings only."""
        tongue_centre = bottom - 0.12 * gap
        tongue = 1.0 - ((across - 0.5) / 0.32) ** 2 - ((ys - tongue_centre) / np.maximum(0.32 * gap, 1.0)) ** 2
        tongue_alpha = np.clip(tongue * 2.5, 0, 1) * np.clip((open_share - 0.18) / 0.12, 0, 1) * (1 - hidden)
        tongue_shade = 0.8 + 0.2 * np.clip(tongue, 0, 1)
        return colour + (self._tongue * tongue_shade[..., None] - colour) * (0.85 * tongue_alpha)[..., None]

    def _photo_teeth_over(self, colour: np.ndarray, landmarks: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                          top: np.ndarray, bottom: np.ndarray, centred: np.ndarray, closing: np.ndarray,
                          open_share: np.ndarray, width: float) -> np.ndarray:
        """The photo's own teeth: upper ones hung from the upper inner lip, lower ones stood on the lower lip (a
        band in the photo's teeth colour when the photo shows no lower teeth and the mouth opens wide)."""
        teeth = self.rig.teeth
        assert teeth is not None
        centre_x = (landmarks[60, 0] + landmarks[64, 0]) / 2
        columns = np.broadcast_to((xs - centre_x + teeth.centre)[None, :], colour.shape[:2]).astype(np.float32)
        upper_colour, upper_alpha, lower_colour, lower_alpha = teeth.sample(columns, ys - top, bottom - ys)
        # Teeth further round the arch than they were in the photo (a wider mouth) fall into shadow.
        photo_half = max(1.0, float(len(teeth.upper_start)) / 2)
        photo_centred = np.abs(columns - teeth.centre) / photo_half
        shade = (1.0 - 0.35 * np.clip(centred ** 2 - photo_centred ** 2, 0, 1))[..., None]
        visible = 1.0 - closing  # lips about to meet show their shadow, not a fleck of teeth
        has_lower = bool(np.any(teeth.split < teeth.lower_end))
        if not has_lower:
            band = _lower_teeth_band(open_share, width, bottom, ys, centred)
            colour = colour + (teeth.median_colour * 0.75 - colour) * (0.8 * band)[..., None]
        colour = colour + (lower_colour * shade * 0.9 - colour) * (lower_alpha * visible)[..., None]
        return colour + (upper_colour * shade - colour) * (upper_alpha * visible)[..., None]

    def _synthetic_teeth_over(self, colour: np.ndarray, across: np.ndarray, centred: np.ndarray, ys: np.ndarray,
                              top: np.ndarray, bottom: np.ndarray, gap: np.ndarray, open_share: np.ndarray,
                              width: float, teeth_show: float) -> np.ndarray:
        """Teeth for a photo that shows none: a band in the photo's light under the upper lip once the opening is
        large enough (or small, with teeth_show), lower teeth and tongue for wide openings."""
        teeth_height = np.minimum(0.12 * width, 0.45 * gap)  # upper teeth show on most open vowels
        if teeth_show > 0:  # small openings with teeth behind them: the band fills most of the gap
            teeth_height = np.maximum(teeth_height, np.minimum(0.12 * width, 0.8 * gap) * teeth_show)
        visible = np.clip((open_share - 0.08 + 0.07 * teeth_show) / 0.12, 0, 1)
        teeth_alpha = visible * np.clip(teeth_height - (ys - top), 0, 1.5) / 1.5
        teeth_alpha *= np.clip(1.35 - centred ** 2 * 1.9, 0, 1) * (ys >= top - 0.5)
        incisor = 0.93 + 0.07 * np.cos((across - 0.5) * 2 * np.pi / 0.12)
        below_lip = np.clip((ys - top) / np.maximum(teeth_height, 1), 0, 1)
        teeth_shade = (1.0 - 0.4 * centred ** 2) * incisor * (0.8 + 0.2 * np.sqrt(below_lip))
        colour = colour + (self._teeth * teeth_shade[..., None] - colour) * (0.9 * teeth_alpha)[..., None]

        lower_teeth = _lower_teeth_band(open_share, width, bottom, ys, centred)
        colour = colour + (self._teeth * 0.75 - colour) * (0.8 * lower_teeth)[..., None]
        return self._tongue_over(colour, across, ys, bottom, gap, open_share, hidden=lower_teeth)
