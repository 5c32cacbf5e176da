"""A built-in unpaired dataset, so the main job runs with no download: "toy seasons".

Each scene is a random landscape (horizon, sun, trees, houses) drawn in two styles: A = summer
(blue sky, green grass and trees), B = winter (grey sky, snow, white-tipped dark trees). Training
folders hold *different* scenes in each domain (unpaired, like real data); the test folders hold
the *same* held-out scenes in both styles under the same file name, so evaluation knows the
true translation of every test image.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..fileio import atomic_write_json
from .images import save_image

VERSION = 1
STYLES = {
    "A": {"sky": ((70, 130, 215), (170, 210, 250)), "ground": (70, 160, 60), "tree": (20, 100, 30),
          "snow_tips": False, "sun": (255, 220, 60)},
    "B": {"sky": ((120, 125, 135), (200, 205, 212)), "ground": (235, 238, 245), "tree": (25, 60, 40),
          "snow_tips": True, "sun": (235, 235, 220)},
}


def render_scene(seed: int, size: int = 64, style: str = "A") -> Image.Image:
    """Render scene ``seed`` in ``style`` ('A' summer, 'B' winter). Same seed = same geometry."""
    st = STYLES[style]
    rng = np.random.default_rng([seed, 7])
    s = 4 * size  # draw large, downsample: anti-aliased edges
    horizon = int(s * rng.uniform(0.45, 0.7))
    top, bottom = np.array(st["sky"][0], float), np.array(st["sky"][1], float)
    t = np.linspace(0, 1, horizon)[:, None]
    canvas = np.zeros((s, s, 3), np.uint8)
    canvas[:horizon] = (top * (1 - t) + bottom * t).astype(np.uint8)[:, None, :]
    canvas[horizon:] = st["ground"]
    img = Image.fromarray(canvas)
    d = ImageDraw.Draw(img)
    r = s * rng.uniform(0.06, 0.1)
    cx, cy = s * rng.uniform(0.1, 0.9), horizon * rng.uniform(0.15, 0.6)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=st["sun"])
    objects = []
    for _ in range(rng.integers(2, 6)):
        kind = "tree" if rng.uniform() < 0.6 else "house"
        x, base = s * rng.uniform(0.05, 0.95), horizon + s * rng.uniform(0.02, 0.3)
        objects.append((base, kind, x, s * rng.uniform(0.08, 0.18), rng.integers(0, 3)))
    for base, kind, x, h, variant in sorted(objects, key=lambda o: o[0]):  # far first
        if kind == "tree":
            w = h * 0.45
            d.rectangle([x - w * 0.12, base - h * 0.25, x + w * 0.12, base], fill=(90, 60, 30))
            d.polygon([(x - w, base - h * 0.2), (x + w, base - h * 0.2), (x, base - h * 1.2)], fill=st["tree"])
            if st["snow_tips"]:
                d.polygon([(x - w * 0.35, base - h * 0.85), (x + w * 0.35, base - h * 0.85), (x, base - h * 1.2)],
                          fill=(245, 245, 250))
        else:
            wall = [(200, 80, 60), (220, 190, 120), (150, 150, 170)][variant]
            w = h * 0.7
            d.rectangle([x - w / 2, base - h * 0.6, x + w / 2, base], fill=wall)
            roof = (245, 245, 250) if st["snow_tips"] else (120, 40, 30)
            d.polygon([(x - w * 0.6, base - h * 0.6), (x + w * 0.6, base - h * 0.6), (x, base - h * 1.05)], fill=roof)
            d.rectangle([x - w * 0.1, base - h * 0.3, x + w * 0.1, base], fill=(60, 40, 30))
    img = img.resize((size, size), Image.LANCZOS)
    noise = np.random.default_rng([seed, 11]).normal(0, 3, (size, size, 3))  # mild sensor noise
    return Image.fromarray(np.clip(np.asarray(img, float) + noise, 0, 255).astype(np.uint8))


def make_synthetic_dataset(root: str | Path, size: int = 64, n_train: int = 200, n_test: int = 32,
                           seed: int = 0, paired: bool = False) -> Path:
    """Write trainA/, trainB/ and testA/, testB/ under ``root``. Test scenes are always paired by
    file name (the same scene in summer and winter: the true translation is known); training scenes
    are disjoint between the domains (unpaired, for CycleGAN) unless ``paired`` (for pix2pix).
    Skips the work if ``root`` already holds this exact dataset."""
    root = Path(root)
    spec = {"name": "toy_seasons", "version": VERSION, "size": size, "n_train": n_train, "n_test": n_test, "seed": seed,
            "paired": paired}
    manifest = root / "dataset.json"
    if manifest.is_file() and json.loads(manifest.read_text()) == spec:
        return root
    base = seed * 1_000_003
    jobs = [("trainA", "A", base + i) for i in range(n_train)]
    jobs += [("trainB", "B", base + (0 if paired else n_train) + i) for i in range(n_train)]
    for i in range(n_test):
        scene = base + 2 * n_train + i
        jobs += [("testA", "A", scene), ("testB", "B", scene)]
    for folder, style, scene in jobs:
        save_image(render_scene(scene, size, style), root / folder / f"{scene - base:05d}.png")
    atomic_write_json(manifest, spec)
    return root
