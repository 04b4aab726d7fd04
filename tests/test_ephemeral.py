"""The ephemeral root: memory-backed only, private modes, random names, expiry, wipe on exit and signals."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot, filesystem_type
from linly_demo.errors import EphemeralStorageError, ServerBusy
from tests.conftest import REPO


def test_root_and_files_are_private_with_random_names(ephemeral: EphemeralRoot) -> None:
    assert stat.S_IMODE(os.stat(ephemeral.path).st_mode) == 0o700
    first = ephemeral.write_bytes(b"portrait bytes", ".jpg")
    second = ephemeral.write_bytes(b"portrait bytes", ".jpg")
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    assert first.parent == ephemeral.path and first.suffix == ".jpg"
    assert len(first.stem) == 32 and int(first.stem, 16) >= 0
    assert first.name != second.name  # random, never derived from content
    folder = ephemeral.new_dir()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_default_root_is_per_user_on_tmpfs() -> None:
    settings = Settings.from_env({})
    assert settings.ephemeral_dir == Path(f"/dev/shm/linly-demo-{os.getuid()}")
    assert filesystem_type(Path("/dev/shm/anything")) in ("tmpfs", "ramfs")


def test_a_disk_backed_root_is_refused(tmp_path: Path) -> None:
    if filesystem_type(tmp_path) in ("tmpfs", "ramfs"):
        pytest.skip("this machine's temporary directory is itself memory-backed")
    with pytest.raises(EphemeralStorageError) as caught:
        EphemeralRoot.from_settings(Settings.from_env({"LINLY_EPHEMERAL_DIR": str(tmp_path / "eph")}))
    assert "LINLY_ALLOW_DISK_EPHEMERAL" in caught.value.user_message
    assert not (tmp_path / "eph").exists()


def test_disk_root_is_allowed_only_explicitly_and_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if filesystem_type(tmp_path) in ("tmpfs", "ramfs"):
        pytest.skip("this machine's temporary directory is itself memory-backed")
    env = {"LINLY_EPHEMERAL_DIR": str(tmp_path / "eph"), "LINLY_ALLOW_DISK_EPHEMERAL": "1"}
    with caplog.at_level(logging.WARNING):
        root = EphemeralRoot.from_settings(Settings.from_env(env))
    assert "NOT memory-backed" in caplog.text
    root.wipe()


def test_a_symlinked_root_is_refused(ephemeral_dir: Path, tmp_path: Path) -> None:
    ephemeral_dir.symlink_to(Path("/dev/shm"))
    try:
        with pytest.raises(EphemeralStorageError):
            EphemeralRoot.from_settings(Settings.from_env({"LINLY_EPHEMERAL_DIR": str(ephemeral_dir)}))
    finally:
        ephemeral_dir.unlink()


def test_an_existing_root_is_tightened_to_0700(ephemeral_dir: Path) -> None:
    ephemeral_dir.mkdir(mode=0o755)
    os.chmod(ephemeral_dir, 0o755)
    EphemeralRoot.from_settings(Settings.from_env({"LINLY_EPHEMERAL_DIR": str(ephemeral_dir)}))
    assert stat.S_IMODE(os.stat(ephemeral_dir).st_mode) == 0o700


def test_delete_refuses_paths_outside_the_root(ephemeral: EphemeralRoot, tmp_path: Path) -> None:
    outside = tmp_path / "keep.txt"
    outside.write_text("mine")
    escape = ephemeral.path / "link"
    escape.symlink_to(outside)
    assert not ephemeral.contains(escape)
    assert not ephemeral.contains(ephemeral.path / ".." / "etc")
    with pytest.raises(ValueError):
        ephemeral.delete(outside)
    with pytest.raises(ValueError):
        ephemeral.delete(escape)
    assert outside.read_text() == "mine"


def test_sweep_removes_only_what_is_older_than_the_ttl(ephemeral: EphemeralRoot) -> None:
    old = ephemeral.write_bytes(b"old")
    folder = ephemeral.new_dir()
    nested = folder / "frame.png"
    nested.write_bytes(b"x")
    past = time.time() - ephemeral.ttl_seconds - 1
    for path in (old, nested, folder):
        os.utime(path, (past, past))
    fresh = ephemeral.write_bytes(b"fresh")

    assert ephemeral.sweep() == 3
    assert not old.exists() and not folder.exists() and fresh.exists()


def test_the_sweeper_deletes_entries_within_ttl_plus_30_seconds(ephemeral_dir: Path) -> None:
    settings = Settings.from_env({"LINLY_EPHEMERAL_DIR": str(ephemeral_dir), "LINLY_TTL_SECONDS": "1"})
    root = EphemeralRoot.from_settings(settings)
    hook_calls = []
    root.add_sweep_hook(lambda: hook_calls.append(1))
    root.start_sweeper()
    try:
        entry = root.write_bytes(b"expires soon")
        created = time.monotonic()
        while entry.exists() and time.monotonic() - created < settings.ttl_seconds + 30:
            time.sleep(0.05)
        assert not entry.exists()
        assert time.monotonic() - created <= settings.ttl_seconds + settings.sweep_interval_seconds + 1
        assert hook_calls
    finally:
        root.wipe()


def test_sweep_interval_never_lets_an_entry_outlive_ttl_plus_30s() -> None:
    for ttl in ("0.5", "1", "60", "300"):
        settings = Settings.from_env({"LINLY_TTL_SECONDS": ttl})
        assert settings.sweep_interval_seconds <= 30
        assert settings.sweep_interval_seconds <= max(0.2, settings.ttl_seconds)


def test_wipe_removes_everything(ephemeral: EphemeralRoot) -> None:
    ephemeral.write_bytes(b"a")
    (ephemeral.new_dir() / "b").write_bytes(b"b")
    ephemeral.wipe()
    assert not ephemeral.path.exists()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from linly_demo.config import Settings
    from linly_demo.ephemeral import EphemeralRoot
    root = EphemeralRoot.from_settings(Settings.from_env())
    root.install_shutdown_hooks()
    root.write_bytes(b"secret portrait", ".jpg")
    (root.new_dir() / "frame.png").write_bytes(b"frame")
    print("ready", flush=True)
    if sys.argv[1] == "exit":
        sys.stdin.readline()
        sys.exit(0)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("how", ["exit", signal.SIGTERM, signal.SIGINT])
def test_shutdown_wipes_the_root(ephemeral_dir: Path, how: object) -> None:
    env = dict(os.environ, LINLY_EPHEMERAL_DIR=str(ephemeral_dir), PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, "exit" if how == "exit" else "wait"],
                             env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "ready"
    assert len(list(ephemeral_dir.rglob("*"))) == 3
    if how == "exit":
        child.stdin.write("go\n")
        child.stdin.flush()
    else:
        child.send_signal(how)
    child.wait(timeout=20)
    assert not ephemeral_dir.exists()


def test_a_full_filesystem_is_server_busy_and_leaves_no_partial_file(
    ephemeral: EphemeralRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd: int, mode: str) -> None:
            self._handle = real_fdopen(fd, mode)

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self._handle.close()

        def write(self, data: bytes) -> int:
            self._handle.write(data[:10])
            self._handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", FullDisk)
    with pytest.raises(ServerBusy) as caught:
        ephemeral.write_bytes(b"x" * 1000, ".jpg")
    assert "busy" in caught.value.user_message
    assert ephemeral.entries() == []


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_a_really_full_tmpfs_is_server_busy(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os
        from linly_demo.ephemeral import EphemeralRoot
        from linly_demo.errors import ServerBusy
        root = EphemeralRoot("/mnt/small/eph", 300, 10)
        try:
            root.write_bytes(b"x" * 256 * 1024, ".jpg")
            print("written")
        except ServerBusy:
            print("busy", len(root.entries()))
        """
    )
    mount = f"mkdir -p /mnt/small && mount -t tmpfs -o size=64k tmpfs /mnt/small && {sys.executable} -c '{script}'"
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", mount],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    if result.returncode != 0 and "mount" in result.stderr and "busy" not in result.stdout:
        pytest.skip(f"cannot mount a private tmpfs here: {result.stderr.strip()[:120]}")
    assert result.stdout.split() == ["busy", "0"]


def test_a_server_holds_its_root_alone_and_wipes_what_a_killed_one_left(settings: Settings) -> None:
    first = EphemeralRoot.from_settings(settings)
    left = first.write_bytes(b"left by a server killed with -9", ".png")
    (first.path / "folder").mkdir()
    assert first.hold_exclusively() == 2 and not left.exists() and first.entries() == []
    second = EphemeralRoot.from_settings(settings)
    with pytest.raises(EphemeralStorageError, match="Another linly-demo server"):
        second.hold_exclusively()
