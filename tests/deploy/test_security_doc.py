"""SECURITY.md's retention table states the configuration defaults, and covers every kind of data."""

from __future__ import annotations

import re

from linly_demo.config import Settings
from tests.conftest import REPO

KINDS = {"photo (upload)", "aligned template", "landmarks", "embedding", "portrait token",
         "speech (upload or recording)", "voice samples", "voiceprint", "video", "audit line",
         "video to check (upload)", "C2PA signing key",
         "template, the clip's mean luma and driving chunks on a render cluster"}
SETTING_OF = {"LINLY_TTL_SECONDS": "ttl_seconds", "LINLY_TOKEN_TTL_SECONDS": "token_ttl_seconds"}


def retention_rows() -> dict[str, list[str]]:
    text = (REPO / "SECURITY.md").read_text()
    section = text.split("## Retention", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("data", "---"):
            rows[cells[0]] = cells
    return rows


def test_every_kind_of_data_has_a_row() -> None:
    assert set(retention_rows()) == KINDS


def test_durations_are_the_configuration_defaults() -> None:
    defaults = Settings.from_env({})
    checked = 0
    for kind, cells in retention_rows().items():
        for seconds, variable in re.findall(r"(\d+) s \((LINLY_[A-Z_]+)\)", cells[2]):
            assert int(seconds) == getattr(defaults, SETTING_OF[variable]), (kind, variable)
            checked += 1
    assert checked >= 8
    assert retention_rows()["voiceprint"][2] == "until erased"
