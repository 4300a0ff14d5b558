"""The prepared GPU check runs end to end on a small CPU setting (the device path itself
runs where a GPU is lent: `bash benchmarks/gpu_check.sh`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_small(repo_root, tmp_path) -> None:
    out = tmp_path / "gpu_check"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--device", "cpu", "--small",
                           "--out", str(out)], cwd=repo_root, capture_output=True, text=True,
                          env=env, timeout=480)
    summary = json.loads((out / "summary.json").read_text())
    verdicts = {s["name"]: s["verdict"] for s in summary["steps"]}
    assert verdicts["grade_ch01"] == "ok", done.stdout[-2000:]
    assert verdicts["hessian"] == "ok" and verdicts["train_throughput"] == "ok", verdicts
    assert verdicts["pytest_gpu"] in ("ok", "exit 5"), verdicts  # all skipped without CUDA
    assert json.loads((out / "grade_ch01.json").read_text())
    assert summary["environment"]["device"] == "cpu"
