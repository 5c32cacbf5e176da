"""How strongly a translation is applied: 0 = the input unchanged, 1 = the model as trained (the
default), up to :data:`MAX_STRENGTH` to exaggerate it.

:class:`~pocketgan.inference.pipeline.TranslationPipeline` applies it (one implementation for
`pocketgan translate`, `pocketgan serve` and Python users): a residual mobile generator's predicted
change is scaled before it is added to the input and clamped (``clamp(x + S * delta)``); any other
generator, and any exported .onnx/.tflite file, is blended with its input in [-1, 1]
(``clamp(x + S * (G(x) - x))``, extrapolating above 1). No torch here: the CLI checks the value
while parsing.
"""
from __future__ import annotations

import math

from ..errors import OptionError

MIN_STRENGTH = 0.0
MAX_STRENGTH = 1.5
STRENGTH_RANGE = f"between {MIN_STRENGTH:g} and {MAX_STRENGTH:g}"


def check_strength(value: float, name: str = "strength") -> float:
    """``value`` as a float if it is a finite number in [0, 1.5]; else a one-line OptionError naming ``name``."""
    problem = OptionError(f"{name} must be a number {STRENGTH_RANGE} (got {value!r})")
    if isinstance(value, bool):
        raise problem
    try:
        strength = float(value)
    except (TypeError, ValueError):
        raise problem from None
    if not math.isfinite(strength) or not MIN_STRENGTH <= strength <= MAX_STRENGTH:
        raise problem
    return strength
