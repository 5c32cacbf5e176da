"""`pocketgan translate` end to end, each engine in the same run: one 256x256 photo (wall time and
peak RSS of the whole command, a fresh interpreter each time), a folder of N photos, and one 12 MP
photo (a full-resolution result); then the folder through the Python API with decoding and
encoding beside the model (inference/overlap.py) and in series, to show what the overlap gives.

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


LOOP = """import sys, time
from pocketgan.inference.engines import open_pipeline
from pocketgan.inference.translate import translate_files
pipe = open_pipeline(None, engine=sys.argv[3])
start = time.perf_counter()
translate_files(pipe, [sys.argv[1]], sys.argv[2], progress=False, ahead=int(sys.argv[4]))
print(time.perf_counter() - start)
"""


def loop_seconds(folder: Path, out: Path, engine: str, ahead: int, env: dict) -> float:
    """Seconds of translate_files alone (the model loaded, imports done) on ``folder``."""
    done = subprocess.run([sys.executable, "-c", LOOP, str(folder), str(out), engine, str(ahead)], env=env,
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


BIG_PHOTO = """import sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(1)
coarse = Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).resize((4000, 3000), Image.BICUBIC)
fine = rng.integers(-24, 25, (3000, 4000, 3), dtype=np.int16)
pixels = np.clip(np.asarray(coarse, dtype=np.int16) + fine, 0, 255).astype(np.uint8)
exif = Image.Exif()
exif[0x0112] = 6
Image.fromarray(pixels).save(sys.argv[1], quality=90, exif=exif)
"""


def big_photo(tmp: Path) -> Path:
    """A 12 MP (4000x3000) JPEG with detail at every scale, stored sideways (EXIF orientation 6); made
    in a child process: a parent grown by it would count in its children's peak RSS (forked pages)."""
    path = tmp / "big.jpg"
    subprocess.run([sys.executable, "-c", BIG_PHOTO, str(path)], check=True)
    return path


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
        big = big_photo(tmp)
        print(f"photos: {folder} ({len(photos)}); one-photo run: {one.name} {Image.open(one).size}; 12 MP: 4000x3000")
        for engine in ("onnx", "torch"):
            walls, peaks = [], []
            for i in range(opts.repeat):
                wall, peak = run([str(one), "--out", str(tmp / f"one-{engine}-{i}"), "--engine", engine], env)
                walls.append(wall)
                peaks.append(peak)
            wall, peak = run([str(subset), "--out", str(tmp / f"folder-{engine}"), "--engine", engine], env)
            big_wall, big_peak = run([str(big), "--out", str(tmp / f"big-{engine}"), "--engine", engine], env)
            print(f"{engine:5s}  one photo: {statistics.median(walls):.2f} s wall, peak RSS {max(peaks):.0f} MB  |  "
                  f"{len(photos)} photos: {wall:.1f} s ({1000 * wall / len(photos):.0f} ms a photo), "
                  f"peak RSS {peak:.0f} MB  |  12 MP photo: {big_wall:.2f} s, peak RSS {big_peak:.0f} MB")
        for engine in ("onnx", "torch"):  # the loop alone, overlapped and in series, alternated
            times: dict[int, list[float]] = {4: [], 0: []}
            for i in range(opts.repeat):
                for ahead in (4, 0):
                    times[ahead].append(loop_seconds(subset, tmp / f"loop-{engine}-{ahead}-{i}", engine, ahead, env))
            over, serial = statistics.median(times[4]), statistics.median(times[0])
            print(f"{engine:5s}  {len(photos)} photos, translate_files alone (median of {opts.repeat}): "
                  f"overlapped {over:.1f} s, in series {serial:.1f} s: {serial / over:.2f}x")


if __name__ == "__main__":
    main()
