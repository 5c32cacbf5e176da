"""Decoding and encoding beside the model (issue 29, item 3): order kept, memory bounded, the first
fatal write ends the batch with nothing written after it."""
from __future__ import annotations

import errno
import threading
import time

import pytest

from pocketgan.inference.overlap import OrderedWriter, prefetched


def test_prefetched_keeps_order_decodes_ahead_and_no_further():
    started: list[int] = []
    gate = threading.Event()

    def decode(i: int) -> int:
        started.append(i)
        if i == 0:
            gate.wait(5)
        if i == 3:
            raise ValueError("bad 3")
        return i * 10

    stream = prefetched(range(20), decode, ahead=4)
    item, first = next(stream)  # 5 submitted: the one asked for and 4 ahead
    assert item == 0
    time.sleep(0.05)
    assert started == [0]  # one decoding thread, blocked on item 0: nothing else ran yet
    gate.set()
    assert first.result() == 0
    got = [0]
    for item, future in stream:
        try:
            got.append(future.result())
        except ValueError as e:
            got.append(str(e))
        assert max(started) <= item + 4 + 1  # never more than `ahead` beyond what was consumed
    assert got == [0, 10, 20, "bad 3", *[i * 10 for i in range(4, 20)]]


def test_prefetched_cancels_what_was_not_consumed():
    done: list[int] = []

    def decode(i: int) -> int:
        time.sleep(0.01)
        done.append(i)
        return i

    stream = prefetched(range(100), decode, ahead=3)
    assert [f.result() for _, f in (next(stream), next(stream))] == [0, 1]
    stream.close()
    assert len(done) <= 2 + 3 + 1  # what was consumed, queued ahead, and at most one running


def _writer(written, landed, fatal_at=None, refused_at=None, delay=0.0):
    def write(value, target):
        time.sleep(delay)
        if target == fatal_at:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        if target == refused_at:
            raise OSError(errno.ENAMETOOLONG, "File name too long", str(target))
        written.append((threading.current_thread().name, target, value))

    def fatal(e: BaseException) -> bool:
        return not (isinstance(e, OSError) and e.errno == errno.ENAMETOOLONG)

    return OrderedWriter(write, lambda target, error: landed.append((target, error and error.errno)), fatal, ahead=2)


def test_ordered_writer_writes_in_order_on_its_thread_and_reports_each():
    written, landed = [], []
    writer = _writer(written, landed, refused_at="t2", delay=0.002)
    for i in range(6):
        writer.put(i, f"t{i}")
    writer.close()
    assert [t for _, t, _ in written] == ["t0", "t1", "t3", "t4", "t5"]
    assert {name for name, _, _ in written} == {"pocketgan-encode"}
    assert landed == [("t0", None), ("t1", None), ("t2", errno.ENAMETOOLONG), ("t3", None), ("t4", None), ("t5", None)]


def test_ordered_writer_bounds_what_waits():
    written, landed = [], []
    release = threading.Event()

    def write(value, target):
        release.wait(5)
        written.append(target)

    writer = OrderedWriter(write, lambda t, e: landed.append(t), lambda e: True, ahead=2)
    puts = []
    thread = threading.Thread(target=lambda: [writer.put(i, i) or puts.append(i) for i in range(10)])
    thread.start()
    time.sleep(0.1)
    assert len(puts) <= 1 + 2  # one being written, two waiting: put blocks beyond that
    release.set()
    thread.join(5)
    writer.close()
    assert written == list(range(10))


def test_the_first_fatal_write_ends_the_batch():
    written, landed = [], []
    writer = _writer(written, landed, fatal_at="t2")
    with pytest.raises(OSError, match="No space") as caught:
        for i in range(8):
            writer.put(i, f"t{i}")
        writer.close()
    assert caught.value.filename == "t2"
    writer.abandon()  # as translate_files does on its way out
    assert [t for _, t, _ in written] == ["t0", "t1"]  # nothing after the failure, although t3.. were queued
    assert writer.failed_target == "t2"


class Inverting:
    """A stand-in model: translate_many as the pipelines have it (the images' negatives)."""

    def translate_many(self, images, strength=None):
        from PIL import ImageOps

        for im in images:
            time.sleep(0.005)
            yield ImageOps.invert(im)


def test_translate_files_overlapped_writes_what_the_serial_path_writes(tmp_path):
    import numpy as np
    from PIL import Image

    from pocketgan.inference.translate import translate_files

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(src / f"p{i}.png")
    (src / "p5.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # skipped, in its place in the order
    results = {}
    for ahead in (0, 1, 4):
        out = tmp_path / f"out{ahead}"
        written, skipped, unwritten = translate_files(Inverting(), [str(src)], out, progress=False, ahead=ahead)
        results[ahead] = ([p.name for p in written], [s.replace(str(src), "") for s in skipped], unwritten,
                          {p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert results[0] == results[1] == results[4]
    names, skipped, unwritten, files = results[4]
    assert names == [f"p{i}.png" for i in range(12) if i != 5] and len(skipped) == 1 and "p5.png" in skipped[0]
    assert not unwritten and sorted(files) == sorted(names)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out4" / "p3.png")),
                          255 - np.asarray(Image.open(src / "p3.png")))
