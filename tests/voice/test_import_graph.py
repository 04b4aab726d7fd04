"""Voice data is kept apart from portrait data down to the code: neither package imports the other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.imports import PACKAGE, imported_modules


def test_portrait_modules_never_import_voice_modules_and_vice_versa() -> None:
    for package, forbidden in (("portrait", "linly_demo.voice"), ("voice", "linly_demo.portrait")):
        files = sorted((PACKAGE / package).rglob("*.py"))
        assert files
        for path in files:
            leaks = {m for m in imported_modules(path) if m == forbidden or m.startswith(forbidden + ".")}
            assert not leaks, f"{path.relative_to(REPO)} imports {leaks}"


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from linly_demo.portrait import pipeline\n    from ..portrait import embed\n")
    found = imported_modules(probe, package="linly_demo.voice")
    assert {"linly_demo.portrait.pipeline", "linly_demo.portrait.embed"} <= found


def test_loading_the_voice_store_and_service_loads_no_portrait_module() -> None:
    code = ("import sys, linly_demo.voice.service, linly_demo.voice.store; "
            "print([m for m in sys.modules if m.startswith('linly_demo.portrait')])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
