"""One device resolution for every command: ``auto`` picks CUDA, then Apple's MPS, then the CPU;
an explicit name is checked here, so ``--device nope`` or ``cuda`` on a machine without CUDA is one
clear line instead of a traceback deep inside the first tensor op."""
from __future__ import annotations

from .errors import PocketganError

DEVICE_HELP = "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps"


def resolve_device(name: str = "auto"):
    """``name`` as a ``torch.device`` that exists on this machine."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise PocketganError(f"--device: unknown device {name!r} (use {DEVICE_HELP})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise PocketganError(f"--device {name}: this machine has no usable CUDA GPU (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise PocketganError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise PocketganError(f"--device {name}: MPS is not available on this machine (use cpu or auto)")
    elif device.type != "cpu":
        raise PocketganError(f"--device: unsupported device {name!r} (use {DEVICE_HELP})")
    return device
