"""The process-wide services, wired once from the settings: secret, audit log, ephemeral root, tokens, portrait
pipeline and voice service (the only module that sees both; portrait and voice modules never import each other).

Guarantees: the ephemeral root is verified before anything is accepted; its sweeper also purges expired
in-memory features; the root is wiped at exit and on SIGTERM/SIGINT when shutdown hooks are installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from linly_demo.audit import AuditLog
from linly_demo.cluster.gateway import ClusterGateway
from linly_demo.config import Settings
from linly_demo.device import torch_device
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.keys import AUDIT_SUBJECT, PORTRAIT_TOKEN, ServerSecret
from linly_demo.portrait.pipeline import PortraitFeatures, PortraitPipeline
from linly_demo.provenance.identity import load_identity
from linly_demo.provenance.service import Provenance
from linly_demo.tokens import TokenStore
from linly_demo.voice.service import VoiceService
from linly_demo.voice.store import VoiceStore


@dataclass(frozen=True)
class Runtime:
    """Everything a request handler or the command line needs, built from one `Settings`."""

    settings: Settings
    secret: ServerSecret
    audit: AuditLog
    ephemeral: EphemeralRoot
    tokens: TokenStore[PortraitFeatures]
    portraits: PortraitPipeline
    voices: VoiceService
    provenance: Provenance
    cluster: ClusterGateway | None = None  # LINLY_RAY_ADDRESS set: frames are rendered on the Ray cluster

    def close(self) -> None:
        """Stop the sweeper, wipe the ephemeral root and let go of the cluster."""
        if self.cluster is not None:
            self.cluster.close()
        self.ephemeral.wipe()


def build_runtime(settings: Settings | None = None, start_sweeper: bool = True,
                  shutdown_hooks: bool = False, renders: bool = True) -> Runtime:
    """Verify the ephemeral root and wire the services; raises ConfigError when a guarantee cannot hold.
    With `renders` (the app, `render`) and LINLY_RAY_ADDRESS set, it joins the Ray cluster before it returns."""
    settings = settings or Settings.from_env()
    secret = ServerSecret(settings.secret_key)
    audit = AuditLog(settings.audit_log, secret.key_for(AUDIT_SUBJECT))
    ephemeral = EphemeralRoot.from_settings(
        settings, on_sweep=lambda count: audit.record("ephemeral.expired", "expired", count=count)
    )
    tokens: TokenStore[PortraitFeatures] = TokenStore(
        secret.key_for(PORTRAIT_TOKEN), settings.token_ttl_seconds, audit
    )
    ephemeral.add_sweep_hook(tokens.purge_expired)
    identity = load_identity(settings.c2pa_cert, settings.c2pa_key, settings.provenance_dir, ephemeral.path)
    provenance = Provenance(identity, audit, settings.visible_label)
    if not settings.visible_label:
        audit.record("config.visible_label_off", "ok", reason="offline_evaluation")
    portraits = PortraitPipeline(settings, audit, ephemeral, torch_device(settings.device))
    voices = VoiceService(settings, audit, ephemeral, VoiceStore(settings.voice_store, ephemeral.path), tokens)
    try:
        cluster = ClusterGateway.start(settings) if settings.ray_address and renders else None
    except BaseException:
        ephemeral.wipe()  # a refused start leaves nothing behind
        raise
    if cluster is not None:
        audit.record("cluster.connected", "ok", count=int(cluster.summary.get("nodes", 0)),
                     reason="local" if settings.ray_address == "local" else "remote")
    if shutdown_hooks:
        ephemeral.install_shutdown_hooks()
    if start_sweeper:
        ephemeral.start_sweeper()
    return Runtime(settings, secret, audit, ephemeral, tokens, portraits, voices, provenance, cluster)
