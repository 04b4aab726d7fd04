"""Work on a few threads, results in order.

Guarantees: results come back in the order of their items; at most `workers` results are computed ahead of the
consumer (memory stays bounded however long the clip); an exception in the work is raised at its item's place;
a consumer that stops early cancels the items not yet started and waits for the running ones, so no thread
outlives the iteration.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_order(work: Callable[[Item], Result], items: Iterable[Item], workers: int) -> Iterator[Result]:
    """Yield work(item) for each item, in order, computed on `workers` threads (in the caller's with one)."""
    if workers <= 1:
        for item in items:
            yield work(item)
        return
    remaining = iter(items)
    pending: deque[Future[Result]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="linly-render") as pool:
        try:
            for item in remaining:
                pending.append(pool.submit(work, item))
                if len(pending) >= workers:
                    break
            while pending:
                result = pending.popleft().result()
                for item in remaining:  # keep `workers` items in flight while the consumer takes this one
                    pending.append(pool.submit(work, item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()
