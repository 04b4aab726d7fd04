"""The signed C2PA manifest on every MP4 (`c2pa-python`), and reading one back.

What a manifest says: one `c2pa.created` action whose IPTC digital source type is `compositeSynthetic` (the photo
of a real person, and a real recording when one was uploaded, composited with synthetic motion, mouth and, for
typed text, synthetic speech: README explains the choice), the generator's name and version, and the render id.
Nothing about the person: no file name, embedding, session id, voice handle or passphrase ever enters it.

Guarantees: signing replaces the file under the ephemeral root atomically (a failure leaves the unsigned file
untouched and no partial file); reading never raises on a file without a manifest or with a broken one: it
reports "absent" or "invalid".
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linly_demo import __version__
from linly_demo.provenance.identity import SigningIdentity

GENERATOR = "linly-demo"
SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"
MIME = "video/mp4"
RENDER_ID_PARAMETER = "org.linly-demo.render_id"
UNTRUSTED = "signingCredential.untrusted"  # the signature holds, but its chain does not reach a trusted anchor


def manifest_definition(render_id: str) -> dict[str, Any]:
    """The manifest for one render: exactly these fields (a test reads them back)."""
    agent = {"name": GENERATOR, "version": __version__}
    return {
        "claim_generator_info": [agent],
        "title": "AI-generated talking portrait",
        "format": MIME,
        "assertions": [{
            "label": "c2pa.actions",
            "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": SOURCE_TYPE,
                "softwareAgent": agent,
                "parameters": {RENDER_ID_PARAMETER: render_id},
            }]},
        }],
    }


def sign_video(path: Path, identity: SigningIdentity, render_id: str) -> None:
    """Embed a signed manifest in the MP4 at `path` (replaced atomically, same permissions)."""
    import c2pa  # deferred: the native library loads in about 0.1 s, and only renders and `verify` need it

    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, identity.chain_pem,
                                                       identity.key_pem, None))
    signed = path.with_name(path.name + ".signing")
    fd = os.open(signed, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w+b") as destination, open(path, "rb") as source, \
                c2pa.Builder(json.dumps(manifest_definition(render_id))) as builder:
            builder.sign(signer, MIME, source, destination)
        os.replace(signed, path)
    except BaseException:
        signed.unlink(missing_ok=True)
        raise
    finally:
        signer.close()


@dataclass(frozen=True)
class ManifestReport:
    """What a video's C2PA manifest says. `state`: absent, invalid, valid (the signature holds but the signer is
    not trusted here) or trusted (validates against this deployment's trust anchor)."""

    state: str
    signer: str | None = None
    this_deployment: bool = False
    render_id: str | None = None
    digital_source_type: str | None = None
    generator: str | None = None
    problems: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "signer": self.signer, "signer_is_this_deployment": self.this_deployment,
                "render_id": self.render_id, "digital_source_type": self.digital_source_type,
                "generator": self.generator, "problems": list(self.problems)}


def read_manifest(data: bytes, identity: SigningIdentity | None) -> ManifestReport:
    """Validate the manifest in MP4 `data` against `identity`'s trust anchor (when given)."""
    import c2pa  # deferred, as in sign_video

    settings: dict[str, Any] = {"verify": {"verify_trust": True}}
    if identity is not None:
        settings["trust"] = {"trust_anchors": identity.anchor_pem.decode()}
    try:
        with c2pa.Context.from_dict(settings) as context:
            reader = c2pa.Reader.try_create(MIME, io.BytesIO(data), context=context)
            if reader is None:
                return ManifestReport("absent")
            with reader:
                state = (reader.get_validation_state() or "").lower()
                manifest = reader.get_active_manifest() or {}
                results = reader.get_validation_results() or {}
    except c2pa.C2paError as exc:
        return ManifestReport("invalid", problems=(type(exc).__name__,))
    failures = {item.get("code", "") for item in (results.get("activeManifest") or {}).get("failure", [])} - {""}
    untrusted = UNTRUSTED in failures
    failures.discard(UNTRUSTED)
    signature = manifest.get("signature_info") or {}
    action = _created_action(manifest)
    if failures or state not in ("trusted", "valid"):
        verdict = "invalid"
    else:
        verdict = "valid" if untrusted or identity is None else "trusted"
    ours = identity is not None and verdict == "trusted" and str(signature.get("cert_serial_number")) == str(
        identity.signer_certificate.serial_number)
    generator = ", ".join(f"{g.get('name')} {g.get('version')}" for g in manifest.get("claim_generator_info", []))
    return ManifestReport(verdict, signature.get("common_name"), ours,
                          (action.get("parameters") or {}).get(RENDER_ID_PARAMETER),
                          action.get("digitalSourceType"), generator or None,
                          tuple(sorted(failures | ({UNTRUSTED} if untrusted else set()))))


def _created_action(manifest: dict[str, Any]) -> dict[str, Any]:
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions", []):
                if action.get("action") == "c2pa.created":
                    return dict(action)
    return {}
