"""Latency of resnet_9blocks vs the mobile generators at 256x256 on this CPU, per runtime.

For each generator: params, GMACs, and for PyTorch eager (fp32), ONNX Runtime (fp32, fp16, int8)
and LiteRT (fp32, fp16, int8; when litert-torch / ai-edge-litert are installed): file size, median
ms per image (batch 1), PSNR against PyTorch fp32, and the speed-up over the first generator in
PyTorch eager, measured in the same run. The measuring is `pocketgan benchmark`'s
(:func:`pocketgan.evaluation.benchmark.run_benchmark`, on a random-weight model folder per
generator): every runtime on the same ``--threads`` (torch.set_num_threads, ONNX Runtime's
intra_op_num_threads, the LiteRT Interpreter's num_threads), printed in the header; int8 is
calibrated on toy scenes. Weights are random (latency does not depend on their values), so the
PSNR column checks the conversion, not a trained model; `pocketgan benchmark --model M` measures a
real model (docs/benchmark.md).

    python benchmarks/mobile_latency.py [--size 256] [--runs 20] [--threads 2] [--skip-litert] [--generators ...]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

from pocketgan.evaluation import benchmark
from pocketgan.models import create_generator
from pocketgan.models.pretrained import save_pretrained
from pocketgan.models.profile import count_macs, count_parameters

GENERATORS = [("resnet_9blocks", {}), ("mobile_resnet_9blocks", {"ngf": 16}), ("mobile_resnet_9blocks", {"ngf": 24}),
              ("mobile_resnet_6blocks", {"ngf": 16})]
RUNTIME = {"pytorch": "pytorch eager", "onnx": "onnxruntime", "tflite": "litert"}


def median_ms(fn, runs: int, warmup: int = 2) -> float:
    """Median ms of ``runs`` calls of ``fn`` after ``warmup`` (benchmarks/web_ceiling.py uses it too)."""
    return benchmark.median_ms(fn, runs, warmup)[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
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
    if args.size < 4 or args.size % 4:
        p.error("--size must be a positive multiple of 4")
    formats = ["onnx"] if args.skip_litert else ["onnx", "tflite"]
    s = args.size
    print(f"# mobile_latency  size {s}x{s}  batch 1  torch {torch.__version__}  threads {args.threads} for every runtime "
          f"(torch.set_num_threads, onnxruntime intra_op_num_threads, litert num_threads)  "
          f"load {os.getloadavg()[0]:.2f}  cpus {os.cpu_count()}")
    print(f"{'generator':28} {'params':>9} {'GMACs':>7} {'runtime':>18} {'MB':>6} {'ms':>8} {'PSNR dB':>8} "
          f"{'vs ref eager':>12}")
    ref_ms = None
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in generators:
            torch.manual_seed(0)
            g = create_generator(name, **kw).eval()
            label = name + (f"(ngf={kw['ngf']})" if kw else "")
            params, gmacs = count_parameters(g), count_macs(g, (1, 3, s, s)) / 1e9
            folder = save_pretrained(Path(tmp) / label, {"G_A": g})
            result = benchmark.run_benchmark(folder, formats, ["fp32", "fp16", "int8"], size=s, threads=args.threads,
                                             runs=args.runs, warmup=args.warmup)
            ref_ms = ref_ms or result.baseline.latency_ms
            for row in result.rows:
                runtime = f"{RUNTIME[row.format]} {row.precision}"
                if not row.ok:
                    print(f"{label:28} {params:>9,} {gmacs:>7.2f} {runtime:>18}  {row.status}")
                    continue
                psnr = "ref" if row.psnr_db is None else f"{row.psnr_db:.1f}"
                mb = f"{row.file_mb:6.2f}" if row.file_mb is not None else f"{'':6}"
                print(f"{label:28} {params:>9,} {gmacs:>7.2f} {runtime:>18} {mb} {row.latency_ms:>8.1f} {psnr:>8} "
                      f"{ref_ms / row.latency_ms:>11.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
