"""Face embeddings: FaceNet (InceptionResnetV1, VGGFace2, 512-d) when its weights are on this machine, otherwise
dlib's 128-d face descriptor, which ships offline with face-recognition-models.

Guarantees: embeddings are L2-normalised float32 and record their backend; a network is never used with random
weights (FaceNet weights must load completely or the offline descriptor is used); nothing is downloaded unless
LINLY_ALLOW_DOWNLOADS=1.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import cv2
import dlib
import numpy as np
import torch

from linly_demo.portrait.landmarks import _model_path, array_to_shape

log = logging.getLogger(__name__)

FACENET_FILE = "20180402-114759-vggface2.pt"


class Embedder(Protocol):
    backend: str
    dim: int
    same_person_threshold: float  # Euclidean distance between L2-normalised embeddings

    def embed(self, template: np.ndarray, landmarks68: np.ndarray) -> np.ndarray: ...


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

    def embed(self, template: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        return l2_normalise(self.raw_descriptor(template, landmarks68))


class FacenetEmbedder:
    """InceptionResnetV1 pretrained on VGGFace2, on a 160x160 crop of the template around the 68 landmarks."""

    backend = "facenet-vggface2-512"
    dim = 512
    same_person_threshold = 1.0

    def __init__(self, state_dict: dict[str, torch.Tensor], device: torch.device) -> None:
        from facenet_pytorch import InceptionResnetV1  # deferred: it imports torchvision (seconds), models only

        model = InceptionResnetV1(pretrained=None, classify=False)
        backbone = {k: v for k, v in state_dict.items() if not k.startswith("logits.")}
        missing, unexpected = model.load_state_dict(backbone, strict=True)
        if missing or unexpected:
            raise ValueError("FaceNet weights do not match InceptionResnetV1")
        self._model = model.eval().to(device)
        self._device = device

    def embed(self, template: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        x0, y0 = landmarks68.min(axis=0)
        x1, y1 = landmarks68.max(axis=0)
        margin = 0.12 * max(x1 - x0, y1 - y0)
        size = template.shape[0]
        box = np.clip([x0 - margin, y0 - margin, x1 + margin, y1 + margin], 0, size).round().astype(int)
        crop = cv2.resize(template[box[1]:box[3], box[0]:box[2]], (160, 160), interpolation=cv2.INTER_AREA)
        tensor = (torch.from_numpy(crop).permute(2, 0, 1).float() - 127.5) / 128.0
        with torch.inference_mode():
            vector = self._model(tensor.unsqueeze(0).to(self._device))[0].cpu().numpy()
        return l2_normalise(vector)


def facenet_weights_path(configured: Path | None) -> Path | None:
    """The configured weights file, or the torch hub cache's copy, if either exists."""
    if configured is not None:
        return configured if configured.is_file() else None
    cache = os.getenv("XDG_CACHE_HOME", "~/.cache")
    torch_home = Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch"))))
    cached = torch_home / "checkpoints" / FACENET_FILE
    return cached if cached.is_file() else None


def load_embedder(configured_weights: Path | None, allow_downloads: bool, device: torch.device) -> Embedder:
    """FaceNet when its weights are present (or may be downloaded), else dlib's offline descriptor."""
    path = facenet_weights_path(configured_weights)
    if configured_weights is not None and path is None:
        log.warning("LINLY_FACENET_WEIGHTS does not name a readable file; using dlib's offline face descriptor")
    try:
        if path is not None:
            return FacenetEmbedder(torch.load(path, map_location="cpu", weights_only=True), device)
        if allow_downloads:
            from facenet_pytorch import InceptionResnetV1  # deferred, as above

            InceptionResnetV1(pretrained="vggface2")  # downloads into the torch hub cache
            cached = facenet_weights_path(None)
            if cached is not None:
                return FacenetEmbedder(torch.load(cached, map_location="cpu", weights_only=True), device)
    except Exception as exc:  # unreadable or incompatible weights: fall back, never run a random network
        log.warning("FaceNet weights unusable (%s); using dlib's offline face descriptor", type(exc).__name__)
    return DlibEmbedder()
