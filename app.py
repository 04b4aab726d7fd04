"""linly-demo's web entry point. Importing this module never starts a server.

The Gradio interface is built in the app issue; until then `python app.py` verifies that this machine can keep
the privacy guarantees (memory-backed ephemeral root, valid settings) and points to the command line.
"""

from __future__ import annotations

import sys


def main() -> int:
    from linly_demo.errors import ConfigError
    from linly_demo.runtime import build_runtime

    try:
        runtime = build_runtime(start_sweeper=False)
    except ConfigError as exc:
        print(f"linly-demo: cannot start: {exc.user_message}", file=sys.stderr)
        return 1
    print(f"linly-demo: ephemeral root ready (memory-backed, TTL {runtime.settings.ttl_seconds:g} s).")
    print("The web interface is not built yet; use: python -m linly_demo portrait PHOTO")
    runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
