"""Property-based tests (Hypothesis) of the weight-file reader and the atomic writer.

The reader (pocketgan/models/weights.py) meets random bytes, real safetensors files with bit flips,
a random header-length field or a cut at a random point, and forged JSON headers with random dtypes,
shapes and offsets. Whatever it is given, it either returns exactly the tensors safetensors itself
reads from those bytes (the saved ones, for an untouched file), or raises WeightsError, one line
naming the file. Never another exception, never a hang, never a large allocation; and never
safetensors' own error: the header checks must catch every damaged file before safetensors sees it.

The atomic writer (pocketgan/fileio.py) gets random long and Unicode names up to the file system's
limit and must leave exactly that file, with no temp file beside it.

The number of cases is the profile's (tests/conftest.py: "ci", derandomized, 150 per test).
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import torch
from hypothesis import assume, event, given, strategies as st
from safetensors import SafetensorError
from safetensors.torch import load as reference_load, save

from pocketgan.fileio import DEFAULT_NAME_MAX, atomic_write_bytes, name_max, temp_path
from pocketgan.models.weights import DTYPE_BYTES, WeightsError, read_safetensors, read_safetensors_metadata, read_weights

SECONDS_PER_CASE = 20
PEAK_BYTES = 16 << 20  # Python-side allocation allowed for one read of these (< 100 kB) files
TORCH_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int16,
                torch.int8, torch.uint8, torch.bool)


# ---------------------------------------------------------------- helpers

@contextlib.contextmanager
def bounded(what: str) -> Iterator[None]:
    """Fail if the body runs over SECONDS_PER_CASE (a hang) or allocates over PEAK_BYTES in Python."""
    def hung(signum, frame):
        raise AssertionError(f"{what}: still running after {SECONDS_PER_CASE} s")
    alarm = hasattr(signal, "SIGALRM")
    if alarm:
        previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(SECONDS_PER_CASE)
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < PEAK_BYTES, f"{what}: allocated {peak:,} bytes"
    finally:
        tracemalloc.stop()
        if alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Same names, dtypes, shapes and bytes (NaN payloads included, which torch.equal would not call equal)."""
    def raw(t: torch.Tensor) -> bytes:
        return bytes(t.contiguous().reshape(-1).view(torch.uint8).tolist()) if t.numel() else b""
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and raw(a[k]) == raw(b[k]) for k in a)


def read_or_refuse(path: Path, data: bytes, *, saved: dict[str, torch.Tensor] | None = None) -> dict | None:
    """Every reader on ``data`` (written to ``path``): tensors equal to what safetensors (or, for a
    PyTorch file, torch) reads from the bytes, or WeightsError in one line naming the file. Returns
    read_weights' tensors, None when refused."""
    path.write_bytes(data)
    results = []
    for read in (read_weights, lambda p: read_safetensors(p)[0], read_safetensors_metadata):
        try:
            with bounded(f"{read.__name__} on {len(data)} bytes"):
                results.append(read(path))
        except WeightsError as e:
            message = str(e)
            assert message.startswith(f"{path}: ") and "\n" not in message, message
            # the header checks, not safetensors, must have found the damage
            assert not isinstance(e.__context__, SafetensorError), f"safetensors found what the checks missed: {message}"
            results.append(None)
    tensors, as_safetensors, metadata = results
    event("loaded" if tensors is not None else "refused")  # (--hypothesis-show-statistics counts them)
    if data[8:9] != b"{" and (data[:4] == b"PK\x03\x04" or data[:1] == b"\x80"):
        return tensors  # a PyTorch file's other readers refuse it, as they should; torch.load read it
    assert (tensors is None) == (as_safetensors is None) == (metadata is None), "the readers disagree"
    if tensors is not None:
        assert same_tensors(tensors, reference_load(data))
        if saved is not None:
            assert same_tensors(tensors, saved)
    return tensors


def split(data: bytes) -> tuple[int, bytes, bytes]:
    n = int.from_bytes(data[:8], "little")
    return n, data[8:8 + n], data[8 + n:]


# ---------------------------------------------------------------- strategies

names = st.one_of(st.text(max_size=12), st.sampled_from(["w", "model.1.weight", "é", "\u2603 x", ""]))


@st.composite
def tensors_of(draw, dtype: torch.dtype) -> torch.Tensor:
    shape = draw(st.lists(st.integers(0, 4), max_size=3))
    numel = math.prod(shape)
    if dtype is torch.bool:
        return torch.tensor(draw(st.lists(st.booleans(), min_size=numel, max_size=numel)), dtype=torch.bool).reshape(shape)
    size = numel * torch.empty(0, dtype=dtype).element_size()
    raw = draw(st.binary(min_size=size, max_size=size))
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone() if numel else torch.empty(shape, dtype=dtype)


@st.composite
def state_dicts(draw) -> dict[str, torch.Tensor]:
    keys = draw(st.lists(names.filter(lambda k: k != "__metadata__"), max_size=4, unique=True))
    return {k: draw(st.sampled_from(TORCH_DTYPES).flatmap(tensors_of)) for k in keys}


metadata = st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=16), max_size=3)


@st.composite
def saved_files(draw) -> tuple[bytes, dict[str, torch.Tensor]]:
    tensors = draw(state_dicts())
    extra = draw(metadata)
    # found by this test: safetensors 0.8's save({}, metadata={}) writes the header '{},"__metadata__":{}}',
    # which safetensors itself cannot read (pocketgan never saves an empty file)
    assume(tensors or extra != {})
    return save(tensors, metadata=extra), tensors


ODD_VALUES = [None, True, 1.5, "3", float("nan"), -1, 2 ** 63, 2 ** 64, 2 ** 64 - 1, [], {}]


@st.composite
def forged_files(draw) -> bytes:
    """A hand-built header: a consistent layout (it would load) with, usually, one thing wrong in it."""
    entries: list[tuple[str, object]] = []
    position = 0
    for name in draw(st.lists(names, max_size=4)):  # repeated names too
        dtype = draw(st.sampled_from(sorted(DTYPE_BYTES)))
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        size = math.prod(shape) * DTYPE_BYTES[dtype]
        entries.append((name, {"dtype": dtype, "shape": shape, "data_offsets": [position, position + size]}))
        position += size
    data_size = position
    if entries and draw(st.integers(0, 3)):  # usually damage one entry
        i = draw(st.integers(0, len(entries) - 1))
        name, entry = entries[i]
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "drop", "entry"]))
        if field == "dtype":
            entry["dtype"] = draw(st.sampled_from(["F4", "F6_E2M3", "F99", "f32", "", *ODD_VALUES]))
        elif field == "shape":
            entry["shape"] = draw(st.lists(st.integers(0, 6) | st.sampled_from(ODD_VALUES), max_size=4)
                                  | st.sampled_from([None, "2", {}]))
        elif field == "data_offsets":
            entry["data_offsets"] = draw(st.lists(st.integers(0, data_size + 8) | st.sampled_from(ODD_VALUES),
                                                  max_size=3))
        elif field == "drop":
            entry.pop(draw(st.sampled_from(sorted(entry))))
        else:
            entries[i] = (name, draw(st.sampled_from(ODD_VALUES)))
    if draw(st.booleans()):
        entries.append(("__metadata__", draw(metadata | st.sampled_from([{"k": 1}, {"k": None}, [], "m"]))))
    header = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in entries) + "}"
    header += draw(st.sampled_from(["", " ", "  \n", "\x00", "x", "}"]))
    raw = header.encode("utf-8", "surrogatepass")
    body_size = data_size + draw(st.sampled_from([0, 0, 0, -1, 1, 7]))
    length = len(raw) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    body = draw(st.binary(min_size=max(body_size, 0), max_size=max(body_size, 0)))
    return max(length, 0).to_bytes(8, "little") + raw + body


pytorch_heads = st.sampled_from([b"PK\x03\x04", b"PK\x05\x06", b"\x80\x02", b"\x80\x04\x95", b"\x80\x02\x8a\x0alY\xfcjP"])
random_bytes = st.one_of(st.binary(max_size=300), st.tuples(pytorch_heads, st.binary(max_size=200)).map(b"".join),
                         st.binary(min_size=8, max_size=8).map(lambda b: b + b"{" + b" " * 8))


# ---------------------------------------------------------------- the reader

@given(data=random_bytes)
def test_random_bytes_are_refused_in_one_line(tmp_path, data):
    read_or_refuse(tmp_path / "random.safetensors", data)


@given(file=saved_files())
def test_a_saved_file_loads_exactly(tmp_path, file):
    data, tensors = file
    assert read_or_refuse(tmp_path / "good.safetensors", data, saved=tensors) is not None


@given(file=saved_files(), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
                                          min_size=1, max_size=6))
def test_bit_flips_in_the_header_load_as_safetensors_would_or_are_refused(tmp_path, file, flips):
    data, _ = file
    n, _, _ = split(data)
    mutated = bytearray(data)
    for where, bit in flips:
        mutated[int(where * (8 + n))] ^= 1 << bit
    read_or_refuse(tmp_path / "flipped.safetensors", bytes(mutated))


@given(file=saved_files(), length=st.integers(0, 2 ** 64 - 1) | st.integers(0, 400))
def test_any_header_length_field_is_checked_before_it_is_believed(tmp_path, file, length):
    data, tensors = file
    assume(length != split(data)[0])
    read_or_refuse(tmp_path / "length.safetensors", length.to_bytes(8, "little") + data[8:])


@given(file=saved_files(), cut=st.floats(0, 1, exclude_max=True))
def test_a_file_cut_anywhere_is_refused(tmp_path, file, cut):
    data, _ = file
    assert read_or_refuse(tmp_path / "cut.safetensors", data[: int(cut * len(data))]) is None


@given(data=forged_files())
def test_forged_headers_load_as_safetensors_would_or_are_refused(tmp_path, data):
    read_or_refuse(tmp_path / "forged.safetensors", data)


@st.composite
def pytorch_files(draw) -> bytes:
    """torch.save of a state_dict (zip, or the legacy pickle format) with bit flips or a cut."""
    buffer = io.BytesIO()
    torch.save(draw(state_dicts()), buffer, _use_new_zipfile_serialization=draw(st.booleans()))
    data = bytearray(buffer.getvalue())
    if draw(st.booleans()):
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 6))):
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@given(data=pytorch_files())
def test_damaged_pytorch_files_load_or_are_refused_in_one_line(tmp_path, data):
    tensors = read_or_refuse(tmp_path / "damaged.pth", data)
    assert tensors is None or all(isinstance(k, str) and torch.is_tensor(v) for k, v in tensors.items())


# ---------------------------------------------------------------- the atomic writer

ALPHABET = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),            # ASCII (1 byte)
    st.characters(min_codepoint=0xA0, max_codepoint=0x7FF),           # 2 bytes
    st.characters(min_codepoint=0x800, max_codepoint=0xFFFF, blacklist_categories=("Cs",)),  # 3 bytes
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),     # 4 bytes (emoji...)
).filter(lambda c: c not in "/\\\x00")


@st.composite
def file_names(draw, limit: int) -> str:
    """A name of 1..limit bytes in UTF-8, mostly near the limit, mixing 1- to 4-byte characters."""
    budget = draw(st.integers(max(1, limit - 20), limit) | st.integers(1, limit))
    chars, used = [], 0
    for ch in draw(st.lists(ALPHABET, min_size=1, max_size=limit)):
        size = len(ch.encode())
        if used + size > budget:
            break
        chars.append(ch)
        used += size
    name = "".join(chars)
    assume(name not in ("", ".", ".."))
    return name


LIMIT = min(name_max(tempfile.gettempdir()), DEFAULT_NAME_MAX)


@given(name=file_names(LIMIT), data=st.binary(max_size=64))
def test_the_atomic_writer_leaves_exactly_that_name(tmp_path, name, data):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    atomic_write_bytes(folder / name, data)
    assert os.listdir(folder) == [name]
    assert (folder / name).read_bytes() == data


@given(name=file_names(LIMIT))
def test_temp_names_fit_the_limit_and_stay_hidden(tmp_path, name):
    tmp = temp_path(tmp_path / name)
    assert len(os.fsencode(tmp.name)) <= name_max(tmp_path)
    assert tmp.name.startswith(".") and tmp.name.endswith(".tmp") and tmp.parent == tmp_path
    kept = tmp.name[1:-len(".12345678.tmp")]
    assert name.startswith(kept) and (kept == name or len(os.fsencode(name)) > len(os.fsencode(kept)))

