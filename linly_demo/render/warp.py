"""Coefficients -> frames: a backward piecewise-affine warp of the portrait, sampled with grid_sample in batches.

Guarantees: one displacement field per frame, built from the moved mesh (exact per triangle where the lips and lids
part and meet, so they do so without smearing, and the pixels on such a fold anti-aliased, so closed lips meet along
a smooth line, not a staircase; blurred a little elsewhere, so the skin bends smoothly instead of kinking along
triangle edges); triangles never fold (the lower lip never crosses the upper); frames are produced in
batches bounded by memory, on CUDA when available, else the CPU; identical inputs give identical frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from linly_demo.render.driving import CHANNEL_INDEX, DrivingSignals
from linly_demo.render.rig import EYELIDS, LOWER_INNER, LOWER_OUTER, UPPER_INNER, UPPER_OUTER, FaceRig

_SUBPIXEL_BITS = 4
PRESS_THINNING = 0.4


def target_vertices(rig: FaceRig, coefficients: np.ndarray) -> np.ndarray:
    """(T, V, 2) vertex positions for each frame's coefficients."""
    coeffs = coefficients.astype(np.float32)
    local = rig.vertices[None] + rig.rest_offset[None] + np.einsum("tc,cvk->tvk", coeffs, rig.bases)
    _prevent_folds(local)
    _press_lips(local, coeffs[:, CHANNEL_INDEX["lip_press"]])
    roll = np.radians(coeffs[:, CHANNEL_INDEX["head_roll"]])
    shift = np.stack([coeffs[:, CHANNEL_INDEX["head_dx"]], coeffs[:, CHANNEL_INDEX["head_dy"]]], axis=1) * rig.size
    cos, sin = np.cos(roll)[:, None], np.sin(roll)[:, None]
    rel = local - rig.pivot
    rotated = np.stack([cos * rel[..., 0] - sin * rel[..., 1], sin * rel[..., 0] + cos * rel[..., 1]], axis=-1)
    moved = rotated + rig.pivot + shift[:, None, :]
    return local + rig.head_weight[None, :, None] * (moved - local)


def _prevent_folds(local: np.ndarray) -> None:
    """Lids and lips may meet but never cross: the lower inner lip never rises above the upper one, the outer
    lips never pass the inner ones, a lower eyelid never rises above its upper lid."""
    upper_lids, lower_lids = [u for u, _ in EYELIDS], [lo for _, lo in EYELIDS]
    local[:, lower_lids, 1] = np.maximum(local[:, lower_lids, 1], local[:, upper_lids, 1])
    local[:, upper_lids, 1] = np.minimum(local[:, upper_lids, 1], local[:, lower_lids, 1])
    local[:, LOWER_INNER, 1] = np.maximum(local[:, LOWER_INNER, 1], local[:, UPPER_INNER, 1])
    local[:, UPPER_OUTER[1:4], 1] = np.minimum(local[:, UPPER_OUTER[1:4], 1], local[:, UPPER_INNER, 1] - 1.0)
    local[:, LOWER_OUTER[1:4], 1] = np.maximum(local[:, LOWER_OUTER[1:4], 1], local[:, LOWER_INNER, 1] + 1.0)


def _press_lips(local: np.ndarray, press: np.ndarray) -> None:
    """Bring the inner lips together by `press` (1 = fully closed) whatever the jaw does; each lip keeps its
    thickness (its outer contour moves with its inner one)."""
    if not np.any(press > 0):
        return
    upper, lower = local[:, UPPER_INNER, 1], local[:, LOWER_INNER, 1]
    meet = upper + 0.45 * (lower - upper)
    down = ((meet - upper) * press[:, None]).mean(axis=1, keepdims=True)
    up = ((meet - lower) * press[:, None]).mean(axis=1, keepdims=True)
    local[:, UPPER_INNER, 1] += (meet - upper) * press[:, None]
    local[:, LOWER_INNER, 1] += (meet - lower) * press[:, None]
    # Pressed lips also thin out a little (they roll inwards against each other).
    upper_thickness = (local[:, UPPER_INNER, 1] - local[:, [50, 51, 52], 1]).mean(axis=1, keepdims=True)
    lower_thickness = (local[:, [58, 57, 56], 1] - local[:, LOWER_INNER, 1]).mean(axis=1, keepdims=True)
    local[:, UPPER_OUTER, 1] += down + PRESS_THINNING * upper_thickness * press[:, None]
    local[:, LOWER_OUTER, 1] += up - PRESS_THINNING * lower_thickness * press[:, None]


def backward_affines(rig: FaceRig, targets: np.ndarray) -> np.ndarray:
    """(T, F, 3, 2): per frame and triangle, the map [x, y, 1] (output) -> source position."""
    tri_target = targets[:, rig.triangles]  # (T, F, 3, 2)
    tri_source = rig.vertices[rig.triangles]  # (F, 3, 2)
    homogeneous = np.concatenate([tri_target, np.ones(tri_target.shape[:-1] + (1,), np.float32)], axis=-1)
    det = np.linalg.det(homogeneous.astype(np.float64))
    safe = np.abs(det) > 1e-6
    homogeneous[~safe] = np.eye(3, dtype=np.float32)
    solved = np.linalg.solve(homogeneous.astype(np.float64), np.broadcast_to(tri_source, tri_target.shape))
    # A collapsed triangle covers no pixels; give it the identity so it can never sample far away.
    solved[~safe] = np.array([[1, 0], [0, 1], [0, 0]], dtype=np.float64)
    return solved.astype(np.float32)


def triangle_codes(rig: FaceRig, targets: np.ndarray) -> np.ndarray:
    """(T, size, size) uint16: which triangle covers each pixel, as its index + 1 (0: none)."""
    one = 1 << _SUBPIXEL_BITS
    codes = np.zeros((len(targets), rig.size, rig.size), dtype=np.uint16)
    for canvas, vertices in zip(codes, targets, strict=True):
        corners = np.round((vertices + 0.5) * one - 0.5 * one).astype(np.int32)[rig.triangles]
        edge_a, edge_b = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        area = edge_a[:, 0] * edge_b[:, 1] - edge_a[:, 1] * edge_b[:, 0]
        for index in np.flatnonzero(np.abs(area) > one * one // 4):  # a collapsed triangle covers nothing
            cv2.fillConvexPoly(canvas, corners[index], int(index) + 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    return codes


def default_batch_size(device: torch.device, size: int) -> int:
    """Frames per batch, bounded by memory: about 24 bytes per output pixel per frame in flight."""
    per_frame = 24 * size * size
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(max(8, min(256, 0.25 * free // per_frame)))
    return int(max(4, min(32, (512 << 20) // per_frame)))


COARSE_STEP = 8  # pixels between exact samples of the smooth part of the warp field
EXACT_MARGIN = 4  # pixels around the moving eyes and lips that are warped exactly
SMOOTH_SIGMA = 2.5  # pixels: away from the mouth opening and the eyes the field is blurred this much
FOLD_BAND = 4  # pixels beyond the mouth opening and the eye openings where the field stays sharp
FOLD_JUMP = 2.0  # source pixels: neighbours whose source positions jump by more than this sit on a fold
FOLD_SUBSAMPLES = 4  # per axis: a pixel on a fold is the mean of 4 x 4 samples of the exact map
OPENINGS = (slice(60, 68), slice(36, 42), slice(42, 48))  # landmarks outlining the mouth and eye openings
OPENING_BLUR_SIGMA = 1.5  # pixels: the opening masks fade out over this blur


def exact_regions(rig: FaceRig, targets: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) boxes, over the whole clip, around the eyes and the lips: where lids and lips meet the
    warp field folds sharply and must be exact per pixel. Elsewhere it is smooth and sampled coarsely."""
    boxes = [_clip_box(rig, targets, group, EXACT_MARGIN)
             for group in (list(range(36, 42)) + list(range(17, 22)), list(range(42, 48)) + list(range(22, 27)),
                           list(range(48, 68)))]
    return [(y0, y1, x0, x1) for y0, y1, x0, x1 in boxes if x1 > x0 and y1 > y0]


def _clip_box(rig: FaceRig, targets: np.ndarray, group: list[int], margin: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the box around vertices `group`, at rest and in every frame, grown by `margin` pixels
    and clipped to the frame."""
    points = np.concatenate([targets[:, group].reshape(-1, 2), rig.vertices[group]])
    x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int) - margin, 0, rig.size)
    x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int) + margin + 1, 0, rig.size)
    return int(y0), int(y1), int(x0), int(x1)


def opening_masks(targets: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(T, h, w) float32 over `box` (y0, y1, x0, x1): 1 over the mouth and eye openings and FOLD_BAND pixels
    around them, fading to 0 over a few pixels."""
    y0, y1, x0, x1 = box
    masks = np.zeros((len(targets), y1 - y0, x1 - x0), np.float32)
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * FOLD_BAND + 1, 2 * FOLD_BAND + 1))
    for mask, vertices in zip(masks, targets, strict=True):
        for outline in (vertices[opening] for opening in OPENINGS):
            points = np.round(outline - [x0, y0]).astype(np.int32)
            cv2.fillPoly(mask, [points], 1.0, lineType=cv2.LINE_8)
            cv2.polylines(mask, [points], True, 1.0, thickness=1)
        cv2.GaussianBlur(cv2.dilate(mask, grow), (0, 0), OPENING_BLUR_SIGMA, dst=mask)
    return np.clip(masks * 1.5, 0, 1)


def _opening_box(targets: np.ndarray, within: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) within box `within`: where `opening_masks` can be non-zero over the clip (the mouth and
    eye openings, their band and its blur's reach); beyond it the masks are zero."""
    points = np.concatenate([targets[:, opening] for opening in OPENINGS], axis=1).reshape(-1, 2)
    taps = int(np.ceil(4 * OPENING_BLUR_SIGMA))  # OpenCV's reach for this sigma on float images
    reach = FOLD_BAND + 2 + taps + 2  # the band, the outline's width, the blur, rounding
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - reach
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + reach + 1
    wy0, wy1, wx0, wx1 = within
    box = (max(int(y0), wy0), min(int(y1), wy1), max(int(x0), wx0), min(int(x1), wx1))
    return box if box[1] > box[0] and box[3] > box[2] else (wy0, wy0, wx0, wx0)


def _edge_loss(identity: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """(band (h, w) bool, values (N, 2)): the identity map `identity` (h, w, 2) over the smooth box minus its blur,
    within the blur's `reach` of the box's edges, where the replicated border bends it (inside, the blur keeps the
    identity)."""
    band = np.ones(identity.shape[:2], bool)
    band[reach:-reach, reach:-reach] = False
    if not band.any():
        return band, np.zeros((0, 2), np.float32)
    blurred = cv2.GaussianBlur(identity, (0, 0), SMOOTH_SIGMA, borderType=cv2.BORDER_REPLICATE)
    return band, (identity - blurred)[band]


def _relative(box: tuple[int, int, int, int], within: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """`box` in the coordinates of box `within`."""
    return box[0] - within[0], box[1] - within[0], box[2] - within[2], box[3] - within[2]


LOWER_FACE = list(range(1, 16)) + list(range(27, 36)) + list(range(48, 68))  # jaw line, nose, lips


def smooth_region(rig: FaceRig, targets: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): where the lips and jaw bend the field over the clip (plus the blur's reach); elsewhere
    the field is a smooth head motion that blurring would not change."""
    return _clip_box(rig, targets, LOWER_FACE, int(np.ceil(3 * SMOOTH_SIGMA)) + EXACT_MARGIN)


class Warper:
    """Samples warped frames for one rig on one device.

    The backward map is exact per pixel (per-triangle affine, clamped to the triangle's source box) inside the
    regions where the field folds (eyes, lips) and bilinear between exact samples every COARSE_STEP pixels
    elsewhere, where it is smooth (within a fraction of a pixel of the exact map). Frames are sampled with
    `grid_sample` on CUDA and `cv2.remap` on the CPU (the same bilinear lookup, border replicated); a pixel beside
    which the exact map jumps (a fold: where lips or lids meet) is then the mean of FOLD_SUBSAMPLES^2 samples.
    """

    def __init__(self, rig: FaceRig, device: torch.device, regions: list[tuple[int, int, int, int]],
                 smooth_box: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
        self.rig = rig
        self.smooth_box = smooth_box
        self.device = device
        self.size = rig.size
        self.regions = regions
        source = torch.from_numpy(rig.source).to(device).permute(2, 0, 1).float()
        self._source = source.unsqueeze(0)
        # Coarse samples every COARSE_STEP pixels, placed (half a step outside the frame at both ends) so that
        # a resize by COARSE_STEP with pixel-centre alignment (cv2.resize, F.interpolate) is the bilinear
        # interpolation between them, cropped to the frame at offset COARSE_STEP.
        first = -(COARSE_STEP + 1) / 2
        count = int(np.ceil((self.size - 1 - first) / COARSE_STEP)) + 1
        self._coarse_positions = first + COARSE_STEP * np.arange(count, dtype=np.float32)
        self._coarse_pixels = self._homogeneous(self._coarse_positions, self._coarse_positions)
        # The triangle of each coarse sample is read at the pixel it lies in (half a pixel away at most: the map is
        # continuous across triangle edges); beyond the frame's edge, which never moves, the map is the identity.
        self._coarse_cells = np.clip(np.floor(self._coarse_positions), 0, self.size - 1).astype(np.intp)
        outside = (self._coarse_positions < 0) | (self._coarse_positions > self.size - 1)
        self._coarse_outside = torch.from_numpy(outside).to(device)
        self._region_pixels = [self._homogeneous(np.arange(y0, y1), np.arange(x0, x1))
                               for y0, y1, x0, x1 in regions]
        # Each triangle's source bounding box (row 0: the whole frame, for pixels outside every triangle). A
        # pixel the rasteriser puts in a sliver triangle may lie a hair outside it, where the sliver's
        # near-singular affine extrapolates far away; clamping to the box keeps it on that triangle's pixels.
        corners = rig.vertices[rig.triangles]
        boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
        whole = np.array([[0, 0, rig.size - 1, rig.size - 1]], dtype=np.float32)
        self._boxes_np = np.concatenate([whole, boxes]).astype(np.float32)
        self._boxes = torch.from_numpy(self._boxes_np).to(device)
        self._identity = self._homogeneous(np.arange(self.size), np.arange(self.size))[..., :2].contiguous()
        radius = int(round(4 * SMOOTH_SIGMA))  # the taps OpenCV uses for this sigma on float images
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / SMOOTH_SIGMA) ** 2)
        self._kernel = torch.from_numpy((taps / taps.sum()).astype(np.float32)).to(device)
        y0, y1, x0, x1 = smooth_box
        self._edge_band, self._edge_loss = _edge_loss(self._identity[y0:y1, x0:x1].numpy(), radius)

    def _homogeneous(self, ys: np.ndarray, xs: np.ndarray) -> torch.Tensor:
        grid_y, grid_x = np.meshgrid(ys.astype(np.float32), xs.astype(np.float32), indexing="ij")
        return torch.from_numpy(np.stack([grid_x, grid_y, np.ones_like(grid_x)], axis=-1)).to(self.device)

    def _map_at(self, pixels: torch.Tensor, codes: np.ndarray, affines: torch.Tensor) -> torch.Tensor:
        """Source positions (B, H, W, 2) of output `pixels` (H, W, 3) that lie in the triangles `codes` (B, H, W)
        name (see `triangle_codes`); `affines` (B, F + 1, 3, 2) with the identity first (code 0)."""
        batch, height, width = codes.shape
        codes_at = torch.from_numpy(codes.astype(np.int64)).to(self.device)
        rows = (codes_at + affines.shape[1] * torch.arange(batch, device=self.device).view(-1, 1, 1)).reshape(-1)
        per_pixel = affines.reshape(-1, 6).index_select(0, rows).view(batch, height, width, 3, 2)
        source_xy = (pixels[..., 0, None] * per_pixel[..., 0, :] + pixels[..., 1, None] * per_pixel[..., 1, :]
                     + per_pixel[..., 2, :])
        boxes = self._boxes.index_select(0, codes_at.reshape(-1)).view(batch, height, width, 4)
        return torch.maximum(torch.minimum(source_xy, boxes[..., 2:]), boxes[..., :2])

    def maps(self, targets: np.ndarray) -> torch.Tensor:
        """(B, size, size, 2) backward map (source x, y per output pixel) for a batch of target vertex sets."""
        return self._field(targets)[0]

    def _field(self, targets: np.ndarray) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
        """The backward map (B, size, size, 2), the triangle codes it was built from (B, size, size) and the
        affines (B, F + 1, 3, 2), identity first."""
        affines = torch.from_numpy(backward_affines(self.rig, targets)).to(self.device)  # (B, F, 3, 2)
        batch = len(targets)
        identity = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], device=self.device)
        affines = torch.cat([identity.expand(batch, 1, 3, 2), affines], dim=1).contiguous()  # code 0 -> identity
        codes = triangle_codes(self.rig, targets)
        coarse = self._map_at(self._coarse_pixels, codes[:, self._coarse_cells][:, :, self._coarse_cells], affines)
        coarse[:, self._coarse_outside] = self._coarse_pixels[self._coarse_outside, :, :2]
        coarse[:, :, self._coarse_outside] = self._coarse_pixels[:, self._coarse_outside, :2]
        field = self._upsampled(coarse)
        for (y0, y1, x0, x1), pixels in zip(self.regions, self._region_pixels, strict=True):
            field[:, y0:y1, x0:x1] = self._map_at(pixels, codes[:, y0:y1, x0:x1], affines)
        return self._smoothed(field, targets), codes, affines

    def _upsampled(self, coarse: torch.Tensor) -> torch.Tensor:
        """(B, size, size, 2) field bilinear between the coarse samples (B, C, C, 2) (see `_coarse_positions`)."""
        # OpenCV's resize is several times faster than torch's interpolate on the CPU; both interpolate alike.
        return self._upsampled_opencv(coarse) if self.device.type == "cpu" else self._upsampled_torch(coarse)

    def _upsampled_opencv(self, coarse: torch.Tensor) -> torch.Tensor:
        span, crop = len(self._coarse_positions) * COARSE_STEP, slice(COARSE_STEP, COARSE_STEP + self.size)
        full = np.empty((len(coarse), span, span, 2), np.float32)
        for grid, out in zip(coarse.numpy(), full, strict=True):
            cv2.resize(grid, (span, span), dst=out, interpolation=cv2.INTER_LINEAR)
        return torch.from_numpy(full[:, crop, crop])  # a view: OpenCV reads strided rows as they are

    def _upsampled_torch(self, coarse: torch.Tensor) -> torch.Tensor:
        span, crop = len(self._coarse_positions) * COARSE_STEP, slice(COARSE_STEP, COARSE_STEP + self.size)
        full = F.interpolate(coarse.permute(0, 3, 1, 2), size=(span, span), mode="bilinear", align_corners=False)
        return full[:, :, crop, crop].permute(0, 2, 3, 1).contiguous()

    def _smoothed(self, field: torch.Tensor, targets: np.ndarray) -> torch.Tensor:
        """The field with its displacement blurred except at the mouth and eye openings: a piecewise-affine
        warp bends the skin along triangle edges (visible kinks beside the lips); only where lips and lids part
        or meet must it stay sharp."""
        y0, y1, x0, x1 = self.smooth_box
        if y1 - y0 < 2 or x1 - x0 < 2:
            return field
        sharp_box = _opening_box(targets, self.smooth_box)
        sharp = opening_masks(targets, sharp_box)
        if self.device.type == "cpu":  # OpenCV's blur is several times faster than a torch convolution here
            self._blend_opencv(field.numpy()[:, y0:y1, x0:x1], sharp, _relative(sharp_box, self.smooth_box))
        else:
            identity = self._identity[y0:y1, x0:x1]
            whole = np.zeros((len(targets), y1 - y0, x1 - x0), np.float32)
            sy0, sy1, sx0, sx1 = _relative(sharp_box, self.smooth_box)
            whole[:, sy0:sy1, sx0:sx1] = sharp
            field[:, y0:y1, x0:x1] = identity + self._blend_torch(field[:, y0:y1, x0:x1] - identity, whole)
        return field

    def _blend_opencv(self, in_box: np.ndarray, sharp: np.ndarray, sharp_box: tuple[int, int, int, int]) -> None:
        """Blur the displacement of the (B, h, w, 2) field `in_box` (over the smooth box) in place, except
        `sharp` (B, h', w') of it, over `sharp_box` (within the box; zero beyond it), kept as is.

        The blur is linear, so the displacement's blur plus the identity is the field's blur plus the identity's
        loss to blurring at the box's edges (`_edge_loss`); no displacement is formed."""
        sy0, sy1, sx0, sx1 = sharp_box
        for frame, mask in zip(in_box, sharp[..., None], strict=True):
            kept = frame[sy0:sy1, sx0:sx1].copy()
            cv2.GaussianBlur(frame, (0, 0), SMOOTH_SIGMA, dst=frame, borderType=cv2.BORDER_REPLICATE)
            frame[self._edge_band] += self._edge_loss
            smooth = frame[sy0:sy1, sx0:sx1]
            kept -= smooth
            kept *= mask
            smooth += kept

    def _blend_torch(self, displacement: torch.Tensor, sharp: np.ndarray) -> torch.Tensor:
        """The same as `_blend_opencv` with torch convolutions, on any device."""
        channels_first = displacement.permute(0, 3, 1, 2)
        padding = (len(self._kernel) // 2,) * 4
        flat = F.pad(channels_first.reshape(-1, 1, *channels_first.shape[2:]), padding, mode="replicate")
        blurred = F.conv2d(F.conv2d(flat, self._kernel.view(1, 1, 1, -1)), self._kernel.view(1, 1, -1, 1))
        blurred = blurred.reshape(channels_first.shape)
        mask = torch.from_numpy(sharp).to(displacement.device).unsqueeze(1)
        return (blurred + mask * (channels_first - blurred)).permute(0, 2, 3, 1)

    def frames(self, targets: np.ndarray) -> np.ndarray:
        """(B, size, size, 3) uint8 frames for a batch of target vertex sets."""
        field, codes, affines = self._field(targets)
        if self.device.type == "cpu":
            source = self.rig.source
            frames = np.empty((len(targets), self.size, self.size, 3), np.uint8)
            for m, out in zip(field.numpy(), frames, strict=True):  # written in place: no stacking copy
                # One two-channel map (x, y): no copies of strided channels. OpenCV's stubs miss map2=None.
                cv2.remap(source, m, None, cv2.INTER_LINEAR, dst=out,  # type: ignore[call-overload]
                          borderMode=cv2.BORDER_REPLICATE)
        else:
            grid = (field + 0.5) / self.size * 2 - 1
            sampled = F.grid_sample(self._source.expand(len(targets), -1, -1, -1), grid, mode="bilinear",
                                    padding_mode="border", align_corners=False)
            frames = sampled.clamp_(0, 255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        affine_rows = affines.cpu().numpy()
        for box in self.regions:
            y0, y1, x0, x1 = box
            for frame, folds in enumerate(fold_pixels(field[:, y0:y1, x0:x1].cpu().numpy())):
                at = np.argwhere(folds)
                if len(at):
                    frames[frame, at[:, 0] + y0, at[:, 1] + x0] = self._supersampled(
                        at, box, targets[frame], codes[frame], affine_rows[frame])
        return frames

    def _supersampled(self, at: np.ndarray, box: tuple[int, int, int, int], vertices: np.ndarray,
                      codes: np.ndarray, affines: np.ndarray) -> np.ndarray:
        """(N, 3) uint8: the colour of each pixel `at` (N, 2: y, x within `box`) of one frame as the mean of
        FOLD_SUBSAMPLES^2 samples of the exact map over its area, each in the triangle that covers it (drawn on a
        canvas FOLD_SUBSAMPLES times finer), so that where lips or lids meet their edge is anti-aliased, not
        stepped. `codes` and `affines` are the frame's (see `triangle_codes`, `_field`)."""
        y0, y1, x0, x1 = box
        fine = FOLD_SUBSAMPLES
        one = 1 << _SUBPIXEL_BITS
        # Fine pixel (i, j) of the box samples the frame at (x0 + (j + 0.5) / fine - 0.5, y0 + ...).
        corners = np.round(((vertices - [x0, y0] + 0.5) * fine - 0.5) * one).astype(np.int32)[self.rig.triangles]
        edge_a, edge_b = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        area = edge_a[:, 0] * edge_b[:, 1] - edge_a[:, 1] * edge_b[:, 0]
        low, high = corners.min(axis=1) // one, corners.max(axis=1) // one + 1
        first, last = at.min(axis=0) * fine, (at.max(axis=0) + 1) * fine  # the folds' (y, x) span, fine pixels
        reach = ((high[:, 0] >= first[1]) & (low[:, 0] <= last[1]) & (high[:, 1] >= first[0])
                 & (low[:, 1] <= last[0]))  # the triangles that may cover a sample (no other one is read)
        canvas = np.zeros(((y1 - y0) * fine, (x1 - x0) * fine), np.uint16)
        for index in np.flatnonzero(reach & (np.abs(area) > one * one)):
            cv2.fillConvexPoly(canvas, corners[index], int(index) + 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
        sub = np.arange(fine)
        rows = (at[:, 0, None, None] * fine + sub[None, :, None]).repeat(fine, axis=2).reshape(len(at), -1)
        cols = (at[:, 1, None, None] * fine + sub[None, None, :]).repeat(fine, axis=1).reshape(len(at), -1)
        code = canvas[rows, cols].astype(np.intp)  # (N, S)
        own = codes[at[:, 0] + y0, at[:, 1] + x0].astype(np.intp)
        code = np.where(code > 0, code, own[:, None])  # a sample no triangle covers: the pixel's own triangle
        points = np.stack([x0 + (cols + 0.5) / fine - 0.5, y0 + (rows + 0.5) / fine - 0.5], axis=-1)
        matrix = affines[code]  # (N, S, 3, 2)
        source_xy = (points[..., 0, None] * matrix[..., 0, :] + points[..., 1, None] * matrix[..., 1, :]
                     + matrix[..., 2, :])
        limits = self._boxes_np[code]
        source_xy = np.maximum(np.minimum(source_xy, limits[..., 2:]), limits[..., :2]).astype(np.float32)
        samples = cv2.remap(self.rig.source, source_xy, None, cv2.INTER_LINEAR,  # type: ignore[call-overload]
                            borderMode=cv2.BORDER_REPLICATE)
        return np.clip(samples.astype(np.float32).mean(axis=1) + 0.5, 0, 255).astype(np.uint8)


def fold_pixels(field: np.ndarray) -> np.ndarray:
    """(B, h, w) bool: the pixels of a backward map (B, h, w, 2) beside which the map jumps (source positions of
    neighbours more than FOLD_JUMP apart beyond their own step): where lips or lids meet and part."""
    across = field[:, :, 1:] - field[:, :, :-1]
    across = (np.abs(across[..., 0] - np.float32(1)) > FOLD_JUMP) | (np.abs(across[..., 1]) > FOLD_JUMP)
    down = field[:, 1:] - field[:, :-1]
    down = (np.abs(down[..., 0]) > FOLD_JUMP) | (np.abs(down[..., 1] - np.float32(1)) > FOLD_JUMP)
    folds = np.zeros(field.shape[:3], bool)
    folds[:, :, 1:] |= across
    folds[:, :, :-1] |= across
    folds[:, 1:] |= down
    folds[:, :-1] |= down
    return folds


@dataclass(frozen=True)
class WarpBoxes:
    """Where a clip's warp is exact per pixel and where it is blurred, (y0, y1, x0, x1) boxes over the whole clip:
    every part of a clip rendered with its clip's boxes gets exactly the frames of a one-piece render."""

    exact: tuple[tuple[int, int, int, int], ...]
    smooth: tuple[int, int, int, int]


def clip_boxes(rig: FaceRig, coefficients: np.ndarray) -> WarpBoxes:
    """The warp boxes of a whole clip's coefficients."""
    return _boxes(rig, target_vertices(rig, coefficients))


def _boxes(rig: FaceRig, targets: np.ndarray) -> WarpBoxes:
    return WarpBoxes(tuple(exact_regions(rig, targets)), smooth_region(rig, targets))


def clip_warper(rig: FaceRig, driving: DrivingSignals, device: torch.device,
                boxes: WarpBoxes | None = None) -> tuple[Warper, np.ndarray]:
    """The warper of a clip (or of a part of one, with the whole clip's `boxes`) and its target vertices (T, V, 2);
    the warper keeps no state between calls, so batches may be warped in any order, on any thread."""
    targets = target_vertices(rig, driving.coefficients)
    boxes = boxes or _boxes(rig, targets)
    return Warper(rig, device, list(boxes.exact), boxes.smooth), targets


def warp_batches(rig: FaceRig, driving: DrivingSignals, device: torch.device, batch_size: int | None = None,
                 boxes: WarpBoxes | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (frames uint8 (B, S, S, 3) on the CPU, target vertices (B, V, 2)) batch by batch; `boxes` (of the
    clip these frames belong to) default to this run's own."""
    batch_size = batch_size or default_batch_size(device, rig.size)
    warper, targets = clip_warper(rig, driving, device, boxes)
    with torch.inference_mode():
        for start in range(0, len(targets), batch_size):
            chunk = targets[start:start + batch_size]
            yield warper.frames(chunk), chunk
