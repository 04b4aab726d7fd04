"""The audit log: one de-identified JSON line per event."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from linly_demo.audit import AuditLog


def test_lines_hold_only_the_de_identified_fields(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path), b"k" * 32)
    log.record("portrait.rejected", "rejected", subject="user-42", duration_s=0.0123, reason="no_face")
    line = json.loads(path.read_text())
    assert set(line) == {"event", "time", "outcome", "duration_ms", "reason", "subject"}
    assert line["subject"] != "user-42" and len(line["subject"]) == 24
    assert line["duration_ms"] == 12.3
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_subject_hashes_are_keyed() -> None:
    assert AuditLog("-", b"a" * 32).subject_hash("u") != AuditLog("-", b"b" * 32).subject_hash("u")
    assert AuditLog("-", b"a" * 32).subject_hash("u") == AuditLog("-", b"a" * 32).subject_hash("u")


@pytest.mark.parametrize("event,reason", [("portrait /dev/shm/x.jpg", None), ("portrait.rejected", "Traceback: x")])
def test_free_text_cannot_reach_the_log(event: str, reason: str | None) -> None:
    with pytest.raises(ValueError):
        AuditLog("-", b"k" * 32).record(event, "rejected", reason=reason)


def test_stderr_destination(capsys: pytest.CaptureFixture[str]) -> None:
    AuditLog("-", b"k" * 32).record("portrait.received")
    assert json.loads(capsys.readouterr().err)["event"] == "portrait.received"
