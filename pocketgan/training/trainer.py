"""The training loop, top to bottom: data -> networks -> optimisers -> (resume) -> epochs of
steps with logging, samples and checkpoints. Everything a run produces lives in runs/NAME/:

    train_config.json   the full config of the run
    metrics.jsonl       one JSON line of mean losses every ``log_every`` steps
    samples/            sample grids (real_A | fake_B | rec_A | real_B | fake_A | rec_B)
    checkpoints/last.safetensors   full training state (atomic), for --resume
    config.json, G_A.safetensors, G_B.safetensors   the latest generators as a model folder
    eval.jsonl, best/   with --eval-every: FID/KID per evaluation, and the best generators by KID

Under torchrun (WORLD_SIZE > 1) each process trains a DDP replica on its slice of every epoch and
rank 0 alone writes the run folder (see distributed.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .. import __version__
from ..data.transforms import Preprocess
from ..data.images import ImageError
from ..data.paired import PairedImages, has_pairs, load_pair, scan_matched, scan_pairs
from ..data.unpaired import DistributedEpochSampler, EpochSampler, UnpairedImages
from ..fileio import atomic_write_json
from ..models.pretrained import ModelFolderError, load_weights, save_pretrained
from .checkpoint import (CheckpointError, load_checkpoint, optimizer_join, optimizer_split,
                         save_checkpoint, subset)
from . import distributed
from .config import TrainConfig
from .cyclegan import CycleGAN
from .distill import Distillation
from .pix2pix import Pix2Pix
from .fast_path import prepare_task, resolve_fast_path, run_step, set_adam_impl, training_nets
from .samples import fixed_examples, save_grid
from .schedule import linear_decay, load_scheduler_state, scheduler_state

CHECKPOINT = Path("checkpoints") / "last.safetensors"
TASKS = {"cyclegan": CycleGAN, "pix2pix": Pix2Pix, "distill": Distillation}  # cfg.model -> the objective the loop drives


class TrainingError(ValueError):
    """A problem with the run setup, reported in one line."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def data_folders(cfg: TrainConfig) -> tuple[Path, Path, Path | None, Path | None]:
    """(trainA, trainB, sample A folder, sample B folder): samples come from testA/testB if present."""
    if cfg.data is not None:
        root = Path(cfg.data)
        if not root.is_dir():
            raise TrainingError(f"{root}: dataset root does not exist" if not root.exists() else f"{root}: not a folder")
        a, b = root / "trainA", root / "trainB"
        test_a, test_b = root / "testA", root / "testB"
        return a, b, (test_a if test_a.is_dir() else a), (test_b if test_b.is_dir() else b)
    return Path(cfg.a), Path(cfg.b), Path(cfg.a), Path(cfg.b)


def paired_data(cfg: TrainConfig, preprocess: Preprocess) -> tuple[PairedImages, PairedImages]:
    """(training pairs, pairs for samples/evaluation: test/ or val/ if present, else the training pairs)."""
    if cfg.data is None:
        train_scan, held_out = scan_matched(cfg.a, cfg.b, cfg.max_pixels), None
    else:
        train_scan = scan_pairs(cfg.data, "train", cfg.max_pixels)
        held_out = next((s for s in ("test", "val") if has_pairs(cfg.data, s)), None)
    train_set = PairedImages(train_scan, preprocess, cfg.seed, cfg.max_pixels)
    sample_set = PairedImages(scan_pairs(cfg.data, held_out, cfg.max_pixels), preprocess, cfg.seed, cfg.max_pixels) \
        if held_out else train_set
    return train_set, sample_set


def new_run_dir(cfg: TrainConfig, base: str | None = None) -> Path:
    """runs/NAME for ``--name``; otherwise runs/<base or dataset name>, with _2, _3... if taken."""
    runs = Path(cfg.runs_dir)
    if cfg.name:
        run = runs / cfg.name
        if run.exists() and any(run.iterdir()):
            raise TrainingError(f"{run}: run folder already exists; continue it with --resume {run} or pick another --name")
        return run
    base = base or (Path(cfg.data).resolve().name if cfg.data else f"{Path(cfg.a).resolve().name}2{Path(cfg.b).resolve().name}")
    run, k = runs / base, 1
    while run.exists() and any(run.iterdir()):
        k += 1
        run = runs / f"{base}_{k}"
    return run


class StopRequest:
    """First Ctrl-C / SIGTERM: finish the current step, checkpoint, exit. Second: exit now."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("\nstopping after this step (checkpointing); press Ctrl-C again to abort without saving")

    @contextlib.contextmanager
    def installed(self):
        try:
            old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: no signal handling
            yield self
            return
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool = False) -> None:
        cfg.validate()
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.dist = distributed.current()
        self.device = distributed.rank_device(resolve_device(cfg.device), self.dist)
        self.fast = resolve_fast_path(cfg, self.device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)

        # data: unpaired folders, or aligned pairs for tasks that need them (pix2pix)
        self.preprocess = Preprocess(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip)
        if getattr(TASKS[cfg.model], "paired", False):
            self.data, self.sample_pairs = paired_data(cfg, self.preprocess)
        else:
            dir_a, dir_b, self.sample_a_dir, self.sample_b_dir = data_folders(cfg)
            self.data = UnpairedImages(dir_a, dir_b, self.preprocess, seed=cfg.seed, max_pixels=cfg.max_pixels)
            self.sample_pairs = None
        self.steps_per_epoch = DistributedEpochSampler.steps_per_epoch(len(self.data), cfg.batch_size, self.dist.world) \
            if self.dist.active else math.ceil(len(self.data) / cfg.batch_size)

        # model, optimisers, schedules
        torch.manual_seed(cfg.seed)
        try:
            self.task = TASKS[cfg.model](cfg, self.device)
        except ModelFolderError as e:  # e.g. a --teacher that is not a model folder
            raise TrainingError(str(e)) from None
        if cfg.grad_checkpoint:
            self._enable_grad_checkpointing()
        self.precision = prepare_task(self.task, self.fast, self.device)  # Adam impl, channels-last, loss scaling
        if self.dist.active:  # replicas start alike; pools and dropout draw differently per rank
            for name, pool in self.task.pools.items():
                pool.rng.seed(f"{cfg.seed}/{name}/rank{self.dist.rank}")
            torch.manual_seed(self._rank_seed())
        self.schedulers = {k: linear_decay(o, cfg.n_epochs, cfg.n_epochs_decay) for k, o in self.task.optimizers.items()}
        self.epoch = 0          # current epoch (0-based)
        self.iter_in_epoch = 0  # steps already done in the current epoch
        self.step = 0           # steps done in total
        self.train_seconds = 0.0
        self._last_sample_step = -1
        # running sums of the current logging window (checkpointed, so metrics.jsonl resumes exactly)
        self.loss_sums = {k: torch.zeros((), device=self.device) for k in self.task.loss_names}
        self.window = 0
        self.best_kid: float | None = None  # best mean KID x1000 of --eval-every so far
        self._evaluator = None
        if resume:
            self.load(self.run_dir / CHECKPOINT)
        else:
            random.seed(self._rank_seed())
            np.random.seed(self._rank_seed() % 2**32)
        self._grad_hooks = self._average_uncovered_gradients()  # handles of the optimizer pre-step hooks
        self.train_nets = self._training_nets(self.fast.compile)
        self._loader: DataLoader | None = None
        self._compiled_ok = False  # the first compiled step went through

    def _enable_grad_checkpointing(self) -> None:
        for name, net in self.task.generators.items():
            if not hasattr(net, "set_grad_checkpointing"):
                raise TrainingError(f"--grad-checkpoint: generator {self.cfg.netG} does not support it "
                                    "(resnet_6blocks / resnet_9blocks do)")
            try:
                net.set_grad_checkpointing(True)
            except ValueError as e:
                raise TrainingError(f"--grad-checkpoint: {e}") from None

    def _rank_seed(self) -> int:
        """The run's seed with one process; a different one per rank in a distributed run."""
        if not self.dist.active:
            return self.cfg.seed
        return int(np.random.SeedSequence([self.cfg.seed, self.dist.rank]).generate_state(1)[0])

    def _training_nets(self, compiled: bool) -> dict[str, torch.nn.Module]:
        """What ``train_step`` calls in place of each net: compiled and/or in DDP."""
        return training_nets(self.task, compiled, lambda m: distributed.wrap(m, self.dist, self.device))

    def _average_uncovered_gradients(self) -> list:
        """Nets DDP cannot wrap (a ModuleDict indexed by the task) get their gradients averaged
        just before their optimizer steps."""
        if not self.dist.active:
            return []
        params = [p for net in self.task.nets.values() if not distributed.callable_net(net) for p in net.parameters()
                  if p.requires_grad]
        handles = []
        for opt in self.task.optimizers.values():
            own = {id(p) for g in opt.param_groups for p in g["params"]}
            mine = [p for p in params if id(p) in own]
            if mine:
                handles.append(opt.register_step_pre_hook(
                    lambda o, args, kwargs, mine=mine: distributed.average_gradients(mine, self.dist)))
        return handles

    # --- checkpoints ------------------------------------------------------------------------
    def _rank_state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """What differs between ranks: image pools and RNG states."""
        tensors: dict[str, torch.Tensor] = {}
        meta: dict = {"pools": {}, "rng": {"python": _jsonable(random.getstate()), "numpy": _jsonable(np.random.get_state())}}
        for name, pool in self.task.pools.items():
            meta["pools"][name] = pool.meta()
            tensors.update({f"pool.{name}.{k}": v for k, v in pool.tensors().items()})
        tensors["rng.torch"] = torch.get_rng_state()
        if self.dist.active and self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        elif torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng.cuda.{i}"] = s
        return tensors, meta

    def _restore_rank_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        for name, pool in self.task.pools.items():
            pool.load(meta["pools"][name], subset(tensors, f"pool.{name}"))
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
        if cuda_states and torch.cuda.is_available() and not self.dist.active:
            torch.cuda.set_rng_state_all(cuda_states)
        random.setstate(_python_state(meta["rng"]["python"]))
        np.random.set_state(_numpy_state(meta["rng"]["numpy"]))

    def _state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """The full training state as (tensors, JSON meta). Distributed: every rank's pools and RNG
        states are included (rank r > 0 under ``rank{r}.``), so each rank resumes exactly."""
        tensors: dict[str, torch.Tensor] = {}
        meta = {"pocketgan_version": __version__, "config": self.cfg.to_dict(), "epoch": self.epoch,
                "iter_in_epoch": self.iter_in_epoch, "step": self.step, "train_seconds": self.train_seconds,
                "steps_per_epoch": self.steps_per_epoch, "log_window": self.window, "best_kid": self.best_kid,
                "world_size": self.dist.world, "optimizers": {}, "schedulers": {}, "loss_scale": self.precision.state()}
        for name, net in self.task.nets.items():
            tensors.update({f"net.{name}.{k}": v for k, v in net.state_dict().items()})
        for name, opt in self.task.optimizers.items():
            t, meta["optimizers"][name] = optimizer_split(opt, f"optim.{name}")
            tensors.update(t)
        for name, s in self.schedulers.items():
            meta["schedulers"][name] = scheduler_state(s)
        tensors.update({f"log.{k}": v for k, v in self.loss_sums.items()})
        own_tensors, own_meta = self._rank_state()
        parts = distributed.gather(({k: v.cpu() for k, v in own_tensors.items()}, own_meta), self.dist)
        tensors.update(parts[0][0])
        meta.update(parts[0][1])
        if self.dist.active:
            meta["ranks"] = {str(r): m for r, (_, m) in enumerate(parts) if r}
            for r, (t, _) in enumerate(parts[1:], start=1):
                tensors.update({f"rank{r}.{k}": v for k, v in t.items()})
        return tensors, meta

    def save(self) -> None:
        """Checkpoint (all ranks take part; rank 0 writes) and refresh the model folder."""
        tensors, meta = self._state()
        if not self.dist.main:
            distributed.barrier(self.dist)
            return
        save_checkpoint(self.run_dir / CHECKPOINT, tensors, meta)
        save_pretrained(self.run_dir, self.task.generators, **self.task.model_info(),
                        preprocess={"crop_size": self.cfg.crop_size},
                        training={"steps": self.step, "epochs_completed": self.epoch,
                                  "iter_in_epoch": self.iter_in_epoch, "train_seconds": round(self.train_seconds, 1),
                                  "data": self.cfg.data or [self.cfg.a, self.cfg.b]})
        distributed.barrier(self.dist)

    def load(self, path: Path) -> None:
        try:
            tensors, meta = load_checkpoint(path)
        except CheckpointError as e:
            raise TrainingError(str(e)) from None
        self._restore(tensors, meta, str(path))

    def _restore(self, tensors: dict[str, torch.Tensor], meta: dict, path: str) -> None:
        try:
            for name, net in self.task.nets.items():
                load_weights(net, subset(tensors, f"net.{name}"), f"{path} [{name}]")
        except ModelFolderError as e:
            raise TrainingError(str(e)) from None
        for name, opt in self.task.optimizers.items():
            opt.load_state_dict(optimizer_join(meta["optimizers"][name], tensors, f"optim.{name}"))
            set_adam_impl(opt, self.fast.adam)
        for name, s in self.schedulers.items():
            load_scheduler_state(s, meta["schedulers"][name])
        self.precision.load_state(meta.get("loss_scale", {}))
        rank = self.dist.rank
        if meta.get("world_size", 1) != self.dist.world:
            warnings.warn(f"the checkpoint was written by {meta.get('world_size', 1)} processes, this run has "
                          f"{self.dist.world}; the resumed run is not an exact continuation")
        if rank == 0:
            self._restore_rank_state(tensors, meta)
        elif str(rank) in meta.get("ranks", {}):
            self._restore_rank_state(subset(tensors, f"rank{rank}"), meta["ranks"][str(rank)])
        self.epoch, self.iter_in_epoch, self.step = meta["epoch"], meta["iter_in_epoch"], meta["step"]
        self.train_seconds = meta.get("train_seconds", 0.0)
        self.window = meta["log_window"]
        self.best_kid = meta.get("best_kid")
        for k, v in subset(tensors, "log").items():
            self.loss_sums[k].copy_(v)
        if meta["steps_per_epoch"] != self.steps_per_epoch:
            warnings.warn(f"the dataset changed since the checkpoint ({meta['steps_per_epoch']} -> "
                          f"{self.steps_per_epoch} steps per epoch); the resumed run is not an exact continuation")

    # --- the loop ---------------------------------------------------------------------------
    def loader(self) -> DataLoader:
        """The batches of the current epoch from the current step on. One DataLoader serves every
        epoch (its sampler is moved on), so worker processes persist instead of restarting per epoch;
        the order is a function of (seed, epoch, position) alone, so that changes no result."""
        if self._loader is None:
            workers = self.cfg.workers if self.cfg.workers >= 0 else (4 if self.device.type == "cuda" else 0)
            sampler = DistributedEpochSampler(len(self.data), self.epoch, 0, self.cfg.batch_size, self.dist.rank,
                                              self.dist.world) if self.dist.active else EpochSampler(len(self.data), self.epoch)
            # own generator: creating an iterator must not consume the global RNG (exact resume)
            generator = torch.Generator().manual_seed(self.cfg.seed * 100_003)
            self._loader = DataLoader(self.data, batch_size=self.cfg.batch_size, sampler=sampler, num_workers=workers,
                                      pin_memory=self.device.type == "cuda", generator=generator,
                                      persistent_workers=workers > 0)
        start = self.iter_in_epoch if self.dist.active else self.iter_in_epoch * self.cfg.batch_size
        self._loader.sampler.set_epoch(self.epoch, start)
        return self._loader

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One step of the task with the fast path on: the training nets (compiled / DDP) swapped in,
        channels-last batches, autocast. The first compiled step compiles; if that fails the step is
        undone and redone eagerly, with a one-line warning."""
        if not self.fast.compile or self._compiled_ok:
            return self._step(batch)
        snapshot = self._state()
        snapshot = ({k: v.clone() for k, v in snapshot[0].items()}, snapshot[1])
        t0 = time.perf_counter()
        try:
            losses = self._step(batch)
        except Exception as e:  # noqa: BLE001 - any compiler failure: train eagerly instead
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            tqdm.write(f"warning: torch.compile failed ({first[:200]}); training without it", file=sys.stderr)
            self._restore(*snapshot, "the state before the first step")
            self.fast = dataclasses.replace(self.fast, compile=False)
            self.train_nets = self._training_nets(False)
            return self._step(batch)
        self._compiled_ok = True
        if self.dist.main:
            tqdm.write(f"torch.compile: first step took {time.perf_counter() - t0:.1f} s (compiling)", file=sys.stderr)
        return losses

    def _step(self, batch: dict) -> dict[str, torch.Tensor]:
        return run_step(self.task, self.fast, self.train_nets, batch)

    def write_samples(self) -> Path:
        if not hasattr(self, "_examples"):
            ev = self.preprocess.eval_mode()
            if self.sample_pairs is not None:
                self._examples = self.sample_pairs.examples(4, ev)
            else:
                self._examples = (fixed_examples(self.sample_a_dir, ev, 4, self.cfg.max_pixels),
                                  fixed_examples(self.sample_b_dir, ev, 4, self.cfg.max_pixels))
        path = self.run_dir / "samples" / f"step_{self.step:08d}.png"
        save_grid(self.task.visuals(*self._examples), list(self.task.visual_names), path)
        self._last_sample_step = self.step
        return path

    def evaluate(self) -> dict:
        """FID/KID of both directions on the fixed test subset; keeps best/ by mean KID."""
        from ..evaluation.periodic import SubsetEvaluator

        cfg = self.cfg
        if self._evaluator is None:
            device = "cuda" if self.device.type == "cuda" else "cpu"
            if self.sample_pairs is not None:
                images: dict[str, list] = {"A": [], "B": []}
                for pair in self.sample_pairs.pairs[:cfg.eval_images]:
                    try:
                        a, b = load_pair(pair, cfg.max_pixels)
                    except ImageError:
                        continue
                    images["A"].append(a)
                    images["B"].append(b)
                self._evaluator = SubsetEvaluator(images, cfg.eval_convention, device)
            else:
                self._evaluator = SubsetEvaluator.from_folders(self.sample_a_dir, self.sample_b_dir, cfg.eval_images,
                                                               cfg.eval_convention, device)
        result = self._evaluator(self.task.generators)
        record = {"step": self.step, "epoch": self.epoch, "convention": cfg.eval_convention,
                  "images": self._evaluator.n, **result}
        with open(self.run_dir / "eval.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.best_kid is None or result["mean_kid_x1000"] < self.best_kid:
            self.best_kid = result["mean_kid_x1000"]
            save_pretrained(self.run_dir / "best", self.task.generators, **self.task.model_info(),
                            preprocess={"crop_size": cfg.crop_size},
                            training={"steps": self.step, "epochs_completed": self.epoch,
                                      "selected_by": f"lowest mean KID over both directions on a fixed subset of the "
                                                     f"TEST images ({self._evaluator.n} per domain, "
                                                     f"{cfg.eval_convention} convention): optimistic, not a held-out figure",
                                      "eval": result})
        parts = [f"{d[0]}->{d[-1]} KID x1000 {result[d]['kid_x1000']:.2f}, FID {result[d]['fid']:.1f}"
                 for d in ("AtoB", "BtoA") if d in result]
        tqdm.write(f"eval epoch {self.epoch}: " + "; ".join(parts), file=sys.stderr)
        return record

    def fit(self) -> dict:
        """Train until the schedule (or ``max_steps``) is done or a stop is requested.
        Returns a summary: steps, epochs, seconds, whether it finished, the last logged losses."""
        cfg, main = self.cfg, self.dist.main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run_dir / "train_config.json", cfg.to_dict())
            for line in self.data.warnings():
                tqdm.write(f"warning: {line}", file=sys.stderr)
        total_steps = cfg.total_epochs * self.steps_per_epoch
        if cfg.max_steps:
            total_steps = min(total_steps, cfg.max_steps)
        stop = StopRequest()
        sums, window = self.loss_sums, self.window
        window_start, last = time.perf_counter(), {}
        metrics = open(self.run_dir / "metrics.jsonl" if main else os.devnull, "a", encoding="utf-8")
        bar = tqdm(total=total_steps, initial=min(self.step, total_steps), disable=not (cfg.progress and main),
                   unit="it", dynamic_ncols=True, file=sys.stderr,
                   mininterval=0.1 if sys.stderr.isatty() else 30)  # logs get a line per 30 s, not per step
        stopped = interrupted = False
        with stop.installed(), metrics, bar:
            while self.epoch < cfg.total_epochs and self.step < total_steps and not stopped:
                for batch in self.loader():
                    t0 = time.perf_counter()
                    losses = self.train_step(batch)
                    # distributed: losses averaged over ranks, and all ranks stop together
                    losses, interrupted = distributed.mean_losses(losses, stop.requested, self.dist)
                    self.train_seconds += time.perf_counter() - t0
                    self.step += 1
                    self.iter_in_epoch += 1
                    for k, v in losses.items():
                        sums[k] += v
                    window = self.window = window + 1
                    bar.set_description_str(f"epoch {self.epoch + 1}/{cfg.total_epochs} iter {self.iter_in_epoch}/{self.steps_per_epoch}", refresh=False)
                    bar.update(1)
                    if self.step % cfg.log_every == 0 or self.iter_in_epoch == self.steps_per_epoch:
                        elapsed = time.perf_counter() - window_start
                        last = {k: round(float(v) / window, 5) for k, v in sums.items()}
                        record = {"step": self.step, "epoch": self.epoch + 1, "iter": self.iter_in_epoch,
                                  "lr": self.task.optimizers["G"].param_groups[0]["lr"],
                                  "images_per_s": round(window * cfg.batch_size / max(elapsed, 1e-9), 3),
                                  **last}
                        metrics.write(json.dumps(record) + "\n")
                        metrics.flush()
                        bar.set_postfix({k: f"{last[k]:.3f}" for k in self.task.progress_losses},
                                        refresh=False)
                        for v in sums.values():
                            v.zero_()
                        window = self.window = 0
                        window_start = time.perf_counter()
                    if cfg.sample_every and self.step % cfg.sample_every == 0 and main:
                        self.write_samples()
                    if interrupted or self.step >= total_steps:
                        stopped = True
                        break
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self.save()
                if self.iter_in_epoch >= self.steps_per_epoch:  # epoch complete
                    self.epoch += 1
                    self.iter_in_epoch = 0
                    for s in self.schedulers.values():
                        s.step()
                    if main:
                        self.write_samples()
                        if cfg.eval_every and self.epoch % cfg.eval_every == 0:
                            self.evaluate()
                self.save()
        self._loader = None  # ends persistent workers
        finished = self.epoch >= cfg.total_epochs
        if self._last_sample_step != self.step and main:
            self.write_samples()
        return {"run_dir": str(self.run_dir), "steps": self.step, "epochs_completed": self.epoch,
                "finished": finished, "interrupted": interrupted or stop.requested, "train_seconds": self.train_seconds,
                "losses": last}


def train(cfg: TrainConfig) -> dict:
    """Start a new run (in a new folder under ``cfg.runs_dir``) and train it."""
    cfg.validate()
    with distributed.process_group(cfg.device) as ctx:
        run, error = None, None
        if ctx.main:  # rank 0 picks the folder (a _2 suffix must not differ between ranks)
            try:
                run = new_run_dir(cfg)
            except TrainingError as e:
                error = str(e)
        run, error = distributed.broadcast((run, error), ctx)
        if error:
            raise TrainingError(error)
        return Trainer(cfg, run).fit()


def resume(run_dir: str | Path, overrides: dict | None = None) -> dict:
    """Continue ``run_dir`` from its last checkpoint. Only runtime settings (device, workers,
    max_steps, logging...) may be overridden; changing the maths would not be a continuation."""
    from .checkpoint import read_checkpoint_meta
    from .config import runtime_fields

    run_dir = Path(run_dir)
    ckpt = run_dir / CHECKPOINT
    if not run_dir.is_dir():
        raise TrainingError(f"{run_dir}: no such run folder")
    if not ckpt.is_file():
        raise TrainingError(f"{run_dir}: no checkpoint to resume from (expected {ckpt})")
    try:
        saved = read_checkpoint_meta(ckpt)["config"]
    except CheckpointError as e:
        raise TrainingError(str(e)) from None
    overrides = dict(overrides or {})
    fixed = {k: v for k, v in overrides.items() if k not in runtime_fields() and saved.get(k) != v}
    if fixed:
        changes = ", ".join(f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in fixed.items())
        raise TrainingError(f"{run_dir}: cannot change the model or objective when resuming ({changes}); start a new run instead")
    if ("a" in overrides or "b" in overrides) and "data" not in overrides:
        overrides["data"] = None
    if "data" in overrides and overrides["data"] is not None:
        overrides.update(a=None, b=None)
    cfg = TrainConfig.from_dict({**saved, **overrides})
    with distributed.process_group(cfg.device):
        return Trainer(cfg, run_dir, resume=True).fit()


def _jsonable(state):
    if isinstance(state, np.ndarray):
        return state.tolist()
    if isinstance(state, (tuple, list)):
        return [_jsonable(s) for s in state]
    return state


def _python_state(s: list) -> tuple:
    return (s[0], tuple(s[1]), s[2])


def _numpy_state(s: list) -> tuple:
    return (s[0], np.array(s[1], dtype=np.uint32), int(s[2]), int(s[3]), float(s[4]))
