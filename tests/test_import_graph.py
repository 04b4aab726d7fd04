"""The package's imports form a tree that follows the data flow: no cycles, no imports hidden in functions."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO
from tests.imports import PACKAGE, find_cycle, function_level_imports, package_graph


def test_the_package_has_no_import_cycle() -> None:
    graph = package_graph()
    assert "linly_demo.evaluate" in graph and "linly_demo.cli.render" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_an_import_inside_a_function_is_a_deliberate_deferral_that_says_why() -> None:
    unexplained = [f"{path.relative_to(REPO)}:{line}: {text.strip()}"
                   for path in sorted(PACKAGE.rglob("*.py"))
                   for line, text in function_level_imports(path) if "#" not in text]
    assert unexplained == []


def test_the_deferral_check_sees_a_hidden_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import os\n\ndef f():\n    import json\n    return json\n")
    assert function_level_imports(probe) == [(4, "    import json")]
