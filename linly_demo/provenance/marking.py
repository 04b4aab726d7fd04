"""What marks a render's frames: the invisible watermark and the visible label, from a small picklable spec.

Guarantees: the spec holds only the watermark's payload (this deployment's 16-bit tag and the render's random
32-bit id) and whether the label is on, nothing about the person; the mark is shaped on a host picture fixed for
the whole render (the render's estimate of its mean frame, `render.segments.mark_host`, when it is given), so any
run of frames, rendered anywhere and in any order, gets exactly the marks a one-piece render gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linly_demo.provenance.label import label_frames
from linly_demo.provenance.watermark import FrameOffset, Payload, average_luma, embed, luma, mark_image


@dataclass(frozen=True)
class MarkSpec:
    """One render's marking: the watermark payload and the visible label's switch."""

    deployment_tag: int
    render_id: int
    visible_label: bool = True

    @property
    def payload(self) -> Payload:
        return Payload(self.deployment_tag, self.render_id)


class FrameMarker:
    """Marks one render's frame batches in place: the watermark, then the label when it is on. The watermark is
    shaped on `host` (of the frames' size: the clip's mean luma (H, W) or an RGB picture such as the template) or,
    without one, on the first batch."""

    def __init__(self, spec: MarkSpec, host: np.ndarray | None = None) -> None:
        self.spec = spec
        host_luma = None if host is None else (luma(host) if host.ndim == 3 else host.astype(np.float32))
        self._offset = None if host_luma is None else FrameOffset.of(mark_image(spec.payload, host_luma))

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if self._offset is None:
            self._offset = FrameOffset.of(mark_image(self.spec.payload, average_luma(list(frames[:8]))))
        embed(frames, self._offset)
        return label_frames(frames) if self.spec.visible_label else frames
