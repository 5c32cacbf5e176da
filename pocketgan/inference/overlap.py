"""Decoding the next photos and encoding the last ones beside the model, in order, memory bounded.

A batch `translate` spends a third of its time in Pillow's codecs (PNG encoding above all), which
release the GIL: run in a thread each, they overlap the model's forward passes. Two stages, one
thread each, so every ordering stays what it was in series:

* :func:`prefetched` decodes up to ``ahead`` inputs ahead of the one being translated, yielding them
  (or their error) in input order;
* :class:`OrderedWriter` saves results in the order they are given, on one thread, at most
  ``ahead`` waiting: the files are written (and fsynced) in that order, the progress bar advances as
  they land, and after the first write the folder refuses (a full disk, a read-only folder) nothing
  more is written, so "N of M images were written" stays exact.

Memory: at most ``ahead`` decoded photos waiting and ``ahead`` results waiting, never the folder.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

AHEAD = 4  # photos decoded ahead, results waiting to be encoded: a few, not the folder


def prefetched(items: Iterable[T], decode: Callable[[T], R], ahead: int = AHEAD) -> Iterator[tuple[T, Future[R]]]:
    """``(item, future of decode(item))`` in input order, with up to ``ahead`` decodes running or done
    ahead of the one the caller is at (on one background thread). ``future.result()`` gives the
    decoded value or raises what ``decode`` raised. Decodes not yet consumed are cancelled when the
    caller stops early."""
    pending: deque[tuple[T, Future[R]]] = deque()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocketgan-decode") as pool:
        try:
            for item in source:
                pending.append((item, pool.submit(decode, item)))
                if len(pending) > ahead:
                    yield pending.popleft()
            while pending:
                yield pending.popleft()
        finally:
            for _, future in pending:
                future.cancel()


class OrderedWriter(Generic[T]):
    """Runs ``write(value, target)`` for each :meth:`put` on one thread, in order, at most ``ahead``
    waiting (:meth:`put` blocks beyond that). ``on_done(target, error)`` is called on that thread
    after each write (``error`` None on success). A write raising an error that ``fatal(error)``
    says ends the batch stops the writer: later puts are dropped unwritten, and :meth:`put` /
    :meth:`close` raise that error in the caller's thread."""

    def __init__(self, write: Callable[[T, object], None], on_done: Callable[[object, BaseException | None], None],
                 fatal: Callable[[BaseException], bool], ahead: int = AHEAD) -> None:
        self._write, self._on_done, self._fatal = write, on_done, fatal
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._error: BaseException | None = None
        self.failed_target: object = None  # the target of the fatal write, once there was one
        self._thread = threading.Thread(target=self._run, name="pocketgan-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if self._error is not None:
                    continue  # the batch is over: nothing more is written
                value, target = job
                try:
                    self._write(value, target)
                except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                    if self._fatal(e):
                        self.failed_target, self._error = target, e
                        continue
                    self._on_done(target, e)
                else:
                    self._on_done(target, None)
            finally:
                self._queue.task_done()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, value: T, target: object) -> None:
        """Queue ``value`` to be written to ``target``; raises the fatal error of an earlier write."""
        self._raise_if_failed()
        self._queue.put((value, target))

    def close(self) -> None:
        """Wait until every queued write is done (or dropped); raises the fatal error if one happened."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise_if_failed()

    def abandon(self) -> None:
        """Stop after the write in progress, dropping what waits (the batch failed); idempotent."""
        if self._error is None:
            self._error = _Abandoned()
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class _Abandoned(Exception):
    """The caller gave up on the batch: queued writes are dropped."""
