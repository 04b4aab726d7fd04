"""Upload bytes -> RGB pixels, validated before decoding.

Guarantees: size, format (by magic bytes: JPEG, PNG, WebP only) and pixel count (from the header, before any
pixel buffer is allocated) are checked first; EXIF orientation is applied; all metadata is dropped (only an RGB
array leaves this module); grayscale, palette, alpha, 16-bit and CMYK inputs are converted, not rejected.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from linly_demo.errors import (
    CorruptImage,
    EmptyUpload,
    ImageTooLarge,
    ImageTooSmall,
    UnsupportedFormat,
    UploadTooLarge,
    megabytes,
)

# Smaller photos cannot hold a face the detector accepts (detect.MIN_FACE_PIXELS).
MIN_IMAGE_SIDE = 64

_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
)


def sniff_format(data: bytes) -> str | None:
    """'JPEG', 'PNG' or 'WEBP' from the file's magic bytes, else None (the file name is never consulted)."""
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Validate and decode an upload into a contiguous HxWx3 uint8 RGB array with no metadata."""
    if not data:
        raise EmptyUpload()
    if len(data) > max_bytes:
        raise UploadTooLarge(
            f"The photo is {megabytes(len(data))}; the limit is {max_bytes / 2**20:g} MB. "
            "Please upload a smaller photo."
        )
    image_format = sniff_format(data)
    if image_format is None:
        raise UnsupportedFormat()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[image_format]) as image:
                width, height = image.size
                if min(width, height) < MIN_IMAGE_SIDE:
                    raise ImageTooSmall(f"The photo is only {width}x{height} pixels; please upload a photo at "
                                        f"least {MIN_IMAGE_SIDE} pixels on each side.")
                if width * height > max_pixels:
                    raise ImageTooLarge(too_many_pixels(max_pixels, width * height))
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _to_rgb(upright)
    except (ImageTooLarge, ImageTooSmall):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard fires while reading the header, before any pixel buffer exists.
        raise ImageTooLarge(too_many_pixels(max_pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError):
        raise CorruptImage() from None


def too_many_pixels(max_pixels: int, pixels: int | None = None) -> str:
    found = f"{pixels / 1e6:.0f} megapixels" if pixels else "more megapixels than allowed"
    return f"The photo has {found}; the limit is {max_pixels / 1e6:g} megapixels. Please upload a smaller photo."


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(gray.max()), 1.0)
        gray8 = np.clip(gray / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray8[:, :, None], 3, axis=2))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
