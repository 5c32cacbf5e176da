"""CUT and FastCUT as objectives: PatchNCE itself, a tiny run that trains, resumes exactly (MLP heads
included), reports and translates, and one-line errors for options that cannot work."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pocketgan.cli import main
from pocketgan.models.pretrained import load_generator, read_model_config
from pocketgan.report import build_report
from pocketgan.summary import describe
from pocketgan.training.checkpoint import load_checkpoint, subset
from pocketgan.training.config import config_for
from pocketgan.training.cut import CUT, PatchSampler, l2_normalize, patch_nce
from pocketgan.training.run import CHECKPOINT, TrainingError, resume, train


def tiny_cut(data, runs, model="cut", **kw):
    base = dict(data=str(data), runs_dir=str(runs), name="c", netG="resnet_6blocks", ngf=4, ndf=4, load_size=36,
                crop_size=32, batch_size=2, n_epochs=1, n_epochs_decay=1, num_patches=16, netF_nc=8,
                nce_layers="0,4,8,12", log_every=1, sample_every=0, checkpoint_every=0, progress=False, workers=0,
                amp="off")
    base.update(kw)
    return config_for(model, **base)


def test_patch_nce_prefers_the_same_position():
    torch.manual_seed(0)
    k = l2_normalize(torch.randn(2 * 16, 8))
    aligned = patch_nce(k.clone(), k, batch=2, temperature=0.07, all_negatives=False)
    shuffled = patch_nce(k[torch.randperm(32)], k, batch=2, temperature=0.07, all_negatives=False)
    assert aligned.shape == (32,) and aligned.mean() < 0.5 < shuffled.mean()
    # the cross-entropy of 1 positive against 15 negatives of the same image, written out by hand
    q = k[:16]
    negatives = (q @ q.T).masked_fill(torch.eye(16, dtype=torch.bool), -10.0)  # the position itself is no negative
    logits = torch.cat([(q * q).sum(1, keepdim=True), negatives], 1) / 0.07
    expected = F.cross_entropy(logits, torch.zeros(16, dtype=torch.long), reduction="none")
    assert torch.allclose(aligned[:16], expected, atol=1e-5)
    # all negatives: every patch of the batch competes
    assert patch_nce(k.clone(), k, 2, 0.07, True).shape == (32,)


def test_a_row_of_zeros_does_not_poison_the_gradients():
    x = torch.tensor([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]], requires_grad=True)  # a head whose ReLUs are all off
    y = l2_normalize(x)
    assert torch.allclose(y[1], torch.tensor([0.6, 0.8, 0.0]))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()  # sqrt'(0) would make it NaN; only the direct 1/(norm + eps) term is left
    assert torch.allclose(x.grad[0], torch.full((3,), 1 / (1e-15 + 1e-7)))


def test_sampler_takes_the_same_positions_for_queries_and_keys():
    sampler = PatchSampler([4, 6], use_mlp=True, nc=8)
    feats = [torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)]
    out, ids = sampler(feats, 10)
    assert [o.shape for o in out] == [(20, 8), (20, 8)] and [len(i) for i in ids] == [10, 10]
    again, same = sampler(feats, 10, ids)
    assert all(torch.equal(a, b) for a, b in zip(ids, same, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(out, again, strict=True))
    assert torch.allclose(out[0].norm(dim=1), torch.ones(20), atol=1e-5)
    assert set(sampler.state_dict()) >= {"mlp_0.0.weight", "mlp_1.2.bias"}  # the reference's key names


@pytest.mark.parametrize("model", ["cut", "fastcut"])
def test_defaults_are_the_references(model):
    cfg = config_for(model, data="x")
    o = cfg.options
    assert (cfg.netG, o.nce_layers, o.num_patches, o.nce_T, o.netF, o.netF_nc, cfg.pool_size,
            cfg.lambda_gan) == ("cut_resnet_9blocks", "0,4,8,12,16", 256, 0.07, "mlp_sample", 256, 0, 1.0)
    if model == "cut":
        assert (o.nce_idt, o.lambda_nce, o.flip_equivariance, cfg.total_epochs) == (True, 1.0, False, 400)
    else:
        assert (o.nce_idt, o.lambda_nce, o.flip_equivariance, cfg.n_epochs, cfg.n_epochs_decay) == \
            (False, 10.0, True, 150, 50)


def test_cut_trains_resumes_exactly_and_reports(toy_data, tmp_path):
    full = train(tiny_cut(toy_data, tmp_path / "a"))
    part = train(tiny_cut(toy_data, tmp_path / "b", max_steps=3))
    resumed = resume(part["run_dir"], {"max_steps": 0})
    assert full["finished"] and resumed["steps"] == full["steps"] == 8
    ta, _ = load_checkpoint(tmp_path / "a" / "c" / CHECKPOINT)
    tb, _ = load_checkpoint(tmp_path / "b" / "c" / CHECKPOINT)
    for net in ("G", "D", "F"):  # the MLP heads (F) and their Adam moments too
        a, b = subset(ta, f"net.{net}"), subset(tb, f"net.{net}")
        assert a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), net
    assert any(k.startswith("optim.F.") for k in ta)
    # a model folder holding the one direction it learnt, usable like any other
    run = tmp_path / "a" / "c"
    assert list(read_model_config(run)["generators"]) == ["G_A"]
    out = load_generator(run, "G_A")(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32) and math.isfinite(float(out.abs().sum()))
    page = build_report(run).read_text()
    assert "NCE loss" in page and "input | output | target | identity" in page and "cycle_A" not in page
    info = describe(run)
    assert set(info["networks"]) == {"G_A", "D"}


def test_patch_nce_falls_while_training(toy_data, tmp_path):
    summary = train(tiny_cut(toy_data, tmp_path, model="fastcut", n_epochs=6, n_epochs_decay=0, lr=1e-3))
    metrics = [line for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    import json

    nce = [json.loads(m)["NCE"] for m in metrics]
    assert summary["finished"] and sum(nce[-4:]) / 4 < sum(nce[:4]) / 4


def test_bad_options_are_one_line(toy_data, tmp_path, capsys):
    with pytest.raises(ValueError, match="--nce-layers"):
        tiny_cut(toy_data, tmp_path, nce_layers="4,0").validate()
    with pytest.raises(ValueError, match="--nce-layers"):
        tiny_cut(toy_data, tmp_path, nce_layers="a,b").validate()
    with pytest.raises(ValueError, match="--nce-layers"):  # resnet_6blocks has fewer layers than that
        CUT(tiny_cut(toy_data, tmp_path, nce_layers="0,4,90"), torch.device("cpu"))
    with pytest.raises(ValueError, match="--num-patches"):  # a 32 px crop has 1024 positions at layer 0
        CUT(tiny_cut(toy_data, tmp_path, num_patches=5000), torch.device("cpu"))
    with pytest.raises(ValueError, match="--pool-size"):
        CUT(tiny_cut(toy_data, tmp_path, pool_size=5), torch.device("cpu"))
    with pytest.raises(ValueError, match="CUT"):
        CUT(tiny_cut(toy_data, tmp_path, netG="unet_128", crop_size=128, load_size=128), torch.device("cpu"))
    # resuming with other nce_layers is not a continuation
    part = train(tiny_cut(toy_data, tmp_path / "r", max_steps=1))
    with pytest.raises(TrainingError, match="nce_layers"):
        resume(part["run_dir"], {"nce_layers": "0,4"})
    # through the CLI: one line, exit 2
    assert main(["train", "--objective", "cut", "--data", str(toy_data), "--runs-dir", str(tmp_path / "x"), "--ngf", "4",
                 "--netG", "resnet_6blocks", "--crop-size", "32", "--load-size", "36", "--num-patches", "5000",
                 "--no-progress", "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--num-patches" in err


def test_mobile_generator_is_a_cut_generator(toy_data, tmp_path):
    summary = train(tiny_cut(toy_data, tmp_path, netG="mobile_resnet_6blocks", residual=True, max_steps=2))
    assert summary["steps"] == 2
