"""Run configs as files: `train --config FILE|RECIPE` reads one, `train --print-config` writes one.

A config file is a flat mapping of option names to values — YAML or JSON, and a run folder's
train_config.json as it is — checked like every run config (config.py: one line naming an unknown
key and the closest real one, or a field, its value and the type it wants). **Recipes** are config
files shipped in the package (pocketgan/recipes/NAME.yaml): the papers' settings and the bundled
model's CPU stages; their first line, a comment, says what each is for (`train --list-recipes`).

YAML 1.1, which PyYAML reads, takes ``2e-4`` for a string (a float needs a dot: ``2.0e-4``); a value
that is a number in every other notation is read as the number where the option wants one.
"""
from __future__ import annotations

import contextlib
import json
import re
import typing
from pathlib import Path

from ..errors import first_line
from .config import ConfigError, TrainConfig, objective_options

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def list_recipes() -> list[tuple[str, str]]:
    """(name, one-line purpose) of every shipped recipe."""
    out = []
    for path in sorted(RECIPES.glob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
        out.append((path.stem, first.lstrip("# ").strip()))
    return out


def resolve(source: str) -> Path:
    """The file ``--config`` names: a path, else a recipe by that name."""
    path = Path(source)
    if path.is_file():
        return path
    recipe = RECIPES / f"{source}.yaml"
    if "/" not in source and recipe.is_file():
        return recipe
    if path.exists():
        raise ConfigError(f"--config {source}: not a file")
    names = ", ".join(name for name, _ in list_recipes())
    raise ConfigError(f"--config {source}: no such file, and no recipe of that name (recipes: {names})")


def load_config_file(source: str) -> dict:
    """The mapping a config file (or recipe) holds, with YAML's exponent strings read as numbers
    where the option is a number. Not yet checked against the config (TrainConfig.from_dict does)."""
    import yaml

    path = resolve(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: unreadable ({first_line(e)})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML ({where}{getattr(e, 'problem', None) or first_line(e)})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ConfigError(f"{path}: must be a mapping of option names to values (got {type(data).__name__})")
    return _numbers(data)


def _numbers(data: dict) -> dict:
    model = data.get("model", TrainConfig.model)
    hints = dict(typing.get_type_hints(TrainConfig))
    with contextlib.suppress(Exception):  # an unknown objective is reported by from_dict, naming the key
        hints.update(typing.get_type_hints(objective_options(model)))
    out = {}
    for key, value in data.items():
        wants_float = float in (typing.get_args(hints.get(key)) or (hints.get(key),))
        out[key] = float(value) if wants_float and isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value) else value
    return out


def dump_config(cfg: TrainConfig) -> str:
    """The config as YAML, every field in the order of train_config.json: ``--config`` of the output
    reproduces it."""
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True)
