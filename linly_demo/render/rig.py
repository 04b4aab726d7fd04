"""The face rig: a triangle mesh over the portrait and how its vertices move per unit of each coefficient.

Guarantees: built once per portrait from its 68 landmarks; the frame border never moves (background stays still
except near the head); the mesh's connectivity is computed with the mouth held open, so no triangle bridges the
lips and the mouth can open without tearing; a photo with an open mouth is closed at rest, so silence shows
closed lips; teeth the photo shows are cut out as a texture (for the mouth painter) before they are painted over;
an upper lip the landmarks put on the teeth (a blurred grin) is lifted off them first.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from linly_demo import face_geometry
from linly_demo.render.driving import CHANNEL_INDEX, CHANNELS
from linly_demo.render.lips import lip_colour, teeth_mask, upper_lip_off_the_teeth
from linly_demo.render.teeth import TeethTexture, photo_teeth

UPPER_INNER, LOWER_INNER = [61, 62, 63], [67, 66, 65]
UPPER_OUTER, LOWER_OUTER = [49, 50, 51, 52, 53], [59, 58, 57, 56, 55]
CORNERS = [48, 54, 60, 64]
EYELIDS = [(37, 41), (38, 40), (43, 47), (44, 46)]  # (upper lid point, lower lid point below it)
# Channels applied as a global head transform rather than as vertex bases.
HEAD_TRANSFORM = ("head_roll", "head_dx", "head_dy")


@dataclass(frozen=True)
class FaceRig:
    """Everything the warp needs about one portrait, at output resolution."""

    size: int
    source: np.ndarray  # (size, size, 3) uint8: the template upscaled with Lanczos
    vertices: np.ndarray  # (V, 2) float32 source positions in output pixels
    triangles: np.ndarray  # (F, 3) int32
    rest_offset: np.ndarray  # (V, 2): displacement that closes the photo's mouth
    bases: np.ndarray  # (len(CHANNELS), V, 2): displacement per unit of each coefficient
    head_weight: np.ndarray  # (V,) 1 = moves with the head, 0 = frame border
    pivot: np.ndarray  # (2,) head rotation centre (upper neck)
    eye_distance: float
    mouth_width: float
    source_gap: float  # the photo's inner-lip gap, pixels
    teeth: TeethTexture | None  # the photo's own teeth, when it shows them


def build_rig(template: np.ndarray, landmarks68: np.ndarray, size: int) -> FaceRig:
    scale = size / template.shape[0]
    source = cv2.resize(template, (size, size), interpolation=cv2.INTER_LANCZOS4) if scale != 1 else template.copy()
    marks = landmarks68.astype(np.float64) * scale
    eye_distance = float(face_geometry.eye_distance(marks))
    marks = upper_lip_off_the_teeth(source, marks, eye_distance)
    mouth_width = float(face_geometry.mouth_width_pixels(marks))
    gaps = marks[LOWER_INNER, 1] - marks[UPPER_INNER, 1]
    source_gap = float(max(0.0, np.median(gaps)))

    extra, extra_weight = _support_points(marks, eye_distance, size)
    ring = _perioral_ring(marks, eye_distance)
    vertices = np.vstack([marks, extra, ring])
    head_weight = np.concatenate([np.ones(68), extra_weight, np.ones(len(ring))])
    ring_index = np.arange(len(vertices) - len(ring), len(vertices))
    n_vertices = len(vertices)

    visible_teeth = teeth_mask(source, marks, eye_distance)
    teeth = photo_teeth(source, visible_teeth, marks, eye_distance)
    rest = np.zeros((n_vertices, 2))
    if source_gap > 0.02 * eye_distance:
        _close_mouth(rest, gaps)
        source = _without_mouth_interior(source, marks, eye_distance, visible_teeth)

    bases = np.zeros((len(CHANNELS), n_vertices, 2))
    _mouth_bases(bases, marks, eye_distance)
    _eye_and_brow_bases(bases, marks, eye_distance, n_vertices)
    _head_turn_bases(bases, marks, eye_distance)
    _ring_follows_lips(bases, rest, ring_index)

    opened = vertices + rest + 0.6 * bases[CHANNEL_INDEX["jaw_open"]]
    triangles = Delaunay(opened).simplices.astype(np.int32)
    pivot = np.array([marks[8, 0], marks[8, 1] + 0.5 * eye_distance])
    return FaceRig(
        size=size,
        source=np.ascontiguousarray(source),
        vertices=vertices.astype(np.float32),
        triangles=triangles,
        rest_offset=rest.astype(np.float32),
        bases=bases.astype(np.float32),
        head_weight=head_weight.astype(np.float32),
        pivot=pivot.astype(np.float32),
        eye_distance=eye_distance,
        mouth_width=mouth_width,
        source_gap=source_gap,
        teeth=teeth,
    )


def _support_points(marks: np.ndarray, eye_distance: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Forehead points, a ring around the head (moves with it) and the fixed frame border."""
    forehead = marks[[17, 19, 21, 22, 24, 26]] - [0, 0.55 * eye_distance]
    top = marks[[19, 24]] - [0, 1.1 * eye_distance]
    centre = np.array([marks[27, 0], (marks[19, 1] + marks[8, 1]) / 2])
    radius = np.array([1.55 * eye_distance, 1.75 * eye_distance])
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    ring = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    inside = np.all((ring > 0.05 * size) & (ring < 0.95 * size), axis=1)
    ring = ring[inside]
    # Hair and skull follow the head fully; the ring below the chin (neck, shoulders) only partly.
    ring_weight = np.clip(1.0 - (ring[:, 1] - marks[8, 1]) / eye_distance, 0.3, 1.0)
    steps = np.linspace(0, size - 1, 7)
    border = np.array([(x, y) for x in steps for y in steps if x in (0, size - 1) or y in (0, size - 1)])
    points = np.vstack([forehead, top, ring, border])
    weights = np.concatenate([np.ones(len(forehead) + len(top)), ring_weight, np.zeros(len(border))])
    return points, weights


RING_LIPS = list(range(48, 60))  # the outer lip contour; one ring point lies beyond each
RING_REACH = 0.15  # eye distances beyond the outer lip
CHEEK_CORNERS = [48, 54]  # one more point lies further out beside each mouth corner
CHEEK_REACH = 0.35  # eye distances beyond the corner, along the mouth
CHEEK_SHARE = 1.0  # of the corner's pucker and spread it follows: the creases come along fully (at 70% a nearly
# closed pucker still read as a wide mouth, the creases left behind where the corners had been)
RING_SOURCES = RING_LIPS + CHEEK_CORNERS  # the lip point each ring point follows


def _perioral_ring(marks: np.ndarray, eye_distance: float) -> np.ndarray:
    """A ring of points just beyond the outer lip contour (never up into the nose), so the skin around the mouth
    moves with the lips instead of the lips shearing against a still face; and a point further out beside each
    corner, so the skin and creases beside the corners come along when the lips pucker or spread."""
    centre = marks[RING_LIPS].mean(axis=0)
    outward = marks[RING_LIPS] - centre
    outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-6)
    ring = marks[RING_LIPS] + RING_REACH * eye_distance * outward
    ring[:, 1] = np.maximum(ring[:, 1], marks[31:36, 1].max() + 0.08 * eye_distance)
    axis = (marks[54] - marks[48]) / max(float(np.linalg.norm(marks[54] - marks[48])), 1e-6)
    cheeks = marks[CHEEK_CORNERS] + CHEEK_REACH * eye_distance * np.array([-axis, axis])
    return np.vstack([ring, cheeks])


def _ring_follows_lips(bases: np.ndarray, rest: np.ndarray, ring_index: np.ndarray) -> None:
    """Each ring point moves half as far as its lip point; beside and below the corners, where the jaw carries
    skin and lip alike, it follows the jaw nearly fully. The points beside the corners follow the corners' pucker
    and spread by CHEEK_SHARE and the rest as the ring does."""
    share = np.full(len(RING_SOURCES), 0.5)
    jaw_share = share.copy()
    jaw_share[[RING_LIPS.index(i) for i in LOWER_OUTER + [48, 54]]] = 0.9
    corner_share = share.copy()
    corner_share[len(RING_LIPS):] = CHEEK_SHARE
    shares = {CHANNEL_INDEX["jaw_open"]: jaw_share, CHANNEL_INDEX["lip_round"]: corner_share,
              CHANNEL_INDEX["lip_spread"]: corner_share}
    for channel in range(len(bases)):
        bases[channel, ring_index] = bases[channel, RING_SOURCES] * shares.get(channel, share)[:, None]
    rest[ring_index] = rest[RING_SOURCES] * jaw_share[:, None]


def _without_mouth_interior(source: np.ndarray, marks: np.ndarray, eye_distance: float,
                            teeth: np.ndarray) -> np.ndarray:
    """Replace the photo's own teeth and mouth interior, and the thin rim dlib's contour misses, with lip colour,
    so closed lips meet in a thin line without flecks of teeth (`teeth`: the photo's `teeth_mask`, including teeth
    outside the contour); the renderer paints an open mouth's interior itself."""
    interior = np.zeros(source.shape[:2], np.uint8)
    cv2.fillPoly(interior, [np.round(marks[60:68]).astype(np.int32)], 255)
    rim = max(1, int(round(0.02 * eye_distance)))
    grown = cv2.dilate(interior, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1, 2 * rim + 1)))
    lips = lip_colour(source, marks)
    grown = np.maximum(grown, cv2.dilate(teeth.astype(np.uint8) * 255, np.ones((3, 3), np.uint8)))
    # One lip tone throughout: a closed mouth's interior triangles are nearly collapsed, and a darker interior
    # fill sampled through them drew the seam as a dashed dark line (the painter draws the seam itself).
    fill = cv2.GaussianBlur(np.broadcast_to(lips * 0.92, source.shape).astype(np.float32), (0, 0), 0.8)
    alpha = cv2.GaussianBlur(grown.astype(np.float32) / 255.0, (0, 0), 0.8)[..., None]
    return np.clip(source * (1 - alpha) + fill * alpha + 0.5, 0, 255).astype(np.uint8)


def _close_mouth(rest: np.ndarray, gaps: np.ndarray) -> None:
    """Close an open mouth mostly by raising the jaw (lower lip and chin), a little by lowering the upper lip."""
    for upper, lower, gap in zip(UPPER_INNER, LOWER_INNER, gaps, strict=True):
        gap = max(gap, 0.0)
        rest[upper, 1] += 0.2 * gap
        rest[lower, 1] -= 0.8 * gap
    gap = float(np.median(np.maximum(gaps, 0)))
    rest[UPPER_OUTER[1:4], 1] += 0.1 * gap
    rest[LOWER_OUTER, 1] -= 0.75 * gap
    rest[[60, 64, 48, 54], 1] -= 0.3 * gap
    for index, share in {8: 0.55, 7: 0.5, 9: 0.5, 6: 0.4, 10: 0.4, 5: 0.25, 11: 0.25}.items():
        rest[index, 1] -= share * gap


def _mouth_bases(bases: np.ndarray, marks: np.ndarray, d: float) -> None:
    centre_x = (marks[48, 0] + marks[54, 0]) / 2
    side = np.sign(marks[:, 0] - centre_x)

    jaw = bases[CHANNEL_INDEX["jaw_open"]]
    drop = 0.46 * d
    for index, share in {66: 1.0, 65: 0.9, 67: 0.9, 57: 0.97, 56: 0.9, 58: 0.9, 55: 0.7, 59: 0.7,
                         8: 0.95, 7: 0.88, 9: 0.88, 6: 0.7, 10: 0.7, 5: 0.5, 11: 0.5, 4: 0.3, 12: 0.3,
                         3: 0.12, 13: 0.12}.items():
        jaw[index, 1] = share * drop
    for index in CORNERS:
        jaw[index] = [-side[index] * 0.04 * d, 0.45 * drop]
    jaw[UPPER_INNER, 1] = -0.05 * drop
    jaw[UPPER_OUTER, 1] = -0.03 * drop

    spread = bases[CHANNEL_INDEX["lip_spread"]]
    for index in CORNERS:
        spread[index, 0] = side[index] * 0.10 * d
    for index in [49, 53, 55, 59, 61, 63, 65, 67]:
        spread[index, 0] = side[index] * 0.055 * d
    spread[[50, 51, 52], 1] = 0.015 * d
    spread[[56, 57, 58], 1] = -0.015 * d

    rounding = bases[CHANNEL_INDEX["lip_round"]]
    for index in CORNERS:  # puckered lips: the corners come well in, the lip texture bunches up
        rounding[index, 0] = -side[index] * 0.2 * d
    for index in [49, 53, 55, 59]:
        rounding[index, 0] = -side[index] * 0.15 * d
    for index in [61, 63, 65, 67, 50, 52, 56, 58]:
        rounding[index, 0] = -side[index] * 0.09 * d
    for index, share in {4: 0.05, 5: 0.06, 6: 0.04, 12: 0.05, 11: 0.06, 10: 0.04}.items():
        rounding[index, 0] = -side[index] * share * d  # the cheeks draw in with the pucker
    # An "oo" opening is an oval, not a V: the upper inner lip arches up, the lower one rounds off beside its middle.
    rounding[[61, 63], 1] = -0.025 * d
    rounding[62, 1] = -0.035 * d
    rounding[[65, 67], 1] = 0.02 * d
    rounding[[50, 51, 52], 1] = -0.035 * d
    rounding[[56, 57, 58], 1] = 0.035 * d

    lift = bases[CHANNEL_INDEX["upper_lip_raise"]]
    lift[[50, 51, 52], 1] = -0.07 * d
    lift[[49, 53], 1] = -0.04 * d
    lift[UPPER_INNER, 1] = -0.035 * d  # the lip curls up more than its inner edge lifts

    tuck = bases[CHANNEL_INDEX["lower_lip_tuck"]]  # "f", "v": the lower lip rises to the upper teeth
    tuck[LOWER_INNER, 1] = -0.09 * d
    tuck[[65, 67], 1] = -0.07 * d
    tuck[LOWER_OUTER, 1] = -0.06 * d
    tuck[[55, 59], 1] = -0.04 * d

    teeth = bases[CHANNEL_INDEX["teeth_show"]]  # lips part a little off the teeth
    teeth[UPPER_INNER, 1] = -0.025 * d
    teeth[[50, 51, 52], 1] = -0.02 * d


def _eye_and_brow_bases(bases: np.ndarray, marks: np.ndarray, d: float, n_vertices: int) -> None:
    blink = bases[CHANNEL_INDEX["blink"]]
    for upper, lower in EYELIDS:
        height = marks[lower, 1] - marks[upper, 1]
        blink[upper, 1] = 0.95 * height  # the lids meet (the warp clamps the overlap) at about 85 % down
        blink[lower, 1] = -0.15 * height
    brow = bases[CHANNEL_INDEX["brow_raise"]]
    brow[17:27, 1] = -0.10 * d
    brow[68:74, 1] = -0.05 * d  # the forehead points just above the brows


def _head_turn_bases(bases: np.ndarray, marks: np.ndarray, d: float) -> None:
    """Yaw and pitch, per degree: nearer features (nose tip) shift more than the face outline."""
    depth = np.zeros(len(marks))
    depth[27:31] = [0.5, 0.7, 0.85, 1.0]
    depth[31:36] = 0.8
    depth[36:48] = 0.35
    depth[17:27] = 0.3
    depth[48:68] = 0.55
    depth[0:17] = 0.0
    per_degree = np.pi / 180 * 1.6 * d
    bases[CHANNEL_INDEX["head_yaw"], : len(marks), 0] = per_degree * (depth + 0.15)
    bases[CHANNEL_INDEX["head_pitch"], : len(marks), 1] = per_degree * (0.6 * depth + 0.2)
