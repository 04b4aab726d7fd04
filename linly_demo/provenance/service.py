"""Marking every render: the visible label on its frames, a render id, the signed manifest, the audit line.

Guarantees: every frame handed to a render's `marker` carries the watermark and, with `visible_label` on (the
default), the label; every video handed to `seal` carries a manifest signed by this deployment, or is deleted
(no unmarked video leaves a failed seal); the audit log gets the render id only as a keyed hash (`render_hash`),
so an operator can later answer "did this deployment make this video, and when?" without keeping videos or ids.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

import numpy as np

from linly_demo.audit import AuditLog
from linly_demo.provenance.identity import SigningIdentity
from linly_demo.provenance.manifest import sign_video
from linly_demo.provenance.marking import FrameMarker, MarkSpec

RENDER_ID_BYTES = 4  # 32 bits: the watermark carries it whole


class Provenance:
    """This deployment's marking of its videos."""

    def __init__(self, identity: SigningIdentity, audit: AuditLog, visible_label: bool = True) -> None:
        self.identity = identity
        self.visible_label = visible_label
        self._audit = audit
        self._render_key = identity.render_id_key()

    @staticmethod
    def new_render_id() -> str:
        """A random render id (8 hex digits): it identifies a video, never a person."""
        return secrets.token_hex(RENDER_ID_BYTES)

    def render_hash(self, render_id: str) -> str:
        """The keyed hash of a render id that the audit log keeps (24 hex digits)."""
        return hmac.new(self._render_key, render_id.encode(), hashlib.sha256).hexdigest()[:24]

    @property
    def deployment_tag(self) -> int:
        """The 16 bits of the deployment id that the watermark carries."""
        return int(self.identity.deployment_id[:4], 16)

    def mark_spec(self, render_id: str) -> MarkSpec:
        """The watermark payload and label switch for one render (small, picklable, nothing about the person)."""
        return MarkSpec(self.deployment_tag, int(render_id, 16), self.visible_label)

    def marker(self, render_id: str, host: np.ndarray | None = None) -> FrameMarker:
        """What marks one render's frame batches, in order; `host` (the template) fixes the mark's shape."""
        return FrameMarker(self.mark_spec(render_id), host)

    def seal(self, path: Path, render_id: str, subject: str | None = None) -> None:
        """Sign the MP4 and audit the render id's keyed hash; on failure the video is deleted and the error raised."""
        try:
            sign_video(path, self.identity, render_id)
        except BaseException:
            path.unlink(missing_ok=True)
            self._audit.record("render.provenance", "failed", subject, reason="signing_failed")
            raise
        self._audit.record("render.provenance", "ok", subject, render=self.render_hash(render_id))

    def knows(self, render_id: str) -> bool | None:
        """Whether this deployment's audit log records the render id (None when the log is not readable here)."""
        return self._audit.holds("render", self.render_hash(render_id))
