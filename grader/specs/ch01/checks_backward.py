"""ch01.2 checks: the hand-derived backward pass against autograd through ``F.batch_norm``."""

from __future__ import annotations

from typing import Any

from grader.lazy import F, torch
from grader.probing import ProbeContext, expect_tuple
from grader.spec import Checks

GRAD_NAMES = ("grad_x", "grad_gamma", "grad_beta")
CONSTANT_STATS_HINT = (
    "mu and sigma2 depend on x: dL/dx = gamma / (m sqrt(var + eps)) "
    "* (m g - sum g - x_hat sum(g x_hat))."
)

checks = Checks()


def autograd_backward(grad_out: Any, x: Any, gamma: Any) -> tuple[Any, Any, Any]:
    """The oracle: autograd through ``F.batch_norm`` (training mode, no running stats)."""
    x = x.clone().requires_grad_()
    C = x.shape[1]
    g = (gamma if gamma is not None else torch.ones(C, dtype=x.dtype)).clone().requires_grad_()
    beta = torch.zeros(C, dtype=x.dtype, requires_grad=True)
    y = F.batch_norm(x, None, None, g, beta, True, 0.1, 1e-5)
    return torch.autograd.grad(y, (x, g, beta), grad_out)


def backward(id: str, title: str, hint: str, shape: tuple[int, ...], *,
             dtype: str = "float64", affine: bool = True) -> None:
    def run(batch_norm_backward: Any, ctx: ProbeContext) -> dict[str, Any]:
        dt = getattr(torch, dtype)
        x = ctx.randn(*shape, dtype=dt, std=3.0, mean=1.0)
        gamma = 1 + 0.5 * ctx.randn(shape[1], dtype=dt, offset=1) if affine else None
        grad_out = ctx.randn(*shape, dtype=dt, offset=2)  # random: ones prove nothing
        grads = expect_tuple(batch_norm_backward(grad_out, x, gamma), 3, "batch_norm_backward")
        return dict(zip(GRAD_NAMES, grads, strict=True))

    checks.same_as(id, title, run, trusted={"batch_norm_backward": autograd_backward}, hint=hint)


backward("ch01.2.grad_2d", "gradients, (N, C) float64", shape=(12, 5), hint=CONSTANT_STATS_HINT)
backward("ch01.2.grad_3d", "gradients, (N, C, L) float64", shape=(6, 4, 9),
         hint="Sums run over axes (0, 2) for (N, C, L); " + CONSTANT_STATS_HINT)
backward("ch01.2.grad_4d", "gradients, (N, C, H, W) float32", shape=(3, 2, 4, 5),
         dtype="float32", hint="Sums run over axes (0, 2, 3) for images.")
backward("ch01.2.small_batch", "gradients with N = 2", shape=(2, 3, 2),
         hint="Use m = N * (values per channel per example), the same m as the forward.")
backward("ch01.2.no_gamma", "gamma = None means gamma = 1", shape=(5, 3), affine=False,
         hint="Treat gamma=None as ones; still return grad_gamma, grad_beta.")


def no_autograd_run(batch_norm_backward: Any, ctx: ProbeContext) -> None:
    x = ctx.randn(6, 3)  # 2-D: shape generality is the match checks' job
    with torch.no_grad():
        batch_norm_backward(ctx.randn(6, 3, offset=1), x, torch.ones(3))


checks.from_scratch(
    "ch01.2.no_autograd", "works under torch.no_grad, without autograd", no_autograd_run,
    counted=("torch.autograd.grad", "torch.autograd.backward"), what="batch_norm_backward",
    hint="Compute the formulas directly; no .backward() or autograd.grad.",
)
