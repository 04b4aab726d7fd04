"""The adversarial probe against a real server: every input gets a clear answer in time, nothing leaks or stays."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FACES, encode
from tests.security.probe import leftovers_after_ttl, run_probe
from tests.web.conftest import start_server, stop_server

pytestmark = pytest.mark.slow


def test_probe_counts_no_crash_no_hang_no_leftover(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo = (FACES / "alex-lacamoire-1.jpg").read_bytes() if FACES.is_dir() else encode(astronaut)
    server = start_server(tmp_path, ttl=20)
    try:
        tally, untouched = run_probe(server.url, server.ephemeral, photo)
        leftovers = leftovers_after_ttl(server.ephemeral, server.ttl)
        alive = server.process.poll() is None
    finally:
        output = stop_server(server)
    print(tally.summary())
    assert alive
    assert tally.crashes == [] and tally.hangs == [] and tally.unclear == [], tally
    assert tally.clear == tally.tried >= 1100
    assert untouched, "an attack read, copied or deleted another session's file"
    assert leftovers == []
    # The server's own output never records a path or file name a client sent.
    for named in ("/etc/passwd", "/etc/shadow", "/dev/zero", "exist.png", "me.jpg", "lin-manuel"):
        assert named not in output, output
    assert not re.search(r"Traceback", output), output
