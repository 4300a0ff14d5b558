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


def torch_any(num_features: int, **kw: Any) -> Any:
    return nn.BatchNorm1d(num_features, **kw)


def learner_any(mod: Any) -> Any:
    return lambda num_features, **kw: mod.BatchNorm(num_features, **kw)


def factory_case(make: Any, ctx: ProbeContext) -> dict[str, Any]:
    """torch's constructor keywords and the two reset methods, on (N, C) input."""
    out: dict[str, Any] = {}
    for name, kw in {
        "float64": {"dtype": torch.float64, "device": "cpu"},
        "no_bias": {"bias": False},
        "no_bias_untracked": {"bias": False, "track_running_stats": False},
    }.items():
        bn = make(3, **kw)
        out[name] = {
            "keys": list(bn.state_dict().keys()),
            "dtypes": [str(v.dtype) for v in bn.state_dict().values()],
            "bias_is_none": bn.bias is None,
        }
    bn = make(3, dtype=torch.float64)
    bn.train()
    with torch.no_grad():
        bn.weight.mul_(3)
        bn(ctx.randn(6, 3, dtype=torch.float64, std=2, mean=1))
    out["trained"] = dict(bn.state_dict())
    bn.reset_running_stats()
    out["after_reset_running_stats"] = dict(bn.state_dict())
    with torch.no_grad():
        bn(ctx.randn(6, 3, dtype=torch.float64, offset=1))
    bn.reset_parameters()
    out["after_reset_parameters"] = dict(bn.state_dict())
    return out


def edge_case(make: Any, ctx: ProbeContext) -> dict[str, Any]:
    """16-bit input, an empty batch, an old checkpoint, tracking switched off later."""
    out: dict[str, Any] = {}
    bn = make(3)
    x = ctx.randn(8, 3, std=2, mean=1).to(torch.bfloat16)
    with torch.no_grad():
        out["bfloat16_out"] = expect_tensor(bn(x), "BatchNorm.forward")
    out["bfloat16_state"] = dict(bn.state_dict())
    bn = make(3)
    with torch.no_grad():
        bn.running_mean.fill_(0.5)
        y = expect_tensor(bn(ctx.randn(0, 3)), "BatchNorm.forward")
    out["empty"] = {"shape": list(y.shape), "state": dict(bn.state_dict())}
    old = {k: v for k, v in nn.BatchNorm1d(3).state_dict().items() if k != "num_batches_tracked"}
    old["running_mean"] = torch.full((3,), 0.25)
    bn = make(3)
    with torch.no_grad():
        bn(ctx.randn(4, 3, offset=2))  # num_batches_tracked = 1 before the load
    bn.load_state_dict(old)
    out["old_checkpoint"] = dict(bn.state_dict())
    bn = make(3).double()
    with torch.no_grad():
        bn(ctx.randn(6, 3, dtype=torch.float64, offset=3, std=2, mean=1))
        bn.track_running_stats = False
        bn(ctx.randn(6, 3, dtype=torch.float64, offset=4, std=3))
        out["untracked_later_state"] = dict(bn.state_dict())
        bn.eval()
        out["untracked_later_eval"] = bn(ctx.randn(5, 3, dtype=torch.float64, offset=5))
    return out


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
        "ch01.3.factory",
        "torch's constructor: device=, dtype=, bias=; reset_running_stats, reset_parameters",
        lambda mod, ctx: factory_case(learner_any(mod), ctx),
        oracle=lambda mod, ctx: factory_case(torch_any, ctx),
        hint="Create weight, bias and the running buffers with device=device, dtype=dtype; "
        "bias=False registers bias as None; reset_* restore 0, 1, 0 and weight 1, bias 0.",
    ),
    match(
        "ch01.3.edge_cases",
        "16-bit input keeps its dtype; empty batch; old checkpoints; tracking switched off",
        lambda mod, ctx: edge_case(learner_any(mod), ctx),
        oracle=lambda mod, ctx: edge_case(torch_any, ctx),
        hint="Return y in x's dtype; an empty batch changes no statistic; eval uses the "
        "buffers whenever they exist; training updates them only while tracking.",
    ),
    match(
        "ch01.3.autograd",
        "autograd through the module reaches x, weight and bias",
        lambda mod, ctx: probe_autograd(learner_module(mod), ctx),
        oracle=lambda mod, ctx: probe_autograd(torch_module, ctx),
        hint="Keep the normalization differentiable; only the running-stat update is no_grad.",
    ),
]
