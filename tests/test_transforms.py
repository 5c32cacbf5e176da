"""Tests for pocketgan.data.transforms (reference get_transform semantics, explicit rng)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pocketgan.data.transforms import PREPROCESS_MODES, Preprocess


def _gradient(width: int, height: int) -> Image.Image:
    """Every pixel distinct-ish, so crops at different offsets and flips are distinguishable."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    array = np.stack([x, y, 255 - x], -1).round().astype(np.uint8)
    return Image.fromarray(array, mode="RGB")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img)


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("mode", "in_size", "out_size"),
    [
        ("resize_and_crop", (640, 480), (256, 256)),
        ("resize_and_crop", (100, 300), (256, 256)),  # tiny and portrait: resized up first
        ("crop", (640, 480), (256, 256)),
        ("crop", (300, 260), (256, 256)),
        ("crop", (100, 50), (256, 256)),  # smaller than the crop: the reference crashes here
        ("crop", (400, 200), (256, 256)),  # one side too small
        ("scale_width", (400, 600), (286, 429)),  # int(286 * 600 / 400) = 429
        ("scale_width", (640, 480), (286, 256)),  # max(int(286 * 480 / 640) = 214, crop_size)
        ("scale_width", (100, 400), (286, 1144)),
        ("scale_width", (286, 300), (286, 300)),  # already right: untouched
        ("scale_width_and_crop", (640, 480), (256, 256)),
        ("scale_width_and_crop", (1000, 100), (256, 256)),
        ("none", (640, 480), (640, 480)),
        ("none", (641, 479), (640, 480)),
        ("none", (30, 17), (32, 16)),
        ("none", (10, 14), (8, 16)),  # Python's round, as the reference: 2.5 -> 2, 3.5 -> 4
        ("none", (1, 1), (4, 4)),  # never rounded down to 0
    ],
)
def test_output_sizes(mode, in_size, out_size):
    pre = Preprocess(mode=mode)
    assert pre(_gradient(*in_size), _rng()).size == out_size
    assert pre.eval_mode()(_gradient(*in_size)).size == out_size


def test_none_mode_rounding_matches_reference():
    # Reference: int(round(x / 4) * 4) with Python's round (half to even).
    pre = Preprocess(mode="none", flip=False)
    for w, h in [(30, 17), (10, 14), (6, 2), (257, 255)]:
        expected = (max(4, int(round(w / 4) * 4)), max(4, int(round(h / 4) * 4)))
        assert pre(_gradient(w, h), _rng()).size == expected


def test_none_mode_leaves_multiple_of_four_untouched():
    img = _gradient(64, 48)
    out = Preprocess(mode="none", flip=False)(img, _rng())
    assert np.array_equal(_pixels(out), _pixels(img))


def test_crop_upscale_keeps_aspect_ratio():
    # 100×50 -> 512×256 (short side to 256), then a 256 crop: the crop spans the full height,
    # so its top row is the image's top row (scaled), i.e. green channel ~0.
    pre = Preprocess(mode="crop", crop_size=256, flip=False)
    out = pre.eval_mode()(_gradient(100, 50))
    arr = _pixels(out)
    assert out.size == (256, 256)
    assert arr[0, :, 1].max() < 10 and arr[-1, :, 1].min() > 245
    # Center crop of 512 wide: x in [128, 384) of 512 -> red roughly 64..191, not the full range.
    assert 40 < arr[128, 0, 0] < 90 and 165 < arr[128, -1, 0] < 215


def test_resize_and_crop_uses_load_size():
    pre = Preprocess(mode="resize_and_crop", load_size=64, crop_size=64, flip=False)
    out = pre(_gradient(200, 100), _rng())
    expected = _gradient(200, 100).resize((64, 64), Image.Resampling.BICUBIC)
    assert np.array_equal(_pixels(out), _pixels(expected))


def test_scale_width_result_is_bicubic_resize():
    out = Preprocess(mode="scale_width", load_size=50, crop_size=20, flip=False)(_gradient(100, 60), _rng())
    expected = _gradient(100, 60).resize((50, 30), Image.Resampling.BICUBIC)
    assert np.array_equal(_pixels(out), _pixels(expected))


# --------------------------------------------------------------------------- randomness


def test_same_seed_same_output_different_seeds_differ():
    pre = Preprocess(mode="crop", crop_size=32)
    img = _gradient(128, 96)
    a = _pixels(pre(img, _rng(123)))
    b = _pixels(pre(img, _rng(123)))
    assert np.array_equal(a, b)
    outputs = {_pixels(pre(img, _rng(seed))).tobytes() for seed in range(10)}
    assert len(outputs) > 5


def test_random_crop_is_a_real_sub_image_and_covers_offsets():
    img = _gradient(64, 48)
    source = _pixels(img)
    pre = Preprocess(mode="crop", crop_size=16, flip=False)
    rng = _rng(7)
    offsets = set()
    for _ in range(200):
        out = _pixels(pre(img, rng))
        # Red encodes the column and green the row, so the top-left pixel locates the crop.
        top = int(np.flatnonzero(source[:, 0, 1] == out[0, 0, 1])[0])
        left = int(np.flatnonzero(source[0, :, 0] == out[0, 0, 0])[0])
        assert np.array_equal(source[top : top + 16, left : left + 16], out)
        offsets.add((top, left))
    tops = {t for t, _ in offsets}
    lefts = {left for _, left in offsets}
    assert min(tops) == 0 and max(tops) == 32  # both extremes are reachable (inclusive upper bound)
    assert len(tops) > 15 and len(lefts) > 20


def test_flip_actually_flips():
    img = _gradient(32, 32)
    pre = Preprocess(mode="none", flip=True)  # no resize, no crop: output is img or its mirror
    mirrored = _pixels(img)[:, ::-1]
    flipped = unflipped = 0
    for seed in range(40):
        out = _pixels(pre(img, _rng(seed)))
        if np.array_equal(out, mirrored):
            flipped += 1
        else:
            assert np.array_equal(out, _pixels(img))
            unflipped += 1
    assert flipped > 5 and unflipped > 5


def test_no_flip_when_disabled():
    img = _gradient(32, 32)
    pre = Preprocess(mode="none", flip=False)
    for seed in range(20):
        assert np.array_equal(_pixels(pre(img, _rng(seed))), _pixels(img))


def test_all_randomness_comes_from_rng():
    pre = Preprocess()
    img = _gradient(300, 200)
    np.random.seed(0)
    a = _pixels(pre(img, _rng(5)))
    np.random.seed(1)
    b = _pixels(pre(img, _rng(5)))
    assert np.array_equal(a, b)


def test_random_preprocess_requires_rng():
    with pytest.raises(ValueError, match="rng"):
        Preprocess()(_gradient(300, 300))


# --------------------------------------------------------------------------- eval mode


def test_eval_mode_is_deterministic_center_crop_without_flip():
    pre = Preprocess(mode="crop", crop_size=16, flip=True)
    ev = pre.eval_mode()
    assert ev.random is False and pre.random is True
    assert (ev.mode, ev.load_size, ev.crop_size) == (pre.mode, pre.load_size, pre.crop_size)
    img = _gradient(64, 48)
    out = _pixels(ev(img))
    assert np.array_equal(out, _pixels(img)[16:32, 24:40])  # centred: top=(48-16)/2, left=(64-16)/2
    rng = _rng(0)
    for _ in range(10):
        assert np.array_equal(_pixels(ev(img, rng)), out)


def test_eval_mode_does_not_consume_rng():
    rng = _rng(3)
    Preprocess().eval_mode()(_gradient(300, 300), rng)
    assert rng.random() == _rng(3).random()


# --------------------------------------------------------------------------- validation


def test_invalid_configs():
    with pytest.raises(ValueError, match="resize_and_crop"):  # message lists the valid modes
        Preprocess(mode="resize")
    with pytest.raises(ValueError, match="crop_size"):
        Preprocess(mode="resize_and_crop", load_size=128, crop_size=256)
    with pytest.raises(ValueError, match="crop_size"):
        Preprocess(mode="scale_width_and_crop", load_size=128, crop_size=256)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            Preprocess(load_size=bad)
        with pytest.raises(ValueError):
            Preprocess(crop_size=bad)
    # Cropping larger than load_size is fine where the reference allows it.
    assert Preprocess(mode="crop", load_size=128, crop_size=256).crop_size == 256


def test_defaults_match_reference():
    pre = Preprocess()
    assert (pre.mode, pre.load_size, pre.crop_size, pre.flip) == ("resize_and_crop", 286, 256, True)
    assert set(PREPROCESS_MODES) == {"resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"}


def test_preprocess_is_frozen():
    with pytest.raises(AttributeError):
        Preprocess().crop_size = 3  # type: ignore[misc]
