"""The render tasks a Ray cluster runs, and their submission from the process that is the Ray driver.

Guarantees: a task receives only the render's template and landmarks (put in the object store once per render),
one driving chunk (its rows of coefficients and the clip's warp boxes) and the segment spec (size, quality, the
watermark payload, the frame positions to sample); a task whose worker or node dies is retried elsewhere up to
MAX_RETRIES times; a render that cannot finish is cancelled everywhere and raises `ClusterBusy` (or
`RenderTimedOut` past its time), and every object it made is released when it returns, however it ends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

import ray
from ray.exceptions import GetTimeoutError, RayError

from linly_demo.errors import ClusterBusy, RenderTimedOut
from linly_demo.render.segments import DrivingChunk, RenderTemplate, Segment, SegmentSpec, render_segment

MAX_RETRIES = 2  # a task lost with its worker or node runs again on another


@ray.remote(max_retries=MAX_RETRIES)
def _render_segment_task(face: RenderTemplate, chunk: DrivingChunk, spec: SegmentSpec) -> Segment:
    return render_segment(face, chunk, spec)


@ray.remote(max_retries=MAX_RETRIES)
def _warm_task() -> bool:
    return callable(render_segment)  # the worker has imported the renderer


def warm_up(workers: int, timeout_s: float = 120.0) -> None:
    """Start and load one worker per CPU before the first render (its first frame comes sooner)."""
    ray.get([_warm_task.remote() for _ in range(max(1, workers))], timeout=timeout_s)


def _submit(face: ray.ObjectRef, chunk: DrivingChunk, spec: SegmentSpec, gpus: float) -> ray.ObjectRef:
    """One chunk's task: exactly these three arguments cross the wire."""
    return _render_segment_task.options(num_gpus=gpus).remote(face, chunk, spec)


class RayRenderer:
    """Renders a clip's chunks as parallel Ray tasks (in the Ray driver process); cancellable by request id."""

    def __init__(self, gpus_per_render: float = 0.0) -> None:
        self.gpus_per_render = gpus_per_render
        self._running: dict[str, list[ray.ObjectRef]] = {}
        self._lock = threading.Lock()

    def render(self, face: RenderTemplate, chunks: Sequence[DrivingChunk], spec: SegmentSpec,
               timeout_s: float | None, request: str = "") -> list[Segment]:
        """The chunks' segments, in order."""
        refs: list[ray.ObjectRef] = []
        try:
            face_ref = ray.put(face)
            refs = [_submit(face_ref, chunk, spec, self.gpus_per_render) for chunk in chunks]
            del face_ref  # the tasks hold it while they need it
            with self._lock:
                self._running[request] = refs
            _, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
            if pending:
                raise RenderTimedOut()
            return list(ray.get(refs, timeout=timeout_s))
        except GetTimeoutError:
            self._cancel(refs)
            raise RenderTimedOut() from None
        except RenderTimedOut:
            self._cancel(refs)
            raise
        except RayError as exc:  # a task failed every retry, was cancelled, or the cluster went away
            self._cancel(refs)
            raise ClusterBusy() from exc
        finally:
            with self._lock:
                self._running.pop(request, None)
            refs.clear()  # the last references: the object store frees the template and the segments

    def cancel(self, request: str) -> None:
        """Stop a running render's tasks (its `render` then raises)."""
        with self._lock:
            refs = list(self._running.get(request, []))
        self._cancel(refs)

    @staticmethod
    def _cancel(refs: list[ray.ObjectRef]) -> None:
        for ref in refs:
            with contextlib.suppress(RayError, ValueError, TypeError):  # already finished or already gone
                ray.cancel(ref, force=True)
