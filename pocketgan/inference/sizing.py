"""The working size of a translation, shared by the PyTorch and the ONNX Runtime pipelines (torch-free)."""
from __future__ import annotations


def fit_within(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """(w, h) an image of ``size`` is translated at: its own, or scaled to fit ``max_side``."""
    w, h = size
    if max_side and max(w, h) > max_side:
        s = max_side / max(w, h)
        w, h = max(1, round(w * s)), max(1, round(h * s))
    return w, h
