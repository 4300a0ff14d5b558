"""Comparisons that judges use in the parent process: tensors, numbers, structures.

Every failure message says what was compared, expected vs got (shape, dtype, max abs and
rel error, the worst index), so the learner sees where to look.
"""

from __future__ import annotations

import math
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
        hint = ""
        if sorted(got.shape) == sorted(expected.shape):
            hint = " (the same sizes in another order: transposed or permuted axes?)"
        return Verdict.fail(
            f"{name}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}{hint}")
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
    message = (
        f"{name}: max abs error {float(diff.max()):.3g}, max rel error "
        f"{float(rel.max()):.3g} (atol {atol:g}, rtol {rtol:g}); worst at "
        f"{_fmt_index(index)}: got {float(g.flatten()[worst]):.6g}, "
        f"expected {float(e.flatten()[worst]):.6g}{error_pattern(g, e)}"
    )
    return Verdict(False, message, side_by_side(name, g, e, diff > allowed))


SIDE_BY_SIDE_MAX = 64  # values: larger tensors are described, not drawn


def side_by_side(name: str, g: Any, e: Any, bad: Any) -> dict[str, Any] | None:
    """Got and expected of a small tensor as (rows, cols) nested lists for a reporter
    (1-D as one row; more dimensions flattened to (shape[0], rest)), or None."""
    if g.numel() > SIDE_BY_SIDE_MAX or g.dim() == 0:
        return None

    def rows(t: Any) -> list[list[Any]]:
        t = t.reshape(1, -1) if t.dim() == 1 else t.reshape(t.shape[0], -1)
        return [[v if isinstance(v, (bool, int)) or math.isfinite(v) else str(v) for v in row]
                for row in t.tolist()]

    return {"name": name, "shape": list(g.shape), "got": rows(g), "expected": rows(e),
            "bad": rows(bad)}


def error_pattern(g: Any, e: Any) -> str:
    """What the shape of the error suggests, when it has a recognizable one (or '')."""
    g0, e0 = g, e
    g, e = g.flatten(), e.flatten()
    if g.numel() < 2 or not bool(torch.isfinite(g).all()):
        return ""
    big = e.abs() > 1e-6 * max(float(e.abs().max()), 1e-30)
    if int(big.sum()) >= 2:
        ratio = g[big] / e[big]
        c = float(ratio.median())
        if abs(c - 1) > 1e-6 and float((ratio - c).abs().max()) <= 1e-4 * abs(c):
            if abs(c + 1) < 1e-6:
                return ". Every value has the wrong sign"
            return (f". Every value is {c:.6g} x the expected one: a constant factor "
                    "(m / (m - 1)? a scale applied twice or not at all?)")
    if g0.dim() >= 2 and g0.shape[1] > 1:
        per = _per_channel_factor(g0, e0) or _scaled_normalization(g0, e0)
        if per:
            return per
    shift = g - e
    d = float(shift.median())
    if abs(d) > 0 and float((shift - d).abs().max()) <= 1e-4 * abs(d):
        return (f". Every value is off by the same {d:.3g}: a missing or extra shift "
                "(beta? the mean?)")
    rel = ((g - e).abs() / e.abs().clamp_min(1e-12))[big] if int(big.sum()) else None
    if rel is not None and float(rel.max()) < 1e-2:
        return (". All errors are small and relative (under 1%): a small term in the wrong "
                "place, e.g. eps outside the square root, or a lower precision")
    return ""


def compare(got: Any, expected: Any, name: str = "output", **kw: Any) -> Verdict:
    """Structural comparison: tensors, numbers, and dicts/lists/tuples of them."""
    if isinstance(expected, torch.Tensor):
        return compare_tensors(got, expected, name, **kw)
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return Verdict.fail(f"{name}: expected a dict, got {type(got).__name__}")
        failures = []
        # Parameters and buffers first: a wrong running statistic explains later outputs.
        for key in sorted(expected, key=lambda k: not _is_state(k)):
            where = f"{name}[{key!r}]" if name else str(key)
            if key not in got:
                failures.append((where, Verdict.fail(f"{name}: missing {key!r}")))
                continue
            verdict = compare(got[key], expected[key], where, **kw)
            if not verdict.passed:
                failures.append((where, verdict))
        if not failures:
            return Verdict.ok()
        # A broken output (NaN, wrong shape, dtype or type) says most; then the state.
        failures.sort(key=lambda f: not _structural(f[1].message))
        message = failures[0][1].message
        if len(failures) > 1:
            message += "; also differ: " + ", ".join(w for w, _ in failures[1:8])
            if len(failures) > 8:
                message += f" and {len(failures) - 8} more"
        return Verdict(False, message, failures[0][1].detail)
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


def _per_channel_factor(g: Any, e: Any) -> str:
    """Each channel (axis 1) off by its own constant factor, the factors not all equal."""
    c = g.shape[1]
    gc = g.transpose(0, 1).reshape(c, -1)
    ec = e.transpose(0, 1).reshape(c, -1)
    factors = []
    for gi, ei in zip(gc, ec, strict=True):
        big = ei.abs() > 1e-9
        if int(big.sum()) < 2:
            return ""
        ratio = gi[big] / ei[big]
        f = float(ratio.median())
        if float((ratio - f).abs().max()) > 1e-4 * max(abs(f), 1e-12):
            return ""
        factors.append(f)
    if max(factors) - min(factors) < 1e-6 or all(abs(f - 1) < 1e-6 for f in factors):
        return ""
    shown = ", ".join(f"{f:.3g}" for f in factors[:4])
    return (f". Each channel is off by its own factor ({shown}{', ...' if c > 4 else ''}): a "
            "per-channel scale missing or applied twice (gamma?)")


def _scaled_normalization(g: Any, e: Any) -> str:
    """got = a * expected + b_c in every channel, with one slope a != 1: the normalized
    values are scaled before gamma and beta (a variance off by a constant factor)."""
    c = g.shape[1]
    gc = g.transpose(0, 1).reshape(c, -1)
    ec = e.transpose(0, 1).reshape(c, -1)
    if gc.shape[1] < 3:
        return ""
    slopes = []
    for gi, ei in zip(gc, ec, strict=True):
        ei_c = ei - ei.mean()
        denom = float((ei_c * ei_c).sum())
        if denom <= 1e-18:
            return ""
        a = float((ei_c * (gi - gi.mean())).sum()) / denom
        resid = gi - gi.mean() - a * ei_c
        if float(resid.abs().max()) > 1e-2 * max(float(gi.abs().max()), 1e-12):
            return ""  # (eps makes the factor only nearly constant)
        slopes.append(a)
    a = sum(slopes) / len(slopes)
    if abs(a - 1) < 1e-4 or max(abs(x - a) for x in slopes) > 1e-3 * abs(a):
        return ""
    return (f". In every channel got = {a:.6g} x expected + a constant: the normalized values "
            f"are scaled by {a:.6g} before gamma and beta (the variance off by a factor, e.g. "
            "the unbiased m - 1 instead of the biased m?)")


STATE_KEYS = ("running_mean", "running_var", "num_batches_tracked", "weight", "bias", "state")


def _structural(message: str) -> bool:
    return any(w in message for w in (": contains ", ": shape ", ": dtype ", "expected a ",
                                      "missing "))


def _is_state(key: Any) -> bool:
    return any(str(key).startswith(k) or str(key).endswith(k) for k in STATE_KEYS)


# A mismatch in one of these quantities gets this hint, whichever check found it.
QUANTITY_HINTS = {
    "running_var": "running_var is updated with the UNBIASED batch variance, var * m / (m - 1) "
    "(torch's convention), while the normalization itself uses the biased one.",
    "num_batches_tracked": "num_batches_tracked counts training forwards while tracking "
    "(a long scalar buffer), also for an empty batch.",
}


def quantity_hint(message: str) -> str:
    """The hint for the quantity a failure message names, when it is the only one that
    differs (then it, not the check, tells the mistake), or ''."""
    if "also differ" in message:
        return ""
    first = min(((message.find(k), k) for k in QUANTITY_HINTS if k in message), default=None)
    return QUANTITY_HINTS[first[1]] if first else ""


def exception_hint(message: str) -> str:
    """A hint about the exception at the end of a learner traceback."""
    last = message.strip().splitlines()[-1] if message.strip() else ""
    kind = last.split(":", 1)[0].strip()
    text = last.lower()
    if kind == "AssertionError":
        return ("an assert in your code failed: does it assume one input shape? The grader "
                "passes (N, C), (N, C, L) and (N, C, H, W).")
    if kind in ("RuntimeError", "ValueError") and any(w in text for w in ("size", "shape",
                                                                             "dimension")):
        return ("a shape mismatch: check the axes you reduce over and how (C,) vectors are "
                "reshaped to broadcast against x.")
    if "size mismatch" in text:
        return ("a parameter or buffer has another size than torch's: one value per channel "
                "(C,), not per group or per feature map.")
    if "state_dict" in text or "unexpected key" in text or "missing key" in text:
        return ("the module's state_dict differs from torch's: weight and bias as nn.Parameter, "
                "running statistics with register_buffer (None when disabled).")
    if kind == "TypeError":
        return "wrong arguments or a None not handled (optional arguments may be None)."
    if kind == "IndexError":
        return "an index out of range: does your code assume a number of dimensions?"
    if kind in ("NameError", "AttributeError", "ImportError", "ModuleNotFoundError"):
        return "a name that does not exist where it is used: a typo, or a missing import?"
    return "your code raised an exception: the line above is where; fix it first."


def judge_match(got: Any, expected: Any, ctx: Any = None) -> Verdict:
    """The default judge of a match check: structural comparison with dtype tolerances."""
    device = getattr(ctx, "device", "cpu")
    return compare(got, expected, "", device=device)
