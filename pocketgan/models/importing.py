"""Convert a generator saved by junyanz/pytorch-CycleGAN-and-pix2pix (``latest_net_G_A.pth``,
``latest_net_G.pth``) or by taesungp/contrastive-unpaired-translation (CUT / FastCUT's
``latest_net_G.pth``: ``arch="cut_resnet_9blocks"``, whose fixed blur filters are in the file as
``model.N.filt`` buffers and load like weights) into a pocketgan model folder. The file is read by
:func:`~pocketgan.models.weights.read_weights`: a PyTorch file with ``torch.load(weights_only=True)``
(tensors only, no arbitrary code from a stranger's pickle), a safetensors file after its header is
checked, whatever the file's suffix; a damaged file is one WeightsError line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from ..directions import SLOTS
from ..errors import OptionError
from ..fileio import atomic_write_bytes, atomic_write_json
from .pretrained import CONFIG_NAME, FORMAT, build_generator, load_weights, read_model_config
from .weights import read_weights

STALE_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


def clean_reference_state(state: dict, net: torch.nn.Module) -> dict:
    """Strip DataParallel's ``module.`` prefix and drop InstanceNorm running statistics that old
    PyTorch versions saved (InstanceNorm here tracks none, so they have no home)."""
    own = net.state_dict()
    out = {}
    for k, v in state.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if k not in own and k.endswith(STALE_SUFFIXES):
            continue
        out[k] = v
    return out


def guess_slot(path: Path) -> str:
    """G_B for ``*_net_G_B.pth``, G_A otherwise (``G_A``, pix2pix's ``G``, or a renamed file)."""
    return "G_B" if path.stem.endswith("G_B") else "G_A"


def import_reference(path: str | Path, out: str | Path, arch: str = "resnet_9blocks", slot: str | None = None,
                     **arch_kwargs) -> Path:
    """Write ``out/<slot>.safetensors`` and add it to ``out/config.json`` (creating the folder, or
    adding a second direction to an existing one)."""
    path, out = Path(path), Path(out)
    slot = slot or guess_slot(path)
    if slot not in SLOTS:
        raise OptionError(f"slot must be {' or '.join(SLOTS)} (got {slot!r})")
    state = read_weights(path)  # one WeightsError line for a missing, damaged or foreign file
    spec = {"name": arch, **arch_kwargs}
    net = build_generator(spec)
    state = clean_reference_state(state, net)
    load_weights(net, state, str(path))
    config: dict[str, Any] = read_model_config(out) if (out / CONFIG_NAME).is_file() else {
        "format": FORMAT, "model_type": "imported", "generators": {}, "source": {}}
    atomic_write_bytes(out / f"{slot}.safetensors", save({k: v.contiguous() for k, v in net.state_dict().items()}))
    config["generators"][slot] = net.config
    config.setdefault("source", {})[slot] = path.name
    atomic_write_json(out / CONFIG_NAME, config)
    return out
