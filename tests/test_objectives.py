"""The declared objective interface: a new objective is one class plus one registry entry, and the
trainer, resume, report and info work on it without edits elsewhere; the built-in objectives are
described by their entries (pix2pix's report and info, which used to assume CycleGAN)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pocketgan.cli import main
from pocketgan.data.synthetic import make_synthetic_dataset
from pocketgan.models.modes import eval_mode
from pocketgan.models.pretrained import load_generator
from pocketgan.report import build_report, health_checks
from pocketgan.summary import describe, format_summary
from pocketgan.training.config import ConfigError, TrainConfig, config_for, opt
from pocketgan.training.objective import Objective, OptimizerFactory, adam, make_generator
from pocketgan.training.objectives import OBJECTIVES, ObjectiveSpec, get_objective, register, unregister
from pocketgan.training.precision import PLAIN, Precision
from pocketgan.training.run import CHECKPOINT, resume, train


@dataclass
class ColourMomentsOptions:
    """The toy objective's own option: declared here, beside its class, and nowhere else."""

    spread_weight: float = opt(1.0, "weight of the spread term relative to the mean term", "colour moments")

    def validate(self) -> None:
        if self.spread_weight < 0:
            raise ConfigError(f"--spread-weight must be >= 0 (got {self.spread_weight})")


class ColourMoments:
    """A toy objective: G_A learns to give A images the per-channel mean and spread of B images
    (moment matching, no discriminator) — enough maths to learn something, nothing CycleGAN-like."""

    Options = ColourMomentsOptions
    precision: Precision = PLAIN

    def __init__(self, cfg: TrainConfig, device: torch.device, optimizer: OptimizerFactory | None = None) -> None:
        self.cfg, self.device = cfg, device
        self.nets: dict[str, nn.Module] = {"G": make_generator(cfg).to(device).train()}
        self.optimizers = {"G": (optimizer or adam(cfg))(self.nets["G"].parameters())}
        self.pools = {}

    @property
    def generators(self) -> dict[str, nn.Module]:
        return {"G_A": self.nets["G"]}

    def model_info(self) -> dict:
        return {"model_type": "colour_moments"}

    def train_step(self, batch: dict, nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        G = nets["G"]  # what to call this step: the plain net, or its compiled / DDP wrapper
        fake = G(batch["A"].to(self.device))
        real = batch["B"].to(self.device)
        loss = {"mean": F.l1_loss(fake.mean((0, 2, 3)), real.mean((0, 2, 3))),
                "spread": F.l1_loss(fake.std((0, 2, 3)), real.std((0, 2, 3)))}
        self.optimizers["G"].zero_grad(set_to_none=True)
        self.precision.backward(loss["mean"] + loss["spread"] * self.cfg.options.spread_weight)
        self.precision.step(self.optimizers["G"])
        return {k: v.detach() for k, v in loss.items()}

    @torch.no_grad()
    def visuals(self, real_A: torch.Tensor, real_B: torch.Tensor, nets: Mapping[str, nn.Module]) -> list[torch.Tensor]:
        G = nets["G"]
        with eval_mode(G):
            return [real_A, G(real_A.to(self.device)).cpu(), real_B]


@pytest.fixture
def colour_moments():
    spec = register(ObjectiveSpec(
        name="colour_moments", summary="toy: match B's colour statistics", load=lambda: ColourMoments,
        loss_names=("mean", "spread"), progress_losses=("mean",), health_losses=("mean",),
        loss_groups=(("colour statistics", ("mean", "spread")),), visual_names=("input", "output", "target"),
        discriminators={}, one_direction=True, option_group="colour moments", defaults={"netG": "resnet_6blocks"}))
    yield spec
    unregister(spec.name)


def _cfg(tiny_config, data, runs, **kw):
    return tiny_config(data, runs, model="colour_moments", n_epochs=2, n_epochs_decay=1, sample_every=0, lr=2e-3, **kw)


def test_builtin_objectives_satisfy_the_protocol(toy_data, tiny_config, tmp_path):
    for name in ("cyclegan", "pix2pix"):
        cfg = config_for(name, **{k: v for k, v in tiny_config(toy_data, tmp_path).to_dict().items()
                                  if k not in ("model", "netG", "norm", "use_dropout", "gan_mode", "pool_size")},
                         netG="resnet_6blocks")
        task = get_objective(name).load()(cfg, torch.device("cpu"), adam(cfg))
        assert isinstance(task, Objective)
        spec = get_objective(name)
        assert set(task.generators) == {d.slot for d in spec.directions(cfg.direction)}
        assert {k for k in task.nets if k.startswith("D")} == set(spec.discriminators)


def test_a_new_objective_is_one_class_and_one_registry_entry(colour_moments, toy_data, tiny_config, tmp_path):
    # uninterrupted reference run
    full = train(_cfg(tiny_config, toy_data, tmp_path / "a"))
    assert full["finished"] and full["epochs_completed"] == 3
    # the same run stopped after 5 steps, then resumed: identical weights at the end
    part = train(_cfg(tiny_config, toy_data, tmp_path / "b", max_steps=5))
    assert not part["finished"] and part["steps"] == 5
    resumed = resume(part["run_dir"], {"max_steps": 0})
    assert resumed["finished"] and resumed["steps"] == full["steps"]
    a, b = load_generator(full["run_dir"], "G_A"), load_generator(resumed["run_dir"], "G_A")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    with open(f"{full['run_dir']}/metrics.jsonl") as f:
        metrics = [json.loads(line) for line in f]
    assert set(metrics[0]) >= {"mean", "spread", "lr"} and "cycle_A" not in metrics[0]
    # it learnt: the colour-statistics loss fell
    assert metrics[-1]["mean"] < metrics[0]["mean"]

    # report: its own loss chart, health check and sample columns
    page = build_report(resumed["run_dir"]).read_text()
    assert "mean loss" in page and "input | output | target" in page and "colour_moments" in page
    assert "cycle_A" not in page and "real_A | fake_B" not in page

    # info: its generator, no discriminators; finished, not "epoch 4"
    info = describe(resumed["run_dir"])
    assert list(info["networks"]) == ["G_A"]
    text = format_summary(info)
    assert "finished" in text and "epoch 4" not in text
    assert main(["info", str(resumed["run_dir"] / CHECKPOINT)]) == 0

    # the CLI offers it and its option (choices and groups are read from the registry and its class)
    assert main(["train", "--objective", "colour_moments", "--data", str(toy_data), "--runs-dir", str(tmp_path / "c"),
                 "--name", "cli", "--ngf", "4", "--crop-size", "32", "--load-size", "36", "--max-steps", "2",
                 "--no-progress", "--workers", "0", "--amp", "off", "--spread-weight", "0.25"]) == 0
    assert (tmp_path / "c" / "cli" / "G_A.safetensors").is_file()
    saved = json.loads((tmp_path / "c" / "cli" / "train_config.json").read_text())
    assert saved["spread_weight"] == 0.25 and "lambda_A" not in saved  # its options, no other objective's
    assert "spread_weight=0.25" in format_summary(describe(tmp_path / "c" / "cli"))  # info reads them too


def test_a_new_objectives_option_is_in_the_cli_and_validated(colour_moments, toy_data, tiny_config, tmp_path, capsys):
    assert main(["train", "--objective", "colour_moments", "--help"]) == 0
    out = capsys.readouterr().out
    assert "colour moments options (--objective colour_moments)" in out and "--spread-weight" in out
    assert main(["train", "--help"]) == 0
    assert "--spread-weight" not in capsys.readouterr().out  # the shared help names objectives, not their options
    with pytest.raises(ConfigError, match="--spread-weight must be >= 0"):
        _cfg(tiny_config, toy_data, tmp_path, spread_weight=-1.0).validate()
    with pytest.raises(ConfigError, match='spread_weight: "lots" is not a number'):
        config_for("colour_moments", data="d", spread_weight="lots")


def test_unknown_objective_is_one_line(toy_data, tiny_config, tmp_path, capsys):
    with pytest.raises(ValueError, match="one of"):
        tiny_config(toy_data, tmp_path, model="nope").validate()
    assert "nope" not in OBJECTIVES


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("p2p")
    data = make_synthetic_dataset(root / "paired", size=32, n_train=6, n_test=2, paired=True)
    cfg = config_for("pix2pix", data=str(data), runs_dir=str(root / "runs"), name="p", netG="resnet_6blocks",
                     ngf=4, ndf=4, load_size=36, crop_size=32, batch_size=2, n_epochs=1, n_epochs_decay=1,
                     log_every=1, sample_every=0, checkpoint_every=0, progress=False, workers=0, amp="off")
    summary = train(cfg)
    assert summary["finished"] and summary["epochs_completed"] == 2
    return root / "runs" / "p"


def test_report_of_a_pix2pix_run(pix2pix_run):
    page = build_report(pix2pix_run).read_text()  # used to crash: KeyError 'cycle_A'
    assert "G_L1 loss" in page and "cycle_A" not in page
    assert "input | output | target" in page
    assert "D_real + D_fake loss" in page


def test_info_of_a_pix2pix_run(pix2pix_run, capsys):
    info = describe(pix2pix_run)
    # one conditional discriminator seeing input and output stacked, not CycleGAN's D_A / D_B
    assert set(info["networks"]) == {"G_A", "D"} and "in_channels=6" in info["networks"]["D"]["arch"]
    assert main(["info", str(pix2pix_run)]) == 0
    out = capsys.readouterr().out
    assert "finished" in out and "epoch 3" not in out and "D_A" not in out


def test_pix2pix_health_checks_watch_its_own_losses():
    spec = get_objective("pix2pix")
    falling = [{"step": i, "G_L1": 50 - 2 * i, "G_GAN": 1.0, "D_real": 0.3, "D_fake": 0.3, "lr": 1} for i in range(20)]
    checks = health_checks(falling, [], None, spec)
    assert [s for s, m in checks if m.startswith("G_L1")] == ["ok"]
    collapsed = [dict(r, D_real=0.001, D_fake=0.002) for r in falling]
    assert [s for s, m in health_checks(collapsed, [], None, spec) if m.startswith("D_real")] == ["warn"]
