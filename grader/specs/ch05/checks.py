"""ch05 checks for the grid (ch05.1), evaluation (ch05.2), sweep (ch05.3) and stress test
(ch05.4). The BN-vs-no-BN experiment (ch05.5) is in `experiments.py`.

Oracles: torch.logspace for the grid, a model put in eval mode by hand for the accuracy,
dlbn.schedules.lr_at for the stress schedule, hand-made sweep records for the highest stable
LR, and the reference solution for the two tiny training runs.
"""

from __future__ import annotations

import math
from typing import Any

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure
from grader.specs.ch05.tiny import (
    TINY_SWEEP_LRS,
    tiny_data,
    tiny_model,
    tiny_stress_cfg,
    tiny_train,
)
from grader.specs.helpers import all_true, api, match

# ---------------------------------------------------------------- ch05.1 grid

GRIDS = ((1e-3, 1.0, 4), (0.01, 10**0.25, 10), (0.05, 0.05, 1), (0.3, 3.0, 2))


def as_floats(value: Any, what: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ProbeFailure(f"{what} returned {type(value).__name__}, expected a list of floats")
    return torch.tensor([float(v) for v in value], dtype=torch.float64)


def probe_grid(mod: Any, ctx: ProbeContext) -> list[Any]:
    return [as_floats(mod.lr_grid(*g), f"lr_grid{g}") for g in GRIDS]


def oracle_grid(mod: Any, ctx: ProbeContext) -> list[Any]:
    return [torch.logspace(math.log10(a), math.log10(b), n, dtype=torch.float64)
            for a, b, n in GRIDS]


def probe_grid_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    grid = mod.lr_grid(0.01, 1.0, 5)
    out["list"] = isinstance(grid, list) and all(isinstance(v, float) for v in grid)
    out["ends"] = bool(grid) and grid[0] == 0.01 and abs(grid[-1] - 1.0) < 1e-12
    bad = {"zero": (0.0, 1.0, 3), "reversed": (1.0, 0.1, 3), "empty": (0.1, 1.0, 0)}
    for name, args in bad.items():
        try:
            mod.lr_grid(*args)
            out[name] = False
        except ValueError:
            out[name] = True
    return out


GRID = [
    match("ch05.1.logspace", "equals torch.logspace on four grids", probe_grid, oracle=oracle_grid,
          hint="Equal ratios, not equal steps: lr_min * (lr_max / lr_min) ** (i / (num - 1)), "
          "with both ends included."),
    api("ch05.1.contract", "a list of floats, exact ends, ValueError on bad input",
        probe_grid_contract,
        lambda got, exp, ctx: all_true(got, {
            "list": "lr_grid should return a Python list of floats",
            "ends": "the grid must start at lr_min and end at lr_max",
            "zero": "lr_min <= 0 has no logarithm: raise ValueError",
            "reversed": "lr_max < lr_min should raise ValueError",
            "empty": "num < 1 should raise ValueError",
        }),
        hint="Validate the arguments first; return [float(v) for v in ...]."),
]

# ---------------------------------------------------------------- ch05.2 eval-mode accuracy


def bn_case(ctx: ProbeContext) -> tuple[Any, Any, Any]:
    """A small BN net whose running statistics differ from any batch's, and labels that the
    eval-mode net gets right exactly 70% of the time."""
    torch.manual_seed(5)
    model = tiny_model("batch", depth=3).to(ctx.device)
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
    model.train()
    return model, x, y


def probe_accuracy(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    model, x, y = bn_case(ctx)
    acc = mod.test_accuracy(model, x, y, batch_size=32)
    if not isinstance(acc, (float, int)):
        raise ProbeFailure(f"test_accuracy returned {type(acc).__name__}, expected a float")
    return {"accuracy": float(acc)}


def probe_accuracy_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    model, x, y = bn_case(ctx)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    acc = mod.test_accuracy(model, x, y, batch_size=32)
    out = {
        "float": isinstance(acc, float),
        "train_kept": model.training and all(m.training for m in model.modules()),
        "stats_kept": all(torch.equal(before[k], v) for k, v in model.state_dict().items()),
    }
    model.eval()
    mod.test_accuracy(model, x, y, batch_size=32)
    out["eval_kept"] = not model.training
    x.requires_grad_()
    grads: list[bool] = []
    hook = model.head.register_forward_hook(lambda m, i, o: grads.append(o.requires_grad))
    mod.test_accuracy(model, x, y)
    hook.remove()
    out["no_grad"] = bool(grads) and not any(grads)
    return out


ACCURACY = [
    match("ch05.2.eval_mode", "accuracy of a BN net equals its eval-mode accuracy (0.7)",
          probe_accuracy, oracle=lambda mod, ctx: {"accuracy": 0.7},
          hint="Call model.eval() before the forward passes: BN must use its running statistics; "
          "count every example, including a last partial batch."),
    api("ch05.2.contract", "returns a float, restores train/eval mode, running stats untouched, "
        "no autograd", probe_accuracy_contract,
        lambda got, exp, ctx: all_true(got, {
            "float": "test_accuracy should return a Python float (use int(...) / len(x))",
            "stats_kept": "evaluating changed the BN running statistics: the forward ran in "
            "train mode",
            "train_kept": "a model that came in training mode left in eval mode",
            "eval_kept": "a model that came in eval mode left in training mode: restore the "
            "mode it came in with (model.train(was_training))",
            "no_grad": "the forward built an autograd graph: wrap it in torch.no_grad()",
        }),
        hint="was_training = model.training; model.eval(); ...; finally: "
        "model.train(was_training)."),
]

# ---------------------------------------------------------------- ch05.3 sweep, stable LR


def probe_sweep(mod: Any, ctx: ProbeContext) -> list[dict[str, Any]]:
    model_cfg, cfg = tiny_train()
    records = mod.lr_sweep(tiny_data(ctx.device), model_cfg, TINY_SWEEP_LRS, cfg)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ProbeFailure("lr_sweep should return a list of dicts, one per LR")
    keys = ("lr", "diverged", "epochs", "test_acc", "train_acc")
    return [{k: r.get(k) for k in keys} for r in records]


def judge_sweep(got: list[dict[str, Any]], expected: list[dict[str, Any]], ctx: Any) -> Verdict:
    if len(got) != len(expected):
        return Verdict.fail(f"{len(got)} records for {len(expected)} LRs")
    for g, e in zip(got, expected, strict=True):
        where = f"at lr {e['lr']:g}"
        if g["lr"] is None or abs(float(g["lr"]) - e["lr"]) > 1e-12:
            return Verdict.fail(f"record lr {g['lr']}, expected {e['lr']} (keep the order of lrs)")
        for key in ("diverged", "epochs"):
            if g[key] != e[key]:
                return Verdict.fail(f"{where}: {key} {g[key]!r}, expected {e[key]!r}")
        for key in ("test_acc", "train_acc"):
            if g[key] is None or not abs(float(g[key]) - e[key]) <= 0.03:
                return Verdict.fail(f"{where}: {key} {g[key]}, expected {e[key]:.3f} +- 0.03")
    return Verdict.ok()


STABLE_CASES = {  # name: (records as (lr, diverged, test_acc), target, the highest stable LR)
    "plain": ([(0.01, False, 0.8), (0.1, False, 0.9), (1.0, False, 0.3)], 0.5, 0.1),
    "diverged_but_accurate": ([(0.01, False, 0.8), (0.1, False, 0.9), (1.0, True, 0.95)], 0.5, 0.1),
    "descending": ([(1.0, False, 0.2), (0.1, False, 0.9), (0.01, False, 0.8)], 0.5, 0.1),
    "gap": ([(0.01, False, 0.8), (0.1, False, 0.3), (1.0, False, 0.7)], 0.5, 1.0),
    "exactly_target": ([(0.01, False, 0.8), (0.1, False, 0.5), (1.0, True, 0.1)], 0.5, 0.1),
    "none": ([(0.01, True, 0.9), (0.1, False, 0.2)], 0.5, None),
}


def probe_stable(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = {}
    for name, (rows, target, _) in STABLE_CASES.items():
        records = [{"lr": lr, "diverged": d, "test_acc": a, "epochs": 3, "train_acc": a}
                   for lr, d, a in rows]
        out[name] = mod.highest_stable_lr(records, target)
    return out


def judge_stable(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    for name, (rows, target, want) in STABLE_CASES.items():
        if got.get(name) != want:
            return Verdict.fail(
                f"records (lr, diverged, test_acc) {rows} with target {target}: got "
                f"{got.get(name)}, expected {want}"
            )
    return Verdict.ok()


SWEEP = [
    match("ch05.3.tiny_sweep", "a 2-LR sweep of a tiny net equals the reference's", probe_sweep,
          judge=judge_sweep, timeout=60,
          hint="Seed with cfg.seed and build a NEW model inside the loop, train with "
          "replace(cfg, lr=lr), score with test_accuracy on the test set."),
    api("ch05.3.highest_stable", "highest stable LR on six hand-made sweeps", probe_stable,
        judge_stable,
        hint="Stable = not diverged AND test_acc >= target; return the largest such LR (records "
        "may be in any order), None if there is none."),
]

# ---------------------------------------------------------------- ch05.4 stress test

STEPS = (0, 1, 62, 124, 125, 250, 1000)


def probe_schedule(mod: Any, ctx: ProbeContext) -> Any:
    return torch.tensor([float(mod.stress_lr(s, 125, 0.005, f)) for f in (2**0.5, 2.0, 1.1)
                         for s in STEPS], dtype=torch.float64)


def oracle_schedule(mod: Any, ctx: ProbeContext) -> Any:
    from dlbn.schedules import lr_at

    return torch.tensor([lr_at(s, lr=0.005, schedule="exponential", epochs=30, steps_per_epoch=125,
                               lr_factor=f) for f in (2**0.5, 2.0, 1.1) for s in STEPS],
                        dtype=torch.float64)


def probe_stress(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    model_cfg, cfg, lr0, factor = tiny_stress_cfg()
    res = mod.stress_test(tiny_data(ctx.device), model_cfg, cfg, lr0, factor)
    if not isinstance(res, dict):
        raise ProbeFailure(f"stress_test returned {type(res).__name__}, expected a dict")
    keys = ("lr", "train_acc", "blowup_lr", "breakdown_lr", "best_lr")
    return {k: res.get(k) for k in keys}


def judge_stress(got: dict[str, Any], expected: dict[str, Any], ctx: Any) -> Verdict:
    lrs, want = got["lr"] or [], expected["lr"]
    if len(lrs) != len(want) or any(abs(a / b - 1) > 1e-6 for a, b in zip(lrs, want, strict=False)):
        return Verdict.fail(f"per-epoch LRs {[f'{v:.3g}' for v in lrs]}, expected "
                            f"{[f'{v:.3g}' for v in want]}")
    for a, b in zip(got["train_acc"], expected["train_acc"], strict=True):
        if abs(a - b) > 0.05:
            return Verdict.fail(f"train accuracies {got['train_acc']}, expected "
                                f"{expected['train_acc']} (+- 0.05)")
    for key in ("blowup_lr", "breakdown_lr", "best_lr"):
        g, e = got[key], expected[key]
        if (g is None) != (e is None) or (e is not None and abs(g / e - 1) > 1e-6):
            return Verdict.fail(f"{key}: got {g}, expected {e}")
    return Verdict.ok()


STRESS = [
    match("ch05.4.schedule", "stress_lr equals the bench's exponential schedule at 21 steps",
          probe_schedule, oracle=oracle_schedule,
          hint="The LR grows by factor per EPOCH: lr0 * factor ** (step / steps_per_epoch), "
          "smoothly (no // ), not factor ** step."),
    match("ch05.4.tiny_stress", "a tiny stress test equals the reference's", probe_stress,
          judge=judge_stress, timeout=60,
          hint="Use schedule='exponential' with lr_factor=factor and lr=lr0; stop when an "
          "epoch's train accuracy is below half the best before it (breakdown_lr = its LR)."),
]

CHECKS = (*GRID, *ACCURACY, *SWEEP, *STRESS)
