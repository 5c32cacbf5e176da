import json
from pathlib import Path

import pytest
import torch

from pocketgan.models import create_discriminator, create_generator, list_discriminators, list_generators
from pocketgan.models.profile import count_macs, count_parameters, describe_size

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_state_dict_shapes.json").read_text())


def shapes(net):
    return {k: list(v.shape) for k, v in net.state_dict().items()}


def test_registry_lists_the_reference_architectures():
    assert {"resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256"} <= set(list_generators())
    assert {"basic", "n_layers", "pixel"} <= set(list_discriminators())


def test_unknown_names_fail_with_the_choices():
    with pytest.raises(ValueError, match="resnet_9blocks"):
        create_generator("resnet_99blocks")
    with pytest.raises(ValueError, match="basic"):
        create_discriminator("nope")
    with pytest.raises(ValueError, match="norm"):
        create_generator("resnet_6blocks", norm="group")
    with pytest.raises(ValueError, match="init"):
        create_generator("resnet_6blocks", init_type="uniform")


def test_default_parameter_counts_equal_the_reference():
    assert count_parameters(create_generator("resnet_9blocks")) == 11_378_179
    assert count_parameters(create_discriminator("basic")) == 2_764_737
    assert count_parameters(create_generator("unet_256", norm="batch")) == 54_413_955


@pytest.mark.parametrize("key,make", [
    ("generator resnet_9blocks norm=instance", lambda: create_generator("resnet_9blocks")),
    ("generator unet_256 norm=batch use_dropout=True", lambda: create_generator("unet_256", norm="batch", use_dropout=True)),
    ("discriminator basic norm=instance", lambda: create_discriminator("basic")),
    ("discriminator basic norm=batch in_channels=6", lambda: create_discriminator("basic", norm="batch", in_channels=6)),
])
def test_state_dict_keys_and_shapes_match_the_reference(key, make):
    assert shapes(make()) == REFERENCE[key]


def test_macs_match_the_literature_for_resnet_9blocks():
    # GAN Compression (Li et al. 2020) reports 56.8 GMACs at 256x256 for the CycleGAN generator.
    macs = count_macs(create_generator("resnet_9blocks"), (1, 3, 256, 256))
    assert abs(macs / 1e9 - 56.8) < 0.05


def test_macs_scale_with_resolution_and_width():
    g = create_generator("resnet_6blocks", ngf=8)
    assert count_macs(g, (1, 3, 64, 64)) * 4 == count_macs(g, (1, 3, 128, 128))
    info = describe_size(g, 64)
    assert info["params"] == count_parameters(g) and info["megabytes"] == pytest.approx(info["params"] * 4 / 1e6)


@pytest.mark.parametrize("name,size", [("resnet_9blocks", 32), ("resnet_6blocks", 36), ("unet_128", 128), ("unet_256", 256)])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_generators_keep_shape_and_range(name, size, norm):
    g = create_generator(name, ngf=4, norm=norm).eval()
    y = g(torch.randn(2, 3, size, size))
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("name,kwargs,expected", [
    ("basic", {}, (1, 1, 6, 6)),          # 70x70 PatchGAN on 64px: 6x6 patches
    ("n_layers", {"n_layers": 1}, (1, 1, 30, 30)),
    ("pixel", {}, (1, 1, 64, 64)),
])
def test_discriminator_patch_maps(name, kwargs, expected):
    d = create_discriminator(name, ndf=4, **kwargs)
    assert d(torch.randn(1, 3, 64, 64)).shape == expected


def test_basic_discriminator_receptive_field_is_70px():
    d = create_discriminator("basic", ndf=4, norm="none").eval()
    x = torch.zeros(1, 3, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    assert rows.max() - rows.min() + 1 == 70


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_types(init_type):
    torch.manual_seed(0)
    g = create_generator("resnet_6blocks", ngf=8, init_type=init_type, init_gain=0.02)
    w = g.model[1].weight
    assert torch.all(g.model[1].bias == 0)
    if init_type == "normal":
        assert w.std().item() == pytest.approx(0.02, rel=0.1)
    assert w.std().item() > 0


def test_batchnorm_init_and_config_recorded():
    g = create_generator("unet_128", ngf=4, norm="batch", use_dropout=True)
    bn = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.02)
    assert g.config == {"name": "unet_128", "ngf": 4, "norm": "batch", "use_dropout": True}
    assert g.size_multiple == 128


@pytest.mark.parametrize("name", ["mobile_resnet_9blocks", "mobile_resnet_6blocks"])
def test_mobile_generators_are_export_friendly_and_small(name):
    g = create_generator(name, ngf=16).eval()
    kinds = {type(m) for m in g.modules()}
    assert torch.nn.ConvTranspose2d not in kinds and torch.nn.InstanceNorm2d not in kinds
    assert torch.nn.BatchNorm2d in kinds
    assert g(torch.randn(1, 3, 36, 52)).shape == (1, 3, 36, 52)
    ratio = count_macs(create_generator("resnet_9blocks"), (1, 3, 256, 256)) / count_macs(g, (1, 3, 256, 256))
    assert ratio >= 25  # GAN Compression reached 21x
    with pytest.raises(ValueError, match="batch"):
        create_generator(name, norm="instance")


def test_mobile_width_is_configurable():
    macs = [count_macs(create_generator("mobile_resnet_9blocks", ngf=n), (1, 3, 64, 64)) for n in (16, 32, 64)]
    assert macs[0] < macs[1] < macs[2]


def test_residual_mobile_generator_starts_as_the_identity_and_learns():
    g = create_generator("mobile_resnet_6blocks", ngf=8, residual=True)
    assert g.config["residual"] is True
    x = torch.rand(2, 3, 36, 52) * 2 - 1
    assert torch.equal(g(x), x)  # exactly "do nothing" before training
    target = torch.clamp(x * 0.5 + 0.3, -1, 1)  # a colour change the head must learn
    opt = torch.optim.Adam(g.parameters(), 1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = (g(x) - target).abs().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]  # the zero head gets gradients: it moves off the identity
    assert g(torch.full((1, 3, 8, 8), 5.0)).max() <= 1  # outputs stay in [-1, 1]
    with pytest.raises(ValueError, match="as many output channels"):
        create_generator("mobile_resnet_6blocks", out_channels=1, residual=True)
