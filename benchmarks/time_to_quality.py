"""Time to quality on the CPU: which training recipe gives the best translator for the same CPU time?

Each candidate recipe trains from scratch (pocketgan's ordinary Trainer, fast path on ``auto``) for
the same budget of CPU time of this process (``time.process_time``: all its threads, so load from
other processes hardly moves it, unlike wall time); at each ``--evals`` point it is evaluated on a
fixed subset of the test split (the first ``--test-images`` of testA and testB, 256x256, clean
convention): per direction KID x1000 (one subset of all images) and FID against the real target
images, the **mean absolute change** of the photo (|translated - input| on 0..255: how visible the
translation is), and seconds per step. Doing nothing (the untranslated inputs) is in every table.
Evaluation time is not counted in the budget. A one-sided objective (CUT, FastCUT) learns one
direction per run: it gets half the budget for AtoB and half for BtoA, so each candidate spends the
same CPU time for both directions. The LR is constant within the budget (no decay phase).

    python benchmarks/time_to_quality.py --data ../shared/datasets/summer2winter_yosemite \\
        --evals 5 10 20 --candidates today fastcut small_d diffaugment --out /tmp/ttq

Writes OUT/results.json, OUT/time_to_quality.png (KID vs CPU minutes) and prints the table. Run
folders are kept in OUT/runs (resume one to train it further). Results of earlier runs into the same
OUT are kept (so the matrix can be measured in several sittings); ``--report`` only prints them.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from machine import cpu_model  # benchmarks/machine.py
from pocketgan.directions import DIRECTIONS
from pocketgan.evaluation.metrics import fid, kid
from pocketgan.evaluation.periodic import SubsetEvaluator
from pocketgan.training.config import config_for
from pocketgan.training.loop import Trainer

# the first bundled recipe: a residual mobile generator, CycleGAN
# with lambda 1, random 128 px crops of the 256 px photos, batch 1
TODAY = dict(netG="mobile_resnet_9blocks", ngf=16, residual=True, lambda_A=1.0, lambda_B=1.0,
             preprocess="crop", crop_size=128, load_size=256, batch_size=1)
# the bundled model's first stage (pocketgan/pretrained/summer2winter, model card "stages"): the
# residual generator without the identity term, with the small discriminator
BUNDLED = TODAY | dict(lambda_identity=0.0, netD="n_layers", n_layers_D=2, ndf=32)
CANDIDATES: dict[str, tuple[str, dict]] = {
    "today": ("cyclegan", TODAY),
    "fastcut": ("fastcut", {k: v for k, v in TODAY.items() if not k.startswith("lambda_")}
                | {"netD": "basic", "init_type": "normal", "nce_layers": "0,4,8,12,16", "num_patches": 256}),
    "cut": ("cut", {k: v for k, v in TODAY.items() if not k.startswith("lambda_")}
            | {"netD": "basic", "init_type": "normal", "num_patches": 256}),
    "small_d": ("cyclegan", TODAY | {"ndf": 32, "netD": "n_layers", "n_layers_D": 2}),
    "diffaugment": ("cyclegan", TODAY | {"diffaugment": "color,translation,cutout"}),
    "small_d_diffaugment": ("cyclegan", TODAY | {"ndf": 32, "netD": "n_layers", "n_layers_D": 2,
                                                 "diffaugment": "color,translation,cutout"}),
    "ngf24": ("cyclegan", TODAY | {"ngf": 24}),
    "crop96": ("cyclegan", TODAY | {"crop_size": 96}),
    "lambda3": ("cyclegan", TODAY | {"lambda_A": 3.0, "lambda_B": 3.0}),
    "gan_x5": ("cyclegan", TODAY | {"lambda_gan": 5.0}),
    "no_identity": ("cyclegan", TODAY | {"lambda_identity": 0.0}),
    # against the identity attractor: the identity term is an L1 penalty on a residual generator's
    # change itself (a lasso dead zone around "do nothing"); drop it, push the adversarial term
    "gan2_no_identity": ("cyclegan", TODAY | {"lambda_identity": 0.0, "lambda_gan": 2.0}),
    "small_d_no_identity": ("cyclegan", TODAY | {"ndf": 32, "netD": "n_layers", "n_layers_D": 2,
                                                 "lambda_identity": 0.0}),
    # the ordinary Tanh output (starts from noise, not from the identity)
    "plain": ("cyclegan", TODAY | {"residual": False}),
    # around the bundled model's first stage (second sitting's winner: small D, no identity term)
    "bundled": ("cyclegan", BUNDLED),
    "bundled_diffaugment": ("cyclegan", BUNDLED | {"diffaugment": "translation,cutout"}),
    "bundled_crop256": ("cyclegan", BUNDLED | {"crop_size": 256}),
    "bundled_ema": ("cyclegan", BUNDLED | {"ema_decay": 0.999}),
    "bundled_fastcut": ("fastcut", {k: v for k, v in BUNDLED.items() if not k.startswith("lambda_")}
                        | {"init_type": "normal", "nce_layers": "0,4,8,12,16", "num_patches": 256}),
}


def evaluate(evaluator: SubsetEvaluator, generators: dict) -> dict:
    out = evaluator(generators)
    for d in DIRECTIONS.values():
        if d.name in out:
            out[d.name]["mean_change"] = out[d.name]["change"]["mean_abs"]
    return out


def do_nothing(evaluator: SubsetEvaluator) -> dict:
    out = {}
    for d in DIRECTIONS.values():
        src, dst = evaluator.real_feats[d.source], evaluator.real_feats[d.target]
        k, k_std = kid(src, dst, subset_size=min(len(src), len(dst)))
        out[d.name] = {"kid_x1000": round(k * 1000, 3), "kid_x1000_std": round(k_std * 1000, 3),
                       "fid": round(fid(src, dst), 3), "mean_change": 0.0}
    return out


def train_for(trainer: Trainer, cpu_seconds: float, chunk: int) -> tuple[float, list[float]]:
    """Train until this trainer has used ``cpu_seconds`` more CPU time; returns (used, s/step list)."""
    used, per_step = 0.0, []
    while used < cpu_seconds:
        trainer.cfg.max_steps = trainer.progress.step + chunk
        c0, w0 = time.process_time(), time.perf_counter()
        if trainer.fit()["interrupted"]:  # Ctrl-C / SIGTERM: the trainer checkpointed; stop the benchmark
            raise SystemExit("interrupted: the runs in OUT/runs are checkpointed; results.json holds the finished candidates")
        used += time.process_time() - c0
        per_step.append((time.perf_counter() - w0) / chunk)
    return used, per_step


def run_candidate(name: str, args: argparse.Namespace, evaluator: SubsetEvaluator, save) -> dict:
    """Train and evaluate one candidate; ``save(result)`` after every budget point, so a stopped
    benchmark keeps the points it measured (marked ``"complete": false``)."""
    objective, recipe = CANDIDATES[name]
    one_sided = objective in ("cut", "fastcut")
    runs = {}
    for direction in (("AtoB", "BtoA") if one_sided else ("AtoB",)):
        cfg = config_for(objective, data=args.data, runs_dir=str(Path(args.out) / "runs"),
                         name=f"{name}_{direction}" if one_sided else name, direction=direction,
                         n_epochs=10_000, n_epochs_decay=0, log_every=50, sample_every=0, checkpoint_every=0,
                         progress=False, threads=args.threads, seed=args.seed, **recipe)
        runs[direction] = Trainer(cfg, Path(cfg.runs_dir) / cfg.name)
    points, cpu_used, step_s = [], 0.0, []
    for minutes in args.evals:
        remaining = minutes * 60 - cpu_used
        for trainer in runs.values():
            used, s = train_for(trainer, remaining / len(runs), args.chunk)
            cpu_used += used
            step_s += s
        with contextlib.ExitStack() as averaged:  # what each run would save (its --ema-decay average, if any)
            for t in runs.values():
                averaged.enter_context(t.averaged())
            generators = {k: v for t in runs.values() for k, v in t.task.generators.items()}
            result = evaluate(evaluator, generators)
        steps = sum(t.progress.step for t in runs.values())
        points.append({"cpu_minutes": minutes, "cpu_minutes_used": round(cpu_used / 60, 2), "steps": steps,
                       **{d: result[d] for d in DIRECTIONS if d in result}})
        print(f"  {name} at {minutes:g} CPU-min ({steps} steps): " + "; ".join(
            f"{d} KID {result[d]['kid_x1000']:.2f} change {result[d]['mean_change']:.1f}" for d in DIRECTIONS
            if d in result), flush=True)
        save({"objective": objective, "recipe": recipe, "points": points, "s_per_step": statistics.median(step_s),
              "complete": len(points) == len(args.evals)})
    return {"objective": objective, "recipe": recipe, "points": points, "s_per_step": statistics.median(step_s)}


def plot(results: dict, baseline: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, d in zip(axes, DIRECTIONS, strict=True):
        for name, r in results.items():
            ax.plot([p["cpu_minutes"] for p in r["points"]], [p[d]["kid_x1000"] for p in r["points"]],
                    marker="o", label=name)
        ax.axhline(baseline[d]["kid_x1000"], color="k", ls="--", lw=1, label="do nothing")
        ax.set_title(f"{d}: KID x1000 on the test subset")
        ax.set_xlabel("CPU minutes of training")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset root with trainA/ trainB/ testA/ testB/")
    p.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    p.add_argument("--evals", type=float, nargs="+", default=[5, 10, 20], help="CPU minutes at which to evaluate")
    p.add_argument("--test-images", type=int, default=100, help="test images per domain (default 100)")
    p.add_argument("--chunk", type=int, default=40, help="steps between budget checks (default 40)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="folder for results.json, the plot and the runs")
    p.add_argument("--report", action="store_true", help="only print the table and redraw the plot of OUT/results.json "
                                                           "(e.g. of an interrupted run)")
    args = p.parse_args()
    args.evals = sorted(args.evals)
    out = Path(args.out)
    if args.report:
        saved = json.loads((out / "results.json").read_text())
        report(saved["candidates"], saved["do_nothing"], out)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    print(f"# time_to_quality  {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(f"# cpu: {cpu_model()} ({os.cpu_count()} logical cores)  torch {torch.__version__}  threads {args.threads}")
    print(f"# budget points (CPU minutes): {args.evals}; test subset: first {args.test_images} of testA/testB; "
          f"candidates: {', '.join(args.candidates)}", flush=True)
    evaluator = SubsetEvaluator.from_folders(Path(args.data) / "testA", Path(args.data) / "testB", args.test_images)
    baseline = do_nothing(evaluator)
    results = {}
    if (out / "results.json").is_file():  # candidates measured by an earlier run into OUT are kept
        results = json.loads((out / "results.json").read_text())["candidates"]
        print(f"# keeping the earlier results of {', '.join(results)} in {out / 'results.json'}")
    def save(name: str, result: dict) -> None:
        results[name] = result
        tmp = out / "results.json.tmp"
        tmp.write_text(json.dumps({"args": vars(args), "do_nothing": baseline, "candidates": results}, indent=2))
        tmp.replace(out / "results.json")

    for name in args.candidates:
        save(name, run_candidate(name, args, evaluator, lambda r, name=name: save(name, r)))
    report(results, baseline, out)
    return 0


def report(results: dict, baseline: dict, out: Path) -> None:
    print(f"\n{'candidate':<20} {'CPU min':>7} {'steps':>6} {'s/step':>7}  "
          + "  ".join(f"{d + ' KID':>9} {d + ' FID':>9} {'change':>7}" for d in DIRECTIONS))
    print(f"{'do nothing':<20} {'':>7} {'':>6} {'':>7}  " + "  ".join(
        f"{baseline[d]['kid_x1000']:>9.2f} {baseline[d]['fid']:>9.1f} {0:>7.1f}" for d in DIRECTIONS))
    for name, r in results.items():
        for pt in r["points"]:
            label = name if r.get("complete", True) else name + "*"
            print(f"{label:<20} {pt['cpu_minutes']:>7g} {pt['steps']:>6} {r['s_per_step']:>7.3f}  " + "  ".join(
                f"{pt[d]['kid_x1000']:>9.2f} {pt[d]['fid']:>9.1f} {pt[d]['mean_change']:>7.1f}" for d in DIRECTIONS))
    if not all(r.get("complete", True) for r in results.values()):
        print("# * stopped before its last budget point")
    plot(results, baseline, out / "time_to_quality.png")
    print(f"# wrote {out / 'results.json'} and {out / 'time_to_quality.png'}")


if __name__ == "__main__":
    sys.exit(main())
