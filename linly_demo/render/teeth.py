"""The photo's own teeth as a texture that hangs from the moving lips.

Guarantees: cut from the portrait in memory when the rig is built and kept only inside it (never written);
present only when the photo visibly shows teeth; upper teeth are addressed from the upper inner lip and lower
teeth from the lower inner lip, so the upper ones move with the upper lip and the lower ones with the jaw; the
teeth keep the photo's size and lighting (a narrower mouth shows fewer teeth, it never squeezes them).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from linly_demo.render.lips import LOWER_CONTOUR, UPPER_CONTOUR, smooth_curve

# Both cut-offs sit far from every photo measured, so CPU-dependent rounding in the landmarks cannot flip them:
# visible teeth area over the squared eye distance is 0.0015-0.011 on photos without teeth, 0.07-0.10 with them;
# the teeth top's 75th-percentile distance from a smooth arc, over the eye distance, is 0.013-0.018 for rows of
# teeth and 0.033 for a blurred grin.
MIN_TEETH_AREA = 0.03  # below this the photo "shows no teeth"
MAX_EDGE_RESIDUAL = 0.025  # above this the mask is not a row of teeth under a lip
LOWER_TEETH_DIP = 0.82  # a row this much darker than the teeth around it separates upper from lower teeth


@dataclass(frozen=True)
class TeethTexture:
    """A strip of the photo around its mouth opening: columns are source pixels from the mouth's left end,
    rows source pixels from the strip's top; per column, where the teeth start and end and where the upper
    teeth give way to the lower ones."""

    colour: np.ndarray  # (H, W, 3) float32 RGB
    alpha: np.ndarray  # (H, W) float32, 0..1: 1 between the teeth's smoothed top and bottom edges
    centre: float  # the column under the mouth's centre
    upper_start: np.ndarray  # (W,) float32 first upper-tooth row (just under the upper lip)
    split: np.ndarray  # (W,) float32 rows above are upper teeth, rows below lower teeth
    lower_end: np.ndarray  # (W,) float32 last lower-tooth row (just above the lower lip)
    median_colour: np.ndarray  # (3,) the teeth's median RGB

    def sample(self, columns: np.ndarray, upper_offset: np.ndarray, lower_offset: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Teeth seen at strip `columns`, `upper_offset` pixels below the upper inner lip and `lower_offset`
        pixels above the lower one: (upper colour, upper alpha, lower colour, lower alpha), all (h, w[, 3])."""
        grid = np.arange(len(self.upper_start), dtype=np.float32)
        start = np.interp(columns, grid, self.upper_start)
        split = np.interp(columns, grid, self.split)
        end = np.interp(columns, grid, self.lower_end)
        inside = np.clip(columns + 0.5, 0, 1) * np.clip(len(grid) - 0.5 - columns, 0, 1)
        upper_rows = (start + upper_offset).astype(np.float32)
        lower_rows = (end - lower_offset).astype(np.float32)
        map_x = np.broadcast_to(columns, upper_rows.shape).astype(np.float32)
        upper_colour, upper_alpha = self._at(map_x, upper_rows)
        lower_colour, lower_alpha = self._at(map_x, lower_rows)
        upper_alpha = upper_alpha * np.clip(split - upper_rows, 0, 1) * inside
        lower_alpha = lower_alpha * np.clip(lower_rows - split + 1, 0, 1) * inside
        return upper_colour, upper_alpha, lower_colour, lower_alpha

    def _at(self, map_x: np.ndarray, map_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        colour = cv2.remap(self.colour, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.remap(self.alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return colour, alpha


def photo_teeth(image: np.ndarray, mask: np.ndarray, marks: np.ndarray, eye_distance: float) -> TeethTexture | None:
    """The teeth `image` shows between its lips (`mask`: its `teeth_mask`), or None when it shows (almost) none."""
    if mask.sum() < MIN_TEETH_AREA * eye_distance ** 2:
        return None
    margin = max(2.0, 0.08 * eye_distance)
    x_left = float(np.floor(min(marks[48, 0], marks[60, 0])))
    xs = np.arange(x_left, np.ceil(max(marks[54, 0], marks[64, 0])) + 1, dtype=np.float32)
    top = smooth_curve(marks[UPPER_CONTOUR], xs) - margin
    bottom = smooth_curve(marks[LOWER_CONTOUR], xs) + margin
    height = int(np.ceil(np.max(bottom - top))) + 1
    map_y = (top[None, :] + np.arange(height)[:, None]).astype(np.float32)
    map_x = np.broadcast_to(xs[None, :], map_y.shape).astype(np.float32)
    colour = cv2.remap(image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    hard = cv2.remap(mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderValue=0)
    hard *= (map_y <= bottom[None, :])  # nothing below the lower lip's inner edge
    has = hard > 0.5
    counts = has.sum(axis=0)
    columns = np.flatnonzero(counts >= 2)
    if len(columns) < 5:
        return None
    rows = np.arange(height, dtype=np.float32)[:, None]
    first = np.where(has, rows, np.inf).min(axis=0)[columns]
    last = np.where(has, rows, -np.inf).max(axis=0)[columns]
    # The teeth's top edge is a smooth arc and their length falls off evenly either side of the middle; the mask's
    # edges are ragged (gaps, tips) and one side is often in shadow, so both are fitted, the length symmetrically.
    grid = np.arange(len(xs), dtype=np.float32)
    centre = float((marks[60, 0] + marks[64, 0]) / 2 - x_left)
    upper_start, residual = _smooth_edge(columns, first, counts[columns], np.clip(grid, columns[0], columns[-1]))
    if residual > MAX_EDGE_RESIDUAL * eye_distance:
        return None  # not a row of teeth under a lip (a pale lip, a blurred grin): the synthesised ones look better
    half = max(centre - columns[0], columns[-1] - centre)
    length = _even_fit(columns - centre, last - first + 1, counts[columns], np.minimum(np.abs(grid - centre), half))
    lower_end = upper_start + np.clip(length, 1.0, float(np.max(last - first + 1))) - 1
    ends = np.clip(half + 1 - np.abs(grid - centre), 0, 1)
    solid = np.clip(rows - upper_start + 0.5, 0, 1) * np.clip(lower_end + 0.5 - rows, 0, 1) * ends
    alpha = cv2.GaussianBlur(solid.astype(np.float32), (0, 0), 0.6)
    split = _upper_lower_split(colour, upper_start, lower_end)
    teeth_pixels = colour[has]
    return TeethTexture(
        colour=np.ascontiguousarray(colour),
        alpha=np.ascontiguousarray(alpha.astype(np.float32)),
        centre=centre,
        upper_start=upper_start.astype(np.float32),
        split=split.astype(np.float32),
        lower_end=lower_end.astype(np.float32),
        median_colour=np.median(teeth_pixels, axis=0),
    )


def _upper_lower_split(colour: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per column, the row where the upper teeth end: a dark line between the rows of upper and lower teeth when
    the photo shows both (over the middle of the mouth), else below the last tooth (all teeth hang from above)."""
    height, width = colour.shape[:2]
    luma = colour @ np.array([0.299, 0.587, 0.114], np.float32)
    rows = np.arange(height, dtype=np.float32)[:, None]
    share = (rows - start[None, :]) / np.maximum(end - start, 1.0)[None, :]
    middle = np.zeros(width, bool)
    middle[int(0.25 * width):int(0.75 * width) + 1] = True
    inside = (share >= 0) & (share <= 1) & middle[None, :]
    bins = 10
    index = np.minimum((share[inside] * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    if np.count_nonzero(counts) < bins - 1:
        return end + 1.0
    profile = np.bincount(index, weights=luma[inside], minlength=bins) / np.maximum(counts, 1)
    darkest = int(np.argmin(profile[4:9])) + 4
    above, below = float(np.median(profile[:darkest])), float(np.median(profile[darkest + 1:]))
    if profile[darkest] > LOWER_TEETH_DIP * min(above, below):
        return end + 1.0
    return start + (darkest + 0.5) / bins * (end - start)


def _smooth_edge(columns: np.ndarray, rows: np.ndarray, weights: np.ndarray, at: np.ndarray
                 ) -> tuple[np.ndarray, float]:
    """A quadratic arc through an edge's rows per column, fitted twice (the second time without the points more
    than 1.5 px off the first fit), evaluated at `at`; and the 75th percentile of the columns' distance from it."""
    keep = np.ones(len(columns), bool)
    for _ in range(2):
        coefficients = np.polyfit(columns[keep], rows[keep], 2, w=np.sqrt(weights[keep]))
        residual = np.abs(np.polyval(coefficients, columns) - rows)
        close = residual <= 1.5
        if close.sum() < 5:
            break
        keep = close
    return np.polyval(coefficients, at).astype(np.float32), float(np.percentile(residual, 75))


def _even_fit(offsets: np.ndarray, values: np.ndarray, weights: np.ndarray, at: np.ndarray) -> np.ndarray:
    """values ~ a + b * offset^2 (the same either side of the middle), least squares, evaluated at `at`."""
    b, a = np.polyfit(offsets.astype(np.float64) ** 2, values, 1, w=np.sqrt(weights))
    return (a + b * at.astype(np.float64) ** 2).astype(np.float32)
