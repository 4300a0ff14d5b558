"""Comparisons that judges use in the parent process: tensors, numbers, structures.

Every failure message says what was compared, expected vs got (shape, dtype, max abs and
rel error, the worst index), so the learner sees where to look.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.model import Verdict

# (atol, rtol) by dtype; CUDA adds TF32 and different reduction orders.
TOLERANCES = {
    "float64": (1e-9, 1e-7),
    "float32": (2e-5, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}
CUDA_TOLERANCES = {"float32": (2e-4, 1e-3)}


def tolerance(dtype: Any, device: str = "cpu") -> tuple[float, float]:
    name = str(dtype).replace("torch.", "")
    if device.startswith("cuda") and name in CUDA_TOLERANCES:
        return CUDA_TOLERANCES[name]
    return TOLERANCES.get(name, (1e-6, 1e-5))


def _fmt_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def compare_tensors(
    got: Any,
    expected: Any,
    name: str = "output",
    *,
    atol: float | None = None,
    rtol: float | None = None,
    device: str = "cpu",
    check_dtype: bool = True,
) -> Verdict:
    """Compare a learner tensor with the expected one; NaN, shape and dtype first."""
    if not isinstance(got, torch.Tensor):
        return Verdict.fail(f"{name}: expected a tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        return Verdict.fail(f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if check_dtype and got.dtype != expected.dtype:
        return Verdict.fail(f"{name}: dtype {got.dtype}, expected {expected.dtype}")
    if got.is_floating_point():
        bad = ~torch.isfinite(got)
        if bad.any() and not (~torch.isfinite(expected)).any():
            index = tuple(int(i) for i in bad.nonzero()[0])
            kind = "NaN" if torch.isnan(got).any() else "inf"
            return Verdict.fail(
                f"{name}: contains {kind} ({int(bad.sum())} of {got.numel()} values, "
                f"first at {_fmt_index(index)})"
            )
    default_atol, default_rtol = tolerance(expected.dtype, device)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    if got.numel() == 0:
        return Verdict.ok()
    g = got.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    diff = (g - e).abs()
    allowed = atol + rtol * e.abs()
    if bool((diff <= allowed).all()):
        return Verdict.ok(f"{name}: max abs error {float(diff.max()):.2e}")
    worst = int((diff - allowed).argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), diff.shape))
    rel = diff / e.abs().clamp_min(1e-12)
    return Verdict.fail(
        f"{name}: max abs error {float(diff.max()):.3g}, max rel error "
        f"{float(rel.max()):.3g} (atol {atol:g}, rtol {rtol:g}); worst at "
        f"{_fmt_index(index)}: got {float(g.flatten()[worst]):.6g}, "
        f"expected {float(e.flatten()[worst]):.6g}"
    )


def compare(got: Any, expected: Any, name: str = "output", **kw: Any) -> Verdict:
    """Structural comparison: tensors, numbers, and dicts/lists/tuples of them."""
    if isinstance(expected, torch.Tensor):
        return compare_tensors(got, expected, name, **kw)
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return Verdict.fail(f"{name}: expected a dict, got {type(got).__name__}")
        for key, value in expected.items():
            if key not in got:
                return Verdict.fail(f"{name}: missing {key!r}")
            verdict = compare(got[key], value, f"{name}[{key!r}]" if name else str(key), **kw)
            if not verdict.passed:
                return verdict
        return Verdict.ok()
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            length = len(got) if isinstance(got, (list, tuple)) else type(got).__name__
            return Verdict.fail(f"{name}: expected {len(expected)} items, got {length}")
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            verdict = compare(g, e, f"{name}[{i}]", **kw)
            if not verdict.passed:
                return verdict
        return Verdict.ok()
    if isinstance(expected, float) and isinstance(got, (int, float)):
        atol = kw.get("atol") or 1e-6
        rtol = kw.get("rtol") or 1e-5
        if abs(got - expected) <= atol + rtol * abs(expected):
            return Verdict.ok()
        return Verdict.fail(f"{name}: got {got:.6g}, expected {expected:.6g}")
    if got != expected:
        return Verdict.fail(f"{name}: got {got!r}, expected {expected!r}")
    return Verdict.ok()


def judge_match(got: Any, expected: Any, ctx: Any = None) -> Verdict:
    """The default judge of a match check: structural comparison with dtype tolerances."""
    device = getattr(ctx, "device", "cpu")
    return compare(got, expected, "", device=device)
