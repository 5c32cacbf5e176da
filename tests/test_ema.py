"""--ema-decay: an exponential moving average of the generators' weights is what a run saves,
samples and evaluates; training itself is unchanged, and a resumed run continues the average
exactly."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pocketgan.models import create_generator
from pocketgan.training.checkpoint import load_checkpoint
from pocketgan.training.config import ConfigError
from pocketgan.training.ema import GeneratorEMA
from pocketgan.training.loop import Trainer
from pocketgan.training.run import CHECKPOINT, resume, train


def test_average_follows_the_formula_for_weights_and_batch_norm_statistics():
    torch.manual_seed(0)
    net = create_generator("mobile_resnet_6blocks", ngf=4)
    nets = {"G": net}
    start = {k: v.clone() for k, v in net.state_dict().items()}
    ema = GeneratorEMA(nets, ["G"], decay=0.75)
    seen = []
    for _ in range(3):  # move every float entry (weights and running stats), and the batch counters
        with torch.no_grad():
            for v in net.state_dict().values():
                if v.is_floating_point():
                    v.add_(torch.randn_like(v))
                else:
                    v.add_(1)
        seen.append({k: v.clone() for k, v in net.state_dict().items()})
        ema.update(nets)
    got = ema.nets["G"].state_dict()
    for k, v in start.items():
        if v.is_floating_point():
            want = v
            for s in seen:
                want = 0.75 * want + 0.25 * s[k]
            torch.testing.assert_close(got[k], want)
        else:
            assert torch.equal(got[k], seen[-1][k])  # integers are copied, not averaged
    assert any("running_mean" in k for k in start)  # the statistics were among them
    assert not any(p.requires_grad for p in ema.nets["G"].parameters())
    with pytest.raises(ValueError, match="decay"):
        GeneratorEMA(nets, ["G"], decay=1.0)


def test_shown_puts_the_averages_in_a_new_mapping_and_the_state_round_trips():
    nets = {"G": torch.nn.Conv2d(3, 3, 1), "D": torch.nn.Conv2d(3, 1, 1)}
    live = dict(nets)
    ema = GeneratorEMA(nets, ["G"], decay=0.9)
    shown = ema.shown(nets)
    assert shown["G"] is ema.nets["G"] and shown["D"] is live["D"] and nets == live  # nothing swapped
    with torch.no_grad():
        nets["G"].weight.add_(1.0)
    ema.update(nets)
    other = GeneratorEMA({"G": torch.nn.Conv2d(3, 3, 1)}, ["G"], decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(other.nets["G"].state_dict().values(), ema.nets["G"].state_dict().values(),
                                                 strict=True))


def test_decay_must_be_below_one(toy_data, tmp_path, tiny_config):
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ConfigError, match="--ema-decay"):
            tiny_config(toy_data, tmp_path, ema_decay=bad).validate()


def test_a_run_saves_the_average_and_trains_exactly_as_without_it(toy_data, tmp_path, tiny_config):
    cfg = tiny_config(toy_data, tmp_path / "ema", ema_decay=0.5, max_steps=1)
    trainer = Trainer(cfg, Path(cfg.runs_dir) / cfg.name)
    start = {k: v.clone() for k, v in trainer.task.nets["G_A"].state_dict().items()}
    trainer.fit()
    run = Path(cfg.runs_dir) / cfg.name
    ckpt, _ = load_checkpoint(run / CHECKPOINT)
    saved = load_file(run / "G_A.safetensors")
    for k, v in start.items():
        if v.is_floating_point():  # one step: half the start, half the weights after the step
            torch.testing.assert_close(saved[k], 0.5 * v + 0.5 * ckpt[f"net.G_A.{k}"])
            torch.testing.assert_close(ckpt[f"ema.G_A.{k}"], saved[k])
    assert any(not torch.equal(saved[k], ckpt[f"net.G_A.{k}"]) for k in saved)

    plain = train(tiny_config(toy_data, tmp_path / "plain", max_steps=1))
    other, _ = load_checkpoint(Path(plain["run_dir"]) / CHECKPOINT)
    assert all(torch.equal(other[k], ckpt[k]) for k in other if k.startswith("net."))  # same training
    assert not any(k.startswith("ema.") for k in other)


def test_resume_continues_the_average_exactly(toy_data, tmp_path, tiny_config):
    straight = train(tiny_config(toy_data, tmp_path / "a", ema_decay=0.9))
    part = train(tiny_config(toy_data, tmp_path / "b", ema_decay=0.9, max_steps=3))
    resumed = resume(part["run_dir"], {"max_steps": 0})
    assert straight["finished"] and resumed["finished"]
    a, _ = load_checkpoint(Path(straight["run_dir"]) / CHECKPOINT)
    b, _ = load_checkpoint(Path(resumed["run_dir"]) / CHECKPOINT)
    assert any(k.startswith("ema.G_B.") for k in a) and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:3]
    for slot in ("G_A", "G_B"):  # and the model folder holds the average
        folder = load_file(Path(resumed["run_dir"]) / f"{slot}.safetensors")
        assert all(torch.equal(v, b[f"ema.{slot}.{k}"]) for k, v in folder.items())


def test_one_direction_objectives_save_the_average_in_their_slot(tmp_path):
    """pix2pix names its generator "G" but writes it to the G_B slot here: the average follows."""
    from pocketgan.data.synthetic import make_synthetic_dataset
    from pocketgan.training.config import config_for

    data = make_synthetic_dataset(tmp_path / "toy", size=32, n_train=4, n_test=2, paired=True)
    cfg = config_for("pix2pix", data=str(data), runs_dir=str(tmp_path / "runs"), name="p", netG="resnet_6blocks", ngf=4,
                     ndf=4, load_size=36, crop_size=32, batch_size=2, n_epochs=1, n_epochs_decay=0, sample_every=0,
                     checkpoint_every=0, progress=False, workers=0, amp="off", direction="BtoA", ema_decay=0.9)
    run = Path(train(cfg)["run_dir"])
    ckpt, _ = load_checkpoint(run / CHECKPOINT)
    saved = load_file(run / "G_B.safetensors")
    assert not (run / "G_A.safetensors").exists()
    assert all(torch.equal(v, ckpt[f"ema.G.{k}"]) for k, v in saved.items())
    assert any(not torch.equal(v, ckpt[f"net.G.{k}"]) for k, v in saved.items())
