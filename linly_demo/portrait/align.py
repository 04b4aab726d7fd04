"""Alignment: a similarity transform from MTCNN's five landmarks to a canonical frontal template.

Guarantees: the template is `size` x `size` RGB with the eyes level at fixed positions, leaving room for hair,
chin and neck so the renderer has a whole head to animate; large downscales are anti-aliased; where the template
reaches past the photo's edge it continues the photo out of focus (never smeared rows); lighting is normalised
gently (contrast-limited equalisation of lightness only, so skin tones keep their colour).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Eyes, nose tip, mouth corners (image left first), as fractions of the template side.
CANONICAL_LANDMARKS5 = np.array(
    [[0.385, 0.420], [0.615, 0.420], [0.500, 0.535], [0.405, 0.640], [0.595, 0.640]], dtype=np.float32
)
# Bilinear warping aliases below this scale; the source is pre-shrunk with area averaging first.
_MIN_DIRECT_SCALE = 0.6
MIN_TEMPLATE_SIZE = 256
TEMPLATE_STEP = 64
UPSCALE_ALLOWANCE = 1.1  # a template up to 10% finer than the photo's face counts as native
BEYOND_BLUR = 1 / 30  # blur of the fill beyond the photo's edge, as a share of the template side
BEYOND_FEATHER_PX = 2.0


@dataclass(frozen=True)
class AlignedFace:
    """The aligned template and the five landmarks in its coordinates."""

    template: np.ndarray
    landmarks5: np.ndarray


def alignment_matrix(landmarks5: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 least-squares similarity transform taking image landmarks to the canonical template."""
    target = CANONICAL_LANDMARKS5 * size
    matrix, _ = cv2.estimateAffinePartial2D(
        landmarks5.astype(np.float32), target, method=cv2.RANSAC, ransacReprojThreshold=float(size)
    )
    if matrix is None:
        raise ValueError("degenerate landmarks")
    return matrix


def native_template_size(landmarks5: np.ndarray, largest: int) -> int:
    """The template side at which the photo's face keeps its own detail: as large as `largest` when the face has
    that many pixels, else the largest multiple of TEMPLATE_STEP (at least MIN_TEMPLATE_SIZE) that does not
    upscale the face by more than UPSCALE_ALLOWANCE (a small face is rendered at its own size and the frames
    upscaled once, at encoding)."""
    eye_distance = float(np.linalg.norm(landmarks5[1] - landmarks5[0]))
    canonical = float(CANONICAL_LANDMARKS5[1, 0] - CANONICAL_LANDMARKS5[0, 0])
    native = eye_distance / canonical * UPSCALE_ALLOWANCE
    stepped = int(native // TEMPLATE_STEP) * TEMPLATE_STEP
    return int(min(largest, max(min(MIN_TEMPLATE_SIZE, largest), stepped)))


def align_face(rgb: np.ndarray, landmarks5: np.ndarray, size: int) -> AlignedFace:
    """Warp the face into the canonical template and normalise its lighting."""
    to_template = alignment_matrix(landmarks5, size)
    scale = float(np.sqrt(abs(np.linalg.det(to_template[:, :2]))))
    source, matrix = rgb, to_template
    if scale < _MIN_DIRECT_SCALE:
        source, matrix = _crop_and_shrink(rgb, matrix, size, scale)
    template = cv2.warpAffine(
        source, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    coverage = cv2.warpAffine(np.ones(source.shape[:2], np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    if coverage.min() < 1.0 - 1e-3:
        template = _fill_beyond_photo(template, source, matrix, coverage)
    points = cv2.transform(landmarks5.reshape(-1, 1, 2).astype(np.float32), to_template)
    return AlignedFace(normalise_lighting(template), points.reshape(-1, 2))


def _fill_beyond_photo(template: np.ndarray, source: np.ndarray, matrix: np.ndarray,
                       coverage: np.ndarray) -> np.ndarray:
    """Where the template reaches past the photo's edge, an out-of-focus continuation of the photo (its edge
    mirrored outward, then blurred) instead of the edge row smeared into streaks; inside the photo nothing changes
    but a feathered seam of a few pixels."""
    size = template.shape[0]
    mirrored = cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    soft = cv2.GaussianBlur(mirrored.astype(np.float32), (0, 0), size * BEYOND_BLUR)
    outside = np.maximum(1.0 - coverage, cv2.GaussianBlur(1.0 - coverage, (0, 0), BEYOND_FEATHER_PX))[..., None]
    blended = template.astype(np.float32) * (1.0 - outside) + soft * outside
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _crop_and_shrink(rgb: np.ndarray, matrix: np.ndarray, size: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Crop the region the template covers and area-shrink it, returning the matching transform."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float32).reshape(-1, 1, 2)
    mapped = cv2.transform(corners, inverse).reshape(-1, 2)
    height, width = rgb.shape[:2]
    x0, y0 = np.clip(np.floor(mapped.min(axis=0)) - 2, 0, [width - 1, height - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(mapped.max(axis=0)) + 2, [x0 + 1, y0 + 1], [width, height]).astype(int)
    crop = rgb[y0:y1, x0:x1]
    shrink = min(1.0, scale / _MIN_DIRECT_SCALE)
    new_size = (max(1, round(crop.shape[1] * shrink)), max(1, round(crop.shape[0] * shrink)))
    small = cv2.resize(crop, new_size, interpolation=cv2.INTER_AREA)
    sx, sy = crop.shape[1] / new_size[0], crop.shape[0] / new_size[1]
    # template <- image: M @ [x0 + sx * u, y0 + sy * v, 1]
    adjusted = np.array(matrix, dtype=np.float64)
    adjusted[:, 2] += adjusted[:, 0] * x0 + adjusted[:, 1] * y0
    adjusted[:, 0] *= sx
    adjusted[:, 1] *= sy
    return small, adjusted


def normalise_lighting(rgb: np.ndarray) -> np.ndarray:
    """Contrast-limited histogram equalisation of the L channel in Lab space."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=1.5, tileGridSize=(4, 4))
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
