import pytest
import torch

from pocketgan.models.losses import GANLoss
from pocketgan.training.image_pool import ImagePool
from pocketgan.training.schedule import linear_decay, linear_decay_factor


def test_lsgan_loss_values():
    pred = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    gan = GANLoss("lsgan")
    assert gan(pred, True).item() == pytest.approx(((1) + 0 + 1 + 4) / 4)
    assert gan(pred, False).item() == pytest.approx((0 + 1 + 4 + 1) / 4)


def test_vanilla_loss_is_bce_with_logits():
    pred = torch.tensor([0.0, 2.0])
    assert GANLoss("vanilla")(pred, True).item() == pytest.approx(
        (torch.log1p(torch.exp(-pred))).mean().item(), rel=1e-6)
    assert GANLoss("vanilla")(torch.zeros(3), False).item() == pytest.approx(0.6931472, rel=1e-6)


def test_hinge_loss_values():
    pred = torch.tensor([0.5, -2.0, 3.0])
    gan = GANLoss("hinge")
    assert gan(pred, True).item() == pytest.approx((0.5 + 3.0 + 0.0) / 3)
    assert gan(pred, False).item() == pytest.approx((1.5 + 0.0 + 4.0) / 3)
    assert gan(pred, True, for_discriminator=False).item() == pytest.approx(-0.5)
    with pytest.raises(ValueError):
        GANLoss("wgan")


def test_pool_fills_then_mixes_history():
    pool = ImagePool(size=3, seed=1)
    batches = [torch.full((1, 1, 2, 2), float(i)) for i in range(3)]
    for b in batches:  # filling: returns the input itself
        assert torch.equal(pool.query(b), b)
    seen_old = seen_new = 0
    for i in range(3, 200):
        out = pool.query(torch.full((1, 1, 2, 2), float(i)))
        seen_new += out[0, 0, 0, 0].item() == i
        seen_old += out[0, 0, 0, 0].item() < i
    assert 60 < seen_old < 140 and seen_old + seen_new == 197  # ~half from history
    assert len(pool.images) == 3


def test_pool_size_zero_is_identity_and_state_round_trips():
    x = torch.randn(2, 3, 4, 4)
    assert ImagePool(0).query(x) is x
    a = ImagePool(size=2, seed=5)
    for i in range(5):
        a.query(torch.full((1, 1, 1, 1), float(i)))
    b = ImagePool(size=2, seed=99)
    b.load_state_dict(a.state_dict())
    for i in range(5, 30):
        x = torch.full((1, 1, 1, 1), float(i))
        assert torch.equal(a.query(x), b.query(x))
    with pytest.raises(ValueError):
        ImagePool(size=4).load_state_dict(a.state_dict())


def test_linear_schedule_values_match_the_reference_rule():
    # n_epochs=3 constant, n_epochs_decay=2: factors per epoch 1, 1, 1, 2/3, 1/3
    assert [linear_decay_factor(e, 3, 2) for e in range(5)] == pytest.approx([1, 1, 1, 2 / 3, 1 / 3])
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    sched = linear_decay(opt, 3, 2)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.3, 0.3, 0.3, 0.2, 0.1])
