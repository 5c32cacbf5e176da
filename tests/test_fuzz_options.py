"""Property-based hostile input (Hypothesis, the bounded "ci" profile of conftest.py): option values,
run configs and model configs. Each reader either accepts a value that then meets its contract, or
refuses it with ONE line of the error type the CLI prints as `pocketgan: error:` — never another
exception (a traceback)."""
from __future__ import annotations

import argparse
import contextlib
import io
import math

import pytest
from hypothesis import assume, given, settings, strategies as st

from pocketgan.cli import build_parser
from pocketgan.cli.export import export_size
from pocketgan.cli.options import (
    MAX_IMAGE_SIZE,
    finite_float,
    float_up_to,
    image_size,
    non_negative_int,
    port_number,
    positive_float,
    positive_int,
    strength_value,
)
from pocketgan.errors import OptionError
from pocketgan.export.sizes import MAX_EXPORT_SIZE, parse_size
from pocketgan.inference.strength import MAX_STRENGTH, MIN_STRENGTH
from pocketgan.models.pretrained import ModelFolderError, build_generator, check_model_config
from pocketgan.training.config import ConfigError, TrainConfig, read_run_config

# text a user (or a script gone wrong) might type where a number belongs
numberish = st.one_of(
    st.text(max_size=30),
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.from_regex(r"\s*[-+]?\d{0,6}(\.\d{0,4})?([eE][-+]?\d{1,4})?\s*", fullmatch=True),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0x10", "1_000", "²", "٣", "1,5", "9" * 5000, "", " ", "\x00"]),
)


def _one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message.strip()


INT_TYPES = [(positive_int, 1, None), (non_negative_int, 0, None), (image_size, 1, MAX_IMAGE_SIZE),
             (port_number, 1, 65535)]


@pytest.mark.parametrize("parse, low, high", INT_TYPES)
@given(text=numberish)
def test_whole_number_options(parse, low, high, text):
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as e:
        assert _one_line(str(e))
        return
    assert type(value) is int and value >= low and (high is None or value <= high)


@pytest.mark.parametrize("parse, check", [
    (finite_float, math.isfinite),
    (positive_float, lambda v: math.isfinite(v) and v > 0),
    (float_up_to(1.5), lambda v: 0 < v <= 1.5),
    (strength_value, lambda v: MIN_STRENGTH <= v <= MAX_STRENGTH),
])
@given(text=numberish)
def test_number_options(parse, check, text):
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as e:
        assert _one_line(str(e))
        return
    assert isinstance(value, float) and check(value)


sizeish = st.one_of(numberish, st.tuples(numberish, st.sampled_from(["x", "X", "×", " x ", "*", "by"]), numberish)
                    .map("".join))


@given(text=sizeish)
def test_export_size(text):
    try:
        h, w = export_size(text)
    except argparse.ArgumentTypeError as e:
        assert _one_line(str(e))
        return
    assert 1 <= h <= MAX_EXPORT_SIZE and 1 <= w <= MAX_EXPORT_SIZE


@given(value=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                       st.lists(st.integers(), max_size=3), st.tuples(st.integers(), st.integers())))
def test_export_size_from_python(value):
    try:
        h, w = parse_size(value)
    except OptionError as e:
        assert _one_line(str(e))
        return
    assert 1 <= h <= MAX_EXPORT_SIZE and 1 <= w <= MAX_EXPORT_SIZE


@settings(max_examples=60)
@given(flag=st.sampled_from(["--strength", "--max-size", "--batch-size"]), text=numberish)
def test_the_translate_command_line_refuses_as_a_usage_error(flag, text):
    """Through the real parser: accepted, or argparse's usage error (exit 2) — nothing else escapes."""
    assume(not text.startswith("-"))  # argparse reads a leading dash as the next flag
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(["translate", flag, text, "photo.jpg"])
        except SystemExit as e:
            assert e.code == 2
            assert "invalid" in err.getvalue() or "must be" in err.getvalue() or "not a" in err.getvalue()


# ------------------------------------------------------------------------------- run configs

FIELDS = sorted(TrainConfig.__dataclass_fields__)
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                         max_size=3), max_leaves=6)


@st.composite
def run_configs(draw) -> dict:
    """A real run config with some fields changed: to other JSON values, to plausible wrong types, or
    keys added (misspelt or junk)."""
    base = TrainConfig(data="datasets/x").to_dict()
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        base[key] = draw(json_values)
    for key in draw(st.lists(st.one_of(st.text(max_size=12), st.sampled_from([f.upper() for f in FIELDS])),
                             max_size=1)):
        base.setdefault(key, draw(json_values))
    return base


@given(cfg=run_configs())
def test_the_run_config_reader(cfg):
    try:
        out = read_run_config(cfg, "runs/x/train_config.json")
    except ConfigError as e:
        message = str(e)
        assert _one_line(message) and message.startswith("runs/x/train_config.json: ")
        return
    assert isinstance(out, TrainConfig) and out.to_dict() == cfg


@given(doc=json_values)
def test_the_run_config_reader_takes_any_json(doc):
    with pytest.raises(ConfigError):
        read_run_config(doc if not isinstance(doc, dict) or doc else {"nope": doc}, "c.json")


# ------------------------------------------------------------------------------- model configs

GENERATOR_NAMES = ["resnet_6blocks", "resnet_9blocks", "mobile_resnet_6blocks", "unet_128", "nope"]
spec_values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**9), st.floats(), st.text(max_size=10),
                        st.lists(st.integers(), max_size=2))


@st.composite
def generator_specs(draw):
    spec = {"name": draw(st.one_of(st.sampled_from(GENERATOR_NAMES), spec_values))}
    keys = st.one_of(st.sampled_from(["ngf", "norm", "use_dropout", "residual", "n_blocks", "input_nc", "output_nc",
                                      "padding_type", "num_downs"]), st.text(max_size=8))
    spec.update(draw(st.dictionaries(keys, spec_values, max_size=4)))
    return spec


@settings(max_examples=100)
@given(spec=st.one_of(generator_specs(), json_values), extra=st.dictionaries(st.text(max_size=10), json_values,
                                                                            max_size=3))
def test_the_model_config_schema(spec, extra):
    """check_model_config + build_generator (what every model folder read goes through): a net, or one
    ModelFolderError line naming the file — however the config.json was damaged."""
    config = {**extra, "format": "pocketgan-model", "generators": {"G_A": spec}}
    try:
        check_model_config(config, "m/config.json")
        build_generator(spec, "m/config.json: generators.G_A")
    except ModelFolderError as e:
        assert _one_line(str(e)) and str(e).startswith("m/config.json")
        return
    assert isinstance(spec, dict)

