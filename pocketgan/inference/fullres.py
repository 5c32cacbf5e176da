"""Full-resolution results for residual generators.

A residual mobile generator predicts a *change* to its input (``clamp(x + delta)``). A photo larger
than the working size (``max_side``) is translated at the working size; instead of upscaling the
*result* (which blurs away the photo's own detail), its predicted change is upsampled to the
photo's full resolution and added to the full-resolution photo, then clamped:

    out = clamp(X + S * up(delta))          X: the full-size photo, S: the strength

The change of a translation such as summer -> winter is mostly smooth (colour, light, tone), so
upsampling it loses little, while every pixel of the photo's own detail is kept.

``edge_aware=True`` (what the pipeline uses) upsamples with a guided filter instead (He et al.'s
fast guided filter used as joint upsampling): the change is fitted, in small windows at the working
size, as a linear function of the photo's brightness, ``delta ~ a * I + b``, and those coefficients
are upsampled and applied to the full-resolution brightness, so the change follows the photo's
full-resolution edges. Measured with ``benchmarks/fullres_quality.py`` (8 testA photos upscaled to
1024 px, the bundled model; PSNR against translating at 1024 px directly): working at 256 px,
upscaling the result 37.0 dB, the change upsampled bilinearly 41.2 dB, guided 42.4 dB; at 512 px
43.0 / 44.6 / 45.3 dB.

Memory: the full-size work is done in bands of rows, so beyond the photo and the result (3 bytes
per pixel each) it needs a few MB whatever the photo's size.

No torch here: the same numpy code serves the PyTorch pipeline and the torch-free ONNX one
(:mod:`pocketgan.inference.onnx_pipeline`), so both give the same pixels.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

BAND_PIXELS = 1 << 20  # pixels per band of rows of the full-size work (~12 MB of float32 per plane set)
GUIDE_RADIUS = 4       # guided filter window radius, in working-size pixels
GUIDE_EPS = 1e-3       # guided filter regulariser (brightness in [-1, 1])


def as_array(t) -> np.ndarray:
    """A float32 numpy array of ``t`` (a numpy array or a torch tensor, on any device)."""
    if hasattr(t, "detach"):
        t = t.detach().to("cpu").float().numpy()
    return np.asarray(t, dtype=np.float32)


def _axis_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling along one axis, half-pixel centres (``align_corners=False``, as
    ``F.interpolate`` and Pillow place pixels): for each output index the two input indices and the
    weight of the second."""
    pos = np.clip((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (pos - i0).astype(np.float32)


class BilinearUpsampler:
    """Upsamples (C, h, w) maps to (C, H, W), a band of output rows at a time (exactly bilinear,
    half-pixel centres, so a band never depends on where the bands are cut)."""

    def __init__(self, small: tuple[int, int], full: tuple[int, int]) -> None:
        (h, w), (H, W) = small, full
        self.rows = _axis_weights(h, H)
        self.cols = _axis_weights(w, W)

    def band(self, maps: np.ndarray, top: int, bottom: int) -> np.ndarray:
        r0, r1, rw = (t[top:bottom] for t in self.rows)
        c0, c1, cw = self.cols
        rw = rw[None, :, None]
        rows = maps[:, r0] * (1 - rw) + maps[:, r1] * rw            # (C, band, w)
        return rows[:, :, c0] * (1 - cw) + rows[:, :, c1] * cw       # (C, band, W)


def _brightness(x: np.ndarray) -> np.ndarray:
    """(3, H, W) -> (1, H, W): the mean of the channels (the guide)."""
    return x.mean(0, keepdims=True, dtype=np.float32)


def _box(t: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window (fewer pixels at the borders), from summed-area tables in float64."""
    if r == 0:
        return t.astype(np.float32)
    c, h, w = t.shape
    table = np.zeros((c, h + 1, w + 1), np.float64)
    table[:, 1:, 1:] = t.cumsum(1, dtype=np.float64).cumsum(2)
    top, bottom = np.clip(np.arange(h) - r, 0, h), np.clip(np.arange(h) + r + 1, 0, h)
    left, right = np.clip(np.arange(w) - r, 0, w), np.clip(np.arange(w) + r + 1, 0, w)
    sums = (table[:, bottom][:, :, right] - table[:, top][:, :, right]
            - table[:, bottom][:, :, left] + table[:, top][:, :, left])
    counts = (bottom - top)[:, None] * (right - left)[None, :]
    return (sums / counts).astype(np.float32)


def guided_coefficients(guide, change, radius: int = GUIDE_RADIUS,
                        eps: float = GUIDE_EPS) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's smoothed coefficients (A, B), each (C, h, w), so that ``A * I + B`` is the
    change filtered with the guide ``I`` (``guide``: (1, h, w))."""
    guide, change = as_array(guide), as_array(change)
    r = max(0, min(radius, (min(guide.shape[-2:]) - 1) // 2))
    mean_i, mean_p = _box(guide, r), _box(change, r)
    cov = _box(guide * change, r) - mean_i * mean_p
    var = _box(guide * guide, r) - mean_i * mean_i
    a = cov / (var + np.float32(eps))
    b = mean_p - a * mean_i
    return _box(a, r), _box(b, r)


def to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def apply_change(photo: Image.Image | np.ndarray, small, change, strength: float = 1.0,
                 edge_aware: bool = True) -> Image.Image:
    """The full-size result of adding ``strength * change`` to ``photo``.

    ``small``: the network's input (3, h, w) in [-1, 1] (the photo at the working size); ``change``:
    its predicted change (3, h, w) in [-1, 1] units (numpy arrays or torch tensors); ``photo``: the
    RGB photo at the size wanted (a PIL image or a uint8 (H, W, 3) array)."""
    src = photo if isinstance(photo, np.ndarray) else to_array(photo)
    H, W = src.shape[:2]
    change = as_array(change)
    h, w = change.shape[-2:]
    if edge_aware:
        a, b = guided_coefficients(_brightness(as_array(small)), change)
        maps = np.concatenate([a, b]) * np.float32(127.5 * strength)   # in 0..255 units of the guide in [-1, 1]
    else:
        maps = change * np.float32(127.5 * strength)                   # in 0..255 units
    up = BilinearUpsampler((h, w), (H, W))
    out = np.empty_like(src)
    rows = max(1, BAND_PIXELS // W)
    for top in range(0, H, rows):
        bottom = min(H, top + rows)
        band = up.band(maps, top, bottom)
        x = src[top:bottom].transpose(2, 0, 1).astype(np.float32)
        if edge_aware:
            guide = _brightness(x) / np.float32(127.5) - np.float32(1.0)
            band = band[:3] * guide + band[3:]
        y = np.clip(np.rint(x + band), 0, 255).astype(np.uint8)
        out[top:bottom] = y.transpose(1, 2, 0)
    return Image.fromarray(out, mode="RGB")
