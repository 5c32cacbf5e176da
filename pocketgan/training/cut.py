"""CUT and FastCUT (Park, Efros, Zhang, Zhu, ECCV 2020): one-sided unpaired translation with a
patchwise contrastive loss instead of a cycle.

One generator G learns source -> target (``--direction``), one PatchGAN D judges target-domain
images. PatchNCE keeps each output patch closer to the input patch at the same place than to any
other input patch: features of G's encoder at ``nce_layers`` are taken for the input and for the
output (G run again on its own output), ``num_patches`` positions are sampled per layer, each is
embedded by a small MLP head (F, one per layer), L2-normalised, and scored by a softmax
cross-entropy at temperature ``nce_T`` whose positive is the same position. CUT adds the same
loss between target images and G of them (``nce_idt``: an identity term); FastCUT drops it, weighs
PatchNCE by 10 and adds flip equivariance.

One ``train_step`` is the reference's ``CUTModel.optimize_parameters`` (same ops in the same
order, so a step is bit-identical: ``benchmarks/reference_parity.py --model cut``): D on real vs.
fake, then G and F together on lambda_gan * GAN + PatchNCE.

One difference, on purpose: the reference creates F's MLP heads lazily, at the first forward (their
width depends on G's layers), inside an extra forward/backward on the first batch. Here their
input widths are probed with a zero image when the objective is built, so F exists — and is
checkpointed, optimised and scheduled — from the start like every other net, and a resumed run
needs no special case. The reference's heads are then initialised the same way (xavier/normal
per ``init_type``), only at a different point of the RNG stream; the parity benchmark copies them.

Random draws (patch positions, the flip coin) use torch's global RNG, which checkpoints restore,
so resume stays exact; the reference uses NumPy's (``PatchSampler.draw`` and ``CUT.coin`` are the
two places the parity benchmark replaces to feed both sides the same draws).
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..directions import get_direction
from ..errors import OptionError
from ..models.layers import init_weights
from ..models.losses import GANLoss
from ..models.modes import eval_mode
from .config import ConfigError, TrainConfig, at_least, opt
from .objective import OptimizerFactory, adam, make_discriminator, make_generator, set_requires_grad
from .precision import PLAIN, Precision


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm: the reference's Normalize(2), the same ops for the same bits,
    except that a row of zeros (an MLP head whose ReLU layer is all off, common with narrow heads)
    gets a zero gradient where the reference's sqrt'(0) = inf gives NaN and poisons the run."""
    norm = x.pow(2).sum(1, keepdim=True).clamp_min(1e-30).pow(1.0 / 2)
    return x.div(norm + 1e-7)


class PatchSampler(nn.Module):
    """F: samples ``num_patches`` positions of each feature map (the same positions for every image
    of the batch, and for the input and the output) and embeds them: with ``use_mlp`` through a
    Linear-ReLU-Linear head per layer (``mlp_0``, ``mlp_1``, ... like the reference's keys)."""

    def __init__(self, channels: list[int], use_mlp: bool, nc: int = 256) -> None:
        super().__init__()
        self.use_mlp = use_mlp
        if use_mlp:
            for i, c in enumerate(channels):
                setattr(self, f"mlp_{i}", nn.Sequential(nn.Linear(c, nc), nn.ReLU(), nn.Linear(nc, nc)))

    def draw(self, positions: int, num_patches: int, device: torch.device) -> torch.Tensor:
        """Which positions to sample: a random subset (torch's global RNG, checkpointed)."""
        return torch.randperm(positions)[:min(num_patches, positions)].to(device)

    def forward(self, feats: list[torch.Tensor], num_patches: int,
                patch_ids: list[torch.Tensor] | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        out, ids = [], []
        for i, feat in enumerate(feats):
            flat = feat.permute(0, 2, 3, 1).flatten(1, 2)  # (B, H*W, C)
            pid = patch_ids[i] if patch_ids is not None else self.draw(flat.shape[1], num_patches, feat.device)
            x = flat[:, pid, :].flatten(0, 1)  # (B * patches, C)
            if self.use_mlp:
                x = getattr(self, f"mlp_{i}")(x)
            ids.append(pid)
            out.append(l2_normalize(x))
        return out, ids


def patch_nce(feat_q: torch.Tensor, feat_k: torch.Tensor, batch: int, temperature: float,
              all_negatives: bool) -> torch.Tensor:
    """Per-patch PatchNCE loss: the positive is the key at the same position, the negatives the
    other sampled positions of the same image (or of the whole batch with ``all_negatives``)."""
    n, dim = feat_q.shape
    feat_k = feat_k.detach()
    l_pos = torch.bmm(feat_q.view(n, 1, -1), feat_k.view(n, -1, 1)).view(n, 1)
    groups = 1 if all_negatives else batch
    q, k = feat_q.view(groups, -1, dim), feat_k.view(groups, -1, dim)
    patches = q.size(1)
    l_neg = torch.bmm(q, k.transpose(2, 1))
    diagonal = torch.eye(patches, device=q.device, dtype=torch.bool)[None, :, :]
    l_neg.masked_fill_(diagonal, -10.0)  # the positive itself: ~exp(-10), not a negative
    logits = torch.cat((l_pos, l_neg.view(-1, patches)), dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.size(0), dtype=torch.long, device=q.device), reduction="none")


def probe_channels(G: nn.Module, layers: tuple[int, ...], size: int, device: torch.device) -> list[tuple[int, int]]:
    """(channels, positions) of G's features at ``layers`` for a ``size``² image: a no-grad,
    eval-mode pass (no batch-norm update), with one clear line where G cannot give them."""
    with eval_mode(G), torch.no_grad():
        feats = G(torch.zeros(1, 3, size, size, device=device), layers=list(layers))
    return [(f.shape[1], f.shape[2] * f.shape[3]) for f in feats]


@dataclass
class CUTOptions:
    """CUT's and FastCUT's own options (`train --objective cut` / `fastcut`; their registry entries
    set the two defaults that differ: nce_idt, lambda_nce, flip_equivariance)."""

    lambda_nce: float = opt(1.0, "weight of the PatchNCE loss", "cut")
    nce_idt: bool = opt(True, "also PatchNCE between target-domain images and G of them (an identity loss)", "cut")
    nce_layers: str = opt("0,4,8,12,16", "generator layers whose features feed PatchNCE, comma-separated, increasing "
                                         "(docs/objectives.md: which layers of each generator)", "cut")
    nce_all_negatives: bool = opt(False, "draw PatchNCE negatives from every image of the batch, not only the same "
                                         "image (the reference's nce_includes_all_negatives_from_minibatch)", "cut")
    netF: str = opt("mlp_sample", "how sampled patches are embedded: mlp_sample = a 2-layer MLP head per layer, "
                                  "sample = the raw features", "cut", choices=("mlp_sample", "sample"))
    netF_nc: int = opt(256, "width of the MLP heads' output", "cut")
    nce_T: float = opt(0.07, "temperature of the PatchNCE softmax", "cut")
    num_patches: int = opt(256, "patches sampled per layer and image", "cut")
    flip_equivariance: bool = opt(False, "flip half the batches before G and flip its features back (FastCUT's "
                                         "regulariser)", "cut")

    def validate(self) -> None:
        at_least(self, 1, "netF_nc", "num_patches")
        at_least(self, 0, "lambda_nce")
        if not self.nce_T > 0:
            raise ConfigError(f"--nce-T must be > 0 (got {self.nce_T})")
        self.layer_list()

    def layer_list(self) -> tuple[int, ...]:
        """``nce_layers`` as increasing layer indices (one ConfigError line otherwise)."""
        try:
            layers = tuple(int(x) for x in self.nce_layers.split(","))
        except (ValueError, AttributeError):
            raise ConfigError(f"--nce-layers must be comma-separated layer indices such as 0,4,8,12,16 "
                              f"(got {self.nce_layers!r})") from None
        if not layers or layers[0] < 0 or any(b <= a for a, b in itertools.pairwise(layers)):
            raise ConfigError(f"--nce-layers must be non-negative and strictly increasing (got {self.nce_layers!r})")
        return layers


class CUT:
    """The :class:`~pocketgan.training.objective.Objective` of CUT and FastCUT (registry entries
    "cut" and "fastcut": the same maths, different defaults)."""

    Options = CUTOptions
    precision: Precision = PLAIN  # the trainer sets loss scaling for fp16 (precision.py)

    def __init__(self, cfg: TrainConfig, device: torch.device, optimizer: OptimizerFactory | None = None) -> None:
        self.cfg, self.device = cfg, device
        self.direction = get_direction(cfg.direction)
        self.slot, self.src, self.dst = self.direction.slot, self.direction.source, self.direction.target
        opts = self.opts = cfg.options
        self.layers = opts.layer_list()
        G, D = make_generator(cfg).to(device), make_discriminator(cfg).to(device)
        if not hasattr(G, "nce_layer_count"):
            raise OptionError(f"--netG {cfg.netG}: CUT needs a generator with PatchNCE feature taps "
                              "(resnet_*, cut_resnet_*, mobile_resnet_*)")
        shapes = probe_channels(G, self.layers, cfg.crop_size, device)
        for layer, (_, positions) in zip(self.layers, shapes, strict=True):
            if opts.num_patches > positions:
                raise OptionError(f"--num-patches {opts.num_patches}: layer {layer} of {cfg.netG} has only {positions} "
                                  f"positions at --crop-size {cfg.crop_size}; use --num-patches {positions} or less")
        sampler = PatchSampler([c for c, _ in shapes], opts.netF == "mlp_sample", opts.netF_nc)
        init_weights(sampler, cfg.init_type, cfg.init_gain)
        self.nets: dict[str, nn.Module] = {"G": G, "D": D, "F": sampler.to(device)}
        for net in self.nets.values():
            net.train()
        optimizer = optimizer or adam(cfg)
        self.optimizers = {"G": optimizer(G.parameters()), "D": optimizer(D.parameters())}
        if any(p.requires_grad for p in sampler.parameters()):
            self.optimizers["F"] = optimizer(sampler.parameters())
        if cfg.pool_size:
            raise OptionError(f"--pool-size {cfg.pool_size}: {cfg.model} shows D the current fakes only (the "
                              "reference has no image pool); use --pool-size 0")
        self.pools = {}
        self.gan = GANLoss(cfg.gan_mode)

    @property
    def generators(self) -> dict[str, nn.Module]:
        return {self.slot: self.nets["G"]}

    def model_info(self) -> dict:
        return {"model_type": self.cfg.model}

    def coin(self) -> bool:
        """Flip this step's batch (flip equivariance)? A fair coin from torch's global RNG."""
        return bool(torch.rand(()) < 0.5)

    def nce_loss(self, nets: Mapping[str, nn.Module], src: torch.Tensor, tgt: torch.Tensor, flipped: bool) -> torch.Tensor:
        """Mean PatchNCE over the layers between ``src`` (keys) and its translation ``tgt`` (queries)."""
        G, sampler, opts = nets["G"], nets["F"], self.opts
        feat_q = G(tgt, layers=list(self.layers))
        if flipped:
            feat_q = [torch.flip(f, [3]) for f in feat_q]
        feat_k = G(src, layers=list(self.layers))
        feat_k_pool, ids = sampler(feat_k, opts.num_patches)
        feat_q_pool, _ = sampler(feat_q, opts.num_patches, ids)
        total = 0.0
        for f_q, f_k in zip(feat_q_pool, feat_k_pool, strict=True):
            total += (patch_nce(f_q, f_k, src.size(0), opts.nce_T, opts.nce_all_negatives) * opts.lambda_nce).mean()
        return total / len(self.layers)

    def train_step(self, batch: dict, nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        cfg, opts = self.cfg, self.opts
        G, D = nets["G"], nets["D"]
        real_A = batch[self.src].to(self.device, non_blocking=True)  # the input, whatever the direction
        real_B = batch[self.dst].to(self.device, non_blocking=True)  # target-domain examples
        real = torch.cat((real_A, real_B), dim=0) if opts.nce_idt else real_A
        flipped = opts.flip_equivariance and self.coin()
        if flipped:
            real = torch.flip(real, [3])
        fake = G(real)
        fake_B = fake[:real_A.size(0)]
        idt_B = fake[real_A.size(0):] if opts.nce_idt else None
        loss = {}

        # discriminator: real target images vs. the current fakes
        set_requires_grad([D], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss["D_fake"] = self.gan(D(fake_B.detach()), False).mean()
        loss["D_real"] = self.gan(D(real_B), True).mean()
        self.precision.backward((loss["D_fake"] + loss["D_real"]) * 0.5)
        self.precision.step(self.optimizers["D"])

        # generator and MLP heads: fool D, keep each patch's content (and leave target images alone)
        set_requires_grad([D], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        if "F" in self.optimizers:
            self.optimizers["F"].zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        if cfg.lambda_gan > 0:
            loss["G_GAN"] = self.gan(D(fake_B), True, for_discriminator=False).mean() * cfg.lambda_gan
            total = loss["G_GAN"]
        if opts.lambda_nce > 0:
            loss["NCE"] = self.nce_loss(nets, real_A, fake_B, flipped)
            if opts.nce_idt:
                loss["NCE_Y"] = self.nce_loss(nets, real_B, idt_B, flipped)
                total = total + (loss["NCE"] + loss["NCE_Y"]) * 0.5
            else:
                total = total + loss["NCE"]
        self.precision.backward(total)
        self.precision.step(self.optimizers["G"])
        if "F" in self.optimizers:
            self.precision.step(self.optimizers["F"])
        set_requires_grad([D], True)
        zero = torch.zeros((), device=self.device)
        return {k: loss.get(k, zero).detach() for k in ("G_GAN", "D_real", "D_fake", "NCE", "NCE_Y")}

    @torch.no_grad()
    def visuals(self, real_A: torch.Tensor, real_B: torch.Tensor, nets: Mapping[str, nn.Module]) -> list[torch.Tensor]:
        """input | output | target-domain example | G of it (what the identity term keeps still)."""
        G = nets["G"]
        src, dst = (real_A, real_B) if self.src == "A" else (real_B, real_A)
        with eval_mode(G):
            src, dst = src.to(self.device), dst.to(self.device)
            return [t.cpu() for t in (src, G(src), dst, G(dst))]
