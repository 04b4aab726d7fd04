"""Every setting of linly-demo, each read once from its environment variable, with its default.

`Settings.from_env()` validates everything at start-up and raises `ConfigError` with a message naming the
variable, so a misconfigured server refuses to start instead of running with weaker guarantees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from linly_demo.errors import ConfigError

MAX_TTL_SECONDS = 300.0
MAX_TOKEN_TTL_SECONDS = 3600.0
MAX_IMAGE_PIXELS = 40_000_000
# How often the sweeper runs, at most; it never lets an entry outlive TTL + this.
MAX_SWEEP_INTERVAL_SECONDS = 10.0


def default_ephemeral_dir() -> Path:
    """A per-user directory under /dev/shm (tmpfs on Linux)."""
    return Path("/dev/shm") / f"linly-demo-{os.getuid()}"  # nosec B108: tmpfs is the point; the root is checked to be memory-backed, 0700 and ours


def default_provenance_dir() -> str:
    """The user's config directory (e.g. ~/.config/linly-demo/provenance): the deployment's C2PA signing key."""
    return str(Path(platformdirs.user_config_dir("linly-demo", appauthor=False)) / "provenance")


def default_ray_temp_dir() -> Path:
    """Ray's session, log and spill folder for this app: tmpfs, short (Ray's sockets live there), per user."""
    return Path("/dev/shm") / f"linly-ray-{os.getuid()}"  # nosec B108: tmpfs is the point (checked at start)


def default_voice_store() -> Path:
    """The user's data directory (e.g. ~/.local/share/linly-demo/voices): persistent, for encrypted records only."""
    return Path(platformdirs.user_data_dir("linly-demo", appauthor=False)) / "voices"


@dataclass(frozen=True)
class Settings:
    """All settings; construct with `Settings.from_env()`."""

    ephemeral_dir: Path
    allow_disk_ephemeral: bool = False
    ttl_seconds: float = MAX_TTL_SECONDS
    max_upload_mb: float = 10.0
    max_image_pixels: int = MAX_IMAGE_PIXELS
    template_size: int = 512  # the largest face template (a small face gets less); never below video_size
    facenet_weights: Path | None = None
    allow_downloads: bool = False
    secret_key: bytes | None = None
    token_ttl_seconds: float = MAX_TOKEN_TTL_SECONDS
    audit_log: str = "-"
    device: str = "auto"
    max_audio_seconds: float = 60.0
    max_audio_mb: float = 30.0
    fps: int = 25
    video_size: int = 512
    voice_store: Path = field(default_factory=default_voice_store)
    host: str = "127.0.0.1"
    port: int = 7860
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    render_concurrency: int = 2
    render_timeout_seconds: float = 180.0
    wipe_on_exit: bool = True
    on_spaces: bool = False
    visible_label: bool = True
    c2pa_cert: Path | None = None
    c2pa_key: Path | None = None
    provenance_dir: str = field(default_factory=default_provenance_dir)  # a folder, or "memory"
    ray_address: str | None = None  # "host:port" of a Ray cluster's head, "local", or None (render in-process)
    ray_token_file: Path | None = None
    ray_gpus_per_render: float | None = None  # None: one GPU per task when the cluster has GPUs, else none
    ray_chunk_seconds: float = 4.0
    ray_temp_dir: Path = field(default_factory=default_ray_temp_dir)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_audio_bytes(self) -> int:
        return int(self.max_audio_mb * 1024 * 1024)

    @property
    def sweep_interval_seconds(self) -> float:
        return max(0.2, min(MAX_SWEEP_INTERVAL_SECONDS, self.ttl_seconds / 5))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        secret = env.get("LINLY_SECRET_KEY") or None
        if secret is not None and len(secret) < 16:
            raise ConfigError("LINLY_SECRET_KEY must be at least 16 characters long (or unset for a random key).")
        weights = env.get("LINLY_FACENET_WEIGHTS") or None
        device = env.get("LINLY_DEVICE", "auto").strip().lower()
        if device not in ("auto", "cpu", "cuda"):
            raise ConfigError("LINLY_DEVICE must be one of: auto, cpu, cuda.")
        certfile, keyfile = env.get("LINLY_SSL_CERTFILE") or None, env.get("LINLY_SSL_KEYFILE") or None
        if bool(certfile) != bool(keyfile):
            raise ConfigError("Set both LINLY_SSL_CERTFILE and LINLY_SSL_KEYFILE for HTTPS, or neither.")
        c2pa_cert, c2pa_key = env.get("LINLY_C2PA_CERT") or None, env.get("LINLY_C2PA_KEY") or None
        if bool(c2pa_cert) != bool(c2pa_key):
            raise ConfigError("Set both LINLY_C2PA_CERT and LINLY_C2PA_KEY to sign with your own certificate, or "
                              "neither (a per-deployment certificate is generated).")
        video_size = int(_number(env, "LINLY_VIDEO_SIZE", 512, 128, 1024))
        template_size = int(_number(env, "LINLY_TEMPLATE_SIZE", video_size, 128, 1024))
        if template_size < video_size:
            raise ConfigError(f"LINLY_TEMPLATE_SIZE ({template_size}) must be at least LINLY_VIDEO_SIZE "
                              f"({video_size}): the face is rendered at the output size from the photo's pixels, "
                              "never upscaled.")
        ray_address = (env.get("LINLY_RAY_ADDRESS") or "").strip() or None
        ray_token = env.get("LINLY_RAY_TOKEN_FILE") or None
        if ray_address is not None:
            _check_ray_address(ray_address, ray_token)
        return cls(
            ephemeral_dir=Path(env.get("LINLY_EPHEMERAL_DIR") or default_ephemeral_dir()),
            allow_disk_ephemeral=_flag(env, "LINLY_ALLOW_DISK_EPHEMERAL"),
            ttl_seconds=_number(env, "LINLY_TTL_SECONDS", MAX_TTL_SECONDS, 0.5, MAX_TTL_SECONDS),
            max_upload_mb=_number(env, "LINLY_MAX_UPLOAD_MB", 10.0, 0.01, 100.0),
            template_size=template_size,
            facenet_weights=Path(weights) if weights else None,
            allow_downloads=_flag(env, "LINLY_ALLOW_DOWNLOADS"),
            secret_key=secret.encode() if secret else None,
            token_ttl_seconds=_number(env, "LINLY_TOKEN_TTL_SECONDS", MAX_TOKEN_TTL_SECONDS, 1.0,
                                      MAX_TOKEN_TTL_SECONDS),
            audit_log=env.get("LINLY_AUDIT_LOG", "-") or "-",
            device=device,
            max_audio_seconds=_number(env, "LINLY_MAX_AUDIO_SECONDS", 60.0, 1.0, 600.0),
            max_audio_mb=_number(env, "LINLY_MAX_AUDIO_MB", 30.0, 0.01, 200.0),
            video_size=video_size,
            voice_store=Path(env.get("LINLY_VOICE_STORE") or default_voice_store()),
            host=env.get("LINLY_HOST") or ("0.0.0.0" if env.get("SPACE_ID") else "127.0.0.1"),  # nosec B104
            port=int(_number(env, "LINLY_PORT", float(env.get("GRADIO_SERVER_PORT") or 7860), 1, 65535)),
            ssl_certfile=Path(certfile) if certfile else None,
            ssl_keyfile=Path(keyfile) if keyfile else None,
            render_concurrency=int(_number(env, "LINLY_RENDER_CONCURRENCY", 2, 1, 16)),
            render_timeout_seconds=_number(env, "LINLY_RENDER_TIMEOUT_SECONDS", 180.0, 5.0, 3600.0),
            wipe_on_exit=_flag(env, "LINLY_WIPE_ON_EXIT", default=True),
            on_spaces=bool(env.get("SPACE_ID")),
            visible_label=_flag(env, "LINLY_VISIBLE_LABEL", default=True),
            c2pa_cert=Path(c2pa_cert) if c2pa_cert else None,
            c2pa_key=Path(c2pa_key) if c2pa_key else None,
            provenance_dir=env.get("LINLY_PROVENANCE_DIR") or default_provenance_dir(),
            ray_address=ray_address,
            ray_token_file=Path(ray_token) if ray_token else None,
            ray_gpus_per_render=(_number(env, "LINLY_RAY_GPUS_PER_RENDER", 0.0, 0.0, 8.0)
                                 if (env.get("LINLY_RAY_GPUS_PER_RENDER") or "").strip() else None),
            ray_chunk_seconds=_number(env, "LINLY_RAY_CHUNK_SECONDS", 4.0, 0.5, 600.0),
            ray_temp_dir=Path(env.get("LINLY_RAY_TEMP_DIR") or default_ray_temp_dir()),
        )


def _check_ray_address(address: str, token_file: str | None) -> None:
    """`local`, or host:port of a head node that needs this app's token (an unauthenticated Ray runs anyone's code)."""
    if address == "local":
        return
    host, _, port = address.rpartition(":")
    if address.startswith("ray://") or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("LINLY_RAY_ADDRESS must be host:port of the Ray head's GCS (e.g. ray-head:6379), or "
                          "'local'.")
    if not token_file:
        raise ConfigError("LINLY_RAY_ADDRESS needs LINLY_RAY_TOKEN_FILE: the cluster's authentication token "
                          "(Ray >= 2.52 with RAY_AUTH_MODE=token on every node).")


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = env.get(name, "").strip().lower()
    if value == "":
        return default
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0.")


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g} (got {value:g}).")
    return value
