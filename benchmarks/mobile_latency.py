"""Latency of resnet_9blocks vs the mobile generators at 256x256 on this CPU, per runtime.

For each generator: params, GMACs, exported file size, and median ms per image (batch 1) in
PyTorch eager (fp32), ONNX Runtime (fp32, fp16, int8) and LiteRT (fp32, fp16, int8; only when
litert-torch / ai-edge-litert are installed), with the speed-up over resnet_9blocks in PyTorch
eager measured in the same run. Weights are random (latency does not depend on their values;
int8 is calibrated on toy scenes). Every runtime gets the same ``--threads`` (torch.set_num_threads,
ONNX Runtime's intra_op_num_threads, the LiteRT Interpreter's num_threads), printed in the header.

    python benchmarks/mobile_latency.py [--size 256] [--runs 20] [--threads 2] [--skip-litert] [--generators ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pocketgan.data.synthetic import render_scene
from pocketgan.export.prepare import prepare
from pocketgan.models import create_generator
from pocketgan.models.profile import count_macs, count_parameters

GENERATORS = [("resnet_9blocks", {}), ("mobile_resnet_9blocks", {"ngf": 16}), ("mobile_resnet_9blocks", {"ngf": 24}),
              ("mobile_resnet_6blocks", {"ngf": 16})]


def median_ms(fn, runs: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2,
                   help="threads for every runtime: PyTorch, ONNX Runtime and LiteRT (default: 2)")
    p.add_argument("--skip-litert", action="store_true")
    p.add_argument("--generators", nargs="+", metavar="NAME[:NGF]",
                   help="measure only these (e.g. resnet_9blocks mobile_resnet_9blocks:16); the first is the "
                        "baseline of the speed-up column (default: all four)")
    args = p.parse_args()
    generators = GENERATORS
    if args.generators:
        generators = []
        for spec in args.generators:
            name, _, ngf = spec.partition(":")
            if not ngf.isdigit() and ngf:
                p.error(f"--generators {spec!r}: NGF must be a whole number")
            generators.append((name, {"ngf": int(ngf)} if ngf else {}))
    if args.threads < 1:
        p.error("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    from pocketgan.errors import MissingDependency
    from pocketgan.export.onnx import export_onnx
    from pocketgan.inference.runners import LiteRTRunner, OnnxRunner
    litert = None
    if not args.skip_litert:
        try:
            from pocketgan.export import litert
            litert.require_litert()
        except MissingDependency:
            litert = None
    s = args.size
    image = np.asarray(render_scene(1, s, "A"), dtype=np.uint8)[None]
    calib = [np.asarray(render_scene(i, s, "A"), dtype=np.uint8) for i in range(16)]
    print(f"# mobile_latency  size {s}x{s}  batch 1  torch {torch.__version__}  threads {args.threads} "
          f"(torch {torch.get_num_threads()}, onnxruntime {args.threads}, litert {args.threads if litert else '-'})  "
          f"load {os.getloadavg()[0]:.2f}  cpus {os.cpu_count()}")
    print(f"{'generator':28} {'params':>9} {'GMACs':>7} {'runtime':>16} {'MB':>6} {'ms':>8} {'vs ref eager':>12}")
    ref_ms = None
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in generators:
            torch.manual_seed(0)
            g = create_generator(name, **kw).eval()
            label = name + (f"(ngf={kw['ngf']})" if kw else "")
            params, gmacs = count_parameters(g), count_macs(g, (1, 3, s, s)) / 1e9
            net = prepare(g)
            x = torch.from_numpy(image.copy())
            with torch.inference_mode():
                eager = median_ms(lambda: net(x), args.runs)
            ref_ms = ref_ms or eager
            rows = [("pytorch eager", None, eager)]
            for q in (None, "fp16", "int8"):
                path = Path(tmp) / f"{label}_{q}.onnx"
                export_onnx(g, path, s, q, calib)
                runner = OnnxRunner(path, threads=args.threads)
                rows.append((f"onnxruntime {q or 'fp32'}", path.stat().st_size / 1e6, median_ms(lambda: runner(image), args.runs)))
            if litert is not None:
                for q in (None, "fp16", "int8"):
                    path = Path(tmp) / f"{label}_{q}.tflite"
                    try:
                        litert.export_litert(g, path, s, q, calib if q == "int8" else None)
                        runner = LiteRTRunner(path, num_threads=args.threads)
                        rows.append((f"litert {q or 'fp32'}", path.stat().st_size / 1e6, median_ms(lambda: runner(image), args.runs)))
                    except Exception as e:  # report, keep measuring the rest
                        rows.append((f"litert {q or 'fp32'}: {type(e).__name__}", None, float("nan")))
            for runtime, mb, ms in rows:
                mb_s = f"{mb:6.2f}" if mb is not None else f"{'':6}"
                print(f"{label:28} {params:>9,} {gmacs:>7.2f} {runtime:>16} {mb_s} {ms:>8.1f} {ref_ms / ms:>11.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
