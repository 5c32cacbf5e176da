"""Does the distilled student keep the teacher's quality? Teacher, student (and optionally other
models, e.g. the same mobile generator trained from scratch) evaluated the same way in one run:
KID x1000 and FID against the real target test images, beside doing nothing, plus cost
(GMACs at 256², parameters) and how closely the student reproduces the teacher (PSNR).

    python benchmarks/distill_quality.py --teacher runs/T --student runs/S \
        --data ../shared/datasets/summer2winter_yosemite [--max-size 128] [--also scratch=runs/M]

``--max-size``: translate at most this large, e.g. the training resolution of 128-px CPU runs
(outputs are restored to the input size, as `pocketgan translate --max-size` does).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from pocketgan.data.images import load_image
from pocketgan.data.inputs import scan_folder
from pocketgan.directions import get_direction
from pocketgan.evaluation.evaluate import evaluate
from pocketgan.evaluation.metrics import psnr
from pocketgan.inference.pipeline import TranslationPipeline
from pocketgan.models.pretrained import load_generator
from pocketgan.models.profile import count_macs, count_parameters


def imitation_psnr(teacher: Path, student: Path, data: Path, direction: str, max_side: int | None, n: int) -> float:
    """Mean PSNR (dB) of the student's translation against the teacher's, on the first n test inputs."""
    slot = get_direction(direction).slot
    t = TranslationPipeline(load_generator(teacher, slot), device="cpu", max_side=max_side)
    s = TranslationPipeline(load_generator(student, slot), device="cpu", max_side=max_side)
    images = [load_image(p) for p in scan_folder(data / get_direction(direction).folders("test")[0]).files[:n]]
    pairs = zip(t.translate_many(images), s.translate_many(images), strict=True)
    return float(np.mean([psnr(np.asarray(a), np.asarray(b)) for a, b in pairs]))


def resolution_baseline(data: Path, direction: str, max_side: int, max_images: int | None, kid_subset: int = 1000) -> dict:
    """'Do nothing' at the translation resolution: inputs downscaled to ``max_side`` and back, so
    the loss of detail from working at low resolution is separated from the translation itself."""
    from PIL import Image

    from pocketgan.evaluation.evaluate import cached_features, load_decodable, quality
    from pocketgan.evaluation.inception import inception_features

    src, dst = (data / f for f in get_direction(direction).folders("test"))
    _, images = load_decodable(scan_folder(src).files[:max_images])
    targets, target_images = load_decodable(scan_folder(dst).files[:max_images])
    blurred = []
    for im in images:
        scale = min(1.0, max_side / max(im.size))
        small = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BICUBIC)
        blurred.append(small.resize(im.size, Image.BICUBIC))
    f_target = cached_features(targets, target_images, "clean", "cpu", False, "")
    return quality(inception_features(blurred, mode="clean"), f_target, min(kid_subset, len(blurred), len(targets)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True, type=Path)
    p.add_argument("--student", required=True, type=Path)
    p.add_argument("--also", action="append", default=[], metavar="NAME=FOLDER", help="more models to evaluate alongside")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"))
    p.add_argument("--max-size", type=int, default=0)
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    max_side = args.max_size or None
    models = {"teacher": args.teacher, "student": args.student}
    models.update(dict(a.split("=", 1) for a in args.also))
    slot = get_direction(args.direction).slot
    rows, do_nothing = {}, None
    for name, folder in models.items():
        r = evaluate(folder, args.data, args.direction, max_images=args.max_images, progress=False, max_side=max_side)
        net = load_generator(folder, slot)
        rows[name] = {"arch": f"{net.config['name']}(ngf={net.config.get('ngf')})", "params": count_parameters(net),
                      "gmacs": count_macs(net, (1, 3, 256, 256)) / 1e9, **r["translated"]}
        do_nothing = r["do_nothing"]
        print(f"evaluated {name}: {folder}", flush=True)
    teacher = rows["teacher"]
    print(f"\n# distill_quality  {args.direction} on {args.data.name} test  translate max side {max_side or 'native'}  "
          f"{r['n_source']} inputs vs {r['n_target']} targets  {r['convention']} convention  torch {torch.__version__}")
    print(f"{'model':10} {'generator':30} {'params':>10} {'GMACs@256':>10} {'KID x1000':>15} {'FID':>8} "
          f"{'KID/teacher':>12} {'FID/teacher':>12}")
    for name, row in rows.items():
        print(f"{name:10} {row['arch']:30} {row['params']:>10,} {row['gmacs']:>10.2f} "
              f"{row['kid_x1000']:>8.2f} ± {row['kid_x1000_std']:<4.2f} {row['fid']:>8.2f} "
              f"{row['kid_x1000'] / teacher['kid_x1000']:>12.3f} {row['fid'] / teacher['fid']:>12.3f}")
    print(f"{'do nothing':10} {'(untranslated inputs)':30} {'':>10} {'':>10} "
          f"{do_nothing['kid_x1000']:>8.2f} ± {do_nothing['kid_x1000_std']:<4.2f} {do_nothing['fid']:>8.2f}")
    if max_side:
        lowres = resolution_baseline(args.data, args.direction, max_side, args.max_images)
        print(f"{'do nothing':10} {f'(inputs at {max_side} px, upscaled)':30} {'':>10} {'':>10} "
              f"{lowres['kid_x1000']:>8.2f} ± {lowres['kid_x1000_std']:<4.2f} {lowres['fid']:>8.2f}")
    student = rows["student"]
    print(f"\nstudent / teacher: {teacher['gmacs'] / student['gmacs']:.1f}x fewer MACs, "
          f"{teacher['params'] / student['params']:.1f}x fewer parameters; "
          f"KID {100 * (student['kid_x1000'] / teacher['kid_x1000'] - 1):+.1f}%, "
          f"FID {100 * (student['fid'] / teacher['fid'] - 1):+.1f}% vs the teacher")
    imitation = imitation_psnr(args.teacher, args.student, args.data, args.direction, max_side, 50)
    print(f"student reproduces the teacher at {imitation:.2f} dB PSNR (first 50 test inputs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
