"""The Ray driver: a child process of the app that connects to the cluster and runs renders for it.

Why a separate process: when a Ray cluster goes away, Ray ends its driver's process (after about a minute without
its control store). Kept apart, that ends only this process: the app sees the link close, fails the renders in
flight with `ClusterBusy` and keeps serving its page.

Guarantees: it talks only over the socket the app handed it (requests and results in memory, never a file); it
sets nothing up on disk but Ray's own session folder, which the app points at tmpfs (RAY_TMPDIR); it exits when
the app closes the link; Ray's workers' output is not forwarded (log_to_driver off).
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

import ray

from linly_demo.cluster.options import DriverOptions
from linly_demo.cluster.tasks import RayRenderer, warm_up
from linly_demo.errors import LinlyError

RENDER_THREADS = 64  # renders in flight at once (each mostly waits on the cluster)


def connect(options: DriverOptions) -> dict[str, Any]:
    """ray.init with the dashboard off and workers' output kept on the workers; the cluster's resources."""
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": "warning", "include_dashboard": False}
    if options.address == "local":
        ray.init(**common, object_spilling_directory=options.spill_dir)
    else:
        common.pop("include_dashboard")  # the cluster's own setting; a driver cannot change it
        ray.init(address=options.address, **common)
    resources = ray.cluster_resources()
    warm_up(int(resources.get("CPU", 1)))
    return {"nodes": len([n for n in ray.nodes() if n.get("Alive")]), "cpus": resources.get("CPU", 0),
            "gpus": resources.get("GPU", 0)}


def serve(link: Connection, renderer: RayRenderer) -> None:
    """Answer ("render", id, face, chunks, spec, timeout) with ("done", id, segments) or ("error", id, code);
    ("cancel", id) stops one; a closed link ends the loop."""
    sending = threading.Lock()

    def reply(message: tuple[Any, ...]) -> None:
        with sending:
            link.send(message)

    def run(request: str, face: Any, chunks: Any, spec: Any, timeout: float | None) -> None:
        try:
            reply(("done", request, renderer.render(face, chunks, spec, timeout, request)))
        except LinlyError as exc:
            reply(("error", request, exc.code))
        except Exception:  # any other failure is a failed render, never a dead driver
            reply(("error", request, "render_failed"))

    with ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="linly-ray") as pool:
        while True:
            try:
                message = link.recv()
            except (EOFError, OSError):
                return
            if message[0] == "render":
                pool.submit(run, *message[1:])
            elif message[0] == "cancel":
                renderer.cancel(message[1])


def main(argv: list[str]) -> int:
    link = Connection(int(argv[1]))
    options: DriverOptions = link.recv()
    try:
        summary = connect(options)
    except Exception as exc:  # reported to the app, which refuses to start (or fails the render)
        chain: list[BaseException] = [exc]
        while (chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 8:
            chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
        refused = any(type(c).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(c) for c in chain)
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        link.send(("failed", "AuthenticationError" if refused else type(exc).__name__, detail))
        return 1
    gpus = options.gpus_per_render
    if gpus is None:
        gpus = 1.0 if summary["gpus"] > 0 else 0.0
    summary["gpus_per_render"] = gpus
    link.send(("ready", summary))
    try:
        serve(link, RayRenderer(gpus))
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main(sys.argv))
