"""Which inputs are videos, and the error a bad one raises: torch-free, so `pocketgan translate`
can sort its inputs (and name a bad video) without importing the video machinery, which needs
PyTorch and PyAV (:mod:`pocketgan.inference.video`)."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import PocketganError

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi"})


class VideoError(PocketganError):
    """A video that cannot be read or written; one line naming the file."""


def is_video(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS
