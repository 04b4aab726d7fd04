"""The mark is informed on the centre of the frame apart from its border: a video cropped to its centre (10% off
every border) still reads what the centre was made to read, so the crop keeps the payload on textured photos
where a mark informed on the whole frame only lost it (the still astronaut: two of these three payloads)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from linly_demo.provenance.watermark import FrameOffset, Payload, average_luma, detect, embed, luma, mark_image
from tests.provenance.conftest import frames_of, mp4_of

PHOTOS = ("astronaut", "camera", "coffee", "brick", "chelsea")
PAYLOADS = tuple(Payload(0x1000 + k, (0x9E3779B9 * (k + 1)) & 0xFFFFFFFF) for k in range(3))


@pytest.mark.parametrize("name", PHOTOS)
def test_a_still_photo_cropped_10_percent_off_every_border_keeps_its_payload(name: str) -> None:
    image = getattr(data, name)()
    image = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]
    image = cv2.resize(image, (512, 512), interpolation=cv2.INTER_AREA)
    for payload in PAYLOADS:
        marked = embed(image[None].copy(), FrameOffset.of(mark_image(payload, luma(image))))[0]
        cropped = np.ascontiguousarray(marked[51:461, 51:461])
        detection = detect(average_luma(frames_of(mp4_of([cropped] * 10, crf=23))))
        assert detection.found and detection.payload == payload, (name, payload)
