"""Can the input pipeline keep up? Training pairs per second from JPEG files, per loader setting.

Runs the trainer's own data path (UnpairedImages: decode both JPEGs, resize 286 + random crop 256 +
flip, to tensors; the DataLoader the Trainer builds, with persistent workers) for ``--batches``
batches after a warm-up, for 0 (in the training process), 1, 2, ... workers. Compare the pairs/s
with the training step's images/s (benchmarks/train_speed.py): the loader starves the model only if
it is slower. Uses ``--data ROOT`` (trainA/trainB) when given, else writes ``--n`` random 256x256
JPEGs per domain to a temporary folder.

    python benchmarks/data_speed.py --data ../shared/datasets/summer2winter_yosemite
    python benchmarks/data_speed.py --workers 0 1 2 --batch-size 4
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from machine import cpu_model  # benchmarks/machine.py
from pocketgan.data.transforms import Preprocess
from pocketgan.data.unpaired import EpochSampler, UnpairedImages


def fake_dataset(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for d in ("trainA", "trainB"):
        (root / d).mkdir(parents=True)
        for i in range(n):
            # smooth noise compresses like a photo more than white noise does
            small = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(small).resize((256, 256), Image.BICUBIC).save(root / d / f"{i}.jpg", quality=90)
    return root


def measure(data: UnpairedImages, workers: int, batch_size: int, batches: int, warmup: int) -> dict:
    loader = DataLoader(data, batch_size=batch_size, sampler=EpochSampler(len(data), 0), num_workers=workers,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        batch = next(it)
        times.append(time.perf_counter() - t0)
    assert batch["A"].shape[0] == batch_size
    total = sum(times)
    return {"workers": workers, "pairs_per_s": batches * batch_size / total,
            "ms_per_pair": 1000 * total / (batches * batch_size), "median_batch_ms": 1000 * statistics.median(times)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="dataset root with trainA/ and trainB/ (default: generated JPEGs)")
    p.add_argument("--n", type=int, default=200, help="generated images per domain without --data (default 200)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--batches", type=int, default=150)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--load-size", type=int, default=286)
    p.add_argument("--crop-size", type=int, default=256)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) if args.data else fake_dataset(Path(tmp), args.n)
        data = UnpairedImages(root / "trainA", root / "trainB",
                              Preprocess("resize_and_crop", args.load_size, args.crop_size, True), seed=0)
        if len(data) < (args.warmup + args.batches) * args.batch_size:
            p.error(f"{root}: {len(data)} pairs, fewer than the {(args.warmup + args.batches) * args.batch_size} needed")
        print(f"# data_speed  cpu: {cpu_model()} ({os.cpu_count()} logical cores)  loadavg {os.getloadavg()[0]:.2f}")
        print(f"# {root if args.data else f'{args.n} generated 256x256 JPEGs per domain'}; resize_and_crop "
              f"{args.load_size}->{args.crop_size} + flip, batch {args.batch_size}, {args.batches} batches after "
              f"{args.warmup} warm-up")
        print(f"\n{'workers':>7} {'pairs/s':>9} {'ms/pair':>8} {'median batch ms':>16}")
        for w in args.workers:
            r = measure(data, w, args.batch_size, args.batches, args.warmup)
            print(f"{r['workers']:>7} {r['pairs_per_s']:>9.1f} {r['ms_per_pair']:>8.2f} {r['median_batch_ms']:>16.2f}",
                  flush=True)
    print("\n# one pair = one A and one B image decoded and augmented; compare with the training images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
