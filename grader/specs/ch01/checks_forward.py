"""ch01.1 checks: the forward pass against ``F.batch_norm``, train and eval."""

from __future__ import annotations

from typing import Any

from grader.lazy import F, torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor
from grader.specs.helpers import all_true, api, match

FORBIDDEN = (
    "torch.batch_norm",
    "torch.nn.functional.batch_norm",
    "torch.native_batch_norm",
    "torch.autograd.grad",
    "torch.autograd.backward",
)


def torch_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    return F.batch_norm(x, running_mean, running_var, gamma, beta, training, momentum, eps)


def learner_forward(mod: Any) -> Any:
    def call(*args: Any, **kw: Any) -> Any:
        return expect_tensor(mod.batch_norm_forward(*args, **kw), "batch_norm_forward")

    return call


def forward_case(
    shape: tuple[int, ...],
    *,
    dtype: str = "float32",
    training: bool = True,
    std: float = 2.0,
    mean: float = 0.5,
    affine: bool = True,
    stats: bool = True,
    momentum: float = 0.1,
    steps: int = 1,
    offset: int = 0,
):
    """A (probe, oracle) pair: ``steps`` forward calls on fixed inputs, outputs and buffers."""

    def run(forward: Any, ctx: ProbeContext) -> dict[str, Any]:
        dt = getattr(torch, dtype)
        C = shape[1]
        gamma = 1 + 0.5 * ctx.randn(C, dtype=dt, offset=offset + 1) if affine else None
        beta = ctx.randn(C, dtype=dt, offset=offset + 2) if affine else None
        rm = 0.5 * ctx.randn(C, dtype=dt, offset=offset + 3) if stats else None
        rv = 0.5 + ctx.rand(C, dtype=dt, offset=offset + 4) if stats else None
        out: dict[str, Any] = {}
        for step in range(steps):
            x = ctx.randn(*shape, dtype=dt, offset=offset + 10 + step, std=std, mean=mean)
            out[f"y{step}"] = forward(x, gamma, beta, rm, rv, training, momentum, 1e-5)
        out["running_mean"], out["running_var"] = rm, rv
        return out

    return (lambda mod, ctx: run(learner_forward(mod), ctx)), (
        lambda mod, ctx: run(torch_forward, ctx)
    )


def forward_check(id: str, title: str, hint: str, **case: Any):
    probe, oracle = forward_case(**case)
    return match(id, title, probe, oracle=oracle, hint=hint)


def probe_from_scratch(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    before = {name: ctx.calls(name) for name in FORBIDDEN[:3]}
    x = ctx.randn(8, 3)  # 2-D, so code that handles only some shapes still gets this verdict
    rm, rv = torch.zeros(3), torch.ones(3)
    mod.batch_norm_forward(x, None, None, rm, rv, True)
    mod.batch_norm_forward(x, None, None, rm, rv, False)
    return {name: ctx.calls(name) - n for name, n in before.items()}


def judge_from_scratch(got: dict[str, int], expected: Any, ctx: Any) -> Verdict:
    used = {name: n for name, n in got.items() if n}
    if used:
        names = ", ".join(f"{name} ({n}x)" for name, n in used.items())
        return Verdict.fail(f"batch_norm_forward called {names}: this task is from scratch")
    return Verdict.ok()


def probe_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    forward = learner_forward(mod)
    x = ctx.randn(12, 3, dtype=torch.float64, mean=1.0)  # 2-D: shapes are checked elsewhere
    gamma = 1 + ctx.randn(3, dtype=torch.float64, offset=1)
    beta = ctx.randn(3, dtype=torch.float64, offset=2)
    copies = [t.clone() for t in (x, gamma, beta)]
    y = forward(x, gamma, beta, None, None, True)
    out = {
        "shape": tuple(y.shape) == tuple(x.shape),
        "dtype": y.dtype == x.dtype,
        "device": y.device.type == x.device.type,
        "unchanged": all(torch.equal(a, b) for a, b in zip((x, gamma, beta), copies, strict=True)),
    }
    x, gamma, beta = (t.detach().clone().requires_grad_() for t in copies)
    try:
        y = forward(x, gamma, beta, None, None, True)
    except RuntimeError as exc:  # e.g. an in-place op on a leaf that requires grad
        out["autograd"] = False
        out["autograd_error"] = str(exc).splitlines()[0]
        return out
    out["autograd"] = y.requires_grad
    if y.requires_grad:
        (y * ctx.randn(*y.shape, dtype=y.dtype, offset=5)).sum().backward()
        out["grads"] = all(t.grad is not None for t in (x, gamma, beta))
    return out


def judge_contract(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    return all_true(
        got,
        {
            "shape": "the output's shape differs from the input's",
            "dtype": "the output's dtype differs from the input's (float64 in, float64 out)",
            "device": "the output is on another device than the input",
            "unchanged": "x, gamma or beta was modified in place: compute new tensors instead",
            "autograd": "the output does not require grad: do not detach or use torch.no_grad "
            "for the normalization itself"
            + (f" ({got['autograd_error']})" if "autograd_error" in got else ""),
            "grads": "backward did not reach x, gamma and beta",
        },
    )


def probe_single_value(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    x = ctx.randn(1, 3)
    try:
        mod.batch_norm_forward(x, None, None, torch.zeros(3), torch.ones(3), True)
    except ValueError:
        return {"raised": "ValueError"}
    return {"raised": None}


def judge_single_value(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    if got["raised"] == "ValueError":
        return Verdict.ok()
    return Verdict.fail(
        "training on a (1, 3) batch should raise ValueError (one value per channel)"
    )


FORWARD = [
    forward_check(
        "ch01.1.train_2d",
        "training mode, (N, C) float32",
        shape=(16, 5),
        hint="Normalize each column with its batch mean and the biased variance (divide by N).",
    ),
    forward_check(
        "ch01.1.train_3d",
        "training mode, (N, C, L) float64",
        shape=(8, 4, 10),
        dtype="float64",
        hint="For (N, C, L) the statistics of channel c run over both N and L: axes (0, 2).",
    ),
    forward_check(
        "ch01.1.train_4d",
        "training mode, (N, C, H, W) float32",
        shape=(4, 3, 5, 6),
        hint="For images reduce over axes (0, 2, 3); reshape (C,) vectors to (1, C, 1, 1).",
    ),
    forward_check(
        "ch01.1.small_batch",
        "N = 2: running_var uses the unbiased variance",
        shape=(2, 6, 3),
        dtype="float64",
        hint="running_var is updated with the UNBIASED variance, var * m / (m - 1); the output "
        "uses the biased one.",
    ),
    forward_check(
        "ch01.1.small_variance",
        "tiny variance, where eps matters",
        shape=(32, 4, 5),
        dtype="float64",
        std=1e-3,
        hint="eps goes inside the square root: (x - mu) / sqrt(var + eps).",
    ),
    forward_check(
        "ch01.1.running_stats",
        "running statistics after 3 steps, momentum 0.3",
        shape=(10, 4, 3),
        dtype="float64",
        steps=3,
        momentum=0.3,
        hint="PyTorch weighs the NEW value by momentum: running = (1 - m) * running + m * batch.",
    ),
    forward_check(
        "ch01.1.eval",
        "eval mode uses the running statistics",
        shape=(6, 4, 5),
        dtype="float64",
        training=False,
        hint="With training=False normalize with running_mean / running_var, not the batch.",
    ),
    forward_check(
        "ch01.1.optional_args",
        "gamma, beta and running stats may be None",
        shape=(7, 3, 4),
        affine=False,
        stats=False,
        hint="None means gamma = 1, beta = 0, and no running statistics to update.",
    ),
    api(
        "ch01.1.contract",
        "same shape/dtype/device, inputs untouched, autograd flows",
        probe_contract,
        judge_contract,
        hint="Build new tensors (no in-place ops on x, gamma, beta) and keep them in the graph.",
    ),
    api(
        "ch01.1.single_value",
        "one value per channel in training raises ValueError",
        probe_single_value,
        judge_single_value,
        hint="With m = 1 the variance is undefined; torch raises, so should you.",
    ),
    api(
        "ch01.1.from_scratch",
        "does not call torch's batch norm",
        probe_from_scratch,
        judge_from_scratch,
        hint="Compute mean and variance yourself with x.mean / x.var; no F.batch_norm.",
        scratch=FORBIDDEN[:3] + ("torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d"),
    ),
]
