"""Settings: defaults, hard maxima, and clear errors naming the variable."""

from __future__ import annotations

import pytest

from linly_demo.config import Settings
from linly_demo.errors import ConfigError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.ttl_seconds == 300
    assert settings.token_ttl_seconds == 3600
    assert settings.max_upload_bytes == 10 * 2**20
    assert settings.template_size == settings.video_size == 512  # rendered at the output size
    assert settings.audit_log == "-"
    assert not settings.allow_disk_ephemeral and not settings.allow_downloads
    assert settings.visible_label and settings.c2pa_cert is None and settings.provenance_dir.endswith("provenance")


@pytest.mark.parametrize(
    "name,value",
    [
        ("LINLY_TTL_SECONDS", "301"),
        ("LINLY_TOKEN_TTL_SECONDS", "3601"),
        ("LINLY_TTL_SECONDS", "soon"),
        ("LINLY_ALLOW_DISK_EPHEMERAL", "maybe"),
        ("LINLY_SECRET_KEY", "short"),
        ("LINLY_DEVICE", "tpu"),
        ("LINLY_TEMPLATE_SIZE", "256"),  # below the 512 px video: the face would be upscaled
        ("LINLY_VISIBLE_LABEL", "hidden"),
        ("LINLY_C2PA_CERT", "/only/the/cert.pem"),  # without its key
    ],
)
def test_invalid_settings_refuse_to_start_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert name in caught.value.user_message


def test_template_follows_the_video_size() -> None:
    assert Settings.from_env({"LINLY_VIDEO_SIZE": "384"}).template_size == 384
    assert Settings.from_env({"LINLY_VIDEO_SIZE": "256", "LINLY_TEMPLATE_SIZE": "512"}).template_size == 512


def test_turning_the_label_off_is_recorded_at_start_up(tmp_path, ephemeral_dir) -> None:
    import json

    from linly_demo.runtime import build_runtime

    audit = tmp_path / "audit.jsonl"
    env = {"LINLY_EPHEMERAL_DIR": str(ephemeral_dir), "LINLY_AUDIT_LOG": str(audit), "LINLY_VISIBLE_LABEL": "0",
           "LINLY_PROVENANCE_DIR": "memory", "LINLY_VOICE_STORE": str(tmp_path / "voices")}
    runtime = build_runtime(Settings.from_env(env), start_sweeper=False)
    try:
        assert not runtime.provenance.visible_label and runtime.provenance.identity.source == "memory"
        events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
        assert events == ["config.visible_label_off"]
    finally:
        runtime.close()
