"""ch01.3 checks: the module against ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``."""

from __future__ import annotations

from typing import Any

from grader.lazy import nn, torch
from grader.probing import ProbeContext, expect_tensor
from grader.spec import Checks

checks = Checks()


def torch_bn1d(*args: Any, **kw: Any) -> Any:
    return nn.BatchNorm1d(*args, **kw)


def torch_bn2d(*args: Any, **kw: Any) -> Any:
    return nn.BatchNorm2d(*args, **kw)


def module_run(id: str, title: str, hint: str, shape: tuple[int, ...], *, steps: int = 3,
               offset: int = 0, **kw: Any) -> None:
    """Train-mode steps (under no_grad, to catch grad mode used as train mode), then eval;
    against nn.BatchNorm1d (nn.BatchNorm2d for images) on the same inputs."""

    def run(BatchNorm: Any, ctx: ProbeContext) -> dict[str, Any]:  # noqa: N803 - the class
        bn = BatchNorm(shape[1], **kw).double()
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
        out["state"] = dict(bn.state_dict())
        return out

    trusted = torch_bn2d if len(shape) == 4 else torch_bn1d
    checks.same_as(id, title, run, trusted={"BatchNorm": trusted}, hint=hint)


def state_layout(BatchNorm: Any) -> dict[str, Any]:  # noqa: N803
    out: dict[str, Any] = {}
    for name, kw in {
        "default": {},
        "no_affine": {"affine": False},
        "untracked": {"track_running_stats": False},
    }.items():
        bn = BatchNorm(4, **kw)
        out[name] = {
            "keys": list(bn.state_dict().keys()),
            "parameters": [n for n, _ in bn.named_parameters()],
            "buffers": [n for n, _ in bn.named_buffers()],
            "dtypes": [str(v.dtype) for v in bn.state_dict().values()],
        }
    return out


def oracle_state_dict(ctx: ProbeContext) -> dict[str, Any]:
    return {**state_layout(torch_bn2d), "loaded_running_mean": torch.full((4,), 1.5)}


@checks.match("ch01.3.state_dict", "parameters, buffers and state_dict match nn.BatchNorm2d",
              against=oracle_state_dict,
              hint="Use nn.Parameter for weight/bias and register_buffer for running_mean, "
              "running_var and num_batches_tracked (a long tensor); register None when disabled.")
def state_dict_probe(BatchNorm: Any, ctx: ProbeContext) -> dict[str, Any]:  # noqa: N803
    out = state_layout(BatchNorm)
    theirs = nn.BatchNorm2d(4)
    theirs.running_mean.add_(1.5)
    ours = BatchNorm(4)
    ours.load_state_dict(theirs.state_dict())
    out["loaded_running_mean"] = ours.state_dict()["running_mean"]
    return out


module_run("ch01.3.train_then_eval", "3 training steps then eval, (N, C, L)", shape=(6, 3, 5),
           hint="self.training decides train vs eval (not torch.is_grad_enabled()); eval uses "
           "the running statistics.")
module_run("ch01.3.images", "3 training steps then eval, (N, C, H, W)", shape=(3, 2, 4, 4),
           offset=100, hint="The module must accept (N, C, H, W) like nn.BatchNorm2d.")
module_run("ch01.3.momentum_none", "momentum=None: cumulative moving average", shape=(8, 4),
           momentum=None, offset=200,
           hint="Increment num_batches_tracked first, then use momentum = 1 / num_batches_tracked.")
module_run("ch01.3.untracked", "track_running_stats=False uses batch statistics in eval too",
           shape=(8, 3, 2), track_running_stats=False, affine=False, offset=300,
           hint="Without running statistics there is nothing else to use: batch statistics always.")


@checks.match("ch01.3.factory",
              "torch's constructor: device=, dtype=, bias=; reset_running_stats, reset_parameters",
              against={"BatchNorm": torch_bn1d},
              hint="Create weight, bias and the running buffers with device=device, dtype=dtype; "
              "bias=False registers bias as None; reset_* restore 0, 1, 0 and weight 1, bias 0.")
def factory_case(BatchNorm: Any, ctx: ProbeContext) -> dict[str, Any]:  # noqa: N803
    """torch's constructor keywords and the two reset methods, on (N, C) input."""
    out: dict[str, Any] = {}
    for name, kw in {
        "float64": {"dtype": torch.float64, "device": "cpu"},
        "no_bias": {"bias": False},
        "no_bias_untracked": {"bias": False, "track_running_stats": False},
    }.items():
        bn = BatchNorm(3, **kw)
        out[name] = {
            "keys": list(bn.state_dict().keys()),
            "dtypes": [str(v.dtype) for v in bn.state_dict().values()],
            "bias_is_none": bn.bias is None,
        }
    bn = BatchNorm(3, dtype=torch.float64)
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


@checks.match("ch01.3.edge_cases",
              "16-bit input keeps its dtype; empty batch; old checkpoints; tracking switched off",
              against={"BatchNorm": torch_bn1d},
              hint="Return y in x's dtype; an empty batch changes no statistic; eval uses the "
              "buffers whenever they exist; training updates them only while tracking.")
def edge_case(BatchNorm: Any, ctx: ProbeContext) -> dict[str, Any]:  # noqa: N803
    """16-bit input, an empty batch, an old checkpoint, tracking switched off later."""
    out: dict[str, Any] = {}
    bn = BatchNorm(3)
    x = ctx.randn(8, 3, std=2, mean=1).to(torch.bfloat16)
    with torch.no_grad():
        out["bfloat16_out"] = expect_tensor(bn(x), "BatchNorm.forward")
    out["bfloat16_state"] = dict(bn.state_dict())
    bn = BatchNorm(3)
    with torch.no_grad():
        bn.running_mean.fill_(0.5)
        y = expect_tensor(bn(ctx.randn(0, 3)), "BatchNorm.forward")
    out["empty"] = {"shape": list(y.shape), "state": dict(bn.state_dict())}
    old = {k: v for k, v in nn.BatchNorm1d(3).state_dict().items() if k != "num_batches_tracked"}
    old["running_mean"] = torch.full((3,), 0.25)
    bn = BatchNorm(3)
    with torch.no_grad():
        bn(ctx.randn(4, 3, offset=2))  # num_batches_tracked = 1 before the load
    bn.load_state_dict(old)
    out["old_checkpoint"] = dict(bn.state_dict())
    bn = BatchNorm(3).double()
    with torch.no_grad():
        bn(ctx.randn(6, 3, dtype=torch.float64, offset=3, std=2, mean=1))
        bn.track_running_stats = False
        bn(ctx.randn(6, 3, dtype=torch.float64, offset=4, std=3))
        out["untracked_later_state"] = dict(bn.state_dict())
        bn.eval()
        out["untracked_later_eval"] = bn(ctx.randn(5, 3, dtype=torch.float64, offset=5))
    return out




@checks.match("ch01.3.autograd", "autograd through the module reaches x, weight and bias",
              against={"BatchNorm": torch_bn1d},
              hint="Keep the normalization differentiable; only the running-stat update is "
              "no_grad.")
def autograd_probe(BatchNorm: Any, ctx: ProbeContext) -> list[Any]:  # noqa: N803
    bn = BatchNorm(3).double()
    x = ctx.randn(5, 3, 4, dtype=torch.float64, std=2, mean=1).requires_grad_()
    y = expect_tensor(bn(x), "BatchNorm.forward")
    grads = torch.autograd.grad(
        (y * ctx.randn(5, 3, 4, dtype=torch.float64, offset=3)).sum(), (x, bn.weight, bn.bias)
    )
    return [y, *grads]
