"""linly-demo's web entry point: `python app.py` (or `make run`) serves the Gradio app.

Importing this module never starts a server (and does not import Gradio): Gradio must be imported only after
its temporary folder has been pointed into the memory-backed ephemeral root, which `serve()` does.
"""

from __future__ import annotations

import sys


def main() -> int:
    from linly_demo.web.server import serve

    return serve()


if __name__ == "__main__":
    sys.exit(main())
