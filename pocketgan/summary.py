"""What `pocketgan info` prints: architecture, parameters, MACs at 256x256, weight megabytes,
training progress and config, for a model/run folder or a training checkpoint file."""
from __future__ import annotations

from pathlib import Path

from .errors import first_line
from .models.pretrained import CONFIG_NAME, MAX_GENERATOR_PARAMS, ModelFolderError, build_generator, read_model_config
from .models.profile import count_macs, describe_size
from .training.checkpoint import CheckpointError, read_checkpoint_meta, validate_checkpoint_meta
from .training.config import TrainConfig
from .training.objective import discriminator_spec, generator_spec
from .training.objectives import get_objective
from .training.run import CHECKPOINT


def _arch(spec: dict) -> str:
    return spec["name"] + "(" + ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name") + ")"


def _discriminator_specs(cfg: dict) -> dict[str, dict]:
    """The discriminators the run's objective builds (its registry entry), with their arguments."""
    return {name: discriminator_spec(cfg, channels) for name, channels in get_objective(cfg["model"]).discriminators.items()}


def _discriminator(spec: dict, source: str):
    """Build a discriminator a checkpoint's config describes, after counting its parameters on
    PyTorch's meta device (no memory): a damaged config must not allocate gigabytes."""
    import torch

    from .models import create_discriminator

    kwargs = {k: v for k, v in spec.items() if k != "name"}
    try:
        with torch.device("meta"):
            params = sum(p.numel() for p in create_discriminator(spec["name"], **kwargs).parameters())
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        raise ModelFolderError(f"{source}: discriminator {spec['name']} cannot be built ({first_line(e)})") from None
    if params > MAX_GENERATOR_PARAMS:
        raise ModelFolderError(f"{source}: discriminator {spec['name']} would have {params:,} parameters; "
                               "the checkpoint's config is damaged")
    return create_discriminator(spec["name"], **kwargs)


def _checkpoint_meta(path: Path) -> dict:
    """A checkpoint's metadata, checked (CheckpointError naming the file and field, never KeyError)."""
    try:
        meta = read_checkpoint_meta(path)
    except ValueError as e:  # the metadata is not JSON
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: damaged checkpoint metadata (not JSON: {e})") from None
    return validate_checkpoint_meta(meta, path)


def describe(path: str | Path, image_size: int = 256) -> dict:
    """Gather everything known about ``path`` (model folder, run folder or checkpoint file)."""
    path = Path(path)
    info: dict = {"path": str(path), "networks": {}}
    ckpt_meta = None
    if path.is_file():
        ckpt_meta = _checkpoint_meta(path)
    elif (path / CHECKPOINT).is_file():
        ckpt_meta = _checkpoint_meta(path / CHECKPOINT)
    if path.is_dir() and (path / CONFIG_NAME).is_file():
        model = read_model_config(path)
        generators = model["generators"]
        info["model_type"] = model.get("model_type")
        if model.get("distilled_from"):
            info["distilled_from"] = model["distilled_from"]
        info["training"] = model.get("training")
    elif ckpt_meta is not None:
        cfg = ckpt_meta["config"]
        spec = get_objective(cfg["model"])
        generators = {d.slot: generator_spec(cfg) for d in spec.directions(cfg.get("direction", "AtoB"))}
    else:
        raise ModelFolderError(f"{path}: neither a model/run folder (no {CONFIG_NAME}) nor a training checkpoint")
    where = path / CONFIG_NAME if ckpt_meta is None or (path / CONFIG_NAME).is_file() else path
    for name, spec in generators.items():
        net = build_generator(spec, f"{where}: generators.{name}")
        info["networks"][name] = {"arch": _arch(spec), **describe_size(net, image_size)}
    if ckpt_meta is not None:
        cfg = ckpt_meta["config"]
        for name, spec in _discriminator_specs(cfg).items():
            net = _discriminator(spec, str(path))
            info["networks"][name] = {"arch": _arch(spec), **describe_size(net, image_size, spec.get("in_channels", 3))}
        info["config"] = cfg
        epochs = TrainConfig.from_dict(cfg).total_epochs
        info["training"] = {"steps": ckpt_meta["step"], "of_total_steps": epochs * ckpt_meta["steps_per_epoch"],
                            "epochs_completed": ckpt_meta["epoch"], "of_total_epochs": epochs,
                            "iter_in_epoch": ckpt_meta["iter_in_epoch"],
                            "train_seconds": round(ckpt_meta.get("train_seconds", 0.0), 1)}
    info["image_size"] = image_size
    return info


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else (f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h")


def format_summary(info: dict) -> str:
    lines = [f"{info['path']}" + (f"  ({info['model_type']})" if info.get("model_type") else "")]
    size = info["image_size"]
    lines.append(f"{'net':5} {'architecture':58} {'params':>12} {'GMACs@' + str(size) + '²':>12} {'MB fp32':>8}")
    for name, n in info["networks"].items():
        lines.append(f"{name:5} {n['arch']:58} {n['params']:>12,} {n['macs'] / 1e9:>12.2f} {n['megabytes']:>8.1f}")
    if info.get("distilled_from"):
        d = info["distilled_from"]
        spec = d["teacher_generator"]
        teacher = build_generator(spec, f"{info['path']}: distilled_from.teacher_generator")
        student_macs = sum(n["macs"] for k, n in info["networks"].items() if k.startswith("G_"))
        ratio = count_macs(teacher, (1, 3, size, size)) / max(student_macs, 1)
        lines.append(f"distilled from {d['teacher']} ({d['direction']}: {_arch(spec)}; {ratio:.1f}x the MACs)")
    t = info.get("training")
    if t:
        if "of_total_steps" in t and t["epochs_completed"] >= t["of_total_epochs"]:
            lines.append(f"training: finished, {t['steps']:,} steps ({t['epochs_completed']} epochs), "
                         f"{_duration(t['train_seconds'])} of training steps")
        elif "of_total_steps" in t:
            lines.append(f"training: {t['steps']:,} of {t['of_total_steps']:,} steps (epoch {t['epochs_completed'] + 1} "
                         f"of {t['of_total_epochs']}, iter {t['iter_in_epoch']}), {_duration(t['train_seconds'])} "
                         "of training steps")
        else:
            lines.append("training: " + ", ".join(f"{k}={v}" for k, v in t.items()))
    if info.get("config"):
        cfg = info["config"]
        lines.append("config: " + " ".join(f"{k}={v}" for k, v in cfg.items() if v is not None))
    return "\n".join(lines)
