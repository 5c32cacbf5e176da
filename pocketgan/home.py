"""Where pocketgan keeps what it downloads, imports and caches: ``$POCKETGAN_HOME``, else
``$XDG_CACHE_HOME/pocketgan``, else ``~/.cache/pocketgan``. One place, so that setting
``POCKETGAN_HOME`` (tests do; so may a user with a small home folder) moves all of it:
imported models (``models/``), exports of bundled models, and the Inception feature cache
(``features/``)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def pocketgan_home() -> Path:
    """The root of pocketgan's own files (not created here)."""
    if os.environ.get("POCKETGAN_HOME"):
        return Path(os.environ["POCKETGAN_HOME"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "pocketgan"


def file_digest(path: str | Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes, read in chunks (model files can be hundreds of MB)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
