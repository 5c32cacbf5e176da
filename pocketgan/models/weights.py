"""The one reader of weight files: a model folder's ``G_*.safetensors``, a training checkpoint, the
``.pth`` (or ``.safetensors``) a user hands to ``pocketgan import``.

Why one reader: weight files come from downloads, disks and other programs, and a damaged one (cut
short, a header that lies about its length or offsets, a dtype that does not exist) must be one line
that names the file, says what is wrong and what to do, in every command, not a traceback from
whichever library happened to open it. :class:`WeightsError` is that line.

A safetensors file is checked here before safetensors sees it, and cheaply: the 8-byte header
length against the file's size and :data:`HEADER_LIMIT`, the header as a JSON object, then every
tensor's dtype, shape and byte range, which must tile the data section exactly. Only the header is
read for this; no tensor data is read or allocated until all of it fits, so a header that claims
terabytes costs nothing. The checks are safetensors' own rules, so a file that passes them loads;
safetensors' error is still caught, as a file can change between the check and the read.

The format is recognised by the file's first bytes, never its suffix: ``torch.load`` hands any path
ending in ``.safetensors`` to safetensors, and a renamed file is still what its bytes say. A
PyTorch file is read with ``torch.load(weights_only=True)``: tensors only, no code from a
stranger's pickle.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import stat
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import torch
from safetensors import SafetensorError, safe_open

from ..errors import ModelFolderError, first_line

LENGTH_BYTES = 8  # a little-endian u64: the JSON header's length
# safetensors' own cap on the header: a bigger one is damage, not a model (and is never read)
HEADER_LIMIT = 100_000_000
METADATA_KEY = "__metadata__"
# bytes per element of the dtypes safetensors' PyTorch loader maps to a torch dtype (the sub-byte
# F4 / F6 formats have no torch dtype, so a file using them cannot load here either)
DTYPE_BYTES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E4M3FNUZ": 1, "F8_E5M2": 1, "F8_E5M2FNUZ": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}
MAX_INDEX = 2 ** 63 - 1  # torch sizes are int64: a dimension (or element count) above it cannot be built
PYTORCH_MAGIC = (b"PK\x03\x04", b"\x80")  # torch.save's zip archive; its legacy format (a pickle)
ADVICE = "re-download or re-export it"
# what torch.load(weights_only=True) raises on bytes that are no checkpoint (cut short, bit flips, junk):
# all of these but the last four were seen in tests/test_fuzz_weights.py (AssertionError: a legacy file
# whose storage key is flipped); a pickle can also ask for a huge number, a huge storage or deep nesting
_PTH_FAILURES = (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError,
                 struct.error, TypeError, AssertionError, AttributeError, OverflowError, MemoryError, RecursionError)


class WeightsError(ModelFolderError):
    """An unusable weights file: ``"{path}: {what} ({problem}); {advice}"``, one line. ``path`` and
    ``problem`` are kept so a checkpoint reader can say the same under its own error type."""

    def __init__(self, path: str | os.PathLike[str], problem: str, what: str = "unreadable weights",
                 advice: str = ADVICE) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"{os.fspath(path)}: {what} ({problem}); {advice}")


# --------------------------------------------------------------------------- entry points

def read_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or a PyTorch weights file (``torch.save`` of a state_dict,
    or of ``{"state_dict": ...}`` as training scripts write), told apart by their first bytes.

    The safetensors signature (a ``{`` after the 8-byte length) is tested first: the length's first
    byte can be anything, 0x80 (a 128-byte header) included, while a PyTorch file never has a ``{``
    there (its zip header or pickled magic number holds other bytes at that place)."""
    path = Path(path)
    with _open(path) as f:
        head = f.read(LENGTH_BYTES + 1)
        safetensors = head[LENGTH_BYTES:] == b"{"  # its header is a JSON object
        if not safetensors and head.startswith(PYTORCH_MAGIC):
            f.seek(0)
            return _read_pytorch(f, path)
    if safetensors:
        return read_safetensors(path)[0]
    shown = f"only {len(head)} bytes" if len(head) <= LENGTH_BYTES else f"it starts with {head!r}"
    raise WeightsError(path, shown, what="not a loadable PyTorch weights file or safetensors file")


def read_safetensors(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, the ``__metadata__`` strings) of a safetensors file whose header passed
    :func:`read_safetensors_metadata`'s checks."""
    path = Path(path)
    metadata = read_safetensors_metadata(path)
    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            return {name: f.get_tensor(name) for name in f.keys()}, metadata  # noqa: SIM118 - safe_open is not iterable
    except (SafetensorError, OSError) as e:  # the file changed since the check
        raise WeightsError(path, first_line(e)) from None


def read_safetensors_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``__metadata__`` strings of a safetensors file after checking its whole header (no tensor
    data is read): what a checkpoint's counters and config are read from."""
    path = Path(path)
    with _open(path) as f:
        raw, size = _read_header(f, path)
    return check_header(raw, size, path)


# --------------------------------------------------------------------------- the checks

def _open(path: Path) -> BinaryIO:
    """``path`` opened for reading, its failures as one WeightsError line. Non-blocking, then
    checked to be a regular file: a folder or a named pipe of that name must not hang a command."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise WeightsError(path, "no such file", what="missing weights file", advice="check the path") from None
    except IsADirectoryError:  # (Windows; POSIX opens a folder, and the check below names it)
        raise WeightsError(path, "it is a folder, not a file") from None
    except OSError as e:
        raise WeightsError(path, f"cannot read it: {e.strerror or e}", advice="check the file and its permissions") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise WeightsError(path, "it is a folder, not a file" if stat.S_ISDIR(mode) else "not a regular file")
    return os.fdopen(fd, "rb")


def _read_header(f: BinaryIO, path: Path) -> tuple[bytes, int]:
    """(the header's bytes, the file's size), after checking the length field against the size and
    the cap: nothing is read or allocated for a length the file cannot hold."""
    size = os.fstat(f.fileno()).st_size
    if size < LENGTH_BYTES:
        raise WeightsError(path, f"only {size} bytes: too short for a safetensors file")
    n = int.from_bytes(f.read(LENGTH_BYTES), "little")
    if n > size - LENGTH_BYTES:
        raise WeightsError(path, f"header length {n:,} bytes, more than the {size - LENGTH_BYTES:,} bytes after it: "
                                 "the file is cut short or damaged")
    if n > HEADER_LIMIT:
        raise WeightsError(path, f"header length {n:,} bytes is over the {HEADER_LIMIT:,}-byte limit of the format")
    raw = f.read(n)
    if len(raw) != n:
        raise WeightsError(path, "the file ended inside its header (it is being written or was cut short)")
    return raw, size


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """json object hook: safetensors refuses a repeated key and any string that is not valid
    Unicode (a lone surrogate escape), which Python's json would accept."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key[:60]!r} appears twice")
        for text in (key, value) if isinstance(value, str) else (key,):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{text[:60]!r} is not valid Unicode") from None
        out[key] = value
    return out


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse(raw: bytes, path: Path) -> dict:
    """The header as a JSON object (starting with ``{``, as the format requires)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WeightsError(path, f"the header is not UTF-8 text (byte {e.start})") from None
    if not text.startswith("{"):
        raise WeightsError(path, "the header is not a JSON object")
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise WeightsError(path, f"the header is not JSON as safetensors reads it: {first_line(e, 120)}") from None


def _is_index(value: object, limit: int = MAX_INDEX) -> bool:
    return type(value) is int and 0 <= value <= limit


def _check_metadata(value: object, path: Path) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise WeightsError(path, f"{METADATA_KEY} must map names to strings")
    return value


def _check_tensor(name: str, info: object, data_size: int, path: Path) -> tuple[int, int]:
    """One header entry's (start, end) after checking its dtype, shape and byte range."""
    label = f"tensor {name[:60]!r}"
    if not isinstance(info, dict):
        raise WeightsError(path, f"{label}: not a mapping of dtype, shape and data_offsets")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise WeightsError(path, f"{label}: unknown dtype {str(dtype)[:20]!r} (expected one like F32, F16, BF16)")
    if not isinstance(shape, list) or not all(_is_index(d) for d in shape):
        raise WeightsError(path, f"{label}: shape {str(shape)[:40]} is not a list of whole numbers >= 0")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_index(o) for o in offsets)):
        raise WeightsError(path, f"{label}: data_offsets {str(offsets)[:40]} is not [start, end] in bytes")
    start, end = offsets
    if end < start:
        raise WeightsError(path, f"{label}: data_offsets [{start}, {end}] end before they start")
    if end > data_size:
        raise WeightsError(path, f"{label}: data_offsets end at byte {end:,} of tensor data, past the {data_size:,} "
                                 "bytes after the header: the file is cut short or damaged")
    if math.prod(d for d in shape if d) > MAX_INDEX:
        raise WeightsError(path, f"{label}: shape {str(shape)[:40]} has more elements than any tensor can")
    need = math.prod(shape) * DTYPE_BYTES[dtype]
    if need != end - start:
        raise WeightsError(path, f"{label}: shape {shape} of {dtype} is {need:,} bytes, but its data_offsets "
                                 f"[{start}, {end}] hold {end - start:,}")
    return start, end


def check_header(raw: bytes, size: int, path: str | os.PathLike[str]) -> dict[str, str]:
    """Check a safetensors header (``raw``, of a file of ``size`` bytes) the way safetensors will:
    a JSON object of tensors, each a known dtype and a shape whose bytes match its data_offsets,
    the ranges tiling the data section from its first byte to the file's end without gap or
    overlap. Returns the ``__metadata__`` strings; raises :class:`WeightsError`."""
    path = Path(path)
    header = _parse(raw, path)
    data_size = size - LENGTH_BYTES - len(raw)
    metadata = _check_metadata(header.pop(METADATA_KEY, None), path)
    ranges = sorted((_check_tensor(name, info, data_size, path), name) for name, info in header.items())
    position = 0
    for (start, end), name in ranges:
        if start != position:
            why = "overlaps the tensor before it" if start < position else f"leaves bytes {position:,}-{start:,} unused"
            raise WeightsError(path, f"tensor {name[:60]!r}: data_offsets start at {start:,}, which {why}")
        position = end
    if position != data_size:
        raise WeightsError(path, f"the tensors use {position:,} bytes of tensor data, but the file holds {data_size:,} "
                                 "after its header")
    return metadata


def _read_pytorch(f: BinaryIO, path: Path) -> dict[str, torch.Tensor]:
    """A PyTorch weights file's state_dict. The open file goes to torch.load, not the path: torch.load
    would hand a path ending in .safetensors to safetensors whatever its bytes are."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # junk bytes make the unpickler warn about odd protocols first
            state = torch.load(f, map_location="cpu", weights_only=True)
    except _PTH_FAILURES as e:
        raise WeightsError(path, first_line(e), what="not a loadable PyTorch weights file") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise WeightsError(path, f"it holds a {type(state).__name__}, expected a state_dict of named tensors",
                           what="not a loadable PyTorch weights file")
    return state
