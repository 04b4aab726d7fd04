"""Is a rendered frame still the portrait's person? The product's own embedder (FaceNet by default) compares
sampled output frames with the portrait's embedding, so a render that drifts into someone else is refused.

Guarantees: frames are looked at in memory only; a frame where no face is found counts as drifted (infinitely
far); the check uses the same detector, crop and embedder as the portrait itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from linly_demo.errors import IdentityDrift
from linly_demo.portrait.embed import FaceView, embedding_distance
from linly_demo.portrait.pipeline import PortraitModels

# A rendered frame holds one large face (the template's): found as surely on a 256 px copy, four times faster.
FRAME_DETECTION_SIDE = 256


class IdentityCheck:
    """Distances of frames to `reference` (the portrait's embedding); refuses beyond the same-person threshold."""

    def __init__(self, models: PortraitModels, reference: np.ndarray) -> None:
        self._models = models
        self._reference = reference
        self.threshold = models.embedder.same_person_threshold

    def distances(self, frames: Sequence[np.ndarray]) -> list[float]:
        """Per frame, the embedding distance of its largest face to the portrait (inf where there is none)."""
        embedder = self._models.embedder
        views: dict[int, FaceView] = {}
        for index, frame in enumerate(frames):
            detections = self._models.detector.detect(frame, FRAME_DETECTION_SIDE)
            if detections:
                box = detections[0].box  # the largest face (the detector sorts by area)
                marks = self._models.landmarks.predict(frame) if embedder.needs_landmarks else None
                views[index] = FaceView(frame, (box.x0, box.y0, box.x1, box.y1), frame, marks)
        vectors = dict(zip(views, embedder.embed_many(list(views.values())), strict=True)) if views else {}
        return [embedding_distance(vectors[i], self._reference) if i in vectors else float("inf")
                for i in range(len(frames))]

    def __call__(self, frames: Sequence[np.ndarray]) -> None:
        """Raise IdentityDrift when any frame is further from the portrait than the same-person threshold."""
        if any(distance > self.threshold for distance in self.distances(frames)):
            raise IdentityDrift()
