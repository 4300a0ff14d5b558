"""ch05.3-4 checks: a tiny LR sweep and a tiny stress test against the reference's, the
highest stable LR of hand-made sweep records, and the stress schedule against the bench's
(`dlbn.schedules.lr_at`)."""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.probing import ProbeContext, ProbeFailure
from grader.spec import Checks, fail
from grader.specs.ch05.config import tiny_stress_args, tiny_sweep_args

STABLE_CASES = {  # name: (records as (lr, diverged, test_acc), target, the highest stable LR)
    "plain": ([(0.01, False, 0.8), (0.1, False, 0.9), (1.0, False, 0.3)], 0.5, 0.1),
    "diverged_but_accurate": ([(0.01, False, 0.8), (0.1, False, 0.9), (1.0, True, 0.95)], 0.5, 0.1),
    "descending": ([(1.0, False, 0.2), (0.1, False, 0.9), (0.01, False, 0.8)], 0.5, 0.1),
    "gap": ([(0.01, False, 0.8), (0.1, False, 0.3), (1.0, False, 0.7)], 0.5, 1.0),
    "exactly_target": ([(0.01, False, 0.8), (0.1, False, 0.5), (1.0, True, 0.1)], 0.5, 0.1),
    "none": ([(0.01, True, 0.9), (0.1, False, 0.2)], 0.5, None),
}
STEPS = (0, 1, 62, 124, 125, 250, 1000)

checks = Checks()


@checks.match("ch05.3.tiny_sweep", "a 2-LR sweep of a tiny net equals the reference's",
              timeout=60,
              hint="Seed with cfg.seed and build a NEW model inside the loop, train with "
              "replace(cfg, lr=lr), score with test_accuracy on the test set.")
def tiny_sweep(lr_sweep: Any, ctx: ProbeContext) -> list[dict[str, Any]]:
    records = lr_sweep(*tiny_sweep_args(ctx.device))
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ProbeFailure("lr_sweep should return a list of dicts, one per LR")
    return [{k: r.get(k) for k in ("lr", "diverged", "epochs", "test_acc", "train_acc")}
            for r in records]


@tiny_sweep.judge
def _(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    if len(got) != len(expected):
        fail(f"{len(got)} records for {len(expected)} LRs")
    for g, e in zip(got, expected, strict=True):
        where = f"at lr {e['lr']:g}"
        if g["lr"] is None or abs(float(g["lr"]) - e["lr"]) > 1e-12:
            fail(f"record lr {g['lr']}, expected {e['lr']} (keep the order of lrs)")
        for key in ("diverged", "epochs"):
            if g[key] != e[key]:
                fail(f"{where}: {key} {g[key]!r}, expected {e[key]!r}")
        for key in ("test_acc", "train_acc"):
            if g[key] is None or not abs(float(g[key]) - e[key]) <= 0.03:
                fail(f"{where}: {key} {g[key]}, expected {e[key]:.3f} +- 0.03")


@checks.api("ch05.3.highest_stable", "highest stable LR on six hand-made sweeps",
            hint="Stable = not diverged AND test_acc >= target; return the largest such LR "
            "(records may be in any order), None if there is none.")
def highest_stable(highest_stable_lr: Any) -> dict[str, Any]:
    return {name: highest_stable_lr([{"lr": lr, "diverged": d, "test_acc": a, "epochs": 3,
                                      "train_acc": a} for lr, d, a in rows], target)
            for name, (rows, target, _) in STABLE_CASES.items()}


@highest_stable.judge
def _(got: dict[str, Any]) -> None:
    for name, (rows, target, want) in STABLE_CASES.items():
        if got.get(name) != want:
            fail(f"records (lr, diverged, test_acc) {rows} with target {target}: got "
                 f"{got.get(name)}, expected {want}")


def bench_lr(step: int, steps_per_epoch: int, lr0: float, factor: float) -> float:
    from dlbn.schedules import lr_at

    return lr_at(step, lr=lr0, schedule="exponential", epochs=30,
                 steps_per_epoch=steps_per_epoch, lr_factor=factor)


checks.same_as(
    "ch05.4.schedule", "stress_lr equals the bench's exponential schedule at 21 steps",
    lambda stress_lr: torch.tensor([float(stress_lr(s, 125, 0.005, f))
                                    for f in (2**0.5, 2.0, 1.1) for s in STEPS],
                                   dtype=torch.float64),
    trusted={"stress_lr": bench_lr},
    hint="The LR grows by factor per EPOCH: lr0 * factor ** (step / steps_per_epoch), "
    "smoothly (no // ), not factor ** step.")


def fields(res: Any, what: str, *keys: str) -> dict[str, Any]:
    """``keys`` of ``res``, the dict that ``what`` returned."""
    if not isinstance(res, dict):
        raise ProbeFailure(f"{what} returned {type(res).__name__}, expected a dict")
    return {k: res.get(k) for k in keys}


@checks.match("ch05.4.tiny_stress", "a tiny stress test equals the reference's", timeout=60,
              hint="Use schedule='exponential' with lr_factor=factor and lr=lr0; stop when an "
              "epoch's train accuracy is below half the best before it (breakdown_lr = its LR).")
def tiny_stress(stress_test: Any, ctx: ProbeContext) -> dict[str, Any]:
    return fields(stress_test(*tiny_stress_args(ctx.device)), "stress_test",
                  "lr", "train_acc", "blowup_lr", "breakdown_lr", "best_lr")


@tiny_stress.judge
def _(got: dict[str, Any], expected: dict[str, Any]) -> None:
    lrs, want = got["lr"] or [], expected["lr"]
    if len(lrs) != len(want) or any(abs(a / b - 1) > 1e-6 for a, b in zip(lrs, want, strict=False)):
        fail(f"per-epoch LRs {[f'{v:.3g}' for v in lrs]}, expected {[f'{v:.3g}' for v in want]}")
    for a, b in zip(got["train_acc"], expected["train_acc"], strict=True):
        if abs(a - b) > 0.05:
            fail(f"train accuracies {got['train_acc']}, expected {expected['train_acc']} "
                 "(+- 0.05)")
    for key in ("blowup_lr", "breakdown_lr", "best_lr"):
        g, e = got[key], expected[key]
        if (g is None) != (e is None) or (e is not None and abs(g / e - 1) > 1e-6):
            fail(f"{key}: got {g}, expected {e}")
