"""Seconds per CycleGAN training iteration: pocketgan plain, pocketgan's fast path, and optionally
the reference, in one run.

One iteration is one full CycleGAN step (batch 1 unless ``--batch``) with the paper's default model
(resnet_9blocks G ngf=64, 70x70 PatchGAN D ndf=64, instance norm, LSGAN, identity 0.5, image pool
50). Candidates:
  * ``plain``: pocketgan's ``CycleGAN.train_step`` in fp32 eager with torch's default Adam;
  * ``fast``: the same step as ``pocketgan train`` runs it with every speed flag on ``auto``
    (training/fast_path.py: fused/foreach Adam, and on CUDA channels-last, torch.compile and
    bf16/fp16 autocast); the compile time shows as its warm-up step;
  * ``reference`` (with ``--reference PATH``): junyanz/pytorch-CycleGAN-and-pix2pix's
    ``CycleGANModel.set_input`` + ``optimize_parameters`` (imported from PATH, which must hold its
    ``models/`` and ``util/``; nothing of it is copied here).

All candidates start from the same weights (the reference's initial weights are copied into
pocketgan's nets) and are fed the same random input tensors, in the same order. They are timed in
the same process, interleaved iteration by iteration (A, B, A, B, ...; ``--rounds`` x ``--iters``
of each), so load from other processes hits both alike. Each iteration is timed on its own
(``torch.cuda.synchronize`` around it on a GPU); the table gives the median over all timed
iterations, the ratio of the two medians and, less sensitive to load that drifts during the run,
the median over pairs of neighbouring iterations of reference time / pocketgan time.
``torch.backends.cudnn.benchmark`` is process-wide and the reference switches it on when it is
built, so it is switched on here for both candidates (it only matters on a GPU).

    python benchmarks/train_speed.py                            # pocketgan alone, 128 and 256 px
    python benchmarks/train_speed.py --reference /tmp/ref       # + the reference, interleaved
    python benchmarks/train_speed.py --reference /tmp/ref --sizes 128 --rounds 5 --json out.json

With ``--objectives cyclegan cut fastcut`` the candidates are instead those objectives' steps, each
as ``pocketgan train`` runs it (fast path on ``auto``, the objective's own defaults), all with the
same generator (``--netG``, default resnet_9blocks ngf 64) and D, interleaved the same way; each
objective's peak memory is measured in a fresh process (train_memory.py), and the ratios are to
CycleGAN's.

    python benchmarks/train_speed.py --objectives cyclegan cut fastcut --sizes 128 256

With ``--ddp N`` it measures data-parallel training instead: images/s of N gloo processes with 1
thread each (DistributedDataParallel, as ``torchrun --nproc_per_node=N -m pocketgan train`` runs)
against 1 process with N threads, same model, batch 1 per process, ``--steps`` timed steps after
``--warmup``. Each setup runs in fresh processes, so neither inherits the other's thread pool.

    python benchmarks/train_speed.py --ddp 2 --sizes 128 --steps 20
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import torch

from machine import OthersCpu, cpu_model  # benchmarks/machine.py
from pocketgan.training import distributed
from pocketgan.training.config import TrainConfig
from pocketgan.training.cyclegan import CycleGAN
from pocketgan.training.fast_path import optimizer_factory, prepare_task, resolve_fast_path, run_step, step_nets

NETS = ("G_A", "G_B", "D_A", "D_B")


def header(args: argparse.Namespace, device: torch.device) -> dict:
    info = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "loadavg_start": os.getloadavg(),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def reference_model(path: str, device: torch.device, pool_size: int):
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        from models.cycle_gan_model import CycleGANModel  # the reference, imported, not vendored
    except ImportError as e:
        raise SystemExit(f"cannot import the reference's models.cycle_gan_model from {path!r}: {e}") from None
    gpu_ids = [device.index or 0] if device.type == "cuda" else []
    opt = SimpleNamespace(gpu_ids=gpu_ids, isTrain=True, checkpoints_dir="/tmp/pocketgan_train_speed", name="bench",
                          preprocess="resize_and_crop", input_nc=3, output_nc=3, ngf=64, ndf=64,
                          netG="resnet_9blocks", netD="basic", n_layers_D=3, norm="instance", no_dropout=True,
                          init_type="normal", init_gain=0.02, lambda_identity=0.5, lambda_A=10.0, lambda_B=10.0,
                          pool_size=pool_size, gan_mode="lsgan", lr=2e-4, beta1=0.5, direction="AtoB",
                          lr_policy="linear", epoch_count=1, n_epochs=100, n_epochs_decay=100,
                          continue_train=False, load_iter=0, epoch="latest", verbose=False)
    return CycleGANModel(opt)


def unwrap(net: torch.nn.Module) -> torch.nn.Module:
    """The reference wraps its nets in DataParallel on a GPU."""
    return net.module if isinstance(net, torch.nn.DataParallel) else net


def build_candidates(args: argparse.Namespace, device: torch.device) -> dict:
    cfg = TrainConfig(data="-", pool_size=args.pool_size, batch_size=args.batch)
    fast = resolve_fast_path(cfg, device)
    ours = CycleGAN(cfg, device)
    fast_task = CycleGAN(cfg, device, optimizer_factory(cfg, fast))
    candidates = {}
    if args.reference:
        ref = reference_model(args.reference, device, args.pool_size)
        for k in NETS:  # same starting point, so all do the same arithmetic on the same values
            ours.nets[k].load_state_dict(unwrap(getattr(ref, "net" + k)).state_dict())
    for k in NETS:
        fast_task.nets[k].load_state_dict(ours.nets[k].state_dict())
    prepare_task(fast_task, fast, device)
    fast_nets = step_nets(fast_task, fast.compile)
    print(f"# fast path on {device}: {fast}", flush=True)
    candidates["plain"] = lambda a, b: ours.train_step({"A": a, "B": b}, ours.nets)
    candidates["fast"] = lambda a, b: run_step(fast_task, fast, fast_nets, {"A": a, "B": b})
    if args.reference:
        def ref_step(a: torch.Tensor, b: torch.Tensor) -> None:
            ref.set_input({"A": a, "B": b, "A_paths": "", "B_paths": ""})
            ref.optimize_parameters()

        candidates["reference"] = ref_step
    return candidates


def build_objective_candidates(args: argparse.Namespace, device: torch.device) -> dict:
    """One candidate per objective: its step on the fast path, with the same G and D for all."""
    from pocketgan.training.config import config_for
    from pocketgan.training.objectives import get_objective

    candidates = {}
    for name in args.objectives:
        cfg = config_for(name, data="-", netG=args.netG, batch_size=args.batch, crop_size=args.current_size,
                         **({"pool_size": args.pool_size} if name == "cyclegan" else {}))
        fast = resolve_fast_path(cfg, device)
        task = get_objective(name).load()(cfg, device, optimizer_factory(cfg, fast))
        prepare_task(task, fast, device)
        nets = step_nets(task, fast.compile)
        candidates[name] = (lambda a, b, task=task, fast=fast, nets=nets:
                            run_step(task, fast, nets, {"A": a, "B": b}))
    return candidates


def _pct(xs: list) -> str:
    xs = [x for x in xs if x is not None]
    return f"{statistics.mean(xs):.0%}" if xs else "n/a"


def bench_size(size: int, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(args.seed)
    random.seed(args.seed)  # the reference's image pool draws from Python's global RNG
    args.current_size = size
    candidates = build_objective_candidates(args, device) if args.objectives else build_candidates(args, device)
    n_inputs = args.warmup + args.rounds * args.iters
    gen = torch.Generator().manual_seed(args.seed + size)
    inputs = [(torch.rand(args.batch, 3, size, size, generator=gen) * 2 - 1,
               torch.rand(args.batch, 3, size, size, generator=gen) * 2 - 1) for _ in range(n_inputs)]
    if device.type == "cuda":  # the tensors stay on the host, as a data loader's would; both copy them
        inputs = [(a.pin_memory(), b.pin_memory()) for a, b in inputs]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    others_cpu = OthersCpu()
    others: dict[str, list] = {name: [] for name in candidates}

    def run(name: str, i: int) -> float:
        a, b = inputs[i]
        sync()
        others_cpu.start()
        t0 = time.perf_counter()
        candidates[name](a, b)
        sync()
        dt = time.perf_counter() - t0
        others[name].append(others_cpu.stop())
        return dt

    names = list(candidates)
    times: dict[str, list[float]] = {name: [] for name in names}
    warm: dict[str, list[float]] = {name: [] for name in names}
    rounds: dict[str, list[float]] = {name: [] for name in names}
    load_before = os.getloadavg()
    for i in range(args.warmup):  # interleaved warm-up, too
        for name in names:
            warm[name].append(run(name, i))
    for name in names:
        others[name].clear()
    for r in range(args.rounds):
        first = len(times[names[0]])
        for j in range(args.iters):  # A, B, A, B, ...: neighbours in time see the same load
            for name in names:
                times[name].append(run(name, args.warmup + r * args.iters + j))
        for name in names:
            rounds[name].append(statistics.median(times[name][first:]))
        print(f"  {size}px round {r + 1}/{args.rounds}: "
              + ", ".join(f"{n} {rounds[n][-1]:.3f} s/iter" for n in names)
              + f"  (other processes' CPU {_pct([x for n in names for x in others[n][-args.iters:]])}, "
              f"loadavg {os.getloadavg()[0]:.2f})", flush=True)
    out = {"size": size, "load_before": load_before, "load_after": os.getloadavg(), "candidates": {}}
    for name in names:
        med = statistics.median(times[name])
        out["candidates"][name] = {"median_s": med, "images_per_s": args.batch / med, "min_s": min(times[name]),
                                   "max_s": max(times[name]), "times_s": times[name],
                                   "round_medians_s": rounds[name], "warmup_s": warm[name],
                                   "others_cpu": others[name]}
    base = "reference" if "reference" in candidates else (names[0] if args.objectives else "plain")
    for name in names:  # speed vs the baseline: > 1 means faster than it
        c = out["candidates"][name]
        c["speed_vs_" + base] = out["candidates"][base]["median_s"] / c["median_s"]
        # each iteration against the baseline's iteration right beside it: robust to load drift
        c["paired_ratios"] = [r / p for p, r in zip(times[name], times[base], strict=True)]
        c["median_paired_ratio"] = statistics.median(c["paired_ratios"])
    out["baseline"] = base
    if args.objectives:  # peak memory: a per-process high-water mark, so each in a fresh process
        from train_memory import measure

        for name in names:
            m = measure(name, size, args.netG, 64, args.batch, 2, args.threads, args.device)
            out["candidates"][name]["peak_rss_mb"] = m.get("peak_rss_mb")
            out["candidates"][name]["cuda_peak_mb"] = m.get("cuda_peak_mb")
    return out


def _ddp_worker(rank: int, size: int, threads: int, args: argparse.Namespace, out: str) -> None:
    """One process of a data-parallel measurement: train ``args.warmup`` + ``args.steps`` steps, and
    on rank 0 write images/s over the timed steps (all ranks' images) to ``out``."""
    torch.set_num_threads(threads)
    with distributed.process_group("cpu") as ctx:
        torch.manual_seed(args.seed)
        task = CycleGAN(TrainConfig(data="-", pool_size=args.pool_size), torch.device("cpu"))
        for name in NETS:  # the task only trains, nothing is saved: the replicas can replace the nets
            task.nets[name] = distributed.wrap(task.nets[name], ctx, torch.device("cpu"))
        gen = torch.Generator().manual_seed(args.seed * 1000 + rank)
        def batch():
            return {d: torch.rand(1, 3, size, size, generator=gen) * 2 - 1 for d in "AB"}
        for _ in range(args.warmup):
            task.train_step(batch(), task.nets)
        inputs = [batch() for _ in range(args.steps)]
        distributed.barrier(ctx)
        t0 = time.perf_counter()
        for b in inputs:
            task.train_step(b, task.nets)
        distributed.barrier(ctx)
        elapsed = time.perf_counter() - t0
        if ctx.main:
            with open(out, "w") as f:
                json.dump({"images_per_s": ctx.world * args.steps / elapsed, "s_per_step": elapsed / args.steps}, f)


def bench_ddp(size: int, args: argparse.Namespace) -> dict:
    """N processes x 1 thread vs 1 process x N threads, images/s."""
    import tempfile

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, world, threads in ((f"1 process x {args.ddp} threads", 1, args.ddp),
                                      (f"{args.ddp} gloo ranks x 1 thread", args.ddp, 1)):
            out = os.path.join(tmp, f"{world}.json")
            load_before = os.getloadavg()
            distributed.spawn(_ddp_worker, world, size, threads, args, out)
            with open(out) as f:
                rows[label] = {**json.load(f), "world": world, "threads": threads, "load_before": load_before,
                               "load_after": os.getloadavg()}
            print(f"  {size}px {label}: {rows[label]['images_per_s']:.3f} images/s", flush=True)
    return {"size": size, "rows": rows}


def main_ddp(args: argparse.Namespace) -> int:
    print(f"# train_speed --ddp {args.ddp}  {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(f"# cpu: {cpu_model()} ({os.cpu_count()} logical cores)  torch {torch.__version__}  "
          f"os.getloadavg(): {tuple(round(x, 2) for x in os.getloadavg())}")
    print(f"# model: resnet_9blocks G ngf=64, basic D ndf=64, instance norm, lsgan, pool {args.pool_size}, "
          f"batch 1 per process; warmup {args.warmup}, {args.steps} timed steps")
    results = [bench_ddp(size, args) for size in args.sizes]
    print(f"\n{'size':>5}  {'setup':<28} {'images/s':>9} {'s/step':>8} {'vs 1 process':>13}")
    for res in results:
        base = next(iter(res["rows"].values()))["images_per_s"]
        for label, r in res["rows"].items():
            print(f"{res['size']:>5}  {label:<28} {r['images_per_s']:>9.3f} {r['s_per_step']:>8.3f} "
                  f"{r['images_per_s'] / base:>12.2f}x")
    print(f"# os.getloadavg() at the end: {tuple(round(x, 2) for x in os.getloadavg())}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
        print(f"# wrote {args.json}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="image sides in px (default: 128 256)")
    p.add_argument("--iters", type=int, default=2, help="timed iterations per candidate per round (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations per candidate first (default 1)")
    p.add_argument("--reference", metavar="PATH", help="folder with the reference's models/ and util/")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1")
    p.add_argument("--pool-size", type=int, default=50, help="image pool size (default 50, the paper's)")
    p.add_argument("--batch", type=int, default=1, help="images per domain per step (default 1, the paper's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--objectives", nargs="+", metavar="NAME",
                   help="compare these objectives' steps instead (e.g. cyclegan cut fastcut; the first is the baseline)")
    p.add_argument("--netG", default="resnet_9blocks", help="generator for --objectives (default: resnet_9blocks)")
    p.add_argument("--json", metavar="PATH", help="also write the results here")
    p.add_argument("--ddp", type=int, default=0, metavar="N",
                   help="instead: N gloo processes x 1 thread vs 1 process x N threads (CPU, images/s)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per setup with --ddp (default 10)")
    args = p.parse_args()
    if args.ddp:
        if args.ddp < 2 or args.steps < 1 or args.device != "cpu" or args.reference:
            p.error("--ddp needs N >= 2, --steps >= 1, the CPU and no --reference")
        return main_ddp(args)
    if args.objectives and args.reference:
        p.error("--objectives compares pocketgan's objectives; give no --reference with it")
    if args.iters < 1 or args.rounds < 1 or args.warmup < 0:
        p.error("--iters and --rounds must be >= 1, --warmup >= 0")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda given but torch.cuda.is_available() is False")
    torch.backends.cudnn.benchmark = True  # what the reference sets process-wide; same for both

    info = header(args, device)
    print(f"# train_speed  {info['date']}")
    print(f"# cpu: {info['cpu']} ({info['cpu_count']} logical cores)  torch {info['torch']}  "
          f"threads {info['threads']}  device {info['device']}" + (f" ({info['gpu']})" if "gpu" in info else ""))
    print(f"# os.getloadavg(): {tuple(round(x, 2) for x in info['loadavg_start'])}")
    model = (f"objectives {', '.join(args.objectives)} with {args.netG} G ngf=64 for all, otherwise each "
             f"objective's defaults (D ndf=64: basic for cyclegan, the anti-aliased cut_basic for cut/fastcut)"
             if args.objectives else
             f"resnet_9blocks G ngf=64, basic D ndf=64, instance norm, lsgan, identity 0.5, pool {args.pool_size}")
    print(f"# model: {model}, batch {args.batch}; warmup {args.warmup}, {args.rounds} rounds x {args.iters} iters "
          f"per candidate, interleaved A, B, A, B")
    t_start = time.perf_counter()
    results = []
    for size in args.sizes:
        results.append(bench_size(size, args, device))

    print()
    print(f"{'size':>5}  {'candidate':<10} {'median s/iter':>13} {'min':>7} {'max':>7} {'images/s':>9} "
          f"{'speed vs ' + results[0]['baseline']:>19} {'paired median':>14} {'warm-up s':>10} {'others CPU':>11}"
          + (f" {'peak RSS MB':>12} {'memory vs ' + results[0]['baseline']:>20}" if args.objectives else ""))
    for res in results:
        base_mem = res["candidates"][res["baseline"]].get("peak_rss_mb")
        for name, c in res["candidates"].items():
            ratio = c["speed_vs_" + res["baseline"]]
            mem = ""
            if args.objectives:
                rss = c.get("peak_rss_mb")
                mem = f" {rss or float('nan'):>12.0f} " + (f"{rss / base_mem:>19.2f}x" if rss and base_mem else f"{'n/a':>20}")
            print(f"{res['size']:>5}  {name:<10} {c['median_s']:>13.3f} {c['min_s']:>7.3f} {c['max_s']:>7.3f} "
                  f"{c['images_per_s']:>9.3f} {ratio:>18.3f}x {c['median_paired_ratio']:>13.3f}x "
                  f"{max(c['warmup_s'], default=float('nan')):>10.1f} {_pct(c['others_cpu']):>11}" + mem)
    info["loadavg_end"] = os.getloadavg()
    info["wall_s"] = time.perf_counter() - t_start
    print(f"\n# os.getloadavg() at the end: {tuple(round(x, 2) for x in info['loadavg_end'])}; "
          f"wall time {info['wall_s']:.0f} s")
    print("# speed vs X = X's median s/iter / the candidate's (> 1: faster than X); paired median = median over "
          "neighbouring iterations of X's time / the candidate's")
    print("# others CPU = mean share of the whole machine (all cores = 100%) used by other processes "
          "during the timed iterations")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "args": vars(args), "results": results}, f, indent=2)
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
