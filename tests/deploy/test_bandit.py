"""bandit over the app's code: no finding of medium severity or above (false positives are suppressed inline,
with the reason next to them)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_bandit_finds_nothing_of_medium_severity_or_above() -> None:
    result = subprocess.run([sys.executable, "-m", "bandit", "-r", "linly_demo", "app.py", "-f", "json", "-q"],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    report = json.loads(result.stdout)
    serious = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in report["results"]
               if r["issue_severity"] in ("MEDIUM", "HIGH")]
    assert not serious, serious
    assert report["metrics"]["_totals"]["loc"] > 3000  # it really scanned the package
