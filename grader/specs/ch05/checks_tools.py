"""ch05.1-2 checks: the LR grid against ``torch.logspace``, and test accuracy against a BN
net put in eval mode by hand."""

from __future__ import annotations

import math
from typing import Any

from grader.lazy import torch
from grader.probing import ProbeContext, ProbeFailure
from grader.spec import Checks, contract

GRIDS = ((1e-3, 1.0, 4), (0.01, 10**0.25, 10), (0.05, 0.05, 1), (0.3, 3.0, 2))
BAD_GRIDS = {"zero": (0.0, 1.0, 3), "reversed": (1.0, 0.1, 3), "empty": (0.1, 1.0, 0)}

checks = Checks()


def torch_grid(lr_min: float, lr_max: float, num: int) -> list[float]:
    return torch.logspace(math.log10(lr_min), math.log10(lr_max), num,
                          dtype=torch.float64).tolist()


def grids(lr_grid: Any) -> list[Any]:
    out = []
    for g in GRIDS:
        if not isinstance(grid := lr_grid(*g), (list, tuple)):
            raise ProbeFailure(f"lr_grid{g} returned {type(grid).__name__}, "
                               "expected a list of floats")
        out.append(torch.tensor([float(v) for v in grid], dtype=torch.float64))
    return out


checks.same_as("ch05.1.logspace", "equals torch.logspace on four grids", grids,
               trusted={"lr_grid": torch_grid},
               hint="Equal ratios, not equal steps: lr_min * (lr_max / lr_min) ** (i / (num - 1)),"
               " with both ends included.")


@checks.api("ch05.1.contract", "a list of floats, exact ends, ValueError on bad input",
            hint="Validate the arguments first; return [float(v) for v in ...].",
            judge=contract({
                "list": "lr_grid should return a Python list of floats",
                "ends": "the grid must start at lr_min and end at lr_max",
                "zero": "lr_min <= 0 has no logarithm: raise ValueError",
                "reversed": "lr_max < lr_min should raise ValueError",
                "empty": "num < 1 should raise ValueError",
            }))
def grid_contract(lr_grid: Any) -> dict[str, Any]:
    grid = lr_grid(0.01, 1.0, 5)
    out = {"list": isinstance(grid, list) and all(isinstance(v, float) for v in grid),
           "ends": bool(grid) and grid[0] == 0.01 and abs(grid[-1] - 1.0) < 1e-12}
    for name, args in BAD_GRIDS.items():
        try:
            lr_grid(*args)
        except ValueError:
            out[name] = True
    return out


def bn_case(ctx: ProbeContext) -> tuple[Any, Any, Any]:
    """A small BN net whose running statistics differ from any batch's, and labels that the
    eval-mode net gets right exactly 70% of the time."""
    from dlbn.models import ModelConfig, build_model

    torch.manual_seed(5)
    model = build_model(ModelConfig(depth=3, width=8, norm="batch")).to(ctx.device)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1.0, 1.0)
                m.running_var.uniform_(0.3, 3.0)
    x = ctx.randn(70, 1, 40, offset=7)
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(dim=1)  # (70,)
    y = pred.clone()
    y[:21] = (pred[:21] + 1) % 10  # 21 of 70 wrong: accuracy 0.7
    return model.train(), x, y


@checks.match("ch05.2.eval_mode", "accuracy of a BN net equals its eval-mode accuracy (0.7)",
              against=lambda ctx: {"accuracy": 0.7},
              hint="Call model.eval() before the forward passes: BN must use its running "
              "statistics; count every example, including a last partial batch.")
def eval_mode(test_accuracy: Any, ctx: ProbeContext) -> dict[str, Any]:
    if not isinstance(acc := test_accuracy(*bn_case(ctx), batch_size=32), (float, int)):
        raise ProbeFailure(f"test_accuracy returned {type(acc).__name__}, expected a float")
    return {"accuracy": float(acc)}


@checks.api("ch05.2.contract", "returns a float, restores train/eval mode, running stats "
            "untouched, no autograd",
            hint="was_training = model.training; model.eval(); ...; finally: "
            "model.train(was_training).",
            judge=contract({
                "float": "test_accuracy should return a Python float (use int(...) / len(x))",
                "stats_kept": "evaluating changed the BN running statistics: the forward ran in "
                "train mode",
                "train_kept": "a model that came in training mode left in eval mode",
                "eval_kept": "a model that came in eval mode left in training mode: restore the "
                "mode it came in with (model.train(was_training))",
                "no_grad": "the forward built an autograd graph: wrap it in torch.no_grad()",
            }))
def accuracy_contract(test_accuracy: Any, ctx: ProbeContext) -> dict[str, Any]:
    model, x, y = bn_case(ctx)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = {"float": isinstance(test_accuracy(model, x, y, batch_size=32), float),
           "train_kept": model.training and all(m.training for m in model.modules()),
           "stats_kept": all(torch.equal(before[k], v) for k, v in model.state_dict().items())}
    test_accuracy(model.eval(), x, y, batch_size=32)
    out["eval_kept"] = not model.training
    grads: list[bool] = []
    hook = model.head.register_forward_hook(lambda m, i, o: grads.append(o.requires_grad))
    test_accuracy(model, x.requires_grad_(), y)
    hook.remove()
    out["no_grad"] = bool(grads) and not any(grads)
    return out
