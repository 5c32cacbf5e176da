"""Networks behind one registry: ``create_generator(name, **kw)`` / ``create_discriminator``.

Importing this package imports no torch: a model's config is read and checked by the torch-free
:mod:`.config` (what `pocketgan translate` needs on its ONNX Runtime path); the registry and the
networks are imported on first use of the names below.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["create_generator", "create_discriminator", "list_generators", "list_discriminators", "feature_points"]

if TYPE_CHECKING:
    import torch.nn as nn

    from .registry import create_discriminator, create_generator, list_discriminators, list_generators


def __getattr__(name: str):
    if name in ("create_generator", "create_discriminator", "list_generators", "list_discriminators"):
        from . import registry
        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def feature_points(net: nn.Module) -> dict[str, nn.Module]:
    """The modules whose outputs distillation matches between a teacher and a student, by stage:
    ``down`` (end of downsampling), ``mid`` (halfway through the residual blocks), ``blocks``
    (after them), ``up1`` (after the first upsampling). Raises OptionError for architectures
    without them (U-Nets: their skip connections make stages incomparable)."""
    from ..errors import OptionError

    points = getattr(net, "feature_points", None)
    if points is None:
        name = getattr(net, "config", {}).get("name", type(net).__name__)
        raise OptionError(f"generator {name} has no feature-matching points for distillation")
    return points()
