"""Flicker of translated video, frame by frame vs stabilised (`pocketgan translate clip.mp4`).

    flicker  = mean |out_t - out_{t-1}| / mean |in_t - in_{t-1}|   (over frame pairs within a shot)
    strength = mean |out_t - in_t|                                 (how much the translation changes)
    jitter   = mean |(out_t - in_t) - (out_{t-1} - in_{t-1})|      (how much that change moves, 0-255)

A flicker of 1 means the output moves exactly as much as the input; frame-by-frame translation adds
its own jitter on top. Stabilisation must bring flicker down (target <= 1.1) while keeping the
strength within 10% of frame by frame.

Clips, made deterministically at run time and written to a temporary folder (never kept):
  * real: slow pans and zooms over photos of the test split (testA of summer2winter_yosemite), 3
    shots of 20 frames at 256 px, 25 frames/s, cut between shots;
  * toy: the same camera moves over pocketgan's synthetic scenes (render_scene, seeds 0-2);
  * real, held still: the same photos held still for 20 frames each, with sensor-like noise
    (Gaussian, sigma 3, fixed seed): where the model's own jitter shows most.
Each clip is encoded (H.264, crf 12) and decoded again with PyAV, as `pocketgan translate` reads
it; the decoded frames go through the video path's translation (:func:`translate_frames`, what
`translate_video` hands its encoder), once frame by frame and once stabilised, and are compared
before any encoding of the output (an encoder's own smoothing and noise would otherwise dominate
every number). frames/s: translation alone, on the threads given.

    python benchmarks/video_flicker.py --data ../shared/datasets/summer2winter_yosemite/testA
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pocketgan.data.images import load_image
from pocketgan.data.inputs import collect_inputs
from pocketgan.data.synthetic import render_scene
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.inference.video import require_av, translate_frames

SIZE = 256
SHOT = 20
FPS = 25


def camera(source: Image.Image, move: str, n: int = SHOT, size: int = SIZE) -> list[Image.Image]:
    """``n`` frames of a slow camera move over ``source`` (any size, square): a pan, a zoom in, or a
    diagonal pan while zooming out; sub-pixel windows, resampled bicubically."""
    side = source.width
    frames = []
    for i in range(n):
        t = i / (n - 1)
        if move == "pan":
            win = 0.8 * side
            x0, y0 = t * (side - win), 0.1 * side
        elif move == "zoom":
            win = side * (1 - 0.25 * t)
            x0 = y0 = (side - win) / 2
        else:  # pan while zooming out
            win = side * (0.7 + 0.2 * t)
            x0, y0 = (side - win) * (1 - t), (side - win) * t * 0.5
        frames.append(source.resize((size, size), Image.BICUBIC, box=(x0, y0, x0 + win, y0 + win)))
    return frames


def write_clip(path: Path, frames: list[Image.Image]) -> None:
    av = require_av()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", "preset": "fast"}
        for i, frame in enumerate(frames):
            f = av.VideoFrame.from_image(frame)
            f.pts = i
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))


def read_clip(path: Path) -> list[Image.Image]:
    av = require_av()
    with av.open(str(path)) as src:
        return [f.to_image() for f in src.decode(video=0)]


def array(frames: list[Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(f, np.float32) for f in frames])


def measure(inp: np.ndarray, out: np.ndarray, shot: int = SHOT) -> tuple[float, float, float]:
    """(flicker, strength, jitter) of ``out`` (frames, H, W, 3) translated from ``inp``."""
    pairs = [t for t in range(1, len(inp)) if t % shot]  # frame pairs within a shot (no cuts)
    d_out = np.mean([np.abs(out[t] - out[t - 1]).mean() for t in pairs])
    d_in = np.mean([np.abs(inp[t] - inp[t - 1]).mean() for t in pairs])
    change = out - inp
    jitter = np.mean([np.abs(change[t] - change[t - 1]).mean() for t in pairs])
    return float(d_out / d_in), float(np.abs(change).mean()), float(jitter)


def with_noise(frames: list[Image.Image], sigma: float, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(np.clip(np.asarray(f, np.float32) + rng.normal(0, sigma, (f.height, f.width, 3)), 0, 255)
                            .round().astype(np.uint8)) for f in frames]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/datasets/summer2winter_yosemite/testA")
    ap.add_argument("--model", default=None, help="model (default: the bundled summer2winter)")
    ap.add_argument("--direction", default="AtoB")
    ap.add_argument("--max-size", type=int, default=1024, help="working size, as `translate --max-size`")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    photos = [load_image(f) for f in collect_inputs([args.data])[:3]]
    moves = ("pan", "zoom", "panzoom")
    clips = {
        "real (testA pans/zooms)": [f for p, m in zip(photos, moves, strict=False) for f in camera(p, m)],  # up to 3 photos
        "toy (render_scene)": [f for s, m in zip(range(3), moves, strict=True) for f in camera(render_scene(s, 384), m)],
        "real, held still + noise": with_noise([p.resize((SIZE, SIZE), Image.BICUBIC) for p in photos
                                                for _ in range(SHOT)], 3.0),
    }
    pipe = TranslationPipeline.from_pretrained(args.model, args.direction, device="cpu", max_side=args.max_size)
    pipe(photos[0])  # warm-up, so the first timing is not the slowest
    rows = []
    with tempfile.TemporaryDirectory(prefix="pocketgan-flicker-") as tmp:
        for name, frames in clips.items():
            src = Path(tmp) / "clip.mp4"
            write_clip(src, frames)
            decoded = read_clip(src)
            inp = array(decoded)
            results = {}
            for stabilize in (False, True):
                start = time.perf_counter()
                out = array(list(translate_frames(pipe, decoded, stabilize=stabilize)))
                fps = len(decoded) / (time.perf_counter() - start)
                results[stabilize] = (*measure(inp, out), fps)
            base = results[False][1]
            for stabilize, (flicker, strength, jitter, fps) in results.items():
                rows.append((name, "stabilised" if stabilize else "frame by frame", flicker, strength,
                             strength / base, jitter, fps))

    print(f"{len(clips)} clips of {3 * SHOT} frames at {SIZE} px ({FPS} frames/s), model "
          f"{args.model or 'summer2winter (bundled)'} {args.direction}, --max-size {args.max_size}")
    print("| clip | translation | flicker | mean change vs input (0-255) | vs frame by frame | jitter of the change "
          "| frames/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, mode, flicker, strength, rel, jitter, fps in rows:
        print(f"| {name} | {mode} | {flicker:.3f} | {strength:.2f} | {rel:.1%} | {jitter:.3f} | {fps:.1f} |")


if __name__ == "__main__":
    main()
