"""Public sample inputs for the benchmarks: the astronaut photo (NASA, public domain, shipped in scikit-image).

The benchmarks are development tools: they run in the environment `make bench` builds (requirements-dev.txt on
top of the runtime requirements); in the runtime-only environment of `make run` they say so instead of failing
with an import error.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

try:
    from skimage import data as _skimage_data
except ImportError:  # the runtime-only environment
    _skimage_data = None


def has_astronaut() -> bool:
    return _skimage_data is not None


def astronaut() -> np.ndarray:
    if _skimage_data is None:
        raise SystemExit("The benchmarks need the development packages: run `make bench` (or install "
                         "requirements-dev.txt into .venv) first.")
    return _skimage_data.astronaut()


def astronaut_bytes(fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(astronaut()).save(buffer, fmt, **options)
    return buffer.getvalue()
