"""ch01.1 checks: the forward pass against ``F.batch_norm``, train and eval."""

from __future__ import annotations

from typing import Any

from grader.lazy import F, torch
from grader.probing import ProbeContext, expect_tensor
from grader.spec import Checks, contract

FORBIDDEN = (
    "torch.batch_norm",
    "torch.nn.functional.batch_norm",
    "torch.native_batch_norm",
    "torch.autograd.grad",
    "torch.autograd.backward",
)
TORCH = {"batch_norm_forward": lambda x, gamma, beta, rm, rv, training, momentum=0.1, eps=1e-5:
         F.batch_norm(x, rm, rv, gamma, beta, training, momentum, eps)}

checks = Checks()


def forward(
    id: str,
    title: str,
    hint: str,
    shape: tuple[int, ...],
    *,
    dtype: str = "float32",
    training: bool = True,
    std: float = 2.0,
    affine: bool = True,
    stats: bool = True,
    momentum: float = 0.1,
    steps: int = 1,
) -> None:
    """A match check: ``steps`` forward calls on fixed inputs; outputs and buffers, against
    ``F.batch_norm`` on the same inputs."""

    def run(batch_norm_forward: Any, ctx: ProbeContext) -> dict[str, Any]:
        dt, C = getattr(torch, dtype), shape[1]
        gamma = 1 + 0.5 * ctx.randn(C, dtype=dt, offset=1) if affine else None
        beta = ctx.randn(C, dtype=dt, offset=2) if affine else None
        rm = 0.5 * ctx.randn(C, dtype=dt, offset=3) if stats else None
        rv = 0.5 + ctx.rand(C, dtype=dt, offset=4) if stats else None
        out: dict[str, Any] = {}
        for step in range(steps):
            x = ctx.randn(*shape, dtype=dt, offset=10 + step, std=std, mean=0.5)
            y = batch_norm_forward(x, gamma, beta, rm, rv, training, momentum, 1e-5)
            out[f"y{step}"] = expect_tensor(y, "batch_norm_forward")
        out["running_mean"], out["running_var"] = rm, rv
        return out

    checks.same_as(id, title, run, trusted=TORCH, hint=hint)


forward("ch01.1.train_2d", "training mode, (N, C) float32", shape=(16, 5),
        hint="Normalize each column with its batch mean and the biased variance (divide by N).")
forward("ch01.1.train_3d", "training mode, (N, C, L) float64", shape=(8, 4, 10), dtype="float64",
        hint="For (N, C, L) the statistics of channel c run over both N and L: axes (0, 2).")
forward("ch01.1.train_4d", "training mode, (N, C, H, W) float32", shape=(4, 3, 5, 6),
        hint="For images reduce over axes (0, 2, 3); reshape (C,) vectors to (1, C, 1, 1).")
forward("ch01.1.small_batch", "N = 2: running_var uses the unbiased variance", shape=(2, 6, 3),
        dtype="float64", hint="running_var is updated with the UNBIASED variance, "
        "var * m / (m - 1); the output uses the biased one.")
forward("ch01.1.small_variance", "tiny variance, where eps matters", shape=(32, 4, 5),
        dtype="float64", std=1e-3,
        hint="eps goes inside the square root: (x - mu) / sqrt(var + eps).")
forward("ch01.1.running_stats", "running statistics after 3 steps, momentum 0.3", shape=(10, 4, 3),
        dtype="float64", steps=3, momentum=0.3, hint="PyTorch weighs the NEW value by momentum: "
        "running = (1 - m) * running + m * batch.")
forward("ch01.1.eval", "eval mode uses the running statistics", shape=(6, 4, 5), dtype="float64",
        training=False, hint="With training=False normalize with running_mean / running_var, "
        "not the batch.")
forward("ch01.1.optional_args", "gamma, beta and running stats may be None", shape=(7, 3, 4),
        affine=False, stats=False, hint="None means gamma = 1, beta = 0, and no running "
        "statistics to update.")


@checks.api("ch01.1.contract", "same shape/dtype/device, inputs untouched, autograd flows",
            hint="Build new tensors (no in-place ops on x, gamma, beta) and keep them in the "
            "graph.",
            judge=contract({
                "shape": "the output's shape differs from the input's",
                "dtype": "the output's dtype differs from the input's (float64 in, float64 out)",
                "device": "the output is on another device than the input",
                "unchanged": "x, gamma or beta was modified in place: compute new tensors instead",
                "autograd": lambda got: "the output does not require grad: do not detach or use "
                "torch.no_grad for the normalization itself"
                + (f" ({got['autograd_error']})" if "autograd_error" in got else ""),
                "grads": "backward did not reach x, gamma and beta",
            }))
def contract_probe(batch_norm_forward: Any, ctx: ProbeContext) -> dict[str, Any]:
    x = ctx.randn(12, 3, dtype=torch.float64, mean=1.0)  # 2-D: shapes are checked elsewhere
    gamma = 1 + ctx.randn(3, dtype=torch.float64, offset=1)
    beta = ctx.randn(3, dtype=torch.float64, offset=2)
    copies = [t.clone() for t in (x, gamma, beta)]
    y = expect_tensor(batch_norm_forward(x, gamma, beta, None, None, True), "the forward")
    out = {
        "shape": tuple(y.shape) == tuple(x.shape),
        "dtype": y.dtype == x.dtype,
        "device": y.device.type == x.device.type,
        "unchanged": all(torch.equal(a, b) for a, b in zip((x, gamma, beta), copies, strict=True)),
    }
    x, gamma, beta = (t.detach().clone().requires_grad_() for t in copies)
    try:
        y = batch_norm_forward(x, gamma, beta, None, None, True)
    except RuntimeError as exc:  # e.g. an in-place op on a leaf that requires grad
        return {**out, "autograd": False, "autograd_error": str(exc).splitlines()[0]}
    out["autograd"] = y.requires_grad
    if y.requires_grad:
        (y * ctx.randn(*y.shape, dtype=y.dtype, offset=5)).sum().backward()
        out["grads"] = all(t.grad is not None for t in (x, gamma, beta))
    return out


checks.raises(
    "ch01.1.single_value", "one value per channel in training raises ValueError",
    lambda batch_norm_forward, ctx: batch_norm_forward(
        ctx.randn(1, 3), None, None, torch.zeros(3), torch.ones(3), True),
    message="training on a (1, 3) batch should raise ValueError (one value per channel)",
    hint="With m = 1 the variance is undefined; torch raises, so should you.",
)


def scratch_run(batch_norm_forward: Any, ctx: ProbeContext) -> None:
    x = ctx.randn(8, 3)  # 2-D, so code that handles only some shapes still gets this verdict
    rm, rv = torch.zeros(3), torch.ones(3)
    batch_norm_forward(x, None, None, rm, rv, True)
    batch_norm_forward(x, None, None, rm, rv, False)


checks.from_scratch(
    "ch01.1.from_scratch", "does not call torch's batch norm", scratch_run,
    counted=FORBIDDEN[:3], scratch=("torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d"),
    what="batch_norm_forward",
    hint="Compute mean and variance yourself with x.mean / x.var; no F.batch_norm.",
)
