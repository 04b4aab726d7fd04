"""What the app tells its Ray driver process at start (kept free of Ray: the app process never imports it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriverOptions:
    """The head's address (or "local"), the GPUs one render task asks for (None: one when the cluster has GPUs,
    else none), and where a local cluster spills."""

    address: str
    gpus_per_render: float | None
    spill_dir: str
