"""Peak memory of CycleGAN training per image size, with and without --grad-checkpoint.

Each (size, setting) runs in a fresh Python process (peak memory is a per-process high-water
mark): build the CycleGAN task (paper's model by default: resnet_9blocks G ngf=64, 70x70 PatchGAN
ndf=64, batch 1), run ``--steps`` training steps on random images through the Trainer's fast path,
and report
  * CPU: the process's peak resident set (``VmHWM``: unlike ``ru_maxrss``, which Linux carries
    over from the parent across fork + exec, it starts afresh in the new program) and the part above the same process's
    RSS just before the first step (weights, optimizer state and torch itself are in the baseline);
  * CUDA: ``torch.cuda.max_memory_allocated``;
plus the median step time, so the compute price of checkpointing is measured in the same run.

    python benchmarks/train_memory.py                         # 128 256 512 px, plain vs checkpointed
    python benchmarks/train_memory.py --sizes 512 --device cuda --batch 4
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

from machine import cpu_model  # benchmarks/machine.py


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    """This program's peak resident set (VmHWM of /proc/self/status, in kB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(args: argparse.Namespace) -> None:
    """One measurement (runs in its own process); prints one JSON line."""
    import torch

    from pocketgan.training.config import config_for
    from pocketgan.training.fast_path import optimizer_factory, prepare_task, resolve_fast_path, run_step, step_nets
    from pocketgan.training.objectives import get_objective

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = config_for(args.objective, data="-", netG=args.netG, ngf=args.ngf, crop_size=args.size, batch_size=args.batch,
                     grad_checkpoint=args.checkpoint)
    fast = resolve_fast_path(cfg, device)
    torch.manual_seed(0)
    task = get_objective(args.objective).load()(cfg, device, optimizer_factory(cfg, fast))
    if args.checkpoint:
        for net in task.generators.values():
            net.set_grad_checkpointing(True)
    prepare_task(task, fast, device)
    nets = step_nets(task, fast.compile)
    gen = torch.Generator().manual_seed(1)
    def batch():
        return {d: (torch.rand(args.batch, 3, args.size, args.size, generator=gen) * 2 - 1) for d in "AB"}
    base = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.steps):
        b = batch()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        run_step(task, fast, nets, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    out = {"size": args.size, "objective": args.objective, "checkpoint": args.checkpoint,
           "step_s": statistics.median(times[1:] or times), "peak_rss_mb": _peak_rss_mb(), "base_rss_mb": base}
    if device.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(json.dumps(out))


def measure(objective: str, size: int, netG: str, ngf: int, batch: int, steps: int, threads: int, device: str,
            checkpoint: bool = False) -> dict:
    """One measurement in a fresh process (also used by train_speed.py --objectives)."""
    cmd = [sys.executable, __file__, "--child", "--objective", objective, "--size", str(size), "--netG", netG,
           "--ngf", str(ngf), "--batch", str(batch), "--steps", str(steps), "--threads", str(threads),
           "--device", device] + (["--checkpoint"] if checkpoint else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--netG", default="resnet_9blocks")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=2, help="training steps per measurement (median of all but the first)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--objective", default="cyclegan", help="training objective (default: cyclegan)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    print(f"# train_memory  {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(f"# cpu: {cpu_model()} ({os.cpu_count()} logical cores)  device {args.device}  threads {args.threads or 'default'}")
    print(f"# model: {args.objective}, {args.netG} ngf={args.ngf}, basic D ndf=64, batch {args.batch}, {args.steps} steps each")
    rows = []
    for size in args.sizes:
        for ckpt in (False, True):
            row = measure(args.objective, size, args.netG, args.ngf, args.batch, args.steps, args.threads, args.device,
                          ckpt)
            if "error" in row:
                print(f"  {size}px checkpoint={ckpt}: failed ({row['error']})", flush=True)
                continue
            rows.append(row)
            print(f"  {size}px checkpoint={ckpt}: peak RSS {row['peak_rss_mb']:.0f} MB, "
                  f"{row['step_s']:.2f} s/step", flush=True)
    cuda = args.device.startswith("cuda")
    print(f"\n{'size':>5} {'grad ckpt':>9} {'peak RSS MB':>12} {'above start MB':>15}"
          + (f" {'CUDA peak MB':>13}" if cuda else "") + f" {'s/step':>8} {'memory vs plain':>16} {'time vs plain':>14}")
    for row in rows:
        plain = next((r for r in rows if r["size"] == row["size"] and not r["checkpoint"]), None)
        key = "cuda_peak_mb" if cuda else "peak_rss_mb"
        mem = f"{row[key] / plain[key]:.2f}x" if plain else ""
        tim = f"{row['step_s'] / plain['step_s']:.2f}x" if plain else ""
        print(f"{row['size']:>5} {'on' if row['checkpoint'] else 'off':>9} {row['peak_rss_mb']:>12.0f} "
              f"{row['peak_rss_mb'] - row['base_rss_mb']:>15.0f}"
              + (f" {row['cuda_peak_mb']:>13.0f}" if cuda else "") + f" {row['step_s']:>8.2f} {mem:>16} {tim:>14}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
