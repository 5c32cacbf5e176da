"""Data-parallel training on CPU: 2 gloo processes on toy data, a tiny CycleGAN."""
import json
import time
from pathlib import Path

import pytest
import torch

from pocketgan.data.synthetic import make_synthetic_dataset
from pocketgan.data.unpaired import DistributedEpochSampler
from pocketgan.training import distributed
from pocketgan.training.checkpoint import load_checkpoint
from pocketgan.training.config import config_for
from pocketgan.training.loop import Trainer
from pocketgan.training.run import CHECKPOINT, resume

EPOCHS = 12  # 8 images / (batch 2 x 2 ranks) = 2 steps per epoch: 24 steps


def test_distributed_sampler_splits_every_epoch_between_ranks():
    for length, batch, world in [(8, 2, 2), (7, 2, 2), (5, 1, 3)]:
        steps = DistributedEpochSampler.steps_per_epoch(length, batch, world)
        per_rank = [list(DistributedEpochSampler(length, 3, 0, batch, r, world)) for r in range(world)]
        assert all(len(keys) == steps * batch for keys in per_rank)  # every rank runs every step
        seen = [k for keys in per_rank for k in keys]
        assert {k for k in seen} == {(3, p) for p in range(length)}  # the whole epoch is covered
        if length % (batch * world) == 0:
            assert len(seen) == length  # and nothing twice when it divides evenly
        resumed = list(DistributedEpochSampler(length, 3, 1, batch, 1, world))
        assert resumed == per_rank[1][batch:]  # starting at step 1 = the same keys, minus step 0's


def _worker(rank: int, configs: dict, root: str, phase: str) -> None:
    """One rank: phase "first" trains straight through and, separately, stops at step 5;
    phase "resume" continues the stopped run (in fresh processes)."""
    torch.set_num_threads(1)
    root_path = Path(root)
    with distributed.process_group("cpu"):
        if phase == "first":
            cfg = configs["straight"]
            trainer = Trainer(cfg, root_path / "straight" / "t")
            trainer.fit()
            weights = {f"{name}.{k}": v for name, net in trainer.task.nets.items() for k, v in net.state_dict().items()}
            torch.save(weights, root_path / f"weights_rank{rank}.pt")
            cfg = configs["stopped"]
            Trainer(cfg, root_path / "stopped" / "t").fit()
        else:
            resume(root_path / "stopped" / "t", {"max_steps": 0})


@pytest.fixture(scope="module")
def two_rank_runs(toy_data, tmp_path_factory, tiny_config) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    configs = {"straight": tiny_config(toy_data, root / "straight", n_epochs=EPOCHS, n_epochs_decay=0, log_every=4,
                                       sample_every=0),
               "stopped": tiny_config(toy_data, root / "stopped", n_epochs=EPOCHS, n_epochs_decay=0, log_every=4,
                                      sample_every=0, max_steps=5)}  # built here: the spawned ranks see no fixtures
    t0 = time.perf_counter()
    distributed.spawn(_worker, 2, configs, str(root), "first")
    distributed.spawn(_worker, 2, configs, str(root), "resume")
    print(f"2-rank runs: {time.perf_counter() - t0:.1f} s")
    return root


@pytest.mark.slow
def test_replicas_stay_identical_and_learn(two_rank_runs):
    w0 = torch.load(two_rank_runs / "weights_rank0.pt")
    w1 = torch.load(two_rank_runs / "weights_rank1.pt")
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    run = two_rank_runs / "straight" / "t"
    _, meta = load_checkpoint(run / CHECKPOINT)
    assert meta["step"] == EPOCHS * 2 and meta["world_size"] == 2 and "1" in meta["ranks"]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first, last = lines[0], lines[-1]
    assert last["cycle_A"] < first["cycle_A"] and last["cycle_B"] < first["cycle_B"]


@pytest.mark.slow
def test_two_rank_resume_is_exact(two_rank_runs):
    a, _ = load_checkpoint(two_rank_runs / "straight" / "t" / CHECKPOINT)
    b, meta = load_checkpoint(two_rank_runs / "stopped" / "t" / CHECKPOINT)
    assert meta["step"] == EPOCHS * 2
    assert a.keys() == b.keys()
    assert any(k.startswith("rank1.pool.") for k in a)  # rank 1's own image pools are in the checkpoint
    for k in a:
        assert torch.equal(a[k], b[k]), k  # weights, Adam moments, every rank's pools and RNG
    def strip(run):
        return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"}
                for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert strip(two_rank_runs / "straight" / "t") == strip(two_rank_runs / "stopped" / "t")


def _other_tasks_worker(rank: int, configs: dict, root: str) -> None:
    """pix2pix (batch norm, dropout, D trained before G) and distillation (adapters that DDP cannot
    wrap; their gradients are averaged by hand) for a few steps; each rank saves its parameters."""
    torch.set_num_threads(1)
    root_path = Path(root)
    with distributed.process_group("cpu"):
        for model, cfg in configs.items():
            trainer = Trainer(cfg, root_path / cfg.name)
            trainer.fit()
            params = {f"{name}.{k}": p.detach() for name, net in trainer.task.nets.items()
                      for k, p in net.named_parameters()}
            torch.save(params, root_path / f"{model}_rank{rank}.pt")


@pytest.mark.slow
def test_pix2pix_distill_and_cut_replicas_stay_identical(two_rank_runs, tmp_path, tiny_config):
    paired = make_synthetic_dataset(tmp_path / "paired", size=32, n_train=8, n_test=2, paired=True)
    teacher, root = str(two_rank_runs / "straight" / "t"), str(tmp_path)
    common = dict(runs_dir=root, load_size=36, crop_size=32, batch_size=2, n_epochs=1, n_epochs_decay=1,
                  log_every=2, sample_every=0, checkpoint_every=0, progress=False, workers=0, max_steps=3)
    configs = {"pix2pix": config_for("pix2pix", data=str(paired), name="p", netG="resnet_6blocks", ngf=4, ndf=4, **common),
               "distill": tiny_config(paired, tmp_path, **{**common, "name": "d", "model": "distill",
                                                          "teacher": teacher, "netG": "mobile_resnet_6blocks"}),
               # CUT: G called for features only (its head unused) besides the full forward, and MLP heads
               "cut": config_for("cut", data=str(paired.parent / "toy"), name="c", netG="resnet_6blocks", ngf=4, ndf=4,
                                 num_patches=16, netF_nc=8, nce_layers="0,4,8,12", **common)}
    make_synthetic_dataset(paired.parent / "toy", size=32, n_train=8, n_test=2)
    distributed.spawn(_other_tasks_worker, 2, configs, root)
    for model in ("pix2pix", "distill", "cut"):
        w0, w1 = (torch.load(tmp_path / f"{model}_rank{r}.pt") for r in (0, 1))
        assert w0.keys() == w1.keys()
        if model == "distill":
            assert any(k.startswith("adapters.") for k in w0)
        if model == "cut":
            assert any(k.startswith("F.mlp_") for k in w0)
        for k in w0:
            assert torch.equal(w0[k], w1[k]), (model, k)
