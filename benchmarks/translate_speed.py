"""`pocketgan translate` end to end, each engine in the same run: one 256x256 photo (wall time and
peak RSS of the whole command, a fresh interpreter each time) and a folder of N photos.

    .venv/bin/python benchmarks/translate_speed.py [--photos N] [--repeat R]

Photos: ../shared/datasets/summer2winter_yosemite/testA when present (read in place, never
copied), else N synthetic 256x256 photos in a temporary folder. The model home is a temporary
folder too, so no export cached by earlier runs is reused (the bundled model needs none).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
TEST_A = REPO.parent / "shared" / "datasets" / "summer2winter_yosemite" / "testA"


def photo_folder(n: int, tmp: Path) -> Path:
    """``testA`` when it holds at least ``n`` photos, else ``n`` synthetic ones under ``tmp``."""
    if TEST_A.is_dir() and len(list(TEST_A.glob("*.jpg"))) >= n:
        return TEST_A
    folder = tmp / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        coarse = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((256, 256), Image.BICUBIC).save(folder / f"{i:04d}.jpg", quality=92)
    return folder


def run(args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of ``pocketgan translate ARGS`` in a fresh interpreter (the
    child's own rusage, from wait4)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "pocketgan", "translate", *args, "--no-progress"], env=env,
                             stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"pocketgan translate {' '.join(args)}: exit status {child.returncode}")
    return wall, usage.ru_maxrss / 1024  # KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=309, help="photos in the folder run (default: 309, testA's count)")
    parser.add_argument("--repeat", type=int, default=3, help="one-photo runs per engine (median reported)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "POCKETGAN_HOME": str(tmp / "home"), "PYTHONPATH": str(REPO)}
        folder = photo_folder(opts.photos, tmp)
        photos = sorted(folder.glob("*.jpg"))[:opts.photos]
        one = photos[0]
        subset = tmp / "subset"
        subset.mkdir()
        for p in photos:  # links, not copies: the folder run sees exactly N photos
            (subset / p.name).symlink_to(p)
        print(f"photos: {folder} ({len(photos)}); one-photo run: {one.name} {Image.open(one).size}")
        for engine in ("onnx", "torch"):
            walls, peaks = [], []
            for i in range(opts.repeat):
                wall, peak = run([str(one), "--out", str(tmp / f"one-{engine}-{i}"), "--engine", engine], env)
                walls.append(wall)
                peaks.append(peak)
            wall, peak = run([str(subset), "--out", str(tmp / f"folder-{engine}"), "--engine", engine], env)
            print(f"{engine:5s}  one photo: {statistics.median(walls):.2f} s wall, peak RSS {max(peaks):.0f} MB  |  "
                  f"{len(photos)} photos: {wall:.1f} s ({1000 * wall / len(photos):.0f} ms a photo), "
                  f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
