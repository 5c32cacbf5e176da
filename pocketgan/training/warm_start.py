"""``--init-from``: a new run that starts from trained weights instead of random ones.

Why: a finished schedule's generators are a far better start than noise for a second schedule
(train longer without redoing the first one) or for fine-tuning (another crop size, other loss
weights). Unlike ``--resume`` this is a *new* run: its own folder, config, optimizers, LR schedule
and step count; only network weights (BatchNorm statistics included) are taken over.

From a run folder every net of its last checkpoint that this objective also has is loaded, so the
discriminators keep what they learnt; from a model folder (or a model name) only the generators
are, and the discriminators start fresh. Generators must fit exactly (one line naming the file
and the mismatch otherwise); a discriminator that does not fit (another ``--netD``) starts fresh
with a warning.

A model on the Hugging Face Hub (``hf://ORG/NAME[@REVISION]``) is pinned to the commit it resolved
to: the run's config (train_config.json, its checkpoints) records ``hf://ORG/NAME@<commit>``, so
the run names exactly the weights it started from, whatever the branch holds later.
"""
from __future__ import annotations

import warnings

import torch

from ..errors import first_line
from ..models.hub import provenance
from ..models.pretrained import CONFIG_NAME, ModelFolderError, load_generator, load_weights, read_model_config
from ..models.zoo import resolve_model
from .checkpoint import CheckpointError, load_checkpoint, subset
from .objective import Objective


def _source_weights(spec: str) -> tuple[dict[str, dict[str, torch.Tensor]], str, bool]:
    """(state dicts by net name for a run folder, by slot for a model folder; where they came
    from; whether it was a training checkpoint)."""
    from .run import CHECKPOINT, TrainingError

    try:
        folder = resolve_model(spec)
    except ModelFolderError as e:
        raise TrainingError(f"--init-from: {e}") from None
    if not folder.is_dir():
        raise TrainingError(f"--init-from {spec}: not a run or model folder"
                            + ("" if folder.exists() else " (no such folder)"))
    ckpt = folder / CHECKPOINT
    if ckpt.is_file():
        try:
            tensors, meta = load_checkpoint(ckpt)
        except CheckpointError as e:
            raise TrainingError(f"--init-from: {e}") from None
        names = sorted({k.split(".")[1] for k in tensors if k.startswith("net.")})
        return {n: subset(tensors, f"net.{n}") for n in names}, f"{ckpt} (step {meta.get('step', '?')})", True
    if not (folder / CONFIG_NAME).is_file():
        raise TrainingError(f"--init-from {spec}: neither a run folder ({CHECKPOINT}) nor a model folder ({CONFIG_NAME})")
    hub = provenance(folder)
    try:
        slots = read_model_config(folder)["generators"]
        weights = {slot: load_generator(folder, slot).state_dict() for slot in slots}
        return weights, hub["spec"] if hub else str(folder), False
    except ModelFolderError as e:
        raise TrainingError(f"--init-from: {e}") from None


def initialise(task: Objective, spec: str) -> str:
    """Load ``spec``'s weights into ``task``'s nets (before any optimizer step); returns a one-line
    summary of what was loaded. Raises ``TrainingError`` when a generator is missing or does not fit."""
    from .run import TrainingError

    weights, source, from_checkpoint = _source_weights(spec)
    cfg = getattr(task, "cfg", None)
    if source.startswith("hf://") and getattr(cfg, "init_from", None) == spec:
        cfg.init_from = source  # pinned: hf://ORG/NAME@<commit> in train_config.json and the checkpoints
    # the task's generator nets, by net name -> the slot (G_A / G_B) a model folder files them under
    slot_of = {name: slot for slot, g in task.generators.items() for name, net in task.nets.items() if net is g}
    if not from_checkpoint:
        weights = {name: weights[slot] for name, slot in slot_of.items() if slot in weights}
    loaded, fresh = [], []
    for name, net in task.nets.items():
        if name not in weights:
            if name in slot_of:
                raise TrainingError(f"--init-from {source}: has no weights for {slot_of[name]}")
            fresh.append(name)
            continue
        try:
            load_weights(net, weights[name], f"--init-from {source} [{name}]")
        except ModelFolderError as e:
            if name in slot_of:
                raise TrainingError(str(e)) from None
            warnings.warn(f"{first_line(e)}; {name} starts fresh", stacklevel=2)
            fresh.append(name)
            continue
        loaded.append(name)
    line = f"initialised {', '.join(loaded)} from {source}"
    return line + (f"; fresh: {', '.join(fresh)}" if fresh else "")
