"""The app's side of the cluster: starts the Ray driver process, hands it renders, and survives it.

Guarantees: the app refuses to start when LINLY_RAY_ADDRESS cannot be reached or refuses this app's token (no
silent fallback to rendering in-process); the driver authenticates with Ray's token (RAY_AUTH_MODE=token, from
LINLY_RAY_TOKEN_FILE, or for a local cluster a fresh random token that exists only in the two processes'
environment) and keeps Ray's folder on tmpfs (removed when the app stops or refuses to start); a render gets
its segments or, whatever happens to the driver or the cluster, `ClusterBusy`/`RenderTimedOut` in bounded time;
a dead driver is started again on the next render; what comes back from the driver is unpickled with an
allow-list (segments, numpy arrays, plain values), so nothing the cluster sends can run code in the app.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle  # nosec B403: messages from our own driver process, unpickled with an allow-list
import secrets
import shutil
import socket
import subprocess  # nosec B404: the driver is this package's own module, started without a shell
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from linly_demo.cluster.options import DriverOptions
from linly_demo.config import Settings
from linly_demo.ephemeral import open_private_folder
from linly_demo.errors import ClusterBusy, ConfigError, RenderFailed, RenderTimedOut
from linly_demo.render.driving import DrivingSignals
from linly_demo.render.frames import warp_boxes
from linly_demo.render.segments import RenderTemplate, Segment, SegmentSpec, chunk_bounds, chunk_of

PROBE_SECONDS = 5.0  # how long the head's port may take to accept a connection
START_SECONDS = 90.0  # how long the driver may take to join the cluster
GRACE_SECONDS = 10.0  # past a render's deadline, how long the driver may take to say it stopped
_ERRORS = {"cluster_unavailable": ClusterBusy, "render_timeout": RenderTimedOut}
_ALLOWED = {
    ("linly_demo.render.segments", "Segment"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "bytearray"),
}


class _Unpickler(pickle.Unpickler):  # nosec B301: find_class only admits _ALLOWED
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not expected from the render driver")
        return super().find_class(module, name)


def _loads(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


class ClusterGateway:
    """Renders through a Ray cluster (`pipeline.SegmentRenderer`); one driver process, many renders at once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.chunk_frames = max(1, round(settings.ray_chunk_seconds * settings.fps))
        self._local_token = secrets.token_hex(32) if settings.ray_address == "local" else None
        self._lock = threading.Lock()
        self._driver: _Driver | None = None
        self.summary: dict[str, Any] = {}

    @classmethod
    def start(cls, settings: Settings) -> ClusterGateway:
        """Connect now; `ConfigError` (the app refuses to start) when the cluster cannot be used."""
        gateway = cls(settings)
        _check_temp_dir(settings)
        try:
            gateway._driver = gateway._launch()
        except BaseException:
            gateway.close()
            raise
        return gateway

    def render(self, face: RenderTemplate, driving: DrivingSignals, spec: SegmentSpec,
               deadline: float | None) -> list[Segment]:
        boxes = warp_boxes(face, driving)
        chunks = [chunk_of(driving, a, b, boxes) for a, b in chunk_bounds(driving.n_frames, self.chunk_frames)]
        driver = self._running_driver()
        timeout = None if deadline is None else max(0.1, deadline - time.monotonic())
        request = secrets.token_hex(8)
        future = driver.submit(request, face, chunks, spec, timeout)
        try:
            return future.result(None if timeout is None else timeout + GRACE_SECONDS)
        except FutureTimeout:
            driver.cancel(request)
            raise RenderTimedOut() from None

    def close(self) -> None:
        """Stop the driver (a local cluster stops with it) and remove Ray's folder for this app."""
        with self._lock:
            driver, self._driver = self._driver, None
        if driver is not None:
            driver.close()
        shutil.rmtree(self.settings.ray_temp_dir, ignore_errors=True)

    def _running_driver(self) -> _Driver:
        with self._lock:
            if self._driver is None or not self._driver.alive:
                if self._driver is not None:
                    self._driver.close()
                self._driver = None
                try:
                    self._driver = self._launch()
                except ConfigError as exc:  # the operator's detail stays out of the user's message
                    raise ClusterBusy() from exc
            return self._driver

    def _launch(self) -> _Driver:
        """A driver joined to the cluster; `ConfigError` saying why when it cannot join."""
        address = self.settings.ray_address or "local"
        if address != "local":
            _probe(address)
        driver = _Driver(self._environment(), DriverOptions(address, self.settings.ray_gpus_per_render,
                                                            str(self.settings.ray_temp_dir / "spill")))
        try:
            self.summary = driver.wait_ready()
        except BaseException:
            driver.close()
            raise
        return driver

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(RAY_AUTH_MODE="token", RAY_TMPDIR=str(self.settings.ray_temp_dir), RAY_USAGE_STATS_ENABLED="0")
        if self._local_token is not None:
            env["RAY_AUTH_TOKEN"] = self._local_token
        elif self.settings.ray_token_file is not None:
            env["RAY_AUTH_TOKEN_PATH"] = str(self.settings.ray_token_file)
        return env


class _Driver:
    """One driver process and its link: requests out, results in, pending renders failed if it dies."""

    def __init__(self, env: dict[str, str], options: DriverOptions) -> None:
        ours, theirs = socket.socketpair()
        self._link = Connection(ours.detach())
        child = theirs.detach()
        self.process = subprocess.Popen(  # nosec B603: our own module, no shell, fixed arguments
            [sys.executable, "-m", "linly_demo.cluster.driver", str(child)], env=env, pass_fds=(child,),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        os.close(child)
        self._link.send(options)
        self._pending: dict[str, Future[list[Segment]]] = {}
        self._lock, self._sending = threading.Lock(), threading.Lock()
        self._ready: Future[dict[str, Any]] = Future()
        self._reader = threading.Thread(target=self._read, name="linly-ray-link", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self._reader.is_alive()

    def wait_ready(self) -> dict[str, Any]:
        try:
            return self._ready.result(START_SECONDS)
        except FutureTimeout:
            raise ConfigError("The Ray cluster did not accept this app within "
                          f"{START_SECONDS:.0f} s (LINLY_RAY_ADDRESS, LINLY_RAY_TOKEN_FILE).") from None

    def submit(self, request: str, *job: Any) -> Future[list[Segment]]:
        future: Future[list[Segment]] = Future()
        with self._lock:
            self._pending[request] = future
        try:
            self._send(("render", request, *job))
        except (OSError, ValueError):
            self._fail(request, ClusterBusy())
        return future

    def cancel(self, request: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._send(("cancel", request))
        self._fail(request, RenderTimedOut())

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._sending:
            self._link.send(message)

    def close(self) -> None:
        self._link.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _fail(self, request: str, error: Exception) -> None:
        with self._lock:
            future = self._pending.pop(request, None)
        if future is not None and not future.done():
            future.set_exception(error)

    def _read(self) -> None:
        try:
            while True:
                message = _loads(self._link.recv_bytes())
                if message[0] == "ready":
                    self._ready.set_result(message[1])
                elif message[0] == "failed":
                    self._ready.set_exception(_start_error(message[1], message[2]))
                    return
                else:
                    with self._lock:
                        future = self._pending.pop(message[1], None)
                    if future is None or future.done():
                        continue
                    if message[0] == "done":
                        future.set_result(list(message[2]))
                    else:
                        future.set_exception(_ERRORS.get(message[2], RenderFailed)())
        except (EOFError, OSError, pickle.UnpicklingError, IndexError, TypeError):
            pass
        finally:
            if not self._ready.done():
                self._ready.set_exception(ConfigError("The Ray driver exited before joining the cluster."))
            with self._lock:
                pending, self._pending = self._pending, {}
            for future in pending.values():
                if not future.done():
                    future.set_exception(ClusterBusy())


def _start_error(kind: str, detail: str) -> ConfigError:
    if kind == "AuthenticationError":  # the driver names a refused token so, wherever Ray wrapped it
        return ConfigError("The Ray cluster refused this app's token (LINLY_RAY_TOKEN_FILE must hold the token "
                           "every node has, with RAY_AUTH_MODE=token).")
    return ConfigError(f"Could not join the Ray cluster (LINLY_RAY_ADDRESS): {kind}: {detail}")


def _probe(address: str) -> None:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), PROBE_SECONDS).close()
    except OSError:
        raise ConfigError(f"The Ray cluster at LINLY_RAY_ADDRESS ({address}) cannot be reached.") from None


def _check_temp_dir(settings: Settings) -> None:
    """Ray's folder exists, is ours and 0700, and is memory-backed (unless disk is explicitly allowed)."""
    open_private_folder(Path(settings.ray_temp_dir), settings.allow_disk_ephemeral, "Ray's folder",
                        "LINLY_RAY_TEMP_DIR", "Ray's session, log and spill files")
