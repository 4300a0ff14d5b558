"""Graded mode's second opinion on api and property checks: agree with the reference.

A property check's judge reads numbers the learner's process reports, and that process
could invent them. In graded mode the same probe also ran on the reference, ahead of time,
with the same (drawn) seeds, so the learner's numbers must also agree with the
reference's: an experiment that was not run, or run on a wrong implementation, does not.

Agreement is structural: the same keys and lengths; booleans, integers and strings equal;
floats and tensors within a tolerance. For property checks the tolerance is loose
(`PROPERTY_TOLERANCE`), because a correct implementation whose floating-point order
differs from the reference's drifts during training; `benchmarks/backing_margin.py`
measures that drift. A check whose output needs another rule sets ``Check.backing``.

Messages say where the outputs disagree, never the reference's value: the reference's
numbers are the expected outputs graded mode keeps from the learner.
"""

from __future__ import annotations

import math
from typing import Any

from grader.lazy import torch
from grader.model import Check, Kind, Verdict

API_TOLERANCE = (1e-6, 1e-5)  # (atol, rtol)
PROPERTY_TOLERANCE = (0.05, 0.10)


def _where(path: str) -> str:
    return path or "the output"


def agree(got: Any, ref: Any, atol: float, rtol: float, path: str = "") -> str | None:
    """None when ``got`` agrees with ``ref``; else where it does not (no reference values)."""
    if isinstance(ref, dict):
        if not isinstance(got, dict) or set(got) != set(ref):
            return f"{_where(path)} has other keys"
        for key in ref:
            bad = agree(got[key], ref[key], atol, rtol, f"{path}[{key!r}]")
            if bad:
                return bad
        return None
    if isinstance(ref, list):
        if not isinstance(got, list) or len(got) != len(ref):
            return f"{_where(path)} has another length"
        for i, (g, r) in enumerate(zip(got, ref, strict=True)):
            bad = agree(g, r, atol, rtol, f"{path}[{i}]")
            if bad:
                return bad
        return None
    if isinstance(ref, bool) or ref is None or isinstance(ref, str):
        return None if (type(got) is type(ref) and got == ref) else f"{_where(path)} differs"
    if isinstance(ref, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"{_where(path)} is not a number"
        g, r = float(got), float(ref)
        if math.isnan(r) or math.isinf(r):
            same = (math.isnan(r) and math.isnan(g)) or g == r
            return None if same else f"{_where(path)} differs"
        return None if abs(g - r) <= atol + rtol * abs(r) else f"{_where(path)} differs"
    if isinstance(ref, torch.Tensor):
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(ref.shape):
            return f"{_where(path)} has another shape"
        if got.dtype != ref.dtype:
            return f"{_where(path)} has another dtype"
        if not ref.is_floating_point():
            return None if torch.equal(got, ref) else f"{_where(path)} differs"
        ok = torch.isclose(got.double(), ref.double(), rtol=rtol, atol=atol, equal_nan=True)
        return None if bool(ok.all()) else f"{_where(path)} differs"
    return f"{_where(path)} has an unexpected type"


def agrees(check: Check, got: Any, ref: Any) -> Verdict:
    """The graded-mode backing of one api or property check."""
    if check.backing is not None:
        return check.backing(got, ref)
    atol, rtol = PROPERTY_TOLERANCE if check.kind is Kind.PROPERTY else API_TOLERANCE
    where = agree(got, ref, atol, rtol)
    if where is None:
        return Verdict.ok()
    return Verdict.fail(
        f"graded mode: your measurement disagrees with the reference run on the same hidden "
        f"inputs ({where}, beyond atol {atol:g} / rtol {rtol:g}); an experiment must be run "
        "with your own code, not reported"
    )
