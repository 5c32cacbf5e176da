"""DiffAugment: differentiable, random per image, applied to every discriminator input of any
objective, and compatible with exact resume."""
from __future__ import annotations

import pytest
import torch

from pocketgan.training.augment import attach, cutout, diff_augment, parse_policy, translation
from pocketgan.training.checkpoint import load_checkpoint
from pocketgan.training.run import CHECKPOINT, resume, train


def test_translation_shifts_and_fills_with_zeros():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16) + 1  # no zeros of its own
    y = translation(x, ratio=0.25)
    assert y.shape == x.shape
    for i in range(8):  # each image is x shifted: its non-zero part equals a window of x
        nz = y[i, 0] != 0
        assert nz.any()
        rows, cols = nz.any(1).nonzero().flatten(), nz.any(0).nonzero().flatten()
        window = y[i, :, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert (window != 0).all()
        assert any(torch.equal(window, x[i, :, r:r + window.shape[1], c:c + window.shape[2]])
                   for r in range(17 - window.shape[1]) for c in range(17 - window.shape[2]))


def test_cutout_zeroes_a_square_per_image():
    torch.manual_seed(1)
    x = torch.ones(16, 3, 20, 20)
    y = cutout(x, ratio=0.5)
    zeroed = (y[:, 0] == 0).flatten(1).sum(1)
    assert (zeroed > 0).all() and (zeroed <= 100).all() and (zeroed == 100).any()  # 10x10, or cut by the edge
    assert torch.equal(y[:, 0], y[:, 1])  # the same hole in every channel


def test_augmentation_is_differentiable_and_random():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    policy = parse_policy("color,translation,cutout")
    y1, y2 = diff_augment(x, policy), diff_augment(x, policy)
    assert not torch.equal(y1, y2)
    y1.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="--diffaugment"):
        parse_policy("color,blur")


def test_hook_augments_what_the_discriminator_sees():
    seen = []
    D = torch.nn.Conv2d(3, 1, 1)
    D.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    attach({"D": D}, {"D": 3}, parse_policy("translation,cutout"))
    x = torch.rand(2, 3, 16, 16) + 1
    D(x)
    assert not torch.equal(seen[0], x) and (seen[0] == 0).any()
    assert list(D.state_dict()) == ["weight", "bias"]  # no wrapper: keys unchanged


def test_training_with_diffaugment_resumes_exactly(toy_data, tmp_path, tiny_config):
    full = train(tiny_config(toy_data, tmp_path / "a", diffaugment="color,translation,cutout"))
    part = train(tiny_config(toy_data, tmp_path / "b", diffaugment="color,translation,cutout", max_steps=3))
    resume(part["run_dir"], {"max_steps": 0})
    a, _ = load_checkpoint(tmp_path / "a" / "t" / CHECKPOINT)
    b, _ = load_checkpoint(tmp_path / "b" / "t" / CHECKPOINT)
    assert full["finished"] and all(torch.equal(a[k], b[k]) for k in a if k.startswith("net."))
    train(tiny_config(toy_data, tmp_path / "c"))
    plain, _ = load_checkpoint(tmp_path / "c" / "t" / CHECKPOINT)
    assert not all(torch.equal(a[k], plain[k]) for k in a if k.startswith("net.D_A"))  # it did change D's inputs
