"""The memory-backed ephemeral root: the only place raw uploads, previews and videos may touch a filesystem.

Guarantees: the root is on tmpfs/ramfs (checked by filesystem type) unless disk is explicitly allowed; the root
is 0700 and owned by this user; every entry has a random name and files are 0600; a sweeper deletes anything older
than the TTL (nothing outlives TTL + one sweep interval); everything is wiped at exit and on SIGTERM/SIGINT;
a full filesystem raises `ServerBusy` and leaves no partial file.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import logging
import os
import secrets
import shutil
import signal
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from linly_demo.config import Settings
from linly_demo.errors import EphemeralStorageError, InputRejected, ServerBusy, UploadTooLarge, megabytes

log = logging.getLogger(__name__)

MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
_MOUNTINFO = Path("/proc/self/mountinfo")


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem holding `path` (its nearest existing ancestor), or None if unknown."""
    try:
        lines = _MOUNTINFO.read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(_nearest_existing(path))
    best_mount, best_type = "", None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, right_fields = left.split(), right.split()
        if len(fields) < 5 or not right_fields:
            continue
        mount_point = _unescape_mount(fields[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best_mount):
            best_mount, best_type = mount_point, right_fields[0]
    return best_type


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _unescape_mount(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def storage_full(exc: BaseException) -> bool:
    """True when `exc` says the filesystem (or the user's quota on it) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def open_private_folder(path: Path, allow_disk: bool, name: str, variable: str, holds: str) -> None:
    """Make `path` a plain directory of this user, mode 0700, on memory-backed storage (tmpfs/ramfs); on disk
    only with `allow_disk` (LINLY_ALLOW_DISK_EPHEMERAL), loudly. `EphemeralStorageError` naming `variable`
    otherwise. `name` and `holds` say in the messages what the folder is and what it keeps."""
    fs_type = filesystem_type(path)
    if fs_type not in MEMORY_FILESYSTEMS:
        if not allow_disk:
            raise EphemeralStorageError(
                f"{name} is on a '{fs_type or 'unknown'}' filesystem, not memory-backed storage (tmpfs/ramfs), so "
                f"{holds} could persist on disk. Point {variable} at a tmpfs mount (e.g. under /dev/shm), or set "
                "LINLY_ALLOW_DISK_EPHEMERAL=1 for local development only."
            )
        log.warning(
            "!!! LINLY_ALLOW_DISK_EPHEMERAL=1: %s (%s) is NOT memory-backed (%s): %s touch a persistent disk until "
            "deleted. Use this for local development only. !!!",
            name, variable, fs_type or "unknown filesystem", holds,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise EphemeralStorageError(f"{name} path exists but is not a plain directory.")
    if info.st_uid != os.getuid():
        raise EphemeralStorageError(f"{name} is owned by another user; refusing to use it.")
    os.chmod(path, 0o700)


class EphemeralRoot:
    """A directory on memory-backed storage whose entries expire after `ttl_seconds`."""

    def __init__(
        self,
        path: Path,
        ttl_seconds: float,
        sweep_interval_seconds: float,
        allow_disk: bool = False,
        on_sweep: Callable[[int], None] | None = None,
    ) -> None:
        self.path = Path(os.path.abspath(path))
        self.ttl_seconds = ttl_seconds
        self.sweep_interval_seconds = sweep_interval_seconds
        self._allow_disk = allow_disk
        self._on_sweep = on_sweep
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._hooks: list[Callable[[], object]] = []
        self._lock_fd: int | None = None
        self._open()

    @classmethod
    def from_settings(cls, settings: Settings, on_sweep: Callable[[int], None] | None = None) -> EphemeralRoot:
        return cls(
            settings.ephemeral_dir,
            settings.ttl_seconds,
            settings.sweep_interval_seconds,
            allow_disk=settings.allow_disk_ephemeral,
            on_sweep=on_sweep,
        )

    def _open(self) -> None:
        open_private_folder(self.path, self._allow_disk, "The ephemeral directory", "LINLY_EPHEMERAL_DIR",
                            "uploads and videos")

    def hold_exclusively(self) -> int:
        """Take the root for this server process until it exits (a second server on the same root refuses to
        start) and delete whatever a server that died without wiping (kill -9) left in it; returns how many
        entries were removed."""
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EphemeralStorageError("Another linly-demo server is using this ephemeral directory. Stop it, or "
                                        "point LINLY_EPHEMERAL_DIR at another tmpfs directory.") from None
        self._lock_fd = fd
        leftovers = list(self.path.iterdir())
        for entry in leftovers:
            self.delete(entry)
        return len(leftovers)

    # --- entries -------------------------------------------------------------------------------------------------

    def new_name(self, suffix: str = "") -> Path:
        """A fresh random path under the root (nothing is created)."""
        if suffix and (not suffix.startswith(".") or not suffix[1:].isalnum()):
            raise ValueError("suffix must look like '.ext'")
        return self.path / f"{secrets.token_hex(16)}{suffix}"

    def write_bytes(self, data: bytes, suffix: str = "") -> Path:
        """Write `data` to a new 0600 file with a random name; a full filesystem is ServerBusy, leaving nothing."""
        target = self.new_name(suffix)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise self._busy_or_raise(exc) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            self.delete(target)
            raise self._busy_or_raise(exc) from None
        except BaseException:
            self.delete(target)
            raise
        return target

    def new_dir(self) -> Path:
        """A new 0700 directory with a random name."""
        target = self.new_name()
        try:
            target.mkdir(mode=0o700)
        except OSError as exc:
            raise self._busy_or_raise(exc) from None
        return target

    @staticmethod
    def _busy_or_raise(exc: OSError) -> Exception:
        return ServerBusy() if storage_full(exc) else exc

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """True when `path` resolves to an entry strictly inside the root (symlinks resolved)."""
        resolved = os.path.realpath(path)
        return resolved.startswith(str(self.path) + os.sep)

    def delete(self, path: str | os.PathLike[str]) -> None:
        """Delete a file or directory inside the root; a missing entry is fine, anything outside is refused."""
        if not self.contains(path):
            raise ValueError("refusing to delete a path outside the ephemeral root")
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass

    def consume(self, path: str | os.PathLike[str], max_bytes: int,
                too_large: type[InputRejected] = UploadTooLarge) -> bytes:
        """Read a regular file inside the root and delete it, whatever happens; a file over `max_bytes` is refused
        (with its real size) without being read."""
        if not self.contains(path):
            raise ValueError("only files inside the ephemeral root can be consumed")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise ValueError("only regular files can be consumed")
                if info.st_size > max_bytes:
                    raise too_large(f"The file is {megabytes(info.st_size)}; the limit is "
                                         f"{max_bytes / 2**20:g} MB. Please upload a smaller file.")
                return handle.read(max_bytes + 1)
        finally:
            self.delete(path)

    def entries(self) -> list[Path]:
        """Every file (recursively) under the root."""
        found: list[Path] = []
        for folder, _dirs, files in os.walk(self.path):
            found.extend(Path(folder) / name for name in files)
        return found

    # --- expiry --------------------------------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> int:
        """Delete every file older than the TTL and every empty expired directory; return how many were removed.

        Ages are read before anything is deleted: removing a directory's expired contents bumps its mtime,
        which must not buy the directory another TTL.
        """
        deadline = (time.time() if now is None else now) - self.ttl_seconds
        expired = []
        for folder, dirs, files in os.walk(self.path, topdown=False):  # children before their parents
            for name, is_dir in [(n, False) for n in files] + [(n, True) for n in dirs]:
                path = Path(folder) / name
                try:
                    if os.lstat(path).st_mtime <= deadline:
                        expired.append((path, is_dir and not path.is_symlink()))
                except OSError:
                    continue
        removed = 0
        for path, is_dir in expired:
            try:
                os.rmdir(path) if is_dir else os.unlink(path)
                removed += 1
            except OSError:  # gone already, or a directory that still holds fresh entries
                continue
        return removed

    def add_sweep_hook(self, hook: Callable[[], object]) -> None:
        """Run `hook` on every sweep (e.g. purging expired in-memory features); what it returns is ignored."""
        self._hooks.append(hook)

    def start_sweeper(self) -> None:
        """Start the background thread that sweeps every `sweep_interval_seconds`."""
        if self._sweeper is not None:
            return
        self._sweeper = threading.Thread(target=self._sweep_loop, name="linly-ephemeral-sweeper", daemon=True)
        self._sweeper.start()

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_interval_seconds):
            self.run_sweep()

    def run_sweep(self) -> None:
        try:
            removed = self.sweep()
            if removed and self._on_sweep is not None:
                self._on_sweep(removed)
        except Exception:  # a failed sweep must never kill the sweeper thread
            log.exception("ephemeral sweep failed")
        for hook in self._hooks:
            try:
                hook()
            except Exception:
                log.exception("sweep hook failed")

    def stop_sweeper(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
            self._sweeper = None

    def wipe(self) -> None:
        """Delete everything under the root, and the root itself."""
        self._stop.set()
        shutil.rmtree(self.path, ignore_errors=True)

    def install_shutdown_hooks(self) -> None:
        """Wipe at normal exit and on SIGTERM/SIGINT (then behave as the previous handler would)."""
        atexit.register(self.wipe)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if previous is not signal.SIG_IGN:
                signal.signal(signum, self._make_handler(previous))

    def _make_handler(self, previous: object) -> Callable[[int, object], None]:
        def handler(signum: int, frame: object) -> None:
            self.wipe()
            if callable(previous):
                previous(signum, frame)
                return
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

        return handler


def within(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """True when `path` is `folder` or lies below it, symlinks resolved (for folders kept apart from the root)."""
    path_real, folder_real = os.path.realpath(path), os.path.realpath(folder)
    return path_real == folder_real or path_real.startswith(folder_real.rstrip(os.sep) + os.sep)
