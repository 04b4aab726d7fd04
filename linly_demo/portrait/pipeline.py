"""The portrait pipeline: upload bytes (or an upload file inside the ephemeral root) -> `PortraitFeatures`.

Guarantees: an upload file is read once and deleted in a `finally`, on success and on every error; only derived
features leave (aligned template, landmarks, embedding, face box), never original pixels or a file name; every
step is audited without identifying data; unexpected failures reach the user as a generic message.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from linly_demo.audit import AuditLog, Stopwatch
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.errors import InputRejected, LinlyError
from linly_demo.portrait.align import align_face, native_template_size
from linly_demo.portrait.decode import decode_image
from linly_demo.portrait.detect import FaceBox, FaceDetector, choose_face
from linly_demo.portrait.embed import Embedder, FaceView, load_embedder
from linly_demo.portrait.landmarks import LandmarkModel

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "align", "landmarks", "embed")


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class PortraitFeatures:
    """What the app keeps of a portrait: derived features in template coordinates, no original pixels."""

    template: np.ndarray  # (S, S, 3) uint8 RGB, aligned and lighting-normalised
    landmarks5: np.ndarray  # (5, 2) float32: eyes, nose, mouth corners
    landmarks68: np.ndarray  # (68, 2) float32: dlib's 68-point layout
    embedding: np.ndarray  # L2-normalised float32
    embedding_backend: str
    face_box: FaceBox  # in the uploaded photo's pixels
    faces_found: int
    created_at: float
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def embedding_dim(self) -> int:
        return int(self.embedding.shape[0])

    @property
    def template_size(self) -> int:
        return int(self.template.shape[0])


@dataclass(frozen=True)
class PortraitModels:
    """The loaded models; load once per process and share between pipelines."""

    detector: FaceDetector
    landmarks: LandmarkModel
    embedder: Embedder

    @classmethod
    def load(cls, settings: Settings, device: torch.device) -> PortraitModels:
        return cls(
            FaceDetector(device),
            LandmarkModel(),
            load_embedder(settings.facenet_weights, settings.allow_downloads, device),
        )


class PortraitPipeline:
    """decode -> detect -> align -> landmarks -> embed; models load once, on first use, unless given."""

    def __init__(
        self,
        settings: Settings,
        audit: AuditLog | None = None,
        ephemeral: EphemeralRoot | None = None,
        device: torch.device | None = None,
        models: PortraitModels | None = None,
    ) -> None:
        self._settings = settings
        self._audit = audit
        self._ephemeral = ephemeral
        self._device = device or torch.device("cpu")
        self._load_lock = threading.Lock()
        self._models = models

    @property
    def models(self) -> PortraitModels:
        with self._load_lock:
            if self._models is None:
                self._models = PortraitModels.load(self._settings, self._device)
                # Which embedder this process uses (a fixed code, e.g. facenet_casia_512), for the operator.
                self._record("portrait.models_loaded", "ok", None,
                             reason=self._models.embedder.backend.replace("-", "_"))
            return self._models

    def process_file(self, path: str | os.PathLike[str], subject: str | None = None) -> PortraitFeatures:
        """Process an upload file inside the ephemeral root; the file is deleted whatever happens."""
        if self._ephemeral is None:
            raise ValueError("process_file needs the ephemeral root")
        try:
            data = self._ephemeral.consume(path, self._settings.max_upload_bytes)
        except InputRejected as exc:  # over the size limit: refused before a byte is read
            self._record("portrait.rejected", "rejected", subject, None, exc.code)
            raise
        finally:
            if not os.path.lexists(path):
                self._record("portrait.raw_deleted", "ok", subject)
        return self.process_bytes(data, subject)

    def process_bytes(self, data: bytes, subject: str | None = None) -> PortraitFeatures:
        """Process upload bytes held in memory."""
        watch = Stopwatch()
        self._record("portrait.received", "ok", subject)
        try:
            features = self._run(data)
        except InputRejected as exc:
            self._record("portrait.rejected", "rejected", subject, watch.elapsed, exc.code)
            raise
        except LinlyError as exc:
            self._record("portrait.failed", "failed", subject, watch.elapsed, exc.code)
            raise
        except Exception:
            log.error("portrait processing failed unexpectedly", exc_info=log.isEnabledFor(logging.DEBUG))
            self._record("portrait.failed", "failed", subject, watch.elapsed, "internal_error")
            raise LinlyError("The photo could not be processed because of an internal error.") from None
        self._record("portrait.processed", "ok", subject, watch.elapsed)
        return features

    def _run(self, data: bytes) -> PortraitFeatures:
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = now - clock
            clock = now

        rgb = decode_image(data, self._settings.max_upload_bytes, self._settings.max_image_pixels)
        del data
        lap("decode")
        models = self.models
        clock = time.perf_counter()  # model loading is not a stage of this portrait
        chosen = choose_face(models.detector.detect(rgb))
        lap("detect")
        side = native_template_size(chosen.detection.landmarks5, self._settings.template_size)
        aligned = align_face(rgb, chosen.detection.landmarks5, side)
        lap("align")
        landmarks68 = models.landmarks.predict(aligned.template)
        lap("landmarks")
        box = chosen.detection.box
        embedding = models.embedder.embed(FaceView(rgb, (box.x0, box.y0, box.x1, box.y1), aligned.template,
                                                   landmarks68))
        del rgb  # the photo's pixels end here: only the aligned template and the features leave
        lap("embed")
        return PortraitFeatures(
            template=_frozen(aligned.template),
            landmarks5=_frozen(aligned.landmarks5),
            landmarks68=_frozen(landmarks68),
            embedding=_frozen(embedding),
            embedding_backend=models.embedder.backend,
            face_box=chosen.detection.box,
            faces_found=chosen.faces_found,
            created_at=time.time(),
            timings=dict(timings),
        )

    def _record(self, event: str, outcome: str, subject: str | None, duration: float | None = None,
                reason: str | None = None) -> None:
        if self._audit is not None:
            self._audit.record(event, outcome, subject=subject, duration_s=duration, reason=reason)
