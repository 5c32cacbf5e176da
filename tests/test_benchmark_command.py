"""`pocketgan benchmark`: every format x precision of one model in one table.

Tiny models (mobile_resnet_6blocks ngf 4, 32 px) keep each export to about a second. What is checked
is behaviour, never a timing: fp32 exports reproduce PyTorch (PSNR > 40 dB), fp16 agrees less but
finitely, the JSON holds the rows and settings, a runtime that is not installed (its import made
to fail) and a precision a format lacks are rows that say so, exports are reused the second time,
bad options are one-line errors, and --data adds KID, the photo's change and doing nothing.
"""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clihelp import one_line_error
from pocketgan.cli import main
from pocketgan.evaluation.benchmark import (
    BenchmarkRow,
    browser_unavailable,
    data_layout,
    find_chromium,
    rows_asked,
    run_benchmark,
)
from pocketgan.models.pretrained import save_pretrained
from pocketgan.models.zoo import export_dir

SIZE = 32
FAST = dict(size=SIZE, threads=1, runs=2, warmup=1)


@pytest.fixture(scope="module")
def model(tmp_path_factory, expressive_generator) -> Path:
    return save_pretrained(tmp_path_factory.mktemp("bench") / "m", {"G_A": expressive_generator(3)})


def rows_by_label(rows) -> dict[str, BenchmarkRow]:
    return {r.label: r for r in rows}


def test_onnx_fp32_reproduces_pytorch_and_fp16_agrees_less(model):
    result = run_benchmark(model, ["pytorch", "onnx"], ["fp32", "fp16"], **FAST)
    rows = rows_by_label(result.rows)
    assert list(rows) == ["pytorch fp32", "pytorch fp16", "onnx fp32", "onnx fp16"]
    assert all(r.ok for r in rows.values()), [r.status for r in rows.values()]
    base = rows["pytorch fp32"]
    assert base.psnr_db is None and base.speedup == 1.0 and base.file == "G_A.safetensors"
    assert rows["onnx fp32"].psnr_db > 40
    for fp16 in (rows["onnx fp16"], rows["pytorch fp16"]):
        assert math.isfinite(fp16.psnr_db) and fp16.psnr_db > 20
    assert rows["onnx fp16"].psnr_db < rows["onnx fp32"].psnr_db
    assert rows["onnx fp16"].file_mb < rows["onnx fp32"].file_mb  # half the weight bytes
    for r in rows.values():
        assert r.threads == 1 and r.latency_ms > 0 and r.load_ms >= 0 and r.speedup > 0
        assert r.speedup == pytest.approx(base.latency_ms / r.latency_ms, rel=0.02)
    # the exports are `pocketgan export`'s files at their default names, and reused next time
    assert (export_dir(model) / "G_A_32.onnx").is_file() and (export_dir(model) / "G_A_32_fp16.onnx.json").is_file()
    assert rows["onnx fp32"].export.startswith("exported in")
    again = rows_by_label(run_benchmark(model, ["onnx"], ["fp32"], **FAST).rows)
    assert again["onnx fp32"].export == "cached" and again["onnx fp32"].psnr_db > 40


def test_json_has_the_rows_and_settings_and_pytorch_int8_says_it_is_skipped(model, tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["benchmark", "--model", str(model), "--formats", "onnx", "--quantize", "fp32,int8", "--size", str(SIZE),
            "--threads", "1", "--runs", "2", "--warmup", "0", "--json", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(out.read_text())
    assert report["threads"] == 1 and report["size"] == str(SIZE) and report["model"] == "m"
    assert report["baseline"] == "pytorch fp32" and report["calibration"] == "16 toy scenes"
    assert str(tmp_path) not in out.read_text()  # names, not this machine's paths
    rows = {(r["format"], r["precision"]): r for r in report["rows"]}
    assert list(rows) == [("pytorch", "fp32"), ("onnx", "fp32"), ("onnx", "int8")]  # the baseline always
    for r in rows.values():
        assert {"format", "precision", "status", "file_mb", "load_ms", "latency_ms", "psnr_db"} <= set(r)
        assert "kid_x1000" not in r  # only with --data
    assert rows[("onnx", "fp32")]["status"] == "ok" and rows[("onnx", "fp32")]["psnr_db"] > 40
    int8 = rows[("onnx", "int8")]
    assert int8["status"] == "ok" and math.isfinite(int8["psnr_db"]) and "calibrated on 16 toy scenes" in int8["export"]
    # the table on stdout, one progress line per row on stderr
    assert "pytorch  fp32" in captured.out and "onnx     int8" in captured.out
    assert len([line for line in captured.err.splitlines() if line.startswith("benchmark [")]) == 3
    # PyTorch has no int8: a row that says so, not a crash
    pytorch_int8 = run_benchmark(model, ["pytorch"], ["int8"], **FAST).rows[-1]
    assert pytorch_int8.label == "pytorch int8" and pytorch_int8.status.startswith("skipped: ")
    assert pytorch_int8.latency_ms is None


def test_a_missing_runtime_is_a_row_that_says_so(model, monkeypatch):
    for name in ("onnxruntime", "ai_edge_litert", "ai_edge_litert.interpreter", "playwright", "playwright.sync_api"):
        monkeypatch.setitem(sys.modules, name, None)  # `import name` now fails as if it were not installed
    result = run_benchmark(model, ["pytorch", "onnx", "tflite", "browser"], ["fp32"], **FAST)
    rows = rows_by_label(result.rows)
    assert rows["pytorch fp32"].ok
    assert rows["onnx fp32"].status.startswith("skipped: ") and "onnxruntime" in rows["onnx fp32"].status
    assert rows["tflite fp32"].status.startswith("skipped: ") and "ai_edge_litert" in rows["tflite fp32"].status
    assert rows["browser fp32"].status.startswith("skipped: ") and "Playwright" in rows["browser fp32"].status
    assert all(r.latency_ms is None for r in result.rows[1:])


def test_rows_come_in_the_order_asked_with_the_baseline_first():
    assert rows_asked(["onnx", "onnx", "tflite"], ["int8", "fp32"]) == [
        ("pytorch", "fp32"), ("onnx", "int8"), ("onnx", "fp32"), ("tflite", "int8"), ("tflite", "fp32")]
    assert rows_asked(["pytorch"], ["fp32"]) == [("pytorch", "fp32")]


@pytest.mark.parametrize("extra, flag", [
    (["--formats", "onnx,coreml"], "--formats"),
    (["--formats", ","], "--formats"),
    (["--quantize", "fp8"], "--quantize"),
    (["--size", "30"], "--size"),
    (["--size", "0"], "--size"),
    (["--size", "-4"], "--size"),
    (["--threads", "0"], "--threads"),
    (["--runs", "0"], "--runs"),
    (["--limit", "1"], "--limit"),
    (["--json", "no/such/folder/b.json"], "--json"),
    (["--json", "b.txt"], "--json"),
    (["--plot", "b.gif"], "--plot"),
])
def test_bad_options_are_usage_errors(extra, flag, capsys):
    with pytest.raises(SystemExit) as e:
        main(["benchmark", *extra])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: pocketgan") and "Traceback" not in "\n".join(err)
    assert err[-1].startswith("pocketgan benchmark: error: ") and flag in err[-1], err[-1]


def test_bad_data_and_sizes_are_one_line_errors(model, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    assert main(["benchmark", "--model", str(model), "--data", str(empty)]) == 2
    one_line_error(capsys, "no usable images")
    assert main(["benchmark", "--model", str(model), "--data", str(tmp_path / "missing")]) == 2
    one_line_error(capsys, "--data", "no such folder")
    assert main(["benchmark", "--model", str(model), "--calibration", str(tmp_path / "missing")]) == 2
    one_line_error(capsys, "--calibration")
    (tmp_path / "G.onnx").write_bytes(b"")
    assert main(["benchmark", "--model", str(tmp_path / "G.onnx")]) == 2
    one_line_error(capsys, "exported file")


def test_plot_without_matplotlib_is_one_line_before_any_work(model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["benchmark", "--model", str(model), "--plot", str(tmp_path / "p.png")]) == 2
    one_line_error(capsys, "matplotlib")
    assert not export_dir(model).joinpath("G_A_256.onnx").exists()


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib not installed")
def test_plot_is_written(model, tmp_path):
    from pocketgan.evaluation.benchmark import write_plot

    path = tmp_path / "plot.png"
    write_plot(run_benchmark(model, ["onnx"], ["fp32"], **FAST), path)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 200


def test_data_layouts(tmp_path):
    root = tmp_path / "ds"
    for name in ("testA", "testB", "trainA"):
        (root / name).mkdir(parents=True)
    by_root, beside, alone = data_layout(root), data_layout(root / "testA"), data_layout(root / "trainA")
    assert (by_root.source, by_root.target, by_root.calibration) == (root / "testA", root / "testB", root / "trainA")
    assert (beside.source, beside.target) == (root / "testA", root / "testB")
    assert (alone.source, alone.target, alone.calibration) == (root / "trainA", None, root / "trainA")
    back = data_layout(root, "BtoA")
    assert (back.source, back.target, back.calibration) == (root / "testB", root / "testA", root / "testB")


@pytest.mark.slow  # Inception features
def test_data_gives_kid_change_and_doing_nothing(model, toy_data, tmp_path, capsys):
    out = tmp_path / "data.json"
    argv = ["benchmark", "--model", str(model), "--formats", "onnx", "--quantize", "fp32", "--size", str(SIZE),
            "--threads", "1", "--runs", "2", "--data", str(toy_data), "--limit", "3", "--json", str(out)]
    assert main(argv) == 0
    table = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["data"] == "testA" and report["target"] == "testB" and report["n_images"] == 3
    assert report["n_target"] == 3 and report["kid_subset"] == 3
    assert report["input"].startswith(sorted(p.name for p in (toy_data / "testA").iterdir())[0])
    nothing = report["do_nothing"]
    assert math.isfinite(nothing["kid_x1000"]) and nothing["change"] == 0
    for r in report["rows"]:
        assert r["status"] == "ok" and math.isfinite(r["kid_x1000"]) and r["change"] > 0
    onnx = report["rows"][1]
    assert onnx["psnr_data_db"] > 40 and onnx["kid_x1000"] == pytest.approx(report["rows"][0]["kid_x1000"], abs=1)
    assert "do nothing" in table and "KID x1000" in table
    # a folder with no target domain is scored against PyTorch fp32's own translations
    alone = tmp_path / "photos"
    alone.mkdir()
    for i, p in enumerate(sorted((toy_data / "testB").iterdir())[:3]):
        Image.open(p).save(alone / f"{i}.png")
    result = run_benchmark(model, ["onnx"], ["fp32"], data=alone, limit=3, **FAST)
    assert result.target == "pytorch fp32 translations" and result.rows[1].kid_x1000 is not None


needs_litert = pytest.mark.skipif(importlib.util.find_spec("litert_torch") is None
                                  or importlib.util.find_spec("ai_edge_litert") is None,
                                  reason="LiteRT export extra not installed (pip install 'pocketgan[export]')")


@pytest.mark.slow  # a LiteRT converter process: seconds
@needs_litert
def test_tflite_fp32_reproduces_pytorch(model):
    rows = rows_by_label(run_benchmark(model, ["tflite"], ["fp32"], **FAST).rows)
    tflite = rows["tflite fp32"]
    assert tflite.ok, tflite.status
    assert tflite.psnr_db > 40 and tflite.file == f"G_A_{SIZE}.tflite" and tflite.threads == 1


def browser_missing() -> str | None:
    reason = browser_unavailable()
    if reason:
        return reason
    if find_chromium() is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            if not Path(p.chromium.executable_path).is_file():
                return "Chromium not found"
    return None


@pytest.mark.slow  # a headless browser
def test_browser_runs_the_onnx_file_at_the_asked_threads(model):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    rows = rows_by_label(run_benchmark(model, ["onnx", "browser"], ["fp32"], **FAST).rows)
    browser = rows["browser fp32"]
    assert browser.ok, browser.status
    assert browser.psnr_db > 40 and browser.threads == 1 and browser.file == rows["onnx fp32"].file
    assert browser.export == "the onnx fp32 file" and "onnxruntime-web" in browser.note
    assert np.isfinite(browser.latency_ms) and browser.load_ms > 0
