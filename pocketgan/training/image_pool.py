"""History buffer of generated images (Shrivastava et al. 2017), as in the CycleGAN reference.

The discriminator sees, half of the time, an older fake instead of the newest one, which damps
oscillation. The pool owns its own ``random.Random`` so its choices can be checkpointed and a
resumed run makes exactly the same choices as an uninterrupted one.
"""
from __future__ import annotations

import random

import torch


class ImagePool:
    def __init__(self, size: int = 50, seed: int = 0) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape: each image is either the new one (and stored while the
        pool fills), or, once full, with probability 1/2 a stored one swapped for the new one."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                i = self.rng.randint(0, self.size - 1)
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    # --- checkpointing (a Stateful: state.py) -----------------------------------------------
    def state_dict(self) -> dict:
        version, internal, gauss = self.rng.getstate()
        out = {"size": self.size, "count": len(self.images), "rng": [version, list(internal), gauss]}
        if self.images:
            out["images"] = torch.cat(self.images, 0)
        return out

    def load_state_dict(self, state: dict) -> None:
        if state["size"] != self.size:
            raise ValueError(f"checkpoint pool size {state['size']} != configured {self.size}")
        images = state.get("images")
        self.images = [] if images is None else [img.unsqueeze(0).clone() for img in images]
        if len(self.images) != state["count"]:
            raise ValueError("checkpoint image pool is inconsistent")
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
