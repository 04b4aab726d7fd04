"""Event payloads checked before Gradio sees them: a request may only refer to files its own session uploaded.

Guarantees: a file reference (any JSON object with a `path`, or one marked as Gradio `FileData`) is accepted
only when its path is an upload of the requesting session; server paths, other sessions' files, the app's own
outputs, devices, directories and symlinks are refused without being opened, hashed, copied or deleted (the
check is a string comparison against the ownership registry, after resolving the path without reading it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from linly_demo.errors import NamedFileRefused
from linly_demo.web.ownership import OwnerRegistry

MAX_EVENT_BODY = 1024 * 1024  # event payloads hold text and file references only
NAMED_FILE_REFUSED = NamedFileRefused.message


def file_references(value: Any) -> Iterator[dict]:
    """Every JSON object in `value` that Gradio could treat as a file."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            meta = item.get("meta")
            if "path" in item or (isinstance(meta, dict) and meta.get("_type") == "gradio.FileData"):
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def refused_reference(body: bytes, owner: str, registry: OwnerRegistry) -> bool:
    """True when the body names any file that is not an upload of `owner` (a body that is not JSON names none:
    Gradio refuses it as well)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    except RecursionError:  # nested too deep to inspect: refused rather than passed on
        return True
    for reference in file_references(payload):
        path = reference.get("path")
        if not isinstance(path, str) or len(path) > 4096 or not registry.is_upload_of(path, owner):
            return True
    return False
