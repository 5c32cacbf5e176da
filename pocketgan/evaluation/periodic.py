"""FID/KID during training (`--eval-every N` epochs) on a fixed subset of the test folders.

The real images' features are computed once; each evaluation translates the same inputs with the
current generators (eval mode, no randomness, so an exact resume stays exact) and also says how
much they change the photos, since KID can improve while a photo barely changes. The best
checkpoint is chosen by mean KID of the directions the run trains — chosen *on the test subset*, which the
saved model card says, because selecting on test data flatters the number.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from PIL import Image

from ..data.images import load_image
from ..data.inputs import scan_folder
from ..directions import DIRECTIONS
from ..inference.pipeline import TranslationPipeline
from ..models.modes import eval_mode
from .evaluate import photo_change
from .inception import inception_features
from .metrics import fid, kid


class SubsetEvaluator:
    """``images``: {"A": [...], "B": [...]} decoded test images of each domain (paired or not)."""

    def __init__(self, images: dict[str, list[Image.Image]], mode: str = "clean", device: str = "cpu") -> None:
        self.mode, self.device = mode, device
        self.inputs = images
        self.real_feats = {d: inception_features(v, mode=mode, device=device) for d, v in images.items()}
        self.n = {d: len(v) for d, v in self.inputs.items()}

    @classmethod
    def from_folders(cls, dir_a: Path, dir_b: Path, n_images: int, mode: str = "clean", device: str = "cpu") -> SubsetEvaluator:
        return cls({d: [load_image(p) for p in scan_folder(folder).files[:n_images]]
                    for d, folder in (("A", dir_a), ("B", dir_b))}, mode, device)

    @torch.no_grad()
    def __call__(self, generators: dict[str, nn.Module]) -> dict:
        out = {}
        for d in DIRECTIONS.values():
            if d.slot not in generators:  # a distilled student translates one way only
                continue
            net = generators[d.slot]
            with eval_mode(net):  # the pipeline puts the net in eval mode; training resumes after
                pipe = TranslationPipeline(net, device=next(net.parameters()).device, max_side=None)
                fakes = list(pipe.translate_many(self.inputs[d.source]))
            feats = inception_features(fakes, mode=self.mode, device=self.device)
            real = self.real_feats[d.target]
            k, k_std = kid(feats, real, subset_size=min(self.n[d.source], self.n[d.target], 1000))
            out[d.name] = {"kid_x1000": round(k * 1000, 3), "kid_x1000_std": round(k_std * 1000, 3),
                           "fid": round(fid(feats, real), 3), "change": photo_change(self.inputs[d.source], fakes)}
        kids = [out[name]["kid_x1000"] for name in DIRECTIONS if name in out]
        out["mean_kid_x1000"] = round(sum(kids) / len(kids), 3)
        return out
