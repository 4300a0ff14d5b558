"""ch01 checks: batch norm forward (ch01.1), backward (ch01.2) and module (ch01.3).

torch is the oracle: match checks run the same inputs through ``F.batch_norm``,
autograd and ``nn.BatchNorm1d/2d`` in the reference process.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import F, nn, torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor, expect_tuple
from grader.specs.helpers import all_true, api, match

FORBIDDEN = (
    "torch.batch_norm",
    "torch.nn.functional.batch_norm",
    "torch.native_batch_norm",
    "torch.autograd.grad",
    "torch.autograd.backward",
)

# ---------------------------------------------------------------- ch01.1 forward


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
    x = ctx.randn(6, 3, 4)
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
    x = ctx.randn(5, 3, 7, dtype=torch.float64, mean=1.0)
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
    ),
]

# ---------------------------------------------------------------- ch01.2 backward


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
    x = ctx.randn(4, 3, 5)
    with torch.no_grad():
        mod.batch_norm_backward(ctx.randn(4, 3, 5, offset=1), x, torch.ones(3))
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
    ),
]

# ---------------------------------------------------------------- ch01.3 module


def torch_module(num_features: int, x_dim: int, **kw: Any) -> Any:
    cls = nn.BatchNorm2d if x_dim == 4 else nn.BatchNorm1d
    return cls(num_features, **kw)


def learner_module(mod: Any) -> Any:
    return lambda num_features, x_dim, **kw: mod.BatchNorm(num_features, **kw)


def module_case(shape: tuple[int, ...], steps: int = 3, offset: int = 0, **kw: Any):
    """Train-mode steps (under no_grad, to catch grad mode used as train mode), then eval."""

    def run(make: Any, ctx: ProbeContext) -> dict[str, Any]:
        bn = make(shape[1], len(shape), **kw).double()
        if bn.weight is not None:
            with torch.no_grad():
                bn.weight.copy_(1 + 0.5 * ctx.randn(shape[1], dtype=torch.float64, offset=offset))
                bn.bias.copy_(ctx.randn(shape[1], dtype=torch.float64, offset=offset + 1))
        out: dict[str, Any] = {}
        bn.train()
        for step in range(steps):
            x = ctx.randn(*shape, dtype=torch.float64, offset=offset + 10 + step, std=2, mean=1)
            with torch.no_grad():
                out[f"train{step}"] = expect_tensor(bn(x), "BatchNorm.forward")
        bn.eval()
        x = ctx.randn(*shape, dtype=torch.float64, offset=offset + 20, std=2, mean=1)
        out["eval"] = expect_tensor(bn(x), "BatchNorm.forward")
        out["state"] = {k: v for k, v in bn.state_dict().items()}
        return out

    return (lambda mod, ctx: run(learner_module(mod), ctx)), (
        lambda mod, ctx: run(torch_module, ctx)
    )


def module_check(id: str, title: str, hint: str, **case: Any):
    probe, oracle = module_case(**case)
    return match(id, title, probe, oracle=oracle, hint=hint)


def state_layout(make: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kw in {
        "default": {},
        "no_affine": {"affine": False},
        "untracked": {"track_running_stats": False},
    }.items():
        bn = make(4, 4, **kw)
        out[name] = {
            "keys": list(bn.state_dict().keys()),
            "parameters": [n for n, _ in bn.named_parameters()],
            "buffers": [n for n, _ in bn.named_buffers()],
            "dtypes": [str(v.dtype) for v in bn.state_dict().values()],
        }
    return out


def probe_state_dict(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = state_layout(learner_module(mod))
    theirs = nn.BatchNorm2d(4)
    theirs.running_mean.add_(1.5)
    ours = mod.BatchNorm(4)
    ours.load_state_dict(theirs.state_dict())
    out["loaded_running_mean"] = ours.state_dict()["running_mean"]
    return out


def oracle_state_dict(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = state_layout(torch_module)
    out["loaded_running_mean"] = torch.full((4,), 1.5)
    return out


def probe_autograd(make: Any, ctx: ProbeContext) -> list[Any]:
    bn = make(3, 3).double()
    x = ctx.randn(5, 3, 4, dtype=torch.float64, std=2, mean=1).requires_grad_()
    y = bn(x)
    grads = torch.autograd.grad(
        (y * ctx.randn(5, 3, 4, dtype=torch.float64, offset=3)).sum(), (x, bn.weight, bn.bias)
    )
    return [y, *grads]


MODULE = [
    match(
        "ch01.3.state_dict",
        "parameters, buffers and state_dict match nn.BatchNorm2d",
        probe_state_dict,
        oracle=oracle_state_dict,
        hint="Use nn.Parameter for weight/bias and register_buffer for running_mean, running_var "
        "and num_batches_tracked (a long tensor); register None when disabled.",
    ),
    module_check(
        "ch01.3.train_then_eval",
        "3 training steps then eval, (N, C, L)",
        shape=(6, 3, 5),
        hint="self.training decides train vs eval (not torch.is_grad_enabled()); eval uses the "
        "running statistics.",
    ),
    module_check(
        "ch01.3.images",
        "3 training steps then eval, (N, C, H, W)",
        shape=(3, 2, 4, 4),
        offset=100,
        hint="The module must accept (N, C, H, W) like nn.BatchNorm2d.",
    ),
    module_check(
        "ch01.3.momentum_none",
        "momentum=None: cumulative moving average",
        shape=(8, 4),
        momentum=None,
        offset=200,
        hint="Increment num_batches_tracked first, then use momentum = 1 / num_batches_tracked.",
    ),
    module_check(
        "ch01.3.untracked",
        "track_running_stats=False uses batch statistics in eval too",
        shape=(8, 3, 2),
        track_running_stats=False,
        affine=False,
        offset=300,
        hint="Without running statistics there is nothing else to use: batch statistics always.",
    ),
    match(
        "ch01.3.autograd",
        "autograd through the module reaches x, weight and bias",
        lambda mod, ctx: probe_autograd(learner_module(mod), ctx),
        oracle=lambda mod, ctx: probe_autograd(torch_module, ctx),
        hint="Keep the normalization differentiable; only the running-stat update is no_grad.",
    ),
]

CHECKS = (*FORWARD, *BACKWARD, *MODULE)
