"""Start the web app: settings -> runtime -> hardened Gradio mounted behind the session guard -> uvicorn.

Guarantees: Gradio's temporary folder is the ephemeral root (set before Gradio is imported), so every upload and
output lives in memory-backed storage under the TTL sweep; run history, analytics and monitoring are off; upload
size is capped; files are served only to the session that owns them; binds to 127.0.0.1 unless told otherwise;
the ephemeral root is wiped when the server stops.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys

import uvicorn
from fastapi import FastAPI

from linly_demo.config import Settings
from linly_demo.errors import ConfigError
from linly_demo.keys import WEB_OWNER
from linly_demo.runtime import build_runtime
from linly_demo.web.guard import SessionGuard
from linly_demo.web.handlers import AppHandlers
from linly_demo.web.ownership import OwnerRegistry

MIN_GRADIO = (6, 20)


def build_app(settings: Settings | None = None):
    """(ASGI app, runtime): the guarded FastAPI app with the Gradio interface mounted at /."""
    settings = settings or Settings.from_env()
    os.umask(0o077)
    # The root is taken before anything may wipe or sweep it: a second server refused here must not touch the
    # files of the one that holds the root.
    runtime = build_runtime(settings, start_sweeper=False)
    left_behind = runtime.ephemeral.hold_exclusively()
    if left_behind:
        runtime.audit.record("ephemeral.leftovers_wiped", "ok", count=left_behind)
    if settings.wipe_on_exit:
        runtime.ephemeral.install_shutdown_hooks()
    runtime.ephemeral.start_sweeper()
    os.environ["GRADIO_TEMP_DIR"] = str(runtime.ephemeral.path)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_RUN_HISTORY"] = "False"
    import gradio as gr  # deferred: Gradio reads GRADIO_TEMP_DIR and friends at import, set just above
    import gradio.processing_utils  # deferred, as gradio

    from linly_demo.web.page import build_interface  # deferred: it imports gradio

    version = tuple(int(part) for part in gr.__version__.split(".")[:2])
    if version < MIN_GRADIO:
        raise ConfigError("Gradio 6.20 or newer is required (file-route security fixes).")
    # Gradio keys its cache folders' content hashes with a seed it keeps in a file across restarts: one per process.
    gradio.processing_utils.hash_seed = secrets.token_hex(32).encode()
    registry = OwnerRegistry(runtime.secret.key_for(WEB_OWNER))
    runtime.ephemeral.add_sweep_hook(registry.prune)
    demo = build_interface(AppHandlers(runtime, registry))
    demo.queue(default_concurrency_limit=settings.render_concurrency)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    gr.mount_gradio_app(app, demo, path="/", run_history=False, enable_monitoring=False,
                        max_file_size=max(settings.max_upload_bytes, settings.max_audio_bytes), show_error=False,
                        footer_links=["api"], server_name=settings.host, server_port=settings.port)
    # mount_gradio_app never marks the Blocks as launched, which turns Gradio's own path checks off; the guard
    # refuses named files first, and this keeps Gradio's check as a second line.
    demo.has_launched = True
    guarded = SessionGuard(app, registry, runtime.ephemeral, max(settings.max_upload_bytes, settings.max_audio_bytes),
                           secure=settings.ssl_certfile is not None, embeddable=settings.on_spaces)
    return guarded, runtime


def serve() -> int:
    try:
        settings = Settings.from_env()
        app, runtime = build_app(settings)
    except ConfigError as exc:
        print(f"linly-demo: cannot start: {exc.user_message}", file=sys.stderr)
        return 1
    scheme = "https" if settings.ssl_certfile else "http"
    print(f"linly-demo: serving on {scheme}://{settings.host}:{settings.port} "
          f"(ephemeral root memory-backed, TTL {settings.ttl_seconds:g} s)", flush=True)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="warning",
                    ssl_certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
                    ssl_keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None)
    finally:
        if settings.wipe_on_exit:
            runtime.close()
        else:
            runtime.ephemeral.stop_sweeper()
    return 0
