"""Decoding: conversions instead of rejections, orientation applied, metadata dropped."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from linly_demo import errors
from linly_demo.portrait.decode import decode_image, sniff_format
from tests.conftest import encode

LIMIT = 10 * 2**20
PIXELS = 40_000_000


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_formats_are_recognised_by_magic_bytes_only(astronaut: np.ndarray) -> None:
    assert sniff_format(encode(astronaut, "JPEG")) == "JPEG"
    assert sniff_format(encode(astronaut, "PNG")) == "PNG"
    assert sniff_format(encode(astronaut, "WEBP")) == "WEBP"
    assert sniff_format(encode(astronaut, "GIF")) is None
    assert sniff_format(b"<svg") is None


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "CMYK", "I;16"])
def test_unusual_pixel_formats_are_converted_to_rgb(astronaut: np.ndarray, mode: str) -> None:
    image = Image.fromarray(astronaut)
    if mode == "I;16":
        gray = np.asarray(image.convert("L"), dtype=np.uint16) * 257
        image = Image.fromarray(gray)
        assert image.mode == "I;16"
        fmt = "PNG"
    else:
        image = image.convert(mode)
        fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    rgb = decode_image(_save(image, fmt), LIMIT, PIXELS)
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    # Conversions keep the picture: the result correlates with the original's luminance.
    luma = np.asarray(Image.fromarray(astronaut).convert("L"), dtype=np.float64)
    assert np.corrcoef(luma.ravel(), rgb.mean(axis=2).ravel())[0, 1] > 0.95


def test_transparent_areas_become_white_not_black(astronaut: np.ndarray) -> None:
    rgba = np.dstack([astronaut, np.full((512, 512), 255, np.uint8)])
    rgba[:100, :100, 3] = 0
    rgb = decode_image(encode(rgba, "PNG"), LIMIT, PIXELS)
    assert (rgb[:100, :100] == 255).all()


def test_exif_orientation_is_applied_and_metadata_dropped(astronaut: np.ndarray) -> None:
    wide = astronaut[:, :400]
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    exif[0x010F] = "SecretCameraMaker"
    data = _save(Image.fromarray(wide), "JPEG", exif=exif.tobytes())
    rgb = decode_image(data, LIMIT, PIXELS)
    assert rgb.shape == (400, 512, 3)  # rotated upright
    assert isinstance(rgb, np.ndarray) and b"SecretCameraMaker" not in rgb.tobytes()


def test_pixel_limit_is_checked_from_the_header() -> None:
    header_only = _save(Image.new("L", (8000, 6000)), "PNG")
    with pytest.raises(errors.ImageTooLarge) as caught:
        decode_image(header_only, LIMIT, PIXELS)
    assert "megapixels" in caught.value.user_message


def test_a_photo_too_small_to_hold_a_face_says_so() -> None:
    with pytest.raises(errors.ImageTooSmall, match="only 1x1 pixels"):
        decode_image(encode(np.zeros((1, 1, 3), np.uint8), "PNG"), 1 << 20, 1 << 24)
