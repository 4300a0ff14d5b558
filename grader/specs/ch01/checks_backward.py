"""ch01.2 checks: the hand-derived backward pass against autograd through ``F.batch_norm``."""

from __future__ import annotations

from typing import Any

from grader.lazy import F, torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tuple
from grader.specs.helpers import api, match

GRAD_NAMES = ("grad_x", "grad_gamma", "grad_beta")


def backward_case(
    shape: tuple[int, ...], dtype: str = "float64", affine: bool = True, offset: int = 0
):
    def inputs(ctx: ProbeContext) -> tuple[Any, Any, Any]:
        dt = getattr(torch, dtype)
        x = ctx.randn(*shape, dtype=dt, offset=offset, std=3.0, mean=1.0)
        gamma = 1 + 0.5 * ctx.randn(shape[1], dtype=dt, offset=offset + 1) if affine else None
        grad_out = ctx.randn(*shape, dtype=dt, offset=offset + 2)  # random: ones prove nothing
        return x, gamma, grad_out

    def probe(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
        x, gamma, grad_out = inputs(ctx)
        grads = expect_tuple(mod.batch_norm_backward(grad_out, x, gamma), 3, "batch_norm_backward")
        return dict(zip(GRAD_NAMES, grads, strict=True))

    def oracle(mod: Any, ctx: ProbeContext) -> list[Any]:
        x, gamma, grad_out = inputs(ctx)
        x = x.clone().requires_grad_()
        C = shape[1]
        g = (gamma if gamma is not None else torch.ones(C, dtype=x.dtype)).clone().requires_grad_()
        beta = torch.zeros(C, dtype=x.dtype, requires_grad=True)
        y = F.batch_norm(x, None, None, g, beta, True, 0.1, 1e-5)
        return dict(zip(GRAD_NAMES, torch.autograd.grad(y, (x, g, beta), grad_out), strict=True))

    return probe, oracle


def backward_check(id: str, title: str, hint: str, **case: Any):
    probe, oracle = backward_case(**case)
    return match(id, title, probe, oracle=oracle, hint=hint)


CONSTANT_STATS_HINT = (
    "mu and sigma2 depend on x: dL/dx = gamma / (m sqrt(var + eps)) "
    "* (m g - sum g - x_hat sum(g x_hat))."
)


def probe_no_autograd(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    names = ("torch.autograd.grad", "torch.autograd.backward")
    before = {n: ctx.calls(n) for n in names}
    x = ctx.randn(6, 3)  # 2-D: shape generality is the match checks' job
    with torch.no_grad():
        mod.batch_norm_backward(ctx.randn(6, 3, offset=1), x, torch.ones(3))
    return {n: ctx.calls(n) - before[n] for n in names}


def judge_no_autograd(got: dict[str, int], expected: Any, ctx: Any) -> Verdict:
    if any(got.values()):
        return Verdict.fail("batch_norm_backward used autograd; derive the gradients by hand")
    return Verdict.ok()


BACKWARD = [
    backward_check(
        "ch01.2.grad_2d", "gradients, (N, C) float64", shape=(12, 5), hint=CONSTANT_STATS_HINT
    ),
    backward_check(
        "ch01.2.grad_3d",
        "gradients, (N, C, L) float64",
        shape=(6, 4, 9),
        hint="Sums run over axes (0, 2) for (N, C, L); " + CONSTANT_STATS_HINT,
    ),
    backward_check(
        "ch01.2.grad_4d",
        "gradients, (N, C, H, W) float32",
        shape=(3, 2, 4, 5),
        dtype="float32",
        hint="Sums run over axes (0, 2, 3) for images.",
    ),
    backward_check(
        "ch01.2.small_batch",
        "gradients with N = 2",
        shape=(2, 3, 2),
        hint="Use m = N * (values per channel per example), the same m as the forward.",
    ),
    backward_check(
        "ch01.2.no_gamma",
        "gamma = None means gamma = 1",
        shape=(5, 3),
        affine=False,
        hint="Treat gamma=None as ones; still return grad_gamma, grad_beta.",
    ),
    api(
        "ch01.2.no_autograd",
        "works under torch.no_grad, without autograd",
        probe_no_autograd,
        judge_no_autograd,
        hint="Compute the formulas directly; no .backward() or autograd.grad.",
        scratch=("torch.autograd.grad", "torch.autograd.backward"),
    ),
]
