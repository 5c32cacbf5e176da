"""The hardware fast path of a training step, shared by the Trainer and benchmarks/train_speed.py.

``resolve_fast_path`` turns the ``auto`` speed flags into what measured fastest on the device;
``optimizer_factory`` is what an objective builds its optimizers with (the Adam implementation);
``prepare_task`` applies the one-off parts to a built objective (channels-last weights, fp16 loss
scaling); ``step_nets`` wraps the nets once (compiled / DDP) into the mapping a step runs;
``run_step`` runs one ``task.train_step(batch, nets)`` with the rest (channels-last batches,
autocast, the loss-scale update). The objective's own ``task.nets`` stay the plain modules, so
checkpoints, model folders, samples and evaluation never see a wrapper.
"""
from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable

import torch

from . import distributed
from .config import TrainConfig
from .objective import OptimizerFactory, adam
from .precision import Precision, precision_for


@dataclasses.dataclass(frozen=True)
class FastPath:
    """The speed settings of a run, with ``auto`` resolved for the device."""

    channels_last: bool = False
    compile: bool = False
    amp: torch.dtype | None = None  # autocast dtype, None = fp32
    adam: str = "plain"  # plain (torch's default choice), foreach or fused


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: oneDNN runs bf16 convolutions natively (measured 1.7x fp32 for the CycleGAN
    step on an AVX512-BF16 EPYC). Without them bf16 is emulated and autocast was ~30x slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # private helpers; absent in some builds
        return False


def resolve_fast_path(cfg: TrainConfig, device: torch.device) -> FastPath:
    """``auto``: what measured fastest on the hardware (see the flags' help). CUDA: channels-last,
    compile, bf16 (fp16 + loss scaling on GPUs without bf16), fused Adam. CPU: bf16 autocast only
    where the CPU has native bf16, foreach Adam, nothing else (each measured slower there)."""
    cuda = device.type == "cuda"
    if cfg.amp == "auto":
        if cuda:
            amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            amp = torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    else:
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[cfg.amp]
        if device.type == "cpu" and (amp == torch.float16 or (amp == torch.bfloat16 and not cpu_has_native_bf16())):
            warnings.warn(f"--amp {cfg.amp} on this CPU: autocast is far slower than fp32 here (it only saves memory)",
                          stacklevel=2)
    return FastPath(channels_last=cuda if cfg.channels_last == "auto" else cfg.channels_last == "on",
                    compile=cuda if cfg.compile == "auto" else cfg.compile == "on",
                    amp=amp, adam=("fused" if cuda else "foreach") if cfg.adam == "auto" else cfg.adam)


def optimizer_factory(cfg: TrainConfig, fast: FastPath) -> OptimizerFactory:
    """Adam with this run's implementation (foreach / fused; the same maths), for the objective to
    build its optimizers with."""
    return adam(cfg, fast.adam)


def set_adam_impl(opt: torch.optim.Optimizer, impl: str) -> None:
    """After ``load_state_dict`` (which brings the checkpoint's flags back): this run's implementation."""
    if type(opt) is not torch.optim.Adam:
        return
    for g in opt.param_groups:
        g["foreach"], g["fused"] = (impl == "foreach") or None, (impl == "fused") or None
        if impl == "fused":  # fused keeps its step counters on the parameters' device
            for p in g["params"]:
                st = opt.state.get(p, {})
                if torch.is_tensor(st.get("step")):
                    st["step"] = st["step"].to(device=p.device, dtype=torch.float32)


def prepare_task(task, fast: FastPath, device: torch.device) -> Precision:
    """Apply the one-off settings to ``task`` in place; returns its precision (loss scaling for fp16)."""
    if fast.channels_last:
        for net in task.nets.values():
            net.to(memory_format=torch.channels_last)
    task.precision = precision_for(fast.amp, device.type)
    return task.precision


def step_nets(task, compiled: bool, wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda m: m
              ) -> dict[str, torch.nn.Module]:
    """What ``train_step`` runs, by the names of ``task.nets``: each trainable, callable net
    ``torch.compile``d if asked, then ``wrap``ped (the Trainer wraps in DDP); the plain module for
    the others (e.g. distill's adapters, indexed rather than called, and its frozen teacher)."""
    out = dict(task.nets)
    for name, net in task.nets.items():
        if distributed.callable_net(net) and any(p.requires_grad for p in net.parameters()):
            out[name] = wrap(torch.compile(net) if compiled else net)
    return out


def run_step(task, fast: FastPath, nets: dict[str, torch.nn.Module], batch: dict) -> dict[str, torch.Tensor]:
    """One ``task.train_step(batch, nets)`` on the fast path."""
    if fast.channels_last:
        batch = {k: v.contiguous(memory_format=torch.channels_last) if torch.is_tensor(v) and v.dim() == 4 else v
                 for k, v in batch.items()}
    with torch.autocast(task.device.type, dtype=fast.amp) if fast.amp else contextlib.nullcontext():
        losses = task.train_step(batch, nets)
    task.precision.update()  # fp16: adjust the loss scale once per step (no-op otherwise)
    return losses
