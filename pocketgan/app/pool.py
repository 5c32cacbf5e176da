"""A bounded pool of translation workers for the server.

Decoding a photo and running the generator take hundreds of MB for a large image; letting every
concurrent request do it at once would exhaust memory. Requests therefore run on ``workers``
threads and queue for them; beyond ``max_waiting`` queued requests the server answers 503 at
once instead of piling up uploads. Worker threads are fine here: PyTorch and ONNX Runtime release
the GIL while they compute.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

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


class MemoryBudget:
    """A weighted semaphore for worker threads: at most ``capacity`` bytes of estimated working
    memory reserved at once. The server's workers reserve what decoding a photo costs (up to ~16
    bytes per pixel) and what a generator's forward pass costs (hundreds of bytes per working pixel)
    before doing it; a reservation larger than ``capacity`` waits until it is alone, then runs. So
    the server's memory stays bounded whatever the number of workers and whatever they are sent."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ServeError(f"a memory budget must be positive (got {capacity})")
        self.capacity = capacity
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def reserve(self, amount: int):
        amount = max(1, min(int(amount), self.capacity))
        with self._cond:
            self._cond.wait_for(lambda: self.used + amount <= self.capacity)
            self.used += amount
        try:
            yield
        finally:
            with self._cond:
                self.used -= amount
                self._cond.notify_all()


class Allocator:
    """glibc's allocator, tuned for a long-running server process (a no-op elsewhere).

    glibc keeps freed blocks below its mmap threshold in per-thread heaps, and raises that threshold
    up to 32 MB as large blocks come and go; a forward pass's activations then stay allocated after
    a large photo. While a large job runs (:meth:`large_job`), blocks of 4 MB and more get pages of
    their own, returned to the system when freed (measured with benchmarks/hostile_load.py's decode
    cases, 2 workers: peak RSS ~890 MB instead of ~1.1 GB); small jobs keep the heap, which is 2-3
    times faster for them. Only `pocketgan serve` enables it: it changes the whole process."""

    M_MMAP_THRESHOLD = -3
    LARGE, SMALL = 4 << 20, 32 << 20

    def __init__(self) -> None:
        self._mallopt = None
        self._large = 0
        self._lock = threading.Lock()

    def enable(self) -> bool:
        """Take over glibc's mmap threshold (True if this is glibc)."""
        try:
            import ctypes
            import ctypes.util

            name = ctypes.util.find_library("c")
            mallopt = ctypes.CDLL(name).mallopt if name else None
        except (OSError, AttributeError):
            return False
        if mallopt is None or not mallopt(self.M_MMAP_THRESHOLD, self.SMALL):
            return False
        self._mallopt = mallopt
        return True

    @contextmanager
    def large_job(self):
        if self._mallopt is None:
            yield
            return
        with self._lock:
            self._large += 1
            if self._large == 1:
                self._mallopt(self.M_MMAP_THRESHOLD, self.LARGE)
        try:
            yield
        finally:
            with self._lock:
                self._large -= 1
                if self._large == 0:
                    self._mallopt(self.M_MMAP_THRESHOLD, self.SMALL)


ALLOCATOR = Allocator()
