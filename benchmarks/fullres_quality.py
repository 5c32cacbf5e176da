"""How close full-resolution results of a residual generator come to translating at full size.

A photo larger than ``--max-size`` is translated at the working size; this compares three ways back
to full size against translating the full-size photo directly (PSNR, dB, higher is closer):

  * ``upscale result``: today's path for other generators, the translated image resized (bicubic);
  * ``change, bilinear``: the predicted change upsampled bilinearly and added to the full-size photo;
  * ``change, guided``: the same with the guided-filter upsampling (edge-aware, see
    :mod:`pocketgan.inference.fullres`): the pipeline's path for residual generators.

Photos: the first ``--images`` of the test split (testA of summer2winter_yosemite, 256 px), upscaled
to ``--full`` px (bicubic) so a full-size reference exists. Nothing is written.

    python benchmarks/fullres_quality.py --data ../shared/datasets/summer2winter_yosemite/testA
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from PIL import Image

from pocketgan.data.images import load_image
from pocketgan.data.inputs import collect_inputs
from pocketgan.inference.fullres import apply_change
from pocketgan.inference.pipeline import TranslationPipeline


def psnr(a: Image.Image, b: Image.Image) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/datasets/summer2winter_yosemite/testA")
    ap.add_argument("--model", default=None, help="a residual model (default: the bundled summer2winter)")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--full", type=int, default=1024, help="full size the photos are upscaled to")
    ap.add_argument("--work", type=int, nargs="+", default=[256, 512], help="working sizes (--max-size)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    files = collect_inputs([args.data])[: args.images]
    photos = [load_image(f).resize((args.full, args.full), Image.BICUBIC) for f in files]
    direct = TranslationPipeline.from_pretrained(args.model, device="cpu", max_side=0, batch_size=1)
    if not direct.scales_change:
        raise SystemExit("the model is not a residual generator: nothing to compare")
    references = [direct(p) for p in photos]
    rows = []
    for work in args.work:
        pipe = TranslationPipeline.from_pretrained(args.model, device="cpu", max_side=work, batch_size=1)
        scores: dict[str, list[float]] = {"upscale result": [], "change, bilinear": [], "change, guided": [],
                                          "photo untranslated": []}
        for photo, ref in zip(photos, references, strict=True):
            size = pipe.working_size(photo.size)
            x, change = pipe.predict_change([photo], size)
            scores["upscale result"].append(psnr(pipe.compose(photo, x[0], change[0], 1.0, size).resize(
                photo.size, Image.BICUBIC), ref))
            scores["change, bilinear"].append(psnr(apply_change(photo, x[0], change[0], edge_aware=False), ref))
            scores["change, guided"].append(psnr(apply_change(photo, x[0], change[0], edge_aware=True), ref))
            scores["photo untranslated"].append(psnr(photo, ref))
        rows.append((work, {k: float(np.mean(v)) for k, v in scores.items()}))

    names = list(rows[0][1])
    print(f"PSNR (dB) vs translating at {args.full}×{args.full} directly, mean of {len(photos)} photos of {args.data}")
    print("| working size | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for work, s in rows:
        print(f"| {work} | " + " | ".join(f"{s[n]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
