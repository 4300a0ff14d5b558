"""On a CUDA machine: the references agree with torch's modules there, and grading works on
the device (``pytest -m gpu``; `benchmarks/gpu_check.sh` runs these). Skipped without CUDA."""

from __future__ import annotations

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.gpu


def _solution(repo_root, slug: str):
    path = repo_root / "solutions" / slug / "exercises.py"
    spec = importlib.util.spec_from_file_location(f"solution_{slug}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_batch_norm_module_matches_torch_on_cuda(repo_root) -> None:
    ours = _solution(repo_root, "ch01_batchnorm").BatchNorm(4, device="cuda")
    theirs = torch.nn.BatchNorm2d(4, device="cuda")
    x = torch.randn(8, 4, 5, 5, device="cuda")
    for _ in range(3):
        torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x.half()), theirs(x.half()))


def test_group_norm_module_matches_torch_on_cuda(repo_root) -> None:
    ours = _solution(repo_root, "ch07_group_norm").GroupNorm(2, 6, device="cuda")
    theirs = torch.nn.GroupNorm(2, 6, device="cuda")
    x = torch.randn(3, 6, 7, device="cuda")
    torch.testing.assert_close(ours(x), theirs(x))


def test_grading_on_cuda_passes_the_reference(course) -> None:
    from grader.engine import grade

    report = grade(chapter="ch01", root=course, solution=True, device="cuda")
    assert report.all_passed, report.summary()
