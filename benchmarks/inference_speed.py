"""Generator latency at batch 1 for every registered generator, against the machine's matmul peak.

For each generator in ``pocketgan.models.list_generators()`` (each architecture's own defaults:
ngf=64 and instance norm for the ResNets, ngf=64 and batch norm for the U-Nets, ngf=16 and batch
norm for the mobile ResNets; eval mode, ``torch.inference_mode``)
and each size, it reports parameters, MACs (``pocketgan.models.profile.count_macs``, torchprofile
convention: resnet_9blocks = 56.8 GMACs at 256x256), the median latency over the timed runs,
the achieved GFLOP/s (2 x MACs / median seconds) and that as a fraction of the peak: the median
GFLOP/s of a fp32 ``torch.mm`` of two N x N matrices (``--mm-size``, default 2048) measured in the
same process, with the same threads, at the start and again at the end (both are printed; the
fraction uses the median of all of them).

A size that is not a multiple of a generator's stride (4 for the ResNets, 128 for unet_128, 256 for
unet_256) is reflect-padded up to it, as ``pocketgan translate`` does, and timed at the padded size
(marked in the table). Every cell runs ``--warmup`` untimed runs (only one when a run takes more
than 2 s), then up to ``--runs`` timed runs, but stops early once ``--max-seconds`` of timed runs
have passed and at least ``--min-runs`` were taken; the table says how many runs each median is
over.

    python benchmarks/inference_speed.py                      # 256, 512, 1024x768 (W x H); ~10 min on 2 CPU cores
    python benchmarks/inference_speed.py --quick              # smoke run, ~1 min
    python benchmarks/inference_speed.py --sizes 256 640x480 --runs 50 --max-seconds 0 --json out.json
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import statistics
import sys
import time
from datetime import datetime, timezone

import torch
import torch.nn.functional as F

from machine import OthersCpu, cpu_model  # benchmarks/machine.py
from pocketgan.models import create_generator, list_generators
from pocketgan.models.profile import count_macs, count_parameters


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def parse_size(text: str) -> tuple[int, int]:
    """'256' -> (256, 256); '1024x768' -> (1024, 768), width x height."""
    parts = text.lower().split("x")
    try:
        if len(parts) == 1:
            return int(parts[0]), int(parts[0])
        if len(parts) == 2:
            return int(parts[0]), int(parts[1])
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"size must be N or WxH, got {text!r}")


def constructor_default(net: torch.nn.Module, arg: str):
    """The default of ``arg`` in the network class's constructor (its architecture's usual value)."""
    param = inspect.signature(type(net).__init__).parameters.get(arg)
    return None if param is None or param.default is inspect.Parameter.empty else param.default


class Timer:
    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __call__(self, fn) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t0


@torch.inference_mode()
def transposed_conv_zero_macs(net: torch.nn.Module, x: torch.Tensor) -> int:
    """How many of ``count_macs``'s MACs are multiplications by the zeros a strided transposed
    convolution inserts: it counts them per *output* pixel (torchprofile's convention), while the
    arithmetic actually done is per *input* pixel (input elements x out_channels x k^2)."""
    zeros = 0

    def hook(m: torch.nn.ConvTranspose2d, inputs, output) -> None:
        nonlocal zeros
        k = m.kernel_size[0] * m.kernel_size[1]
        zeros += (output.numel() * (m.in_channels // m.groups) - inputs[0].numel() * (m.out_channels // m.groups)) * k

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    try:
        net(x)
    finally:
        for h in hooks:
            h.remove()
    return zeros


@torch.inference_mode()
def matmul_gflops(n: int, runs: int, device: torch.device, timer: Timer) -> list[float]:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    out = torch.empty(n, n, device=device)
    for _ in range(2):
        torch.mm(a, b, out=out)
    others = OthersCpu()
    others.start()
    gflops = [2 * n ** 3 / timer(lambda: torch.mm(a, b, out=out)) / 1e9 for _ in range(runs)]
    return gflops, others.stop()


@torch.inference_mode()
def bench_cell(net: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace, timer: Timer) -> dict:
    warm = []
    for _ in range(args.warmup):
        warm.append(timer(lambda: net(x)))
        if warm[-1] > 2.0:  # big cell: one warm-up run is enough
            break
    times: list[float] = []
    budget = args.max_seconds if args.max_seconds > 0 else math.inf
    others = OthersCpu()
    others.start()
    while len(times) < args.runs and (len(times) < args.min_runs or sum(times) < budget):
        times.append(timer(lambda: net(x)))
    return {"times_s": times, "warmup_s": warm, "runs": len(times), "median_s": statistics.median(times),
            "others_cpu": others.stop()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=parse_size, nargs="+", default=None,
                   help="N or WxH (width x height); default: 256 512 1024x768")
    p.add_argument("--generators", nargs="+", default=None, help="default: all of list_generators()")
    p.add_argument("--runs", type=int, default=None, help="timed runs per cell (default 20)")
    p.add_argument("--min-runs", type=int, default=3, help="never fewer timed runs than this (default 3)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="stop a cell's timed runs after this many seconds once --min-runs are done "
                        "(default 25; 0 = no budget, always --runs)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs per cell (default 2; 1 if a run takes > 2 s)")
    p.add_argument("--mm-size", type=int, default=2048, help="N of the N x N fp32 matmul peak (default 2048)")
    p.add_argument("--mm-runs", type=int, default=None, help="timed matmuls at the start and at the end (default 20)")
    p.add_argument("--ngf", type=int, default=None,
                   help="generator width (default: each architecture's own: 64 for resnet/unet, 16 for mobile)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 256 only, 5 runs, 1 warm-up, 10 matmuls, 10 s per cell (unless given)")
    p.add_argument("--json", metavar="PATH", help="also write the results here")
    args = p.parse_args()
    defaults = {"runs": 20, "warmup": 2, "mm_runs": 20, "max_seconds": 25.0, "sizes": [(256, 256), (512, 512), (1024, 768)]}
    if args.quick:
        defaults.update(runs=5, warmup=1, mm_runs=10, max_seconds=10.0, sizes=[(256, 256)])
    for k, v in defaults.items():  # what was given on the command line wins over --quick
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.runs < 1 or args.min_runs < 1:
        p.error("--runs and --min-runs must be >= 1")
    args.min_runs = min(args.min_runs, args.runs)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda given but torch.cuda.is_available() is False")
    names = args.generators or list_generators()
    unknown = set(names) - set(list_generators())
    if unknown:
        p.error(f"unknown generators {sorted(unknown)}; choose from {list_generators()}")
    timer = Timer(device)

    info = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_model(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": str(device), "loadavg_start": os.getloadavg(),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    print(f"# inference_speed  {info['date']}")
    print(f"# cpu: {info['cpu']} ({info['cpu_count']} logical cores)  torch {info['torch']}  "
          f"threads {info['threads']}  device {info['device']}" + (f" ({info['gpu']})" if "gpu" in info else ""))
    print(f"# os.getloadavg(): {tuple(round(x, 2) for x in info['loadavg_start'])}")
    t_start = time.perf_counter()

    mm_start, mm_start_others = matmul_gflops(args.mm_size, args.mm_runs, device, timer)
    print(f"# fp32 torch.mm {args.mm_size}x{args.mm_size} at the start: median {statistics.median(mm_start):.1f} "
          f"GFLOP/s (min {min(mm_start):.1f}, max {max(mm_start):.1f}, {len(mm_start)} runs; "
          f"other processes' CPU {_pct(mm_start_others)})", flush=True)

    cells = []
    for name in names:
        torch.manual_seed(0)
        kwargs = {} if args.ngf is None else {"ngf": args.ngf}
        net = create_generator(name, **kwargs)  # each architecture's own norm (and ngf unless --ngf)
        ngf, norm = args.ngf or constructor_default(net, "ngf"), constructor_default(net, "norm")
        net = net.to(device).eval()
        params = count_parameters(net)
        mult = getattr(net, "size_multiple", 4)
        for w, h in args.sizes:
            pw, ph = w + (-w % mult), h + (-h % mult)
            x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1)) * 2 - 1
            if (pw, ph) != (w, h):  # as translate does; reflect needs the pad to be smaller than the side
                mode = "reflect" if pw - w < w and ph - h < h else "replicate"
                x = F.pad(x, (0, pw - w, 0, ph - h), mode=mode)
            x = x.to(device)
            macs = count_macs(net, tuple(x.shape))
            dense_macs = macs - transposed_conv_zero_macs(net, x)
            res = bench_cell(net, x, args, timer)
            gflops = 2 * macs / res["median_s"] / 1e9
            cell = {"generator": name, "ngf": ngf, "norm": norm, "size_wh": [w, h], "run_size_wh": [pw, ph],
                    "padded": (pw, ph) != (w, h), "params": params, "macs": macs, "gflops": gflops,
                    "macs_without_inserted_zeros": dense_macs, "gflops_without_inserted_zeros":
                        2 * dense_macs / res["median_s"] / 1e9,
                    "loadavg": os.getloadavg(), **res}
            cells.append(cell)
            print(f"  {name} {w}x{h}{f' (padded to {pw}x{ph})' if cell['padded'] else ''}: "
                  f"{res['median_s'] * 1e3:.1f} ms median of {res['runs']}, {gflops:.1f} GFLOP/s "
                  f"(other processes' CPU {_pct(res['others_cpu'])})", flush=True)
        del net

    mm_end, mm_end_others = matmul_gflops(args.mm_size, args.mm_runs, device, timer)
    peak = statistics.median(mm_start + mm_end)
    print(f"# fp32 torch.mm {args.mm_size}x{args.mm_size} at the end: median {statistics.median(mm_end):.1f} "
          f"GFLOP/s (min {min(mm_end):.1f}, max {max(mm_end):.1f}; other processes' CPU {_pct(mm_end_others)}); "
          f"peak used below = median of both: "
          f"{peak:.1f} GFLOP/s")
    for c in cells:
        c["peak_fraction"] = c["gflops"] / peak
        c["peak_fraction_without_inserted_zeros"] = c["gflops_without_inserted_zeros"] / peak

    print()
    print(f"{'generator':<21} {'ngf':>3} {'norm':<8} {'size WxH':<10} {'params':>11} {'GMACs':>7} {'GMACs+':>7} "
          f"{'median ms':>10} {'runs':>4} {'GFLOP/s':>8} {'of peak':>7} {'peak+':>6} {'others':>6}")
    for c in cells:
        size = f"{c['size_wh'][0]}x{c['size_wh'][1]}" + ("*" if c["padded"] else "")
        print(f"{c['generator']:<21} {str(c['ngf']):>3} {str(c['norm']):<8} {size:<10} {c['params']:>11,} "
              f"{c['macs'] / 1e9:>7.2f} {c['macs_without_inserted_zeros'] / 1e9:>7.2f} "
              f"{c['median_s'] * 1e3:>10.1f} {c['runs']:>4} {c['gflops']:>8.1f} {c['peak_fraction']:>7.0%} "
              f"{c['peak_fraction_without_inserted_zeros']:>6.0%} {_pct(c['others_cpu']):>6}")
    if any(c["padded"] for c in cells):
        print("* padded up to the generator's stride; GMACs and time are at the padded size: "
              + ", ".join(f"{c['generator']} {c['size_wh'][0]}x{c['size_wh'][1]} -> "
                          f"{c['run_size_wh'][0]}x{c['run_size_wh'][1]}" for c in cells if c["padded"]))
    info["loadavg_end"] = os.getloadavg()
    info["wall_s"] = time.perf_counter() - t_start
    print("\n# GMACs: pocketgan.models.profile.count_macs (torchprofile convention: transposed convs counted per "
          "output pixel, inserted zeros included); GFLOP/s and 'of peak' use it")
    print("# GMACs+ / peak+: transposed convs counted per input pixel (the multiplications actually done); "
          "this matters for the U-Nets, whose whole decoder is stride-2 transposed convs")
    print("# others: share of the whole machine (all cores = 100%) that other processes used during the "
          "cell's timed runs")
    print(f"# matmul peak {peak:.1f} GFLOP/s (fp32 {args.mm_size}^2 torch.mm, {info['threads']} threads); "
          f"GFLOP/s = 2 x MACs / median time")
    print(f"# os.getloadavg() at the end: {tuple(round(x, 2) for x in info['loadavg_end'])}; "
          f"wall time {info['wall_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "args": {k: v for k, v in vars(args).items()},
                       "matmul": {"size": args.mm_size, "start_gflops": mm_start, "end_gflops": mm_end,
                                  "start_others_cpu": mm_start_others, "end_others_cpu": mm_end_others,
                                  "peak_gflops": peak},
                       "cells": cells}, f, indent=2)
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
