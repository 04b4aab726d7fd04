"""The portrait's lips: inner-lip contours as smooth curves, the lips' colour and the photo's visible teeth.

Guarantees: pure functions of the image and its 68 landmarks; nothing is kept or written.
"""

from __future__ import annotations

import cv2
import numpy as np

UPPER_CONTOUR = [60, 61, 62, 63, 64]  # inner lip, upper edge of the opening, corner to corner
LOWER_CONTOUR = [60, 67, 66, 65, 64]  # inner lip, lower edge of the opening


def smooth_curve(points: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """A lip contour through its landmarks, without the corners a polyline would draw (monotone cubic); beyond
    the end points it stays at their height."""
    order = np.argsort(points[:, 0], kind="stable")
    px, py = points[order, 0].astype(np.float64), points[order, 1].astype(np.float64)
    keep = np.concatenate([[True], np.diff(px) > 1e-3])
    px, py = px[keep], py[keep]
    if len(px) < 3:
        return np.interp(xs, px, py)
    return _pchip(px, py, np.clip(np.asarray(xs, np.float64), px[0], px[-1]))


def _pchip(px: np.ndarray, py: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson monotone cubic through (px, py) (px increasing, at least 3 points), evaluated at xs inside
    [px[0], px[-1]]: the same curve as scipy's PchipInterpolator (a test holds them equal), without its per-call
    set-up, which cost more than the rest of a frame's eye and mouth painting (5 points, called 6 times a frame)."""
    h = np.diff(px)
    slope = np.diff(py) / h
    d = np.zeros_like(py)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    flat_or_turning = (np.sign(slope[1:]) != np.sign(slope[:-1])) | (slope[1:] == 0) | (slope[:-1] == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 / slope[:-1] + w2 / slope[1:]) / (w1 + w2)
        d[1:-1] = np.where(flat_or_turning, 0.0, 1.0 / harmonic)
    d[0] = _pchip_end(h[0], h[1], slope[0], slope[1])
    d[-1] = _pchip_end(h[-1], h[-2], slope[-1], slope[-2])
    i = np.clip(np.searchsorted(px, xs, side="right") - 1, 0, len(px) - 2)
    t = (xs - px[i]) / h[i]
    t2, t3 = t * t, t * t * t
    return ((2 * t3 - 3 * t2 + 1) * py[i] + (t3 - 2 * t2 + t) * h[i] * d[i]
            + (-2 * t3 + 3 * t2) * py[i + 1] + (t3 - t2) * h[i] * d[i + 1])


def _pchip_end(h0: float, h1: float, m0: float, m1: float) -> float:
    """The end slope of a monotone cubic (three-point estimate, kept shape-preserving)."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > 3 * abs(m0):
        return 3.0 * m0
    return float(d)


def lip_colour(image: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Median RGB of the lips (between the outer and inner lip contours)."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(marks[48:60]).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(marks[60:68]).astype(np.int32)], 0)
    lips = image[mask.astype(bool)].reshape(-1, 3).astype(np.float64)
    return np.median(lips, axis=0) if len(lips) >= 10 else np.array([150.0, 80.0, 80.0])


def teeth_mask(image: np.ndarray, marks: np.ndarray, eye_distance: float) -> np.ndarray:
    """(H, W) bool: pale, bright pixels between the outer lip contours, near the opening and connected to it (the
    photo's teeth, including the ones dlib's inner contour leaves outside; not a highlight on the lower lip or pale
    skin that a generous outer contour takes in, which lie apart from the opening)."""
    rim = max(1, int(round(0.02 * eye_distance)))
    interior = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(interior, [np.round(marks[60:68]).astype(np.int32)], 255)
    near = cv2.dilate(interior, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (8 * rim + 1, 8 * rim + 1)))
    outer = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(outer, [np.round(marks[48:60]).astype(np.int32)], 255)
    lips = lip_colour(image, marks)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    lip_pixel = np.clip(lips, 0, 255).astype(np.uint8).reshape(1, 1, 3)
    lip_hsv = cv2.cvtColor(lip_pixel, cv2.COLOR_RGB2HSV)[0, 0].astype(np.float32)
    pale = (outer > 0) & (near > 0) & (hsv[..., 1] < 0.7 * lip_hsv[1]) & (hsv[..., 2] > lip_hsv[2] + 20)
    _count, parts = cv2.connectedComponents(pale.astype(np.uint8), connectivity=8)
    in_opening = np.unique(parts[pale & (interior > 0)])
    return np.isin(parts, in_opening[in_opening > 0])


UPPER_LIP = ((61, 50), (62, 51), (63, 52))  # (inner, outer) landmark pairs, one per lip column, left to right
MIN_LIFT = 0.02  # eye distances: smaller mismatches between the upper lip and the teeth are left alone


def upper_lip_off_the_teeth(image: np.ndarray, marks: np.ndarray, eye_distance: float) -> np.ndarray:
    """The 68 landmarks with the upper lip lifted off the teeth: the upper lip is always in front of the upper
    teeth, so its inner edge is never below the highest tooth pixel above it. On a wide, blurred grin dlib may put
    the upper lip on the teeth; the lip then moves up by the largest overlap over its columns (it is one piece:
    where it sits on the teeth in one column it does across, even where they are in shadow), keeping its thickness,
    its ends near the corners half as far. (Not so for the lower lip: upper teeth may rest over it.) Other
    landmarks are kept."""
    mask = teeth_mask(image, marks, eye_distance)
    lifted = marks.astype(np.float64).copy()
    half = max(1, int(round(0.03 * eye_distance)))
    lifts = []
    for inner, _outer in UPPER_LIP:
        x, y = int(round(marks[inner, 0])), marks[inner, 1]
        rows = np.flatnonzero(mask[:, max(0, x - half):x + half + 1].sum(axis=1) >= max(2, half))
        above = rows[rows < y]
        lifts.append(float(y - above.min()) if len(above) else 0.0)
    lift = max(lifts)
    if lift >= MIN_LIFT * eye_distance:
        lifted[[index for pair in UPPER_LIP for index in pair], 1] -= lift
        lifted[[49, 53], 1] -= 0.5 * lift
    return lifted
