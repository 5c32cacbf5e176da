"""Check that pocketgan's CycleGAN, pix2pix, CUT and FastCUT steps are numerically the references'.

Loads junyanz/pytorch-CycleGAN-and-pix2pix's ``CycleGANModel`` / ``Pix2PixModel`` from a folder you
provide (its ``models/`` and ``util/``; e.g. ``git archive HEAD models util | tar -x -C /tmp/ref``
in a clone), copies its initial weights into ours, feeds both the same tensors and compares the
losses and all weights after every step. The image pool is off (the reference's pool draws from
Python's global RNG, ours from its own, so with a pool the two only agree in distribution). For
pix2pix the global torch RNG is reseeded before each side's step, so dropout draws the same masks.

    python benchmarks/reference_parity.py --reference /tmp/ref [--steps 5] [--netG resnet_6blocks --ngf 8 --size 64]
    python benchmarks/reference_parity.py --reference /tmp/ref --model pix2pix --netG unet_128 --size 128

CUT and FastCUT compare with taesungp/contrastive-unpaired-translation's ``CUTModel`` (its ``models/``
and ``util/`` in another folder; its default generator is our ``cut_resnet_9blocks``). Its patch
positions and flip coin come from NumPy's global RNG: the reference draws them, they are recorded,
and our side is fed the same draws (``PatchSampler.draw``, ``CUT.coin``). Its MLP heads are created
at the first forward (``data_dependent_initialize``); ours at construction: their weights are copied.

    python benchmarks/reference_parity.py --reference /tmp/cutref --model cut --netG cut_resnet_9blocks --size 64
    python benchmarks/reference_parity.py --reference /tmp/cutref --model fastcut --netG cut_resnet_9blocks --size 64
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
    p.add_argument("--model", default="cyclegan", choices=("cyclegan", "pix2pix", "cut", "fastcut"))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--num-patches", type=int, default=64, help="CUT: patches per layer (default: 64, for 64 px)")
    args = p.parse_args()
    sys.path.insert(0, args.reference)
    if args.model == "pix2pix":
        return pix2pix_parity(args)
    if args.model in ("cut", "fastcut"):
        return cut_parity(args)
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
    batch = getattr(args, "batch", 1)
    for step in range(args.steps):
        a = torch.rand(batch, 3, args.size, args.size) * 2 - 1
        b = torch.rand(batch, 3, args.size, args.size) * 2 - 1
        ref.set_input({"A": a, "B": b, "A_paths": "", "B_paths": ""})
        if reseed:
            torch.manual_seed(1000 + step)
        ref.optimize_parameters()
        if reseed:
            torch.manual_seed(1000 + step)
        losses = ours.train_step({"A": a, "B": b}, ours.nets)
        loss_diff = max(abs(float(torch.as_tensor(getattr(ref, "loss_" + k)).detach()) - float(v)) for k, v in losses.items()
                        if hasattr(ref, "loss_" + k))
        weight_diff = max((p.detach() - q.detach()).abs().max().item() for k in names  # weights and BN statistics
                          for p, q in zip(getattr(ref, "net" + k).state_dict().values(), ours.nets[k].state_dict().values(),
                                          strict=True)
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


def cut_parity(args) -> int:
    import types

    import numpy as np
    # its util/util.py imports torchvision for an image helper no training step uses; torchvision is
    # not a dependency here, so an empty stand-in lets the module import
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
    from models.cut_model import CUTModel  # noqa: E402  (the reference, not vendored)

    from pocketgan.training.cut import CUT

    fast = args.model == "fastcut"
    torch.manual_seed(0)
    np.random.seed(0)
    mode = dict(nce_idt=False, lambda_NCE=10.0, flip_equivariance=True) if fast else \
        dict(nce_idt=True, lambda_NCE=1.0, flip_equivariance=False)
    ref_netG = {"cut_resnet_9blocks": "resnet_9blocks", "cut_resnet_6blocks": "resnet_6blocks"}.get(args.netG)
    if ref_netG is None:
        raise SystemExit("--netG: the reference's CUT generators are cut_resnet_9blocks / cut_resnet_6blocks")
    opt = SimpleNamespace(gpu_ids=[], isTrain=True, checkpoints_dir=tempfile.mkdtemp(prefix="pocketgan_parity_"),
                          name="parity", preprocess="resize_and_crop", input_nc=3, output_nc=3, ngf=args.ngf,
                          ndf=args.ngf, netG=ref_netG, netD="basic", n_layers_D=3, normG="instance", normD="instance",
                          no_dropout=True, init_type="xavier", init_gain=0.02, no_antialias=False,
                          no_antialias_up=False, netF="mlp_sample", netF_nc=256, nce_T=0.07,
                          num_patches=args.num_patches, nce_layers="0,4,8,12,16",
                          nce_includes_all_negatives_from_minibatch=False, lambda_GAN=1.0, batch_size=args.batch,
                          gan_mode=args.gan_mode or "lsgan", lr=2e-4, beta1=0.5, beta2=0.999, direction="AtoB",
                          lr_policy="linear", epoch_count=1, n_epochs=1, n_epochs_decay=1, continue_train=False,
                          epoch="latest", verbose=False, pool_size=0, CUT_mode=args.model, dataset_mode="unaligned",
                          stylegan2_G_num_downsampling=1, **mode)
    ref = CUTModel(opt)
    ours = CUT(config_for(args.model, data="-", netG=args.netG, ngf=args.ngf, ndf=args.ngf, crop_size=args.size,
                          num_patches=args.num_patches, batch_size=args.batch, gan_mode=opt.gan_mode), torch.device("cpu"))

    # record the reference's NumPy draws (patch positions, flip coin) and feed them to our side
    draws: list = []
    coins: list = []
    permutation, random = np.random.permutation, np.random.random
    np.random.permutation = lambda n: draws.append(permutation(n)) or draws[-1]
    np.random.random = lambda *a: coins.append(random(*a)) or coins[-1]
    first = {k: torch.rand(args.batch, 3, args.size, args.size) * 2 - 1 for k in ("A", "B")}
    ref.data_dependent_initialize({**first, "A_paths": "", "B_paths": ""})  # creates its MLP heads
    draws.clear(), coins.clear()
    ours.nets["F"].draw = lambda positions, num_patches, device: torch.as_tensor(
        draws.pop(0)[:min(num_patches, positions)], dtype=torch.long, device=device)
    flips: list[bool] = []
    ours.coin = lambda: flips.append(bool(coins.pop(0) < 0.5)) or flips[-1]
    for k in ("G", "D", "F"):
        ours.nets[k].load_state_dict(getattr(ref, "net" + k).state_dict())
    print(f"{args.model} {args.netG}(ngf={args.ngf}), {opt.gan_mode}, {args.size}px, batch {args.batch}, "
          f"{args.num_patches} patches")
    result = compare_steps(ref, ours, ("G", "D", "F"), args, reseed=False)
    if opt.flip_equivariance:
        print(f"flip equivariance: {sum(flips)} of {len(flips)} steps flipped")
    return result


if __name__ == "__main__":
    sys.exit(main())
