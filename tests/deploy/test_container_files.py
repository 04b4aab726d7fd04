"""The container files say what the README promises, and use exactly the settings the app reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from linly_demo.config import Settings
from tests.conftest import REPO

CONFIG_SOURCE = (REPO / "linly_demo" / "config.py").read_text()
APP_VARIABLES = set(re.findall(r'"(LINLY_[A-Z_]+)"', CONFIG_SOURCE))


def compose_service() -> dict:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    return compose["services"]["linly-demo"]


def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def test_compose_locks_the_container_down() -> None:
    service = compose_service()
    assert service["read_only"] is True
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["cap_drop"] == ["ALL"]
    assert service["user"] == "10001:10001"
    assert isinstance(service["pids_limit"], int) and service["pids_limit"] <= 1024
    assert service.get("mem_limit") or service.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory")
    assert service["ports"] == ["127.0.0.1:7860:7860"]
    assert service["logging"]["driver"] in ("none", "local")
    env = service["environment"]
    assert env["LINLY_WIPE_ON_EXIT"] == "1" and env["LINLY_AUDIT_LOG"] == "-"


def test_tmpfs_mounts_are_small_private_and_not_executable() -> None:
    service = compose_service()
    env = service["environment"]
    mounts = {entry.split(":", 1)[0]: set(entry.split(":", 1)[1].split(",")) for entry in service["tmpfs"]}
    assert set(mounts) == {env["LINLY_EPHEMERAL_DIR"], "/tmp"}
    for options in mounts.values():
        assert {"noexec", "nosuid", "nodev", "mode=0700", "uid=10001", "gid=10001"} <= options
        assert any(option.startswith("size=") for option in options)


def test_the_only_writable_persistent_path_is_the_voice_store_volume() -> None:
    service = compose_service()
    env = service["environment"]
    named = [v for v in service["volumes"] if not v.startswith(("./", "/"))]
    assert named == [f"voices:{env['LINLY_VOICE_STORE']}"]
    binds = [v for v in service["volumes"] if v.startswith(("./", "/"))]
    assert all(v.endswith(":ro") for v in binds)
    assert "voices" in yaml.safe_load((REPO / "compose.yaml").read_text())["volumes"]


def test_compose_and_dockerfile_use_only_settings_the_app_reads() -> None:
    used = set(compose_service()["environment"]) | set(re.findall(r"\b(LINLY_[A-Z_]+)=", dockerfile()))
    assert used <= APP_VARIABLES, used - APP_VARIABLES
    env = compose_service()["environment"]
    settings = Settings.from_env({**env, "LINLY_ALLOW_DISK_EPHEMERAL": "0"})
    assert str(settings.ephemeral_dir) == env["LINLY_EPHEMERAL_DIR"]
    assert str(settings.voice_store) == env["LINLY_VOICE_STORE"]
    assert settings.wipe_on_exit and settings.host == "0.0.0.0" and settings.port == 7860
    assert settings.provenance_dir == "memory"  # nothing to write on a read-only root
    for name in ("LINLY_EPHEMERAL_DIR", "LINLY_VOICE_STORE", "LINLY_PROVENANCE_DIR", "LINLY_WIPE_ON_EXIT"):
        assert f"{name}={env[name]}" in dockerfile().replace(" \\\n", "\n").replace("    ", "")


def test_dockerfile_is_small_non_root_and_downloads_no_weights() -> None:
    text = dockerfile()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "--uid 10001" in text and "--gid 10001" in text and re.search(r"^USER 10001:10001$", text, re.M)
    assert "HEALTHCHECK" in text and "ARG TORCH_VARIANT=cpu" in text
    assert "--require-hashes" in text and "requirements-dev" not in text
    assert not re.search(r"(wget|curl|hf_hub_download|torch\.hub|\.pt\b|\.pth\b)", text)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "tests", ".git"} <= set(ignored)


def test_cpu_requirements_are_requirements_without_the_cuda_stack(tmp_path: Path) -> None:
    target = tmp_path / "cpu.txt"
    subprocess.run([sys.executable, str(REPO / "deploy/cpu_requirements.py"), str(REPO / "requirements.txt"),
                    str(target)], check=True)
    assert target.read_text() == (REPO / "requirements-cpu.txt").read_text()
    names = set(re.findall(r"^([A-Za-z0-9_.\-]+)==", target.read_text(), re.M))
    assert "torch" not in names and not any(n.startswith("nvidia") for n in names) and "gradio" in names


def test_requirements_are_all_pinned_with_hashes() -> None:
    text = (REPO / "requirements.txt").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    packages = [b for b in blocks if re.match(r"^[A-Za-z0-9_.\-]+==", b)]
    assert len(packages) > 50 and all("--hash=sha256:" in b for b in packages)
    assert "file:///" not in text and "--find-links" not in text
    top_level = set(re.findall(r"^([A-Za-z0-9_.\-]+)==", (REPO / "requirements.in").read_text(), re.M))
    assert top_level <= set(re.findall(r"^([A-Za-z0-9_.\-]+)==", text, re.M))


def test_the_cluster_profile_keeps_the_lock_down_and_authenticates_every_node() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    app, head, worker = services["linly-demo-cluster"], services["ray-head"], services["ray-worker"]
    assert all(s["profiles"] == ["cluster"] for s in (app, head, worker)) and "profiles" not in compose_service()
    for service in (app, head, worker):
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"] and service["user"] == "10001:10001"
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["image"] == compose_service()["image"] and service["secrets"] == ["ray_token"]
        for entry in service["tmpfs"]:
            assert {"noexec", "nosuid", "nodev", "mode=0700"} <= set(entry.split(":", 1)[1].split(","))
    for node in (head, worker):
        env = node["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_token"
        assert env["RAY_USAGE_STATS_ENABLED"] == "0"
        assert any(entry.startswith(env["RAY_TMPDIR"] + ":") for entry in node["tmpfs"])
        assert "ports" not in node and node["networks"] == ["ray"]
        assert any(arg.startswith("--object-spilling-directory=" + env["RAY_TMPDIR"]) for arg in node["command"])
    assert "--include-dashboard=false" in head["command"]
    assert compose["networks"]["ray"]["internal"] is True
    settings = Settings.from_env({**app["environment"], "LINLY_ALLOW_DISK_EPHEMERAL": "0"})
    assert settings.ray_address == "ray-head:6379" and str(settings.ray_token_file) == "/run/secrets/ray_token"
    assert any(entry.startswith(str(settings.ray_temp_dir).rsplit("/", 1)[0] + ":") for entry in app["tmpfs"])
    assert app["ports"] == ["127.0.0.1:7861:7860"]
    assert set(app["environment"]) <= APP_VARIABLES | {"LINLY_RAY_ADDRESS"}
