"""Networks behind one registry: ``create_generator(name, **kw)`` / ``create_discriminator``."""
from . import discriminators, mobile, resnet, unet  # noqa: F401  (registers the architectures)
from .registry import create_discriminator, create_generator, list_discriminators, list_generators

__all__ = ["create_generator", "create_discriminator", "list_generators", "list_discriminators"]
