"""Tests for pocketgan.data.images: every fixture is generated in tmp_path."""

from __future__ import annotations

import os
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from pocketgan.data.images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, DataError, ImageError, load_image, probe_image, save_image
from pocketgan.data.inputs import collect_inputs, scan_folder
from pocketgan.data.tensors import to_image, to_tensor

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


# --------------------------------------------------------------------------- helpers


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _write_png(path: Path, width: int, height: int, bit_depth: int, color_type: int, rows: list[bytes] | None) -> Path:
    """Hand-written PNG, for what Pillow cannot save: 16-bit RGB, or huge 1-bit images.

    ``rows=None`` means all-zero rows, streamed through zlib so a 20000×20000
    bomb costs ~50 KB on disk and well under a second to build.
    """
    channels = {0: 1, 2: 3}[color_type]
    row_bytes = (width * channels * bit_depth + 7) // 8
    packer = zlib.compressobj(9)
    if rows is None:
        zero_row = b"\0" * (1 + row_bytes)
        data = b"".join(packer.compress(zero_row) for _ in range(height))
    else:
        data = b"".join(packer.compress(b"\0" + row) for row in rows)
    data += packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")
    )
    return path


def _noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """Incompressible content, so that cutting a file in half really cuts pixel data."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="RGB")


def _good(path: Path, size: tuple[int, int] = (8, 6), color=RED) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def _saved(img: Image.Image, path: Path) -> Path:
    img.save(path)
    return path


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _close(actual, expected, tol: int) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


@pytest.fixture(scope="module")
def bomb_png(tmp_path_factory) -> Path:
    """20000×20000 1-bit grayscale: 400 Mpx (> twice Pillow's own limit), 50 KB on disk."""
    return _write_png(tmp_path_factory.mktemp("bomb") / "bomb.png", 20000, 20000, 1, 0, None)


# --------------------------------------------------------------------------- broken files


def _broken_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "zero": folder / "zero.jpg",
        "text": folder / "notes.jpg",
        "garbage": folder / "garbage.png",
        "trunc_jpg": _truncate(_saved(_noise(64, 64), folder / "cut.jpg")),
        "trunc_png": _truncate(_saved(_noise(64, 64), folder / "cut.png")),
    }
    files["zero"].write_bytes(b"")
    files["text"].write_text("this is not a picture\nreally not\n")
    files["garbage"].write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return files


@pytest.mark.parametrize("kind", ["zero", "text", "garbage", "trunc_jpg", "trunc_png"])
def test_load_image_rejects_broken_file_with_one_line_message(tmp_path, kind):
    path = _broken_files(tmp_path)[kind]
    with pytest.raises(ImageError) as info:
        load_image(path)
    message = str(info.value)
    assert path.name in message
    assert "\n" not in message and "\r" not in message
    assert info.value.path == path
    assert info.value.reason and "\n" not in info.value.reason


def test_truncated_files_are_reported_as_truncated(tmp_path):
    files = _broken_files(tmp_path)
    for kind in ("trunc_jpg", "trunc_png"):
        with pytest.raises(ImageError, match="truncated or corrupt"):
            load_image(files[kind])
    with pytest.raises(ImageError, match="empty file"):
        load_image(files["zero"])


def test_load_image_does_not_enable_load_truncated_images(tmp_path):
    load_image(_good(tmp_path / "ok.png"))
    with pytest.raises(ImageError):
        load_image(_broken_files(tmp_path)["trunc_jpg"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("kind", ["zero", "text", "garbage"])
def test_probe_image_rejects_from_header(tmp_path, kind):
    path = _broken_files(tmp_path)[kind]
    with pytest.raises(ImageError) as info:
        probe_image(path)
    assert path.name in str(info.value) and "\n" not in str(info.value)


def test_probe_image_reads_header_of_truncated_file(tmp_path):
    # Header-only by design: the pixel data is not checked until load_image.
    assert probe_image(_broken_files(tmp_path)["trunc_png"]) == (64, 64)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match="directory"):
        probe_image(tmp_path / "dir.png")


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to count open files")
def test_file_handles_are_closed(tmp_path):
    good = _good(tmp_path / "a.png")
    broken = _broken_files(tmp_path / "broken")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10):
        load_image(good)
        probe_image(good)
        for path in broken.values():
            with pytest.raises(ImageError):
                load_image(path)
    assert len(os.listdir("/proc/self/fd")) == before


# --------------------------------------------------------------------------- modes


def test_grayscale_modes_become_rgb(tmp_path):
    Image.new("L", (4, 4), 100).save(tmp_path / "l.png")
    bw = Image.new("1", (4, 4), 0)
    bw.putpixel((1, 1), 1)
    bw.save(tmp_path / "one.png")
    l_img = load_image(tmp_path / "l.png")
    one = load_image(tmp_path / "one.png")
    assert l_img.mode == one.mode == "RGB"
    assert l_img.getpixel((0, 0)) == (100, 100, 100)
    assert one.getpixel((0, 0)) == (0, 0, 0)
    assert one.getpixel((1, 1)) == WHITE


def test_palette_image(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([*RED, *BLUE])
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "p.png")
    out = load_image(tmp_path / "p.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == RED and out.getpixel((1, 0)) == BLUE


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_transparency_composited_over_white(tmp_path, suffix):
    img = Image.new("P", (2, 1))
    img.putpalette([*RED, *BLUE])
    img.putpixel((1, 0), 1)
    img.save(tmp_path / f"pt{suffix}", transparency=0)  # palette entry 0 (red) is transparent
    out = load_image(tmp_path / f"pt{suffix}")
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == BLUE


def test_rgba_composited_over_white(tmp_path):
    img = Image.new("RGBA", (3, 1))
    img.putpixel((0, 0), (255, 0, 0, 0))  # fully transparent red -> white
    img.putpixel((1, 0), (0, 0, 255, 255))  # opaque blue stays blue
    img.putpixel((2, 0), (0, 0, 0, 128))  # half-transparent black -> mid grey
    img.save(tmp_path / "rgba.png")
    out = load_image(tmp_path / "rgba.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == BLUE
    assert _close(out.getpixel((2, 0)), (127, 127, 127), 2)


def test_la_composited_over_white(tmp_path):
    img = Image.new("LA", (2, 1))
    img.putpixel((0, 0), (0, 0))
    img.putpixel((1, 0), (40, 255))
    img.save(tmp_path / "la.png")
    out = load_image(tmp_path / "la.png")
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == (40, 40, 40)


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    out = load_image(tmp_path / "cmyk.jpg")
    assert out.mode == "RGB"
    assert _close(out.getpixel((8, 8)), RED, 8)


def test_ycbcr_and_lab_tiff(tmp_path):
    Image.new("RGB", (4, 4), BLUE).convert("YCbCr").save(tmp_path / "ycc.jpg")
    Image.new("LAB", (4, 4), (255, 128, 128)).save(tmp_path / "lab.tif")  # L=100, a=b=0: white
    assert _close(load_image(tmp_path / "ycc.jpg").getpixel((2, 2)), BLUE, 8)
    lab = load_image(tmp_path / "lab.tif")
    assert lab.mode == "RGB" and _close(lab.getpixel((0, 0)), WHITE, 3)


def test_16bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")  # really a 16-bit file
    out = np.asarray(load_image(tmp_path / "g16.png"))
    assert out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16bit_rgb_png(tmp_path):
    pixels = [(65535, 0, 0), (32768, 32768, 32768), (0, 0, 65535)]
    row = b"".join(struct.pack(">HHH", *p) for p in pixels)
    path = _write_png(tmp_path / "rgb16.png", 3, 1, 16, 2, [row])
    out = load_image(path)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == RED
    assert _close(out.getpixel((1, 0)), (128, 128, 128), 1)
    assert out.getpixel((2, 0)) == BLUE


def test_32bit_int_and_float_tiff(tmp_path):
    Image.fromarray(np.array([[0, 32768, 65535, 70000]], dtype=np.int32)).save(tmp_path / "i32.tif")
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "unit.tif")
    Image.fromarray(np.array([[-5.0, 100.0, 300.0]], dtype=np.float32)).save(tmp_path / "wide.tif")
    assert np.asarray(load_image(tmp_path / "i32.tif"))[0, :, 0].tolist() == [0, 128, 255, 255]
    assert np.asarray(load_image(tmp_path / "unit.tif"))[0, :, 0].tolist() == [0, 128, 255]
    assert np.asarray(load_image(tmp_path / "wide.tif"))[0, :, 0].tolist() == [0, 100, 255]


def _oriented_jpeg(path: Path, orientation: int) -> Path:
    """40×20 stored pixels: blue, with a red 10×10 block in the stored top-left corner."""
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, exif=exif.tobytes(), quality=95)
    return path


def test_exif_orientation_applied(tmp_path):
    path = _oriented_jpeg(tmp_path / "rot6.jpg", 6)  # "rotate 90° clockwise to display"
    assert Image.open(path).size == (40, 20)
    assert probe_image(path) == (20, 40)
    out = load_image(path)
    assert out.size == (20, 40)
    # Rotating clockwise moves the stored top-left corner to the top-right.
    assert _close(out.getpixel((17, 2)), RED, 30)
    assert _close(out.getpixel((2, 2)), BLUE, 30)
    assert _close(out.getpixel((17, 37)), BLUE, 30)


@pytest.mark.parametrize(
    ("orientation", "size", "red_corner"),
    [(1, (40, 20), (2, 2)), (3, (40, 20), (37, 17)), (8, (20, 40), (2, 37)), (2, (40, 20), (37, 2))],
)
def test_other_orientations(tmp_path, orientation, size, red_corner):
    path = _oriented_jpeg(tmp_path / f"o{orientation}.jpg", orientation)
    out = load_image(path)
    assert probe_image(path) == out.size == size
    assert _close(out.getpixel(red_corner), RED, 30)


def test_exif_orientation_tiff_probe_matches_load(tmp_path):
    # Pillow's TIFF plugin rotates by itself; probe and load must agree and not rotate twice.
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "rot.tif", exif=exif.tobytes())
    out = load_image(tmp_path / "rot.tif")
    assert probe_image(tmp_path / "rot.tif") == out.size == (20, 40)
    assert out.getpixel((17, 2)) == RED


# --------------------------------------------------------------------------- decompression bombs


def test_bomb_refused_from_header_without_decoding(bomb_png, monkeypatch):
    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    start = time.perf_counter()
    for call in (probe_image, load_image):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ImageError, match="too large") as info:
                call(bomb_png)
        assert "bomb.png" in str(info.value) and "\n" not in str(info.value)
        assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert time.perf_counter() - start < 1.0


def test_pillow_bomb_warning_range_is_ours(tmp_path):
    """Between Pillow's warning threshold and our (lower) default limit, our guard answers, silently."""
    side = 9500  # 90.25 Mpx: over Pillow's 89.5 Mpx warning, under its error, over our 67 Mpx default
    assert side * side > Image.MAX_IMAGE_PIXELS and side * side > DEFAULT_MAX_PIXELS
    path = _write_png(tmp_path / "big.png", side, side, 1, 0, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError, match=r"too large \(9500×9500 = 90250000 px > limit 67108864"):
            load_image(path)
    assert not caught


def test_custom_max_pixels(tmp_path):
    path = _good(tmp_path / "small.png", size=(40, 20))
    with pytest.raises(ImageError, match="too large.*800 px > limit 100 px"):
        load_image(path, max_pixels=100)
    with pytest.raises(ImageError, match="too large"):
        probe_image(path, max_pixels=799)
    assert probe_image(path, max_pixels=800) == (40, 20)


def test_max_pixels_above_pillow_limit_is_honoured_and_restored(bomb_png):
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert probe_image(bomb_png, max_pixels=10**9) == (20000, 20000)
    assert not caught
    assert Image.MAX_IMAGE_PIXELS == before


# --------------------------------------------------------------------------- scan_folder


def test_scan_folder_keeps_good_and_counts_bad(tmp_path):
    folder = tmp_path / "trainA"
    broken = _broken_files(folder)
    for name in ("img10.png", "img2.png", "img1.jpg", "Img3.PNG"):
        _good(folder / name, size=(8, 6))
    (folder / "readme.txt").write_text("hi")
    (folder / "labels.csv").write_text("a,b")
    (folder / ".DS_Store").write_bytes(b"\0\1garbage")
    (folder / "._img1.jpg").write_bytes(b"\0\5\0\0resource fork")
    (folder / "nested").mkdir()
    _good(folder / "nested" / "deep.png")

    scan = scan_folder(folder)
    names = [p.name for p in scan.files]
    # Header-only probing: truncated files pass here (load_image rejects them later).
    assert names == ["cut.jpg", "cut.png", "img1.jpg", "img2.png", "Img3.PNG", "img10.png"]
    assert scan.sizes[2:] == [(8, 6)] * 4 and scan.sizes[0] == (64, 64)
    assert sorted(p.name for p, _ in scan.rejected) == sorted(broken[k].name for k in ("zero", "text", "garbage"))
    assert all(reason and "\n" not in reason for _, reason in scan.rejected)
    assert sorted(p.name for p in scan.non_images) == ["labels.csv", "readme.txt"]
    assert scan.folder == folder

    lines = scan.warnings()
    assert len(lines) == 4
    assert any(line.startswith("skipped ") and "zero.jpg: empty file" in line for line in lines)
    assert lines[-1] == f"skipped 2 non-image files in {folder}"


def test_scan_folder_recursive(tmp_path):
    _good(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    _good(tmp_path / "sub" / "b.png")
    (tmp_path / ".hidden").mkdir()
    _good(tmp_path / ".hidden" / "c.png")
    assert [p.name for p in scan_folder(tmp_path).files] == ["a.png"]
    assert [p.relative_to(tmp_path).as_posix() for p in scan_folder(tmp_path, recursive=True).files] == [
        "a.png",
        "sub/b.png",
    ]


def test_scan_folder_passes_max_pixels(tmp_path):
    _good(tmp_path / "a.png", size=(10, 10))
    _good(tmp_path / "b.png", size=(20, 20))
    scan = scan_folder(tmp_path, max_pixels=150)
    assert [p.name for p in scan.files] == ["a.png"]
    assert scan.rejected[0][0].name == "b.png" and "too large" in scan.rejected[0][1]


def test_scan_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not found") as info:
        scan_folder(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(info.value)

    a_file = _good(tmp_path / "file.png")
    with pytest.raises(DataError, match="not a folder") as info:
        scan_folder(a_file)
    assert str(a_file) in str(info.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DataError, match=r"no usable images \(folder is empty\)") as info:
        scan_folder(empty)
    assert str(empty) in str(info.value)

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("a")
    (docs / "b.md").write_text("b")
    with pytest.raises(DataError, match=r"no usable images \(0 rejected, 2 non-image files\)") as info:
        scan_folder(docs)
    assert str(docs) in str(info.value)

    bad = tmp_path / "bad"
    _broken_files(bad)
    for p in bad.glob("cut.*"):
        p.unlink()
    (bad / "x.txt").write_text("x")
    with pytest.raises(DataError) as info:
        scan_folder(bad)
    assert str(info.value) == f"{bad}: no usable images (3 rejected, 1 non-image file)"


# --------------------------------------------------------------------------- collect_inputs


def test_collect_inputs(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("b10.jpg", "b2.jpg", "a.png"):
        _good(folder / name)
    (folder / "notes.txt").write_text("x")
    (folder / ".hidden.jpg").write_bytes(b"")
    (folder / "sub").mkdir()
    _good(folder / "sub" / "deep.png")
    single = _good(tmp_path / "single.webp")

    assert collect_inputs([single]) == [single]
    assert collect_inputs([folder]) == [folder / "a.png", folder / "b2.jpg", folder / "b10.jpg"]
    assert collect_inputs([str(folder / "b*.jpg")]) == [folder / "b2.jpg", folder / "b10.jpg"]
    # Order of inputs kept, duplicates (same resolved file) dropped, first spelling wins.
    dotted = folder / ".." / "single.webp"
    result = collect_inputs([str(folder / "b2.jpg"), single, folder, dotted, str(tmp_path / "*.webp")])
    assert result == [folder / "b2.jpg", single, folder / "a.png", folder / "b10.jpg"]


def test_collect_inputs_literal_name_wins_over_glob(tmp_path):
    literal = _good(tmp_path / "shot[1].png")
    _good(tmp_path / "shot1.png")
    assert collect_inputs([literal]) == [literal]


def test_collect_inputs_errors(tmp_path):
    with pytest.raises(DataError, match="no such file") as info:
        collect_inputs([tmp_path / "missing.jpg"])
    assert "missing.jpg" in str(info.value)
    with pytest.raises(DataError, match="no image files match"):
        collect_inputs([str(tmp_path / "*.png")])
    (tmp_path / "doc.txt").write_text("x")
    with pytest.raises(DataError, match="not an image file") as info:
        collect_inputs([tmp_path / "doc.txt"])
    assert "doc.txt" in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.txt").write_text("x")
    with pytest.raises(DataError, match="no image files in folder"):
        collect_inputs([empty])
    with pytest.raises(DataError):
        collect_inputs([])


# --------------------------------------------------------------------------- tensors


def test_to_tensor_range_shape_and_exact_round_trip():
    values = np.arange(256, dtype=np.uint8)
    array = np.stack([values.reshape(16, 16), values[::-1].reshape(16, 16), np.full((16, 16), 7, np.uint8)], -1)
    img = Image.fromarray(array[:, :12], mode="RGB")  # non-square: W=12, H=16
    t = to_tensor(img)
    assert t.shape == (3, 16, 12) and t.dtype == torch.float32
    assert t.min().item() >= -1.0 and t.max().item() <= 1.0
    full = to_tensor(Image.fromarray(array, mode="RGB"))
    assert full.min().item() == -1.0 and full.max().item() == 1.0
    assert t[0, 0, 0].item() == -1.0  # value 0
    assert np.array_equal(np.asarray(to_image(t)), array[:, :12])
    assert np.array_equal(np.asarray(to_image(full)), array)


def test_to_image_rounds_and_clamps():
    t = torch.tensor([-5.0, -1.0, 0.0, 1.0, 5.0, 2 * 100.4 / 255 - 1, 2 * 100.6 / 255 - 1])
    img = to_image(t.view(1, 1, -1).expand(3, 1, -1))
    assert img.mode == "RGB" and img.size == (7, 1)
    assert np.asarray(img)[0, :, 0].tolist() == [0, 0, 128, 255, 255, 100, 101]


def test_tensor_conversion_rejects_wrong_input():
    with pytest.raises(ValueError):
        to_tensor(Image.new("L", (2, 2)))
    with pytest.raises(ValueError):
        to_image(torch.zeros(1, 3, 2, 2))


# --------------------------------------------------------------------------- save_image


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".JPEG", ".webp"])
def test_save_image_formats(tmp_path, suffix):
    img = _noise(16, 12)
    path = tmp_path / "out" / "deeper" / f"result{suffix}"
    save_image(img, path)
    expected = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[suffix.lower()]
    with Image.open(path) as written:
        assert written.format == expected and written.size == (16, 12)
    if suffix == ".png":
        assert np.array_equal(np.asarray(load_image(path)), np.asarray(img))
    assert os.listdir(path.parent) == [path.name]  # no temp file left behind


def test_save_image_overwrites_and_quality(tmp_path):
    img = _noise(64, 64)
    path = tmp_path / "q.jpg"
    save_image(img, path, quality=95)
    high = path.stat().st_size
    save_image(img, path, quality=10)
    assert path.stat().st_size < high
    assert os.listdir(tmp_path) == ["q.jpg"]


def test_save_image_failure_keeps_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    save_image(Image.new("RGB", (4, 4), RED), path)
    original = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        save_image(Image.new("RGB", (4, 4), BLUE), path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["keep.png"]


def test_save_image_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.bmp"):
        save_image(Image.new("RGB", (2, 2)), tmp_path / "x.bmp")
    with pytest.raises(ValueError):
        save_image(Image.new("RGB", (2, 2)), tmp_path / "noext")
    assert os.listdir(tmp_path) == []


def test_image_extensions():
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm"} == IMAGE_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in IMAGE_EXTENSIONS)
