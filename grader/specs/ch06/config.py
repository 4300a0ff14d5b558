"""ch06 fixtures and configurations: tiny seeded nets and batches, identical in the learner
and reference processes, and the experiment's grading configuration.

The grading nets are 3-block, width-8 softplus conv nets (~550 parameters) in float64, so
that finite differences are meaningful and every HVP takes milliseconds.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.probing import ProbeContext

TINY = {"depth": 3, "width": 8, "softplus_beta": 10.0}
# The experiment's grading config: a 4-block width-8 net (~750 parameters), 3 of 10 epochs on
# 1,000 examples, the Hessian of 256 examples in two batches of 128, top 10 eigenpairs.
GRADING = {"depth": 4, "width": 8, "train_examples": 1000, "epochs": 10, "stop_epoch": 3,
           "hessian_examples": 256, "hessian_batch_size": 128, "k": 10}


def tiny_net(ctx: ProbeContext, norm: str, *, offset: int = 0) -> Any:
    """A seeded tiny conv net; BN nets get non-trivial gamma/beta and running statistics."""
    from dlbn.models import ModelConfig, build_model

    torch.manual_seed(1000 * ctx.seed + 17 + offset)
    model = build_model(ModelConfig(norm=norm, activation="softplus", **TINY))
    model = model.to(device=ctx.device, dtype=torch.float64)
    if norm == "batch":
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
            model.train()
            for step in range(3):  # move the running statistics away from (0, 1)
                model(ctx.randn(16, 1, 40, dtype=torch.float64, offset=900 + step, std=1.5,
                                mean=0.3))
    return model


def tiny_batches(ctx: ProbeContext, *, n: int = 2, size: int = 16,
                 offset: int = 0) -> list[tuple[Any, Any]]:
    """``n`` batches of random signals (size, 1, 40) with random labels in 0..9."""
    out = []
    for i in range(n):
        x = ctx.randn(size, 1, 40, dtype=torch.float64, offset=offset + 2 * i)
        y = torch.randint(0, 10, (size,), generator=ctx.generator(offset + 2 * i + 1))
        out.append((x, y.to(ctx.device)))
    return out


def unit_vector(ctx: ProbeContext, n: int, *, offset: int = 0) -> Any:
    v = ctx.randn(n, dtype=torch.float64, offset=offset)
    return v / v.norm()


def snapshot(model: Any) -> dict[str, Any]:
    """Parameters, buffers and modes, cloned: to prove a function left the model alone."""
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "modes": [m.training for m in model.modules()],
        "grads": [p.grad is not None for p in model.parameters()],
    }


def unchanged(model: Any, before: dict[str, Any]) -> dict[str, bool]:
    after = snapshot(model)
    return {
        "params_and_buffers": before["state"].keys() == after["state"].keys()
        and all(torch.equal(before["state"][k], v) for k, v in after["state"].items()),
        "mode": before["modes"] == after["modes"],
        "no_grad_left": not any(after["grads"]),
    }
