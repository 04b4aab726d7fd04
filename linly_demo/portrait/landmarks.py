"""68-point landmarks of the aligned template with dlib's shape predictor (shipped by face-recognition-models).

Guarantees: landmarks are in template pixel coordinates; the face rectangle comes from dlib's own detector on the
template (the box the predictor was trained on), or, when that misses, from the canonical alignment geometry.
"""

from __future__ import annotations

import threading
import warnings

import dlib
import numpy as np

from linly_demo.portrait.align import CANONICAL_LANDMARKS5

# dlib's HOG box around a canonically aligned face, as fractions of the template side (measured on aligned
# portraits; used only when the HOG detector misses).
_CANONICAL_BOX = (0.30, 0.30, 0.70, 0.72)


def _model_path(name: str) -> str:
    with warnings.catch_warnings():
        # face_recognition_models still locates its files through the deprecated pkg_resources API.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import face_recognition_models  # deferred into this warnings filter (see above)

    return getattr(face_recognition_models, name)()


class LandmarkModel:
    """dlib's 68-point shape predictor; thread-safe."""

    def __init__(self) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(_model_path("pose_predictor_model_location"))
        self._lock = threading.Lock()

    def face_rectangle(self, template: np.ndarray) -> dlib.rectangle:
        """dlib's detection nearest the template centre, or the canonical box."""
        size = template.shape[0]
        with self._lock:
            found = list(self._detector(template, 0))
        centre = CANONICAL_LANDMARKS5.mean(axis=0) * size
        plausible = [
            r for r in found
            if r.left() < centre[0] < r.right() and r.top() < centre[1] < r.bottom() and r.width() > size * 0.2
        ]
        if plausible:
            return max(plausible, key=lambda r: r.width())
        x0, y0, x1, y1 = (round(v * size) for v in _CANONICAL_BOX)
        return dlib.rectangle(x0, y0, x1, y1)

    def shape(self, template: np.ndarray, rectangle: dlib.rectangle) -> dlib.full_object_detection:
        with self._lock:
            return self._predictor(template, rectangle)

    def predict(self, template: np.ndarray) -> np.ndarray:
        """(68, 2) float32 landmarks in template pixels."""
        return shape_to_array(self.shape(template, self.face_rectangle(template)))


def shape_to_array(shape: dlib.full_object_detection) -> np.ndarray:
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def array_to_shape(landmarks68: np.ndarray) -> dlib.full_object_detection:
    """Rebuild a dlib shape from 68 landmarks (for dlib's face descriptor)."""
    points = [dlib.point(round(float(x)), round(float(y))) for x, y in landmarks68]
    x0, y0 = landmarks68.min(axis=0)
    x1, y1 = landmarks68.max(axis=0)
    rectangle = dlib.rectangle(round(float(x0)), round(float(y0)), round(float(x1)), round(float(y1)))
    return dlib.full_object_detection(rectangle, dlib.points(points))
