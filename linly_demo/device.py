"""The torch device the app computes on: CUDA when present (or asked for), else CPU."""

from __future__ import annotations

import torch

from linly_demo.errors import ConfigError


def torch_device(setting: str = "auto") -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a GPU is a configuration error."""
    if setting == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if setting == "cuda":
        raise ConfigError("LINLY_DEVICE=cuda but no CUDA GPU is available.")
    return torch.device("cpu")
