"""Judges' comparisons: messages say what differed, where, and by how much."""

from __future__ import annotations

import torch

from grader.compare import compare, compare_tensors, tolerance


def test_equal_within_tolerance() -> None:
    x = torch.randn(3, 4, dtype=torch.float64)
    assert compare_tensors(x + 1e-12, x).passed


def test_worst_index_and_errors_are_reported() -> None:
    x = torch.zeros(2, 3, 4)
    y = x.clone()
    y[1, 2, 3] = 0.5
    verdict = compare_tensors(y, x, "y")
    assert not verdict.passed
    assert "[1, 2, 3]" in verdict.message and "got 0.5" in verdict.message


def test_shape_dtype_type_and_nan() -> None:
    x = torch.zeros(2, 3)
    assert "shape (3, 2)" in compare_tensors(x.T, x).message
    assert "dtype torch.float64" in compare_tensors(x.double(), x).message
    assert "expected a tensor" in compare_tensors([1, 2], x).message
    bad = x.clone()
    bad[1, 0] = float("nan")
    assert "NaN" in compare_tensors(bad, x).message and "[1, 0]" in compare_tensors(bad, x).message


def test_structures() -> None:
    a = {"y": torch.ones(2), "n": 3, "parts": [torch.zeros(1), 1.0]}
    assert compare(dict(a), a).passed
    assert "missing 'y'" in compare({"n": 3}, a).message
    assert "parts" in compare({**a, "parts": [torch.zeros(1), 2.0]}, a).message


def test_tolerances_depend_on_dtype_and_device() -> None:
    assert tolerance(torch.float64) < tolerance(torch.float32)
    assert tolerance(torch.float32, "cuda") > tolerance(torch.float32, "cpu")
