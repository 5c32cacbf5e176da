"""Networks behind one registry: ``create_generator(name, **kw)`` / ``create_discriminator``."""
import torch.nn as nn

from ..errors import OptionError
from . import cut_resnet, discriminators, lab, mobile, resnet, unet  # noqa: F401  (registers the architectures)
from .registry import create_discriminator, create_generator, list_discriminators, list_generators

__all__ = ["create_generator", "create_discriminator", "list_generators", "list_discriminators", "feature_points"]


def feature_points(net: nn.Module) -> dict[str, nn.Module]:
    """The modules whose outputs distillation matches between a teacher and a student, by stage:
    ``down`` (end of downsampling), ``mid`` (halfway through the residual blocks), ``blocks``
    (after them), ``up1`` (after the first upsampling). Raises OptionError for architectures
    without them (U-Nets: their skip connections make stages incomparable)."""
    points = getattr(net, "feature_points", None)
    if points is None:
        name = getattr(net, "config", {}).get("name", type(net).__name__)
        raise OptionError(f"generator {name} has no feature-matching points for distillation")
    return points()
