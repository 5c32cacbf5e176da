"""The speed flags: what ``auto`` picks, and that each fast path trains like the plain fp32 one."""
import json
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from pocketgan.training import fast_path, precision
from pocketgan.training.checkpoint import load_checkpoint, read_checkpoint_meta
from pocketgan.training.config import TrainConfig
from pocketgan.training.fast_path import FastPath, resolve_fast_path
from pocketgan.training.run import CHECKPOINT, TrainingError, resume, train

STEPS = 4


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The runs use --threads 1 (steady timings beside other jobs); give the rest of the session its threads back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run(tiny_config):
    """The function ``run(toy_data, tmp_path, name, **flags) -> (losses, tensors)``."""
    def short_run(toy_data, tmp_path, name: str, **flags) -> tuple[list[dict], dict]:
        """Per-step losses and the final checkpoint tensors of a short tiny run."""
        plain_flags = dict(channels_last="off", compile="off", amp="off", adam="plain")  # amp="auto" would be bf16 on some CPUs
        summary = train(tiny_config(toy_data, tmp_path, name=name, max_steps=STEPS, log_every=1, sample_every=0, threads=1,
                                    **{**plain_flags, **flags}))
        run_dir = Path(summary["run_dir"])
        lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        losses = [{k: v for k, v in line.items() if k not in ("images_per_s", "lr", "step", "epoch", "iter")} for line in lines]
        return losses, load_checkpoint(run_dir / CHECKPOINT)[0]
    return short_run


@pytest.fixture(scope="module")
def plain(toy_data, tmp_path_factory, run):
    return run(toy_data, tmp_path_factory.mktemp("plain"), "plain")


def test_auto_is_off_on_cpu_and_on_for_cuda(monkeypatch):
    cfg = TrainConfig(data="-")
    monkeypatch.setattr(fast_path, "cpu_has_native_bf16", lambda: False)
    assert resolve_fast_path(cfg, torch.device("cpu")) == FastPath(channels_last=False, compile=False, amp=None, adam="foreach")
    monkeypatch.setattr(fast_path, "cpu_has_native_bf16", lambda: True)  # AVX512-BF16 / AMX: bf16 measured faster
    assert resolve_fast_path(cfg, torch.device("cpu")) == FastPath(False, False, torch.bfloat16, "foreach")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "slower" warning where bf16 is native
        assert resolve_fast_path(TrainConfig(data="-", amp="bf16"), torch.device("cpu")).amp == torch.bfloat16
    with pytest.warns(UserWarning, match="slower"):  # fp16 has no fast CPU path
        resolve_fast_path(TrainConfig(data="-", amp="fp16"), torch.device("cpu"))
    monkeypatch.setattr(fast_path, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_fast_path(cfg, torch.device("cuda")) == FastPath(True, True, torch.bfloat16, "fused")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_fast_path(cfg, torch.device("cuda")).amp == torch.float16  # older GPUs: fp16 + loss scaling
    explicit = TrainConfig(data="-", channels_last="on", compile="off", amp="off", adam="plain")
    assert resolve_fast_path(explicit, torch.device("cuda")) == FastPath(True, False, None, "plain")
    with pytest.warns(UserWarning, match="slower"):
        assert resolve_fast_path(TrainConfig(data="-", amp="bf16"), torch.device("cpu")).amp == torch.bfloat16


def test_foreach_adam_is_bit_identical_on_cpu(toy_data, tmp_path, plain, run):
    losses, tensors = run(toy_data, tmp_path, "foreach", adam="auto")  # auto = foreach on CPU
    assert losses == plain[0]
    for k, v in plain[1].items():
        assert torch.equal(v, tensors[k]), k


def _close(fast: list[dict], reference: list[dict], tolerance: dict[str, tuple[float, float]]) -> None:
    """Every logged loss of every step within (rel, abs) of the fp32 run's; ``tolerance`` by loss-name prefix."""
    assert len(fast) == len(reference) == STEPS
    for step, (f, r) in enumerate(zip(fast, reference, strict=True)):
        for k in r:
            rel, abs_ = next(tol for prefix, tol in tolerance.items() if k.startswith(prefix))
            assert f[k] == pytest.approx(r[k], rel=rel, abs=abs_), (step, k)


def test_channels_last_tracks_fp32(toy_data, tmp_path, plain, run):
    losses, _ = run(toy_data, tmp_path, "cl", channels_last="on")
    _close(losses, plain[0], {"": (1e-3, 1e-4)})  # same maths, other summation order


def test_bf16_autocast_tracks_fp32(toy_data, tmp_path, plain, run):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "slower" unless this CPU has native bf16
        losses, tensors = run(toy_data, tmp_path, "bf16", amp="bf16")
    # bf16 keeps ~3 significant digits: reconstruction losses stay within 2%; the adversarial ones
    # of this 4-filter D (outputs near 0) swing more: D within 5%, G within 0.2 (measured: up to 0.14)
    _close(losses, plain[0], {"cycle": (0.02, 0), "idt": (0.02, 0), "D": (0.05, 0), "G": (0, 0.2)})
    assert tensors["net.G_A.model.1.weight"].dtype == torch.float32  # weights stay fp32


def test_fp16_with_loss_scaling_tracks_fp32(toy_data, tmp_path, plain, monkeypatch, run):
    # a scale at which this tiny net never overflows, so no step is skipped and the runs stay comparable
    monkeypatch.setattr(precision, "INIT_SCALE", 64.0)
    with pytest.warns(UserWarning, match="slower"):
        losses, tensors = run(toy_data, tmp_path, "fp16", amp="fp16")
    scale = read_checkpoint_meta(tmp_path / "fp16" / CHECKPOINT)["components"]["loss_scale"]
    assert scale["scale"] == 64.0 and scale["_growth_tracker"] == STEPS  # every step taken, none skipped
    # fp16 has more mantissa than bf16 (10 vs 7 bits): within the bf16 bounds
    _close(losses, plain[0], {"cycle": (0.02, 0), "idt": (0.02, 0), "D": (0.05, 0), "G": (0, 0.2)})
    assert tensors["net.G_A.model.1.weight"].dtype == torch.float32  # weights and Adam state stay fp32
    assert any(not torch.equal(v, tensors[k]) for k, v in plain[1].items() if k.startswith("net."))  # it ran in fp16


def test_fp16_overflow_skips_the_step_and_lowers_the_scale(toy_data, tmp_path, plain, run):
    with pytest.warns(UserWarning, match="slower"):
        losses, tensors = run(toy_data, tmp_path, "fp16", amp="fp16")  # default 2**16: gradients overflow at first
    scale = read_checkpoint_meta(tmp_path / "fp16" / CHECKPOINT)["components"]["loss_scale"]["scale"]
    assert scale < precision.INIT_SCALE  # halved on each overflow
    assert torch.isfinite(torch.tensor([v for step in losses for v in step.values()])).all()
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if k.startswith("net.") and v.is_floating_point())


def test_fp16_resume_is_exact_including_the_loss_scale(toy_data, tmp_path, tiny_config):
    flags = dict(channels_last="off", compile="off", amp="fp16", adam="plain", log_every=1, sample_every=0, threads=1)
    with pytest.warns(UserWarning, match="slower"):
        whole = train(tiny_config(toy_data, tmp_path, name="whole", max_steps=STEPS, **flags))
        train(tiny_config(toy_data, tmp_path, name="split", max_steps=STEPS // 2, **flags))
        resume(tmp_path / "split", {"max_steps": STEPS})
    a = load_checkpoint(Path(whole["run_dir"]) / CHECKPOINT)[0]
    b = load_checkpoint(tmp_path / "split" / CHECKPOINT)[0]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert read_checkpoint_meta(tmp_path / "split" / CHECKPOINT)["components"]["loss_scale"] == \
        read_checkpoint_meta(Path(whole["run_dir"]) / CHECKPOINT)["components"]["loss_scale"]


def test_failed_compile_falls_back_to_the_plain_step(toy_data, tmp_path, plain, monkeypatch, capsys, run):
    calls = []

    class FailsLate(torch.nn.Module):
        """Runs the net, but fails in the discriminators' phase of the first step, after the
        generators were already updated: only undoing the whole step makes the result right."""

        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 9:  # 6 generator calls + 2 frozen D calls, then D_A on real images
                raise RuntimeError("backend compiler failed\nlong traceback")
            return self.net(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", lambda module, *a, **k: FailsLate(module))
    losses, tensors = run(toy_data, tmp_path, "compile", compile="on")
    err = capsys.readouterr().err
    assert err.count("torch.compile failed") == 1 and "(backend compiler failed); training without it" in err
    assert losses == plain[0]  # the failed step was undone and redone: nothing changed
    for k, v in plain[1].items():
        assert torch.equal(v, tensors[k]), k


def test_grad_checkpoint_gives_the_same_training(toy_data, tmp_path, plain, monkeypatch, run):
    from pocketgan.models import resnet

    calls = []
    monkeypatch.setattr(resnet, "checkpoint", lambda fn, *a, **k: calls.append(1) or checkpoint(fn, *a, **k))
    losses, tensors = run(toy_data, tmp_path, "ckpt", grad_checkpoint=True)
    assert len(calls) == STEPS * 6 * 6  # 6 generator calls with grad per step, 6 blocks each
    assert losses == plain[0]  # the same maths, recomputed: bit-identical on CPU
    for k, v in plain[1].items():
        assert torch.equal(v, tensors[k]), k


def test_grad_checkpoint_refuses_generators_it_cannot_serve(toy_data, tmp_path, tiny_config):
    with pytest.raises(TrainingError, match="unet_256 does not support it"):
        train(tiny_config(toy_data, tmp_path, name="u", netG="unet_256", grad_checkpoint=True, max_steps=1))
    with pytest.raises(TrainingError, match="BatchNorm running statistics"):
        train(tiny_config(toy_data, tmp_path, name="b", norm="batch", grad_checkpoint=True, max_steps=1))
