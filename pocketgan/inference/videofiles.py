"""The error a bad video raises: torch-free, so `pocketgan translate` can name a bad video without
importing the video machinery, which needs PyTorch and PyAV (:mod:`pocketgan.inference.video`).
Which inputs are videos is :mod:`pocketgan.data.inputs`' rule (``is_video``)."""
from __future__ import annotations

from ..errors import PocketganError


class VideoError(PocketganError):
    """A video that cannot be read or written; one line naming the file."""
