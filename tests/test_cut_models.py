"""The CUT generator (anti-aliased ResNet) and the PatchNCE feature taps of every generator that can
be a CUT generator: reference parity, layer numbering, errors, checkpointing, export and import."""
import importlib.util
import io
import json
import sys
import types
from pathlib import Path

import pytest
import torch

from pocketgan.cli import main
from pocketgan.errors import OptionError
from pocketgan.models import create_generator, list_generators
from pocketgan.models.cut_resnet import BlurDownsample, BlurUpsample
from pocketgan.models.importing import import_reference
from pocketgan.models.pretrained import load_generator
from pocketgan.models.profile import count_parameters

CUT_REFERENCE = json.loads((Path(__file__).parent / "data" / "cut_reference_state_dict_shapes.json").read_text())
CUT_REPO = Path("/tmp/cutref")  # taesungp/contrastive-unpaired-translation's models/ (absent in CI)

# name, kwargs -> how many layers forward(x, layers=...) numbers (see the modules' docstrings)
LAYER_COUNTS = [("resnet_9blocks", {}, 28), ("resnet_6blocks", {}, 25), ("cut_resnet_9blocks", {}, 32),
                ("cut_resnet_6blocks", {}, 29), ("mobile_resnet_9blocks", {}, 35), ("mobile_resnet_6blocks", {}, 32),
                ("mobile_resnet_9blocks", {"residual": True}, 34)]


def shapes(net):
    return {k: list(v.shape) for k, v in net.state_dict().items()}


def reference_networks():
    """The CUT reference's networks.py, imported without its package's other modules."""
    if not (CUT_REPO / "models" / "networks.py").is_file():
        pytest.skip("the CUT reference is not at /tmp/cutref (taesungp/contrastive-unpaired-translation)")
    pytest.importorskip("numpy")
    if "cutref_models.networks" not in sys.modules:
        pkg = types.ModuleType("cutref_models")
        pkg.__path__ = [str(CUT_REPO / "models")]
        sys.modules["cutref_models"] = pkg
        spec = importlib.util.spec_from_file_location("cutref_models.networks", CUT_REPO / "models" / "networks.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    return sys.modules["cutref_models.networks"]


def lively(g: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Weights big enough that every layer's output depends on its input (the 0.02 init is near-flat)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in g.parameters():
            p.normal_(0, 0.3)
    return g


# --- the CUT generator -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet_9blocks", "resnet_6blocks"])
def test_cut_state_dict_keys_and_shapes_match_the_reference(name):
    ours = create_generator(f"cut_{name}")
    assert shapes(ours) == CUT_REFERENCE[f"generator cut {name} norm=instance"]
    assert list(ours.state_dict()) == list(CUT_REFERENCE[f"generator cut {name} norm=instance"])  # same order too


@pytest.mark.parametrize("name,kwargs", [("basic", {}), ("n_layers n_layers=4", {"n_layers": 4})])
def test_cut_discriminator_keys_and_shapes_match_the_reference(name, kwargs):
    from pocketgan.models import create_discriminator

    ours = create_discriminator("cut_basic" if name == "basic" else "cut_n_layers", **kwargs)
    assert list(shapes(ours).items()) == list(CUT_REFERENCE[f"discriminator cut {name} norm=instance"].items())


def test_cut_generator_is_registered_and_as_big_as_resnet_9blocks():
    assert {"cut_resnet_9blocks", "cut_resnet_6blocks"} <= set(list_generators())
    g = create_generator("cut_resnet_9blocks")
    assert count_parameters(g) == 11_378_179  # stride-1 convs / 3x3 up-convs: same weights as the CycleGAN one
    assert [k for k in g.state_dict() if k.endswith("filt")] == ["model.7.filt", "model.11.filt", "model.21.filt",
                                                                 "model.25.filt"]
    assert g.config == {"name": "cut_resnet_9blocks"}
    # the --no_antialias layouts are resnet_9blocks'
    plain = create_generator("cut_resnet_9blocks", antialias=False, antialias_up=False)
    assert shapes(plain) == shapes(create_generator("resnet_9blocks"))


def test_blur_resampling_is_exact_and_keeps_flat_images_flat():
    down, up = BlurDownsample(2), BlurUpsample(2)
    assert down.filt.sum(dim=(2, 3)).eq(1).all() and up.filt.sum(dim=(2, 3)).eq(4).all()
    assert torch.equal(down.filt[0, 0], torch.tensor([[1., 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    flat = torch.full((1, 2, 12, 20), 0.25)
    assert torch.equal(down(flat), torch.full((1, 2, 6, 10), 0.25))
    assert torch.equal(up(flat), torch.full((1, 2, 24, 40), 0.25))


def test_blur_upsample_has_a_transposed_conv_free_form_for_converters():
    up = BlurUpsample(5)
    x = torch.randn(2, 5, 7, 10)
    alt = up.subpixel()
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in alt.modules())
    with torch.no_grad():
        assert torch.allclose(alt(x), up(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name,size", [("cut_resnet_9blocks", 32), ("cut_resnet_6blocks", 36)])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_cut_generators_keep_shape_and_range(name, size, norm):
    g = create_generator(name, ngf=4, norm=norm).eval()
    y = g(torch.randn(2, 3, size, size + 8))
    assert y.shape == (2, 3, size, size + 8)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("n_blocks", [9, 6])
def test_cut_generator_equals_the_reference(n_blocks):
    """Same keys, same fixed filters, and with the reference's weights loaded the same output and
    the same taps, bit for bit."""
    networks = reference_networks()
    torch.manual_seed(0)
    ref = networks.define_G(3, 3, 8, f"resnet_{n_blocks}blocks", "instance", False, "normal", 0.02).eval()
    ours = create_generator(f"cut_resnet_{n_blocks}blocks", ngf=8).eval()
    ref_state, own_state = ref.state_dict(), ours.state_dict()
    assert list(ref_state) == list(own_state)
    for k in ref_state:
        assert ref_state[k].shape == own_state[k].shape, k
        if k.endswith("filt"):
            assert torch.equal(ref_state[k], own_state[k]), k  # built here, not loaded
    ours.load_state_dict(ref_state)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))
        layers = [0, 4, 8, 12, 16]
        ref_feats = ref(x, list(layers), encode_only=True)
        own_feats = ours(x, layers=layers)
    assert len(own_feats) == len(ref_feats) == 5
    assert all(torch.equal(a, b) for a, b in zip(own_feats, ref_feats, strict=True))


def test_no_antialias_layouts_equal_the_reference():
    networks = reference_networks()
    for antialias, antialias_up in [(False, False), (False, True), (True, False)]:
        ref = networks.define_G(3, 3, 8, "resnet_6blocks", "instance", False, "normal", 0.02,
                                no_antialias=not antialias, no_antialias_up=not antialias_up).eval()
        ours = create_generator("cut_resnet_6blocks", ngf=8, antialias=antialias, antialias_up=antialias_up).eval()
        ours.load_state_dict(ref.state_dict())  # strict: same keys and shapes
        x = torch.randn(1, 3, 32, 32)
        with torch.no_grad():
            assert torch.equal(ours(x), ref(x))
            assert all(torch.equal(a, b) for a, b in zip(ours(x, layers=[0, 4, 8, 12, 16]),
                                                         ref(x, [0, 4, 8, 12, 16], encode_only=True), strict=True))


# --- feature taps ----------------------------------------------------------------------------------------------

def flat_modules(g):
    return list(g.model) if hasattr(g, "model") else g.nce_layers()


@pytest.mark.parametrize("name,kw,count", LAYER_COUNTS)
def test_taps_are_the_layer_outputs_in_order_and_stop_after_the_last(name, kw, count):
    g = lively(create_generator(name, ngf=4, **kw)).eval()
    assert g.nce_layer_count() == count
    modules = flat_modules(g)
    assert len(modules) == count
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    seen = {}
    # the layer's output tensor itself: a following in-place ReLU rewrites it, in the taps as in the reference
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, o)) for k, m in enumerate(modules)]
    with torch.no_grad():
        feats = g(x, layers=(0, 4, 8, 12, 16))
        assert sorted(seen) == list(range(17))  # nothing after layer 16 ran
        assert all(f is seen[i] for f, i in zip(feats, (0, 4, 8, 12, 16), strict=True))
        if name.startswith("mobile"):  # 4: the BN after the first stride-2 conv, rectified in place by its ReLU
            assert feats[1].shape == (2, 8, 16, 16) and feats[1].min() >= 0 and feats[1].max() > 0
        seen.clear()
        last = g(x, layers=[count - 1])  # the last layer: before a residual generator's sum
        y = g(x)  # the ordinary forward is unchanged
        for h in hooks:
            h.remove()
    assert len(last) == 1
    if kw.get("residual"):
        assert torch.equal(y, torch.clamp(x + last[0], -1, 1))
    else:
        assert torch.equal(y, last[0])


@pytest.mark.parametrize("name,kw,count", LAYER_COUNTS)
def test_bad_layer_requests_are_option_errors(name, kw, count):
    g = create_generator(name, ngf=4, **kw)
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(OptionError, match=rf"--nce-layers: layer {count} does not exist; {name} has {count} layers"):
        g(x, layers=[0, 4, count])
    with pytest.raises(OptionError, match="--nce-layers 4,0: indices must be strictly increasing"):
        g(x, layers=[4, 0])
    with pytest.raises(OptionError, match="strictly increasing"):
        g(x, layers=[4, 4])
    with pytest.raises(OptionError, match="layer -1 does not exist"):
        g(x, layers=[-1])
    with pytest.raises(OptionError, match="no layer given"):
        g(x, layers=[])
    with pytest.raises(OptionError, match="integers"):
        g(x, layers=[0.5])


@pytest.mark.parametrize("name", ["unet_128", "unet_256"])
def test_unets_refuse_taps(name):
    g = create_generator(name, ngf=4, norm="batch")
    with pytest.raises(OptionError, match=f"CUT .--nce-layers. needs a resnet or mobile generator; {name} is a U-Net"):
        g(torch.zeros(1, 3, 128, 128), layers=[0, 4])
    with pytest.raises(OptionError, match="needs a resnet or mobile generator"):
        g.nce_layer_count()


@pytest.mark.parametrize("name", ["resnet_6blocks", "cut_resnet_6blocks"])
def test_grad_checkpointing_gives_the_same_taps_and_gradients(name):
    g = lively(create_generator(name, ngf=4, use_dropout=True)).train()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    grads = []
    for enable in (False, True):
        g.set_grad_checkpointing(enable)
        g.zero_grad()
        torch.manual_seed(3)  # same dropout masks
        feats = g(x, layers=[4, 8, 12, 16])
        sum(f.square().mean() for f in feats).backward()
        grads.append([p.grad.clone() if p.grad is not None else None for p in g.parameters()])
    for a, b in zip(*grads, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, atol=1e-6)
    assert grads[0][-1] is None  # the head is after the last tap: never ran


def test_taps_pass_through_a_forward_only_wrapper():
    """DDP and torch.compile forward only forward's arguments: taps must be reachable through them."""
    class Wrapper(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.module = net

        def forward(self, *args, **kwargs):
            return self.module(*args, **kwargs)

    g = create_generator("cut_resnet_6blocks", ngf=4).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(Wrapper(g)(x, layers=[0, 4]), g(x, layers=[0, 4]), strict=True))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("name,kw", [("resnet_6blocks", {}), ("cut_resnet_6blocks", {}),
                                     ("mobile_resnet_6blocks", {"residual": True})])
def test_plain_forward_still_traces(name, kw):
    g = lively(create_generator(name, ngf=4, **kw)).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        traced = torch.jit.trace(g, (x,))
        assert torch.allclose(traced(x), g(x), atol=1e-6)


def test_cut_generator_exports_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from pocketgan.export.onnx import INPUT, export_onnx
    from pocketgan.export.prepare import prepare

    g = lively(create_generator("cut_resnet_6blocks", ngf=4)).eval()
    export_onnx(g, tmp_path / "g.onnx", size=32)
    image = torch.randint(0, 256, (1, 40, 48, 3), dtype=torch.uint8)  # dynamic size: not the traced one
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {INPUT: image.numpy()})[0])
    with torch.no_grad():
        want = prepare(g)(image)
    assert got.shape == want.shape == (1, 40, 48, 3)
    assert (got.int() - want.int()).abs().max() <= 1


# --- import of CUT's checkpoints -------------------------------------------------------------------------------

def test_a_reference_cut_checkpoint_imports_and_translates_identically(tmp_path, capsys):
    src = lively(create_generator("cut_resnet_9blocks", ngf=8), seed=4).eval()
    state = {k: v.clone() for k, v in src.state_dict().items()}  # the reference's layout, filt buffers included
    pth = tmp_path / "latest_net_G.pth"
    buf = io.BytesIO()
    torch.save(state, buf)
    pth.write_bytes(buf.getvalue())
    assert main(["import", str(pth), "--arch", "cut_resnet_9blocks", "--ngf", "8", "--out", str(tmp_path / "m")]) == 0
    assert "imported" in capsys.readouterr().out
    net = load_generator(tmp_path / "m")
    assert net.config == {"name": "cut_resnet_9blocks", "ngf": 8, "norm": "instance", "use_dropout": False}
    x = torch.rand(1, 3, 40, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), src(x))
    # a CycleGAN layout is no CUT checkpoint: a one-line error naming the mismatch
    torch.save(create_generator("resnet_9blocks", ngf=8).state_dict(), tmp_path / "cyclegan.pth")
    with pytest.raises(ValueError, match="weights do not fit architecture .name=cut_resnet_9blocks"):
        import_reference(tmp_path / "cyclegan.pth", tmp_path / "n", "cut_resnet_9blocks", ngf=8)
