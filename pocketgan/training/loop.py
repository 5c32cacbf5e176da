"""The training loop, top to bottom: data -> the objective (its nets, optimizers, pools) ->
schedules -> (resume) -> epochs of steps; around them the events callbacks subscribe to (logging,
samples, evaluation: callbacks.py) and the checkpoints.

What the objective is (CycleGAN, pix2pix, distill, ...) comes from its registry entry
(objectives.py); its maths from its class (objective.py declares the interface). The run folder's
layout and the entry points are in run.py; how the state of each component is checkpointed in
state.py (this module only lists the components, in ``state_components``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
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

from ..data.images import ImageError
from ..data.paired import PairedImages, has_pairs, load_pair, scan_matched, scan_pairs
from ..data.single import SingleFolderImages
from ..data.transforms import Preprocess
from ..data.unpaired import DistributedEpochSampler, EpochSampler, UnpairedImages
from ..devices import resolve_device
from ..errors import first_line
from ..fileio import atomic_write_json, write_advice
from ..models.pretrained import ModelFolderError, save_pretrained
from . import augment, distributed, state, warm_start
from .callbacks import Callback, CallbackList, default_callbacks
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint, validate_checkpoint_meta
from .config import TrainConfig
from .ema import GeneratorEMA
from .fast_path import optimizer_factory, prepare_task, resolve_fast_path, run_step, step_nets
from .objective import generator_names
from .objectives import get_objective
from .run import RunFolder, TrainingError
from .samples import fixed_examples, save_grid
from .schedule import linear_decay
from .tracking import trackers


def data_folders(cfg: TrainConfig) -> tuple[Path, Path, Path, Path]:
    """(trainA, trainB, sample A folder, sample B folder): samples come from testA/testB if present."""
    if cfg.data is not None:
        root = Path(cfg.data)
        if not root.is_dir():
            raise TrainingError(f"{root}: dataset root does not exist" if not root.exists() else f"{root}: not a folder")
        a, b = root / "trainA", root / "trainB"
        test_a, test_b = root / "testA", root / "testB"
        return a, b, (test_a if test_a.is_dir() else a), (test_b if test_b.is_dir() else b)
    return Path(cfg.a), Path(cfg.b), Path(cfg.a), Path(cfg.b)


def single_folder(cfg: TrainConfig) -> tuple[Path, Path]:
    """(training folder, sample folder) of one-folder objectives: ROOT/train and ROOT/test (ROOT/train
    if there is no test/), or --a for both."""
    if cfg.data is None:
        return Path(cfg.a), Path(cfg.a)
    root = Path(cfg.data)
    if not root.is_dir():
        raise TrainingError(f"{root}: dataset root does not exist" if not root.exists() else f"{root}: not a folder")
    if not (root / "train").is_dir():
        raise TrainingError(f"{root}: no train/ folder ({cfg.model} trains on ROOT/train/, one folder of images; "
                            "or give the folder itself as --a DIR)")
    return root / "train", (root / "test" if (root / "test").is_dir() else root / "train")


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
    """One run of one objective. ``Trainer(cfg, run_dir).fit()``; ``resume=True`` restores the
    run folder's checkpoint first. ``callbacks`` are added after the built-in ones (the main
    process's metrics file, progress bar, samples and evaluation)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: bool = False,
                 callbacks: list[Callback] | None = None) -> None:
        cfg.validate()
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.folder = RunFolder(self.run_dir)
        self.spec = get_objective(cfg.model)
        self.dist = distributed.current()
        self.device = distributed.rank_device(resolve_device(cfg.device), self.dist)
        self.fast = resolve_fast_path(cfg, self.device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)

        # data: two unpaired folders, aligned pairs (pix2pix) or one folder (colorization), as the objective needs
        self.preprocess = Preprocess(cfg.preprocess, cfg.load_size, cfg.crop_size, cfg.flip)
        if self.spec.paired:
            self.data, self.sample_pairs = paired_data(cfg, self.preprocess)
        elif self.spec.single_folder:  # one folder (colorization): samples and evaluation show it as A and B
            train_dir, self.sample_a_dir = single_folder(cfg)
            self.sample_b_dir, self.sample_pairs = self.sample_a_dir, None
            self.data = SingleFolderImages(train_dir, self.preprocess, seed=cfg.seed, max_pixels=cfg.max_pixels)
        else:
            dir_a, dir_b, self.sample_a_dir, self.sample_b_dir = data_folders(cfg)
            self.data = UnpairedImages(dir_a, dir_b, self.preprocess, seed=cfg.seed, max_pixels=cfg.max_pixels)
            self.sample_pairs = None
        self.steps_per_epoch = DistributedEpochSampler.steps_per_epoch(len(self.data), cfg.batch_size, self.dist.world) \
            if self.dist.active else math.ceil(len(self.data) / cfg.batch_size)

        # the objective (nets, optimizers, pools), then schedules
        torch.manual_seed(cfg.seed)
        try:
            self.task = self.spec.load()(cfg, self.device, optimizer_factory(cfg, self.fast))
        except ModelFolderError as e:  # e.g. a --teacher that is not a model folder
            raise TrainingError(str(e)) from None
        if cfg.init_from and not resume:  # a new run from trained weights (a resumed one has its checkpoint)
            line = warm_start.initialise(self.task, cfg.init_from)
            if self.dist.main:
                tqdm.write(line, file=sys.stderr)
        if cfg.grad_checkpoint:
            self._enable_grad_checkpointing()
        # DiffAugment: every input of the objective's discriminators, whatever the objective
        self._augment_hooks = augment.attach(self.task.nets, self.spec.discriminators, augment.parse_policy(cfg.diffaugment))
        self.precision = prepare_task(self.task, self.fast, self.device)  # channels-last, loss scaling
        # --ema-decay: averaged generators, which the model folder, samples and evaluation then use
        self.ema = GeneratorEMA.of_generators(self.task, cfg.ema_decay) if cfg.ema_decay else None
        if self.dist.active:  # replicas start alike; pools and dropout draw differently per rank
            for name, pool in self.task.pools.items():
                pool.rng.seed(f"{cfg.seed}/{name}/rank{self.dist.rank}")
            torch.manual_seed(self._rank_seed())
        self.schedulers = {k: linear_decay(o, cfg.n_epochs, cfg.n_epochs_decay) for k, o in self.task.optimizers.items()}
        self.progress = state.Progress()
        self.window = state.LossWindow.of(self.spec.loss_names, self.device)
        self.total_steps = cfg.total_epochs * self.steps_per_epoch
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.callbacks = CallbackList((default_callbacks() + trackers(cfg) if self.dist.main else []) + list(callbacks or []))
        self._evaluator = None
        self._examples = None
        self.last_sample_step = -1
        self._saved_step: int | None = None  # the step of the last checkpoint on disk
        if resume:
            self.load(self.folder.checkpoint)
            self._saved_step = self.progress.step
            if self.dist.main:  # what a killed run left: temp files, and logs of steps about to be redone
                self.folder.remove_partial_writes()
                self.folder.truncate_logs(self.progress.step)
        else:
            random.seed(self._rank_seed())
            np.random.seed(self._rank_seed() % 2**32)
        self._grad_hooks = self._average_uncovered_gradients()  # handles of the optimizer pre-step hooks
        self.step_nets = self._step_nets(self.fast.compile)
        self._loader: DataLoader | None = None
        self._compiled_ok = False  # the first compiled step went through
        self._window_start = time.perf_counter()
        self.interrupted = False  # a stop was requested (on any rank)
        self.last_record: dict = {}  # the latest metrics record

    # --- set-up helpers -------------------------------------------------------------------------
    def _enable_grad_checkpointing(self) -> None:
        for net in self.task.generators.values():
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

    def _step_nets(self, compiled: bool) -> dict[str, torch.nn.Module]:
        """The nets ``train_step`` runs, wrapped once: compiled and/or in DDP (fast_path.step_nets)."""
        return step_nets(self.task, compiled, lambda m: distributed.wrap(m, self.dist, self.device))

    def _average_uncovered_gradients(self) -> list:
        """Nets DDP cannot wrap (a ModuleDict indexed by the objective) get their gradients averaged
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

    # --- checkpoints (how each component's state is stored: state.py) --------------------------
    def state_components(self) -> dict[str, state.Stateful]:
        """Every stateful part of the run by its checkpoint name: the one list a new component joins.
        (The progress counters are the checkpoint's header; what differs per rank is in
        :meth:`rank_components`.)"""
        parts: dict[str, state.Stateful] = {f"net.{k}": state.ModuleState(net) for k, net in self.task.nets.items()}
        if self.ema is not None:
            parts["ema"] = self.ema
        parts.update({f"optim.{k}": state.OptimizerState(o, self.fast.adam) for k, o in self.task.optimizers.items()})
        parts.update({f"sched.{k}": state.SchedulerState(s) for k, s in self.schedulers.items()})
        parts.update({"log": self.window, "loss_scale": self.precision})
        return parts

    def rank_components(self) -> dict[str, state.Stateful]:
        """What differs between DDP ranks: image pools and RNG states."""
        return {**{f"pool.{k}": pool for k, pool in self.task.pools.items()},
                "rng": state.RNGState(self.device, self.dist)}

    def capture(self) -> tuple[dict[str, torch.Tensor], dict]:
        header = {"config": self.cfg.to_dict(), **self.progress.state_dict(), "steps_per_epoch": self.steps_per_epoch}
        return state.capture(self.state_components(), self.rank_components(), header, self.dist)

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict, source: str) -> None:
        try:
            state.restore(self.state_components(), self.rank_components(), tensors, meta, self.dist, source)
        except state.StateError as e:
            raise TrainingError(str(e)) from None
        self.progress.load_state_dict(meta)

    @contextlib.contextmanager
    def writing(self, what: str):
        """A failed write (full disk, lost permissions) is one line that says what is safe: every
        write is atomic, so the last checkpoint on disk is intact and the run resumes from it."""
        try:
            yield
        except OSError as e:
            last = (f"the last checkpoint (step {self._saved_step}) is intact" if self._saved_step is not None
                    else "no checkpoint was written yet")
            resume = f"`pocketgan train --resume {self.run_dir}`"
            advice = write_advice(e, then=resume, elsewhere=f"fix the folder's permissions, then {resume}")
            raise TrainingError(f"{self.run_dir}: could not write {what} ({e.strerror or e}); {last}"
                                f"{advice or f'; fix the cause, then {resume}'}") from None

    def save(self) -> None:
        """Checkpoint (all ranks take part; rank 0 writes) and refresh the model folder."""
        tensors, meta = self.capture()
        if not self.dist.main:
            distributed.barrier(self.dist)
            return
        p = self.progress
        with self.writing("the checkpoint"):
            save_checkpoint(self.folder.checkpoint, tensors, meta)
            self._saved_step = p.step
            self._save_model(self.run_dir, {"steps": p.step, "epochs_completed": p.epoch,
                                            "iter_in_epoch": p.iter_in_epoch, "train_seconds": round(p.train_seconds, 1),
                                            "data": self.cfg.data or [d for d in (self.cfg.a, self.cfg.b) if d]})
        distributed.barrier(self.dist)
        self.callbacks.emit("on_checkpoint", self)

    def shown_nets(self) -> dict[str, torch.nn.Module]:
        """The nets a run shows and saves: the objective's plain modules, with the moving averages in
        place of the generators under --ema-decay."""
        return self.ema.shown(self.task.nets) if self.ema is not None else dict(self.task.nets)

    def shown_generators(self) -> dict[str, torch.nn.Module]:
        """Model folder slot -> the generator a run saves and evaluates (see :meth:`shown_nets`)."""
        nets = self.shown_nets()
        return {slot: nets[name] for slot, name in generator_names(self.task).items()}

    def _save_model(self, folder: Path, training: dict) -> None:
        if self.ema is not None:
            training = {**training, "ema_decay": self.ema.decay}
        save_pretrained(folder, self.shown_generators(), **self.task.model_info(),
                        preprocess={"crop_size": self.cfg.crop_size}, training=training)

    def load(self, path: Path) -> None:
        try:
            tensors, meta = load_checkpoint(path)
            validate_checkpoint_meta(meta, path, resume=True)
        except CheckpointError as e:
            raise TrainingError(str(e)) from None
        self.restore(tensors, meta, str(path))
        if meta.get("world_size", 1) != self.dist.world:  # stacklevel=3: the Trainer(...) that resumes (via __init__)
            warnings.warn(f"the checkpoint was written by {meta.get('world_size', 1)} processes, this run has "
                          f"{self.dist.world}; the resumed run is not an exact continuation", stacklevel=3)
        if meta["steps_per_epoch"] != self.steps_per_epoch:
            warnings.warn(f"the dataset changed since the checkpoint ({meta['steps_per_epoch']} -> "
                          f"{self.steps_per_epoch} steps per epoch); the resumed run is not an exact continuation",
                          stacklevel=3)

    # --- one step -------------------------------------------------------------------------------
    def loader(self) -> DataLoader:
        """The batches of the current epoch from the current step on. One DataLoader serves every
        epoch (its sampler is moved on), so worker processes persist instead of restarting per epoch;
        the order is a function of (seed, epoch, position) alone, so that changes no result."""
        cfg, p = self.cfg, self.progress
        if self._loader is None:
            workers = cfg.workers if cfg.workers >= 0 else (4 if self.device.type == "cuda" else 0)
            sampler = DistributedEpochSampler(len(self.data), p.epoch, 0, cfg.batch_size, self.dist.rank,
                                              self.dist.world) if self.dist.active else EpochSampler(len(self.data), p.epoch)
            # own generator: creating an iterator must not consume the global RNG (exact resume)
            generator = torch.Generator().manual_seed(cfg.seed * 100_003)
            self._loader = DataLoader(self.data, batch_size=cfg.batch_size, sampler=sampler, num_workers=workers,
                                      pin_memory=self.device.type == "cuda", generator=generator,
                                      persistent_workers=workers > 0)
        start = p.iter_in_epoch if self.dist.active else p.iter_in_epoch * cfg.batch_size
        self._loader.sampler.set_epoch(p.epoch, start)
        return self._loader

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One step of the objective on the fast path (its nets compiled / in DDP, channels-last
        batches, autocast), then the moving average. The first compiled step compiles; if that
        fails the step is undone and redone eagerly, with a one-line warning."""
        if not self.fast.compile or self._compiled_ok:
            losses = run_step(self.task, self.fast, self.step_nets, batch)
        else:
            losses = self._first_compiled_step(batch)
        if self.ema is not None:
            self.ema.update(self.task.nets)
        return losses

    def _first_compiled_step(self, batch: dict) -> dict[str, torch.Tensor]:
        tensors, meta = self.capture()
        snapshot = ({k: v.clone() for k, v in tensors.items()}, meta)
        t0 = time.perf_counter()
        try:
            losses = run_step(self.task, self.fast, self.step_nets, batch)
        except Exception as e:  # noqa: BLE001 - any compiler failure: train eagerly instead
            tqdm.write(f"warning: torch.compile failed ({first_line(e)}); training without it", file=sys.stderr)
            self.restore(*snapshot, "the state before the first step")
            self.fast = dataclasses.replace(self.fast, compile=False)
            self.step_nets = self._step_nets(False)
            return run_step(self.task, self.fast, self.step_nets, batch)
        self._compiled_ok = True
        if self.dist.main:
            tqdm.write(f"torch.compile: first step took {time.perf_counter() - t0:.1f} s (compiling)", file=sys.stderr)
        return losses

    def log_due(self) -> bool:
        return self.progress.step % self.cfg.log_every == 0 or self.progress.iter_in_epoch == self.steps_per_epoch

    def log_record(self) -> dict:
        """The metrics record of the window since the last one (mean losses, LR, images/s); starts the next."""
        p, elapsed = self.progress, time.perf_counter() - self._window_start
        first_optimizer = next(iter(self.task.optimizers.values()))  # its LR is the one logged
        record = {"step": p.step, "epoch": p.epoch + 1, "iter": p.iter_in_epoch, "lr": first_optimizer.param_groups[0]["lr"],
                  "images_per_s": round(self.window.steps * self.cfg.batch_size / max(elapsed, 1e-9), 3),
                  **self.window.means()}
        self.window.reset()
        self._window_start = time.perf_counter()
        return record

    def end_epoch(self) -> None:
        p = self.progress
        p.epoch += 1
        p.iter_in_epoch = 0
        for s in self.schedulers.values():
            s.step()
        self.callbacks.emit("on_epoch_end", self)

    # --- what a run shows -----------------------------------------------------------------------
    def write_samples(self) -> Path:
        if self._examples is None:
            ev = self.preprocess.eval_mode()
            if self.sample_pairs is not None:
                self._examples = self.sample_pairs.examples(4, ev)
            else:
                self._examples = (fixed_examples(self.sample_a_dir, ev, 4, self.cfg.max_pixels),
                                  fixed_examples(self.sample_b_dir, ev, 4, self.cfg.max_pixels))
        path = self.folder.samples / f"step_{self.progress.step:08d}.png"
        with self.writing("a sample grid"):
            save_grid(self.task.visuals(*self._examples, self.shown_nets()), list(self.spec.visual_names), path)
        self.last_sample_step = self.progress.step
        return path

    def evaluate(self) -> dict:
        """FID/KID of the directions the objective writes, on the fixed test subset; keeps best/
        by mean KID."""
        from ..evaluation.periodic import SubsetEvaluator

        cfg, p = self.cfg, self.progress
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
        result = self._evaluator(self.shown_generators())
        record = {"step": p.step, "epoch": p.epoch, "convention": cfg.eval_convention,
                  "images": self._evaluator.n, **result}
        with self.writing("eval.jsonl"), open(self.folder.evals, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if p.best_kid is None or result["mean_kid_x1000"] < p.best_kid:
            p.best_kid = result["mean_kid_x1000"]
            with self.writing("best/"):
                self._save_model(self.folder.best, {
                    "steps": p.step, "epochs_completed": p.epoch,
                    "selected_by": f"lowest mean KID over the directions on a fixed subset of the TEST images "
                                   f"({self._evaluator.n} per domain, {cfg.eval_convention} convention): optimistic, "
                                   "not a held-out figure",
                    "eval": result})
        parts = [f"{d.label} KID x1000 {result[d.name]['kid_x1000']:.2f}, FID {result[d.name]['fid']:.1f}, "
                 f"change {result[d.name]['change']['mean_abs']:.1f}/255"
                 for d in self.spec.directions(cfg.direction) if d.name in result]
        tqdm.write(f"eval epoch {p.epoch}: " + "; ".join(parts), file=sys.stderr)
        self.callbacks.emit("on_evaluate", self, record)
        return record

    # --- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train until the schedule (or ``max_steps``) is done or a stop is requested.
        Returns a summary: steps, epochs, seconds, whether it finished, the last logged losses."""
        p, stop, summary = self.progress, StopRequest(), None
        self._start()                                  # run folder and config; on_train_start
        try:
            with stop.installed():
                while not self.done:
                    for batch in self.loader():
                        self.step(batch, stop)         # train_step, counters, losses; on_log, on_step_end
                        if self.done:
                            break
                        if self.checkpoint_due():
                            self.save()
                    if p.iter_in_epoch >= self.steps_per_epoch:
                        self.end_epoch()               # LR schedules; on_epoch_end (samples, evaluation)
                    self.save()                        # checkpoint and model folder; on_checkpoint
            summary = self.summary(stop)
        finally:
            self._loader = None                        # ends persistent workers
            self.callbacks.emit("on_train_end", self, summary)  # None: the run failed
        return summary

    @property
    def done(self) -> bool:
        p = self.progress
        return self.interrupted or p.step >= self.total_steps or p.epoch >= self.cfg.total_epochs

    def step(self, batch: dict, stop: StopRequest) -> None:
        """One training step and its bookkeeping: under DDP the losses are averaged over ranks and
        a stop request reaches every rank at the same step."""
        p, t0 = self.progress, time.perf_counter()
        losses = self.train_step(batch)
        losses, self.interrupted = distributed.mean_losses(losses, stop.requested, self.dist)
        p.train_seconds += time.perf_counter() - t0
        p.step += 1
        p.iter_in_epoch += 1
        self.window.add(losses)
        if self.log_due():
            self.last_record = self.log_record()
            self.callbacks.emit("on_log", self, self.last_record)
        self.callbacks.emit("on_step_end", self, losses)

    def checkpoint_due(self) -> bool:
        """Every --checkpoint-every steps, but not at an epoch's last step (the epoch's end saves)."""
        every, p = self.cfg.checkpoint_every, self.progress
        return bool(every) and p.step % every == 0 and p.iter_in_epoch < self.steps_per_epoch

    def summary(self, stop: StopRequest) -> dict:
        p = self.progress
        return {"run_dir": str(self.run_dir), "steps": p.step, "epochs_completed": p.epoch,
                "finished": p.epoch >= self.cfg.total_epochs, "interrupted": self.interrupted or stop.requested,
                "train_seconds": p.train_seconds,
                "losses": {k: v for k, v in self.last_record.items() if k in self.window.sums}}

    def _start(self) -> None:
        """The run folder and its config (main process), then on_train_start."""
        if self.dist.main:
            with self.writing("the run folder"):
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self.folder.remove_partial_writes()
                atomic_write_json(self.folder.config, self.cfg.to_dict())
            for line in self.data.warnings():
                tqdm.write(f"warning: {line}", file=sys.stderr)
        self._window_start = time.perf_counter()
        self.callbacks.emit("on_train_start", self)
