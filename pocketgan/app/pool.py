"""A bounded pool of translation workers for the server.

Decoding a photo and running the generator take hundreds of MB for a large image; letting every
concurrent request do it at once would exhaust memory. Requests therefore run on ``workers``
threads and queue for them; beyond ``max_waiting`` queued requests the server answers 503 at
once instead of piling up uploads. Worker threads are fine here: PyTorch and ONNX Runtime release
the GIL while they compute.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from . import ServeError

T = TypeVar("T")


class PoolBusy(Exception):
    """More requests are waiting than the pool accepts (a passing state the server answers with 503,
    not a user error)."""


class WorkerPool:
    def __init__(self, workers: int = 2, max_waiting: int = 32) -> None:
        if workers < 1:
            raise ServeError(f"workers must be at least 1 (got {workers})")
        if max_waiting < 0:
            raise ServeError(f"max_waiting must be 0 or more (got {max_waiting})")
        self.workers = workers
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pocketgan-translate")
        self._admitted = 0  # running + waiting; only touched from the event loop thread

    @property
    def admitted(self) -> int:
        return self._admitted

    def admit(self) -> None:
        """Reserve a place (running or waiting) or raise PoolBusy; pair with :meth:`release`."""
        if self._admitted >= self.workers + self.max_waiting:
            raise PoolBusy(f"server busy: {self._admitted} translations running or waiting; retry shortly")
        self._admitted += 1

    def release(self) -> None:
        self._admitted -= 1

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run ``fn(*args)`` on a worker thread (queueing for a free one) and return its result."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
