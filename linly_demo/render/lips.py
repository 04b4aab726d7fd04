"""The portrait's lips: inner-lip contours as smooth curves, the lips' colour and the photo's visible teeth.

Guarantees: pure functions of the image and its 68 landmarks; nothing is kept or written.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import PchipInterpolator

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
    return PchipInterpolator(px, py, extrapolate=False)(np.clip(xs, px[0], px[-1]))


def lip_colour(image: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Median RGB of the lips (between the outer and inner lip contours)."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(marks[48:60]).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(marks[60:68]).astype(np.int32)], 0)
    lips = image[mask.astype(bool)].reshape(-1, 3).astype(np.float64)
    return np.median(lips, axis=0) if len(lips) >= 10 else np.array([150.0, 80.0, 80.0])


def teeth_mask(image: np.ndarray, marks: np.ndarray, eye_distance: float) -> np.ndarray:
    """(H, W) bool: pale, bright pixels between the outer lip contours, near the opening (the photo's teeth,
    including the ones dlib's inner contour leaves outside)."""
    rim = max(1, int(round(0.02 * eye_distance)))
    interior = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(interior, [np.round(marks[60:68]).astype(np.int32)], 255)
    near = cv2.dilate(interior, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (8 * rim + 1, 8 * rim + 1)))
    outer = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(outer, [np.round(marks[48:60]).astype(np.int32)], 255)
    lips = lip_colour(image, marks)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    lip_hsv = cv2.cvtColor(np.uint8([[np.clip(lips, 0, 255)]]), cv2.COLOR_RGB2HSV)[0, 0].astype(np.float32)
    return (outer > 0) & (near > 0) & (hsv[..., 1] < 0.7 * lip_hsv[1]) & (hsv[..., 2] > lip_hsv[2] + 20)
