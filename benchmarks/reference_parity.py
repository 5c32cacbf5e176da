"""Check that pocketgan's CycleGAN and pix2pix steps are numerically the reference's.

Loads junyanz/pytorch-CycleGAN-and-pix2pix's ``CycleGANModel`` / ``Pix2PixModel`` from a folder you
provide (its ``models/`` and ``util/``; e.g. ``git archive HEAD models util | tar -x -C /tmp/ref``
in a clone), copies its initial weights into ours, feeds both the same tensors and compares the
losses and all weights after every step. The image pool is off (the reference's pool draws from
Python's global RNG, ours from its own, so with a pool the two only agree in distribution). For
pix2pix the global torch RNG is reseeded before each side's step, so dropout draws the same masks.

    python benchmarks/reference_parity.py --reference /tmp/ref [--steps 5] [--netG resnet_6blocks --ngf 8 --size 64]
    python benchmarks/reference_parity.py --reference /tmp/ref --model pix2pix --netG unet_128 --size 128
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from types import SimpleNamespace

import torch

from pocketgan.training.config import TrainConfig, config_for
from pocketgan.training.cyclegan import CycleGAN
from pocketgan.training.pix2pix import Pix2Pix


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", required=True, help="folder holding the reference's models/ and util/")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--netG", default="resnet_6blocks")
    p.add_argument("--ngf", type=int, default=8)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--gan-mode", default=None, choices=("lsgan", "vanilla"), help="(default: the model's)")
    p.add_argument("--model", default="cyclegan", choices=("cyclegan", "pix2pix"))
    args = p.parse_args()
    sys.path.insert(0, args.reference)
    if args.model == "pix2pix":
        return pix2pix_parity(args)
    args.gan_mode = args.gan_mode or "lsgan"
    from models.cycle_gan_model import CycleGANModel  # noqa: E402  (the reference, not vendored)

    torch.manual_seed(0)
    opt = SimpleNamespace(gpu_ids=[], isTrain=True, checkpoints_dir=tempfile.mkdtemp(prefix="pocketgan_parity_"), name="parity",
                          preprocess="resize_and_crop", input_nc=3, output_nc=3, ngf=args.ngf, ndf=args.ngf,
                          netG=args.netG, netD="basic", n_layers_D=3, norm="instance", no_dropout=True,
                          init_type="normal", init_gain=0.02, lambda_identity=0.5, lambda_A=10.0, lambda_B=10.0,
                          pool_size=0, gan_mode=args.gan_mode, lr=2e-4, beta1=0.5, direction="AtoB",
                          lr_policy="linear", epoch_count=1, n_epochs=1, n_epochs_decay=1, continue_train=False,
                          load_iter=0, epoch="latest", verbose=False)
    ref = CycleGANModel(opt)
    ours = CycleGAN(TrainConfig(data="-", netG=args.netG, ngf=args.ngf, ndf=args.ngf, pool_size=0,
                                gan_mode=args.gan_mode), torch.device("cpu"))
    names = ("G_A", "G_B", "D_A", "D_B")
    for k in names:
        ours.nets[k].load_state_dict(getattr(ref, "net" + k).state_dict())

    return compare_steps(ref, ours, names, args, reseed=False)


def compare_steps(ref, ours, names: tuple[str, ...], args, reseed: bool) -> int:
    """Feed both the same random batches; print the largest loss and tensor differences per step.
    ``reseed``: reset the global torch RNG before each side's step (dropout draws the same masks)."""
    print(f"{'step':>4} {'max |loss diff|':>16} {'max |weight diff|':>18}")
    worst = 0.0
    for step in range(args.steps):
        a = torch.rand(1, 3, args.size, args.size) * 2 - 1
        b = torch.rand(1, 3, args.size, args.size) * 2 - 1
        ref.set_input({"A": a, "B": b, "A_paths": "", "B_paths": ""})
        if reseed:
            torch.manual_seed(1000 + step)
        ref.optimize_parameters()
        if reseed:
            torch.manual_seed(1000 + step)
        losses = ours.train_step({"A": a, "B": b})
        loss_diff = max(abs(float(getattr(ref, "loss_" + k).detach()) - float(v)) for k, v in losses.items())
        weight_diff = max((p.detach() - q.detach()).abs().max().item() for k in names  # weights and BN statistics
                          for p, q in zip(getattr(ref, "net" + k).state_dict().values(), ours.nets[k].state_dict().values())
                          if p.is_floating_point())
        worst = max(worst, loss_diff, weight_diff)
        print(f"{step:>4} {loss_diff:>16.3g} {weight_diff:>18.3g}")
    print("identical" if worst == 0 else f"max difference {worst:.3g}")
    return 0


def pix2pix_parity(args) -> int:
    from models.pix2pix_model import Pix2PixModel  # noqa: E402  (the reference, not vendored)

    gan_mode = args.gan_mode or "vanilla"
    torch.manual_seed(0)
    opt = SimpleNamespace(gpu_ids=[], isTrain=True, checkpoints_dir=tempfile.mkdtemp(prefix="pocketgan_parity_"), name="parity",
                          preprocess="resize_and_crop", input_nc=3, output_nc=3, ngf=args.ngf, ndf=args.ngf,
                          netG=args.netG, netD="basic", n_layers_D=3, norm="batch", no_dropout=False,
                          init_type="normal", init_gain=0.02, lambda_L1=100.0, pool_size=0, gan_mode=gan_mode,
                          lr=2e-4, beta1=0.5, direction="AtoB", lr_policy="linear", epoch_count=1, n_epochs=1,
                          n_epochs_decay=1, continue_train=False, load_iter=0, epoch="latest", verbose=False)
    ref = Pix2PixModel(opt)
    ours = Pix2Pix(config_for("pix2pix", data="-", netG=args.netG, ngf=args.ngf, ndf=args.ngf, gan_mode=gan_mode),
                   torch.device("cpu"))
    for k in ("G", "D"):
        ours.nets[k].load_state_dict(getattr(ref, "net" + k).state_dict())
    print(f"pix2pix {args.netG}(ngf={args.ngf}) batch norm + dropout, {gan_mode}, {args.size}px")
    return compare_steps(ref, ours, ("G", "D"), args, reseed=True)


if __name__ == "__main__":
    sys.exit(main())
