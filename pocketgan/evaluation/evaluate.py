"""`pocketgan evaluate`: quality of a translator the way papers measure it, offline.

For direction A->B: translate testA with G_A, then compare with the real testB images by
KID (x1000, mean ± std over subsets) and FID on Inception pool features; report the same numbers
for the untranslated testA ("do nothing": on summer2winter that alone scores FID ~80, so a
translator's figure only means something beside it); and, when the folder also has G_B, the
cycle reconstruction G_B(G_A(a)) vs a (L1, PSNR). Features of real images are cached on disk,
keyed by file list and resize convention.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.images import DataError, ImageError, load_image, probe_image
from ..data.inputs import scan_folder
from ..data.paired import load_pair, scan_pairs
from ..data.tensors import to_image, to_tensor
from ..devices import resolve_device
from ..directions import Direction, get_direction
from ..fileio import atomic_write_bytes, atomic_write_json, read_json
from ..home import pocketgan_home
from ..inference.pipeline import TranslationPipeline
from ..models.pretrained import ModelFolderError, load_generator, read_model_config
from .inception import INPUT_SIZE, inception_features
from .metrics import fid, kid, psnr, ssim

MIN_SIDE = math.ceil(INPUT_SIZE / 4)
"""The shorter side (75 px) below which an image's FID/KID says little: Inception sees every image
resized to 299×299, so an image under a quarter of that is blown up more than four times, and its
features describe the interpolation's blur rather than what the translator drew (a 1×1 image is a
flat colour). Such folders get a warning; one where every image is that small is refused."""


def cache_dir() -> Path:
    """Where Inception features of real test images are cached (moves with ``POCKETGAN_HOME``)."""
    return pocketgan_home() / "features"


def load_decodable(files: list[Path]) -> tuple[list[Path], list[Image.Image]]:
    """Decode every file; corrupt ones are reported (one warning each) and left out."""
    kept, images = [], []
    for p in files:
        try:
            images.append(load_image(p))
            kept.append(p)
        except ImageError as e:
            warnings.warn(f"skipped {e}", stacklevel=2)
    return kept, images


def check_sizes(folder: Path, sizes: list[tuple[int, int]], allow_small: bool = False) -> None:
    """Warn once for ``folder`` (``sizes``: its images' upright (width, height), from their headers)
    when some images are under :data:`MIN_SIDE`; raise DataError when all are, unless
    ``allow_small`` (a deliberate low-resolution benchmark), which only warns."""
    small = [s for s in sizes if min(s) < MIN_SIDE]
    if not small:
        return
    w, h = min(small, key=lambda s: (min(s), s[0] * s[1]))
    if len(small) == len(sizes) and not allow_small:
        raise DataError(f"{folder}: all {len(sizes)} images are smaller than {MIN_SIDE} px on their shorter side (the "
                        f"smallest {w}×{h}); Inception sees them upscaled over 4× to {INPUT_SIZE} px, so FID and KID would "
                        "measure the blur, not the translation: evaluate on larger test images (or --allow-small-images)")
    warnings.warn(f"{folder}: {len(small)} of {len(sizes)} images are smaller than {MIN_SIDE} px on their shorter side "
                  f"(the smallest {w}×{h}); Inception sees them upscaled over 4×, so their FID/KID figures mean little",
                  stacklevel=3)


def cached_features(files: list[Path], images: list[Image.Image], mode: str, device: str, progress: bool, desc: str,
                    use_cache: bool = True) -> np.ndarray:
    """Inception features of decoded image files, cached by (paths, sizes, mtimes, convention)."""
    described = [mode] + [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    key = hashlib.sha1(json.dumps(described).encode()).hexdigest()
    path = cache_dir() / f"{key}.npy"
    if use_cache and path.is_file():
        return np.load(path)
    feats = inception_features(images, mode=mode, device=device, progress=progress, desc=desc)
    if use_cache:
        buf = io.BytesIO()
        np.save(buf, feats)
        atomic_write_bytes(path, buf.getvalue())
    return feats


def model_fields(model: Path) -> dict:
    """How a result names its model: ``{"model": path}``, or for a Hugging Face Hub snapshot the
    pinned ``hf://ORG/NAME@<commit>`` and ``"hub"``: repository, revision asked for, commit."""
    from ..models.hub import provenance

    hub = provenance(model)
    if hub is None:
        return {"model": str(model)}
    return {"model": hub["spec"], "hub": {k: hub[k] for k in ("repo_id", "revision", "commit")}}


def quality(feats: np.ndarray, target: np.ndarray, kid_subset: int) -> dict:
    k_mean, k_std = kid(feats, target, subset_size=kid_subset)
    return {"kid_x1000": round(k_mean * 1000, 3), "kid_x1000_std": round(k_std * 1000, 3), "fid": round(fid(feats, target), 3)}


def evaluate(model: str | Path, data: str | Path, direction: str | Direction = "AtoB", mode: str = "clean", device: str = "auto",
             max_images: int | None = None, kid_subset: int = 1000, progress: bool = True, use_cache: bool = True,
             max_side: int | None = None, strength: float = 1.0, allow_small: bool = False) -> dict:
    """Evaluate one direction of ``model`` on ``data``/test{A,B}. Returns the result dict.
    ``max_side``: translate images at most this large (e.g. the training scale), results restored
    to the original size, as `translate --max-size` does. ``strength``: as `translate --strength`
    (a residual model's change scaled, others blended), to score the dial a user would set. Image
    sizes are checked from the files' headers first (:func:`check_sizes`; ``allow_small``), before
    any image is decoded or any model loaded."""
    chosen = get_direction(direction)
    direction, slot, back_slot = chosen.name, chosen.slot, chosen.other.slot
    dev = resolve_device(device)
    t_start = time.perf_counter()
    model, data = Path(model), Path(data)
    config = read_model_config(model)
    if slot not in config["generators"]:
        raise ModelFolderError(f"{model}: has no {slot}, so it cannot translate {direction} "
                               f"(it holds {', '.join(config['generators'])}); try --direction {chosen.other.name}")
    if config.get("model_type") == "colorization":
        return evaluate_colorization(model, data, mode, dev, max_images, kid_subset, progress, use_cache, max_side,
                                     strength, allow_small)
    src_dir, dst_dir = (data / f for f in chosen.folders("test"))
    if not src_dir.is_dir() and not dst_dir.is_dir() and (data / "test").is_dir():
        # the aligned pix2pix layout: test/ holds A|B side by side
        found = scan_pairs(data, "test").pairs[:max_images]
        check_sizes(data / "test", [(w // 2, h) for w, h in (probe_image(p.a) for p in found)], allow_small)
        pairs = [load_pair(p) for p in found]
        a_images, b_images = [p[0] for p in pairs], [p[1] for p in pairs]
        originals, target_images = (a_images, b_images) if chosen.source == "A" else (b_images, a_images)
        sources = targets = None  # no per-domain files: features are not cached
        src_dir, dst_dir, paired = data / "test", data / "test", True
    else:
        scans = [scan_folder(src_dir), scan_folder(dst_dir)]
        for scan in scans:
            check_sizes(scan.folder, scan.sizes[:max_images], allow_small)
        sources, originals = load_decodable(scans[0].files[:max_images])
        targets, target_images = load_decodable(scans[1].files[:max_images])
        paired = [p.stem for p in sources] == [p.stem for p in targets] and \
            all(a.size == b.size for a, b in zip(originals, target_images, strict=True))
    if len(originals) < 2 or len(target_images) < 2:
        raise DataError(f"{data}: need at least 2 test images per domain (found {len(originals)} in {src_dir.name}, "
                        f"{len(target_images)} in {dst_dir.name})")

    t0 = time.perf_counter()
    pipe = TranslationPipeline(load_generator(model, slot), device=dev, max_side=max_side, strength=strength)
    fakes = list(pipe.translate_many(originals))
    t_translate = time.perf_counter() - t0

    t0 = time.perf_counter()
    f_target = cached_features(targets, target_images, mode, dev, progress, f"features {dst_dir.name}", use_cache) \
        if targets is not None else \
        inception_features(target_images, mode=mode, device=dev, progress=progress, desc="features targets")
    f_source = cached_features(sources, originals, mode, dev, progress, f"features {src_dir.name}", use_cache) \
        if sources is not None else \
        inception_features(originals, mode=mode, device=dev, progress=progress, desc="features inputs")
    f_fake = inception_features(fakes, mode=mode, device=dev, progress=progress, desc="features translated")
    t_features = time.perf_counter() - t0

    result = {**model_fields(model), "data": str(data), "direction": direction, "generator": slot,
              "convention": mode, "n_source": len(originals), "n_target": len(target_images), "max_side": max_side,
              "strength": strength,
              "translated": quality(f_fake, f_target, kid_subset),
              "do_nothing": quality(f_source, f_target, kid_subset),
              "change": photo_change(originals, fakes)}
    if paired:  # the true target of every input is known: score each translation against it
        result["translated"].update(paired_scores(fakes, target_images))
        result["do_nothing"].update(paired_scores(originals, target_images))
    if back_slot in config["generators"]:
        back = TranslationPipeline(load_generator(model, back_slot), device=dev, max_side=max_side)
        recs = list(back.translate_many(fakes))
        pairs = [(np.asarray(o), np.asarray(r)) for o, r in zip(originals, recs, strict=True)]
        result["cycle"] = {"l1": round(float(np.mean([np.abs(o / 255.0 - r / 255.0).mean() for o, r in pairs])), 5),
                           "psnr": round(float(np.mean([psnr(o, r) for o, r in pairs])), 3)}
    result["seconds"] = {"translate": round(t_translate, 2), "features": round(t_features, 2),
                         "total": round(time.perf_counter() - t_start, 2)}
    return result


def evaluate_colorization(model: Path, data: Path, mode: str = "clean", device: str = "auto",
                          max_images: int | None = None, kid_subset: int = 1000, progress: bool = True,
                          use_cache: bool = True, max_side: int | None = None, strength: float = 1.0,
                          allow_small: bool = False) -> dict:
    """A colorization model (model_type "colorization") on one folder of colour photos, data/test (or
    testA): each photo made grey (its lightness, no colour) is colourised, and scored against the
    photo's real colours by PSNR, SSIM, L1 and, as a distribution, KID/FID; "do nothing" is the grey
    photo itself, the floor a colorizer must beat. The result has evaluate()'s layout."""
    from ..models.lab import grey

    t_start = time.perf_counter()
    folder = next((data / f for f in ("test", "testA") if (data / f).is_dir()), None)
    if folder is None:
        raise DataError(f"{data}: no test/ (or testA/) folder of colour photos to score the colorization on")
    scan = scan_folder(folder)
    check_sizes(folder, scan.sizes[:max_images], allow_small)
    files, photos = load_decodable(scan.files[:max_images])
    if len(photos) < 2:
        raise DataError(f"{folder}: need at least 2 test photos (found {len(photos)})")
    greys = [to_image(grey(to_tensor(p)[None])[0]) for p in photos]

    t0 = time.perf_counter()
    pipe = TranslationPipeline(load_generator(model, "G_A"), device=device, max_side=max_side, strength=strength)
    fakes = list(pipe.translate_many(greys))
    t_translate = time.perf_counter() - t0

    t0 = time.perf_counter()
    f_real = cached_features(files, photos, mode, device, progress, f"features {folder.name}", use_cache)
    f_grey = inception_features(greys, mode=mode, device=device, progress=progress, desc="features grey")
    f_fake = inception_features(fakes, mode=mode, device=device, progress=progress, desc="features colourised")
    t_features = time.perf_counter() - t0
    return {**model_fields(model), "data": str(data), "model_type": "colorization", "direction": "AtoB",
            "generator": "G_A", "convention": mode, "n_source": len(photos), "n_target": len(photos),
            "max_side": max_side, "strength": strength,
            "translated": {**quality(f_fake, f_real, kid_subset), **paired_scores(fakes, photos)},
            "do_nothing": {**quality(f_grey, f_real, kid_subset), **paired_scores(greys, photos)},
            "change": photo_change(greys, fakes),
            "seconds": {"translate": round(t_translate, 2), "features": round(t_features, 2),
                        "total": round(time.perf_counter() - t_start, 2)}}


def photo_change(inputs: list[Image.Image], outputs: list[Image.Image], visible: int = 10) -> dict:
    """How much the translation changes the photo, on the 0..255 scale: the mean absolute change
    and the fraction of pixel values moved by more than ``visible`` levels. KID can improve while
    a photo barely changes; these say whether a user will see the translation at all."""
    diffs = [np.abs(np.asarray(o, np.int16) - np.asarray(i.convert("RGB"), np.int16))
             for i, o in zip(inputs, outputs, strict=True)]
    return {"mean_abs": round(float(np.mean([d.mean() for d in diffs])), 3),
            f"over_{visible}": round(float(np.mean([(d > visible).mean() for d in diffs])), 4)}


def paired_scores(outputs: list[Image.Image], targets: list[Image.Image]) -> dict:
    """Mean L1 (in [0,1]), PSNR (dB) and SSIM of each output against its true target."""
    arrays = [(np.asarray(o, np.float64), np.asarray(t, np.float64)) for o, t in zip(outputs, targets, strict=True)]
    return {"l1": round(float(np.mean([np.abs(o - t).mean() / 255 for o, t in arrays])), 5),
            "psnr": round(float(np.mean([psnr(o, t) for o, t in arrays])), 3),
            "ssim": round(float(np.mean([ssim(o, t) for o, t in arrays])), 4)}


def format_result(r: dict) -> str:
    paired = "psnr" in r["translated"]
    lines = [f"{r['model']}  {r['direction']} ({r['generator']}) on {r['data']}: "
             f"{r['n_source']} inputs vs {r['n_target']} real targets{' (paired)' if paired else ''}, "
             f"{r['convention']} convention"
             + (f", strength {r['strength']:g}" if r.get("strength", 1.0) != 1.0 else ""),
             f"{'':14} {'KID x1000':>16} {'FID':>8}" + (f" {'PSNR':>7} {'SSIM':>6} {'L1':>7}" if paired else "")]
    if r.get("model_type") == "colorization":
        lines.insert(1, "colorization: the inputs are the test photos made grey; do nothing = the grey photo")
    for name in ("translated", "do_nothing"):
        q = r[name]
        lines.append(f"{name.replace('_', ' '):14} {q['kid_x1000']:>9.2f} ± {q['kid_x1000_std']:<5.2f} {q['fid']:>8.2f}"
                     + (f" {q['psnr']:>7.2f} {q['ssim']:>6.3f} {q['l1']:>7.4f}" if paired else ""))
    if "change" in r:
        c = r["change"]
        lines.append(f"change of the photo: mean {c['mean_abs']:.1f}/255, {100 * c['over_10']:.0f}% of pixel values "
                     "moved by more than 10 levels")
    if "cycle" in r:
        lines.append(f"cycle reconstruction: L1 {r['cycle']['l1']:.4f}, PSNR {r['cycle']['psnr']:.2f} dB")
    s = r["seconds"]
    lines.append(f"time: {s['total']:.1f} s (translate {s['translate']:.1f} s, features {s['features']:.1f} s)")
    return "\n".join(lines)


def save_result(result: dict, path: str | Path) -> None:
    """Merge into ``path`` keyed by direction and convention (and ``@S`` for a strength other than
    1), so both directions and several strengths can share one file."""
    path = Path(path)
    existing = read_json(path) if path.is_file() else {}
    strength = result.get("strength", 1.0)
    existing[f"{result['direction']}/{result['convention']}" + (f"@{strength:g}" if strength != 1.0 else "")] = result
    atomic_write_json(path, existing)
