from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from pocketgan.data.synthetic import make_synthetic_dataset
from pocketgan.models import create_generator
from pocketgan.training.config import TrainConfig, option_names

# The property-based (Hypothesis) tests are a bounded fuzz run in `make test`: a fixed seed (derandomize:
# the same generated cases every run, so CI is reproducible), a cap on cases per test, and no per-case
# deadline (2 busy cores make timings noisy). HYPOTHESIS_PROFILE=long for a deeper local run.
settings.register_profile("ci", derandomize=True, max_examples=150, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["localhttp"]  # the local HTTP server fixture `server`, for download tests

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "summer2winter_yosemite"


@pytest.fixture(autouse=True)
def model_home(tmp_path_factory, monkeypatch) -> Path:
    """Imported models and exports of bundled models go to a temporary model home, never ~/.cache."""
    home = tmp_path_factory.mktemp("pocketgan_home")
    monkeypatch.setenv("POCKETGAN_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> Path:
    """A tiny toy-seasons dataset (32px, 8 unpaired training scenes per domain, 4 test pairs)."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("toy") / "toy", size=32, n_train=8, n_test=4)


def _tiny_config(data: Path, runs: Path, **overrides) -> TrainConfig:
    """A CycleGAN small enough for a unit test: ~10 ms per step on 2 cores."""
    base = dict(data=str(data) if data else None, runs_dir=str(runs), name="t", netG="resnet_6blocks", ngf=4, ndf=4,
                load_size=36, crop_size=32, batch_size=2, n_epochs=1, n_epochs_decay=1, pool_size=3,
                log_every=2, sample_every=3, checkpoint_every=0, progress=False, workers=0,
                amp="off")  # fp32 whatever the CPU: results must not depend on the test machine's bf16 support
    base.update(overrides)
    own = option_names(base.get("model", TrainConfig.model))  # the objective's own options (e.g. distill's teacher)
    cfg = TrainConfig(**{k: v for k, v in base.items() if k not in own})
    for k in own & set(base):
        setattr(cfg.options, k, base[k])
    return cfg


def _expressive_generator(seed: int, residual: bool = False) -> torch.nn.Module:
    """A tiny mobile generator whose output varies with the input (the default init gives a flat grey).
    ``residual``: the residual variant, its head (zero at init: the identity) scaled so the change is
    clear but clamps only some pixels."""
    torch.manual_seed(seed)
    g = create_generator("mobile_resnet_6blocks", ngf=4, **({"residual": True} if residual else {}))
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, 0.0, 1.2 / m.weight[0].numel() ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        if residual:
            g.head[1].weight.mul_(0.15)
            g.head[1].bias.normal_(0.0, 0.05)
    return g.eval()


@pytest.fixture(scope="session")
def tiny_config():
    """The factory ``tiny_config(data, runs, **overrides) -> TrainConfig`` (a tiny CycleGAN, fp32)."""
    return _tiny_config


@pytest.fixture(scope="session")
def expressive_generator():
    """The factory ``expressive_generator(seed, residual=False) -> nn.Module`` (a tiny mobile generator
    with varied output)."""
    return _expressive_generator


@pytest.fixture(scope="session")
def shared_dataset() -> Path:
    """../shared/datasets/summer2winter_yosemite (trainA/trainB/...); the test is skipped when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/datasets/summer2winter_yosemite not present")
    return SHARED
