"""ch01.3 checks: the module against ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``."""

from __future__ import annotations

from typing import Any

from grader.lazy import nn, torch
from grader.probing import ProbeContext, expect_tensor
from grader.specs.helpers import match


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
