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
    ],
)
def test_invalid_settings_refuse_to_start_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert name in caught.value.user_message


def test_template_follows_the_video_size() -> None:
    assert Settings.from_env({"LINLY_VIDEO_SIZE": "384"}).template_size == 384
    assert Settings.from_env({"LINLY_VIDEO_SIZE": "256", "LINLY_TEMPLATE_SIZE": "512"}).template_size == 512
