"""Data-parallel training: ``torchrun --nproc_per_node=N -m pocketgan train ...``.

Every rank holds a full replica of the task's networks and trains on its own slice of each
epoch's positions; DistributedDataParallel averages the gradients, so the replicas stay
identical. What differs per rank (image pools, RNG states) is gathered into rank 0's single
checkpoint file, so ``--resume`` continues every rank exactly. Only rank 0 writes files.

With one process (no ``WORLD_SIZE`` > 1 in the environment) nothing here is active and the
training loop is the plain single-process one.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """The rank that logs and writes files."""
        return self.rank == 0


def current() -> Context:
    """The context of the initialised process group, or the single-process one."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return Context()


def backend_for(device: torch.device) -> str:
    """nccl between GPUs, gloo on CPU (the only one that works everywhere)."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def process_group(device_name: str = "auto") -> Iterator[Context]:
    """Join the process group that torchrun (or :func:`spawn`) describes in the environment, when
    ``WORLD_SIZE`` > 1; leave it at the end. Without those variables: the single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():  # one process, or a caller already joined
        yield current()
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    # evaluation on rank 0 can take a while; the others wait in their next collective
    dist.init_process_group(backend_for(torch.device("cuda" if use_cuda else "cpu")),
                            timeout=datetime.timedelta(hours=2))
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def rank_device(device: torch.device, ctx: Context) -> torch.device:
    """One GPU per rank: a plain ``cuda`` becomes ``cuda:LOCAL_RANK``."""
    if ctx.active and device.type == "cuda" and device.index is None:
        return torch.device("cuda", ctx.local_rank)
    return device


class Replica(DistributedDataParallel):
    """DDP for a GAN's networks, which are called in ways plain DDP does not expect.

    A discriminator is also run *frozen* (``requires_grad`` off) to pass gradients to the
    generator, and a network may run under ``no_grad``: those calls go straight to the module, so
    DDP never waits for gradients that cannot come (no ``find_unused_parameters`` graph walk
    needed). Calls with trainable parameters go through DDP; several such calls before one
    backward (CycleGAN's generators run two or three times a step) are fine, because each
    parameter's gradient is accumulated before DDP's hook fires once per backward.
    """

    def forward(self, *args, **kwargs):
        if not torch.is_grad_enabled() or not any(p.requires_grad for p in self.module.parameters()):
            return self.module(*args, **kwargs)
        return super().forward(*args, **kwargs)


def wrap(module: nn.Module, ctx: Context, device: torch.device) -> nn.Module:
    """``module`` in a :class:`Replica` when distributed (and it has anything to train)."""
    if not ctx.active or not any(p.requires_grad for p in module.parameters()):
        return module
    ids = [device.index] if device.type == "cuda" else None
    return Replica(module, device_ids=ids)  # buffers (BN statistics) follow rank 0 at every forward


def callable_net(module: nn.Module) -> bool:
    """Whether a net is called as a whole (a ModuleDict of adapters is indexed instead, so DDP's
    forward never runs for it and its gradients are averaged by :func:`average_gradients`)."""
    return type(module).forward is not nn.Module.forward and not isinstance(module, (nn.ModuleDict, nn.ModuleList))


def average_gradients(params: list[nn.Parameter], ctx: Context) -> None:
    """All-reduce the gradients of parameters that DDP does not cover (mean over ranks)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not ctx.active or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_losses(losses: dict[str, torch.Tensor], stop: bool, ctx: Context) -> tuple[dict[str, torch.Tensor], bool]:
    """Losses averaged over ranks, and whether any rank was asked to stop: one small all-reduce a
    step keeps every rank's logs and checkpoints identical and makes all ranks stop together."""
    if not ctx.active:
        return losses, stop
    names = list(losses)
    flat = torch.stack([losses[k].detach().float() for k in names] + [torch.tensor(float(stop), device=losses[names[0]].device)])
    dist.all_reduce(flat)
    return {k: flat[i] / ctx.world for i, k in enumerate(names)}, bool(flat[-1].item() > 0)


def gather(obj, ctx: Context) -> list:
    """Every rank's ``obj`` (on every rank; used for the per-rank parts of a checkpoint)."""
    if not ctx.active:
        return [obj]
    out: list = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj, ctx: Context):
    """Rank 0's ``obj`` on every rank (e.g. the run folder rank 0 chose)."""
    if not ctx.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: Context) -> None:
    if ctx.active:
        dist.barrier()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned(rank: int, fn: Callable, world: int, port: int, args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world))
    fn(rank, *args)


def spawn(fn: Callable, world: int, *args) -> None:
    """Run ``fn(rank, *args)`` in ``world`` local processes set up as torchrun would (for tests and
    benchmarks; ``fn`` joins the group with :func:`process_group`)."""
    import torch.multiprocessing as mp

    mp.spawn(_spawned, args=(fn, world, free_port(), args), nprocs=world, join=True)
