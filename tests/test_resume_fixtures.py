"""Run folders written by an earlier pocketgan (tests/data/resume_fixtures, made by
scripts/make_resume_fixtures.py; each stopped after step 3 with a checkpoint) still resume, and resume
bit-exactly: every logged loss and the final generator weights equal those of the same run done in
one go by the version that wrote them."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from pocketgan.data.synthetic import make_synthetic_dataset
from pocketgan.training.run import resume

FIXTURES = Path(__file__).parent / "data" / "resume_fixtures"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from make_resume_fixtures import generator_digest, logged  # noqa: E402


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir()))
def test_an_earlier_versions_run_folder_resumes_exactly(name, tmp_path):
    expected = json.loads((FIXTURES / name / "expected.json").read_text())
    run = tmp_path / "runs" / name
    shutil.copytree(FIXTURES / name, run)
    (run / "expected.json").unlink()
    data = make_synthetic_dataset(tmp_path / "data", size=32, n_train=8, n_test=4, paired=expected["paired"])
    summary = resume(run, {"data": str(data), "runs_dir": str(tmp_path / "runs"), "max_steps": 0})
    assert summary["finished"] and summary["steps"] == expected["metrics"][-1]["step"]
    assert logged(run) == expected["metrics"]
    assert generator_digest(run) == expected["generators_sha256"]
