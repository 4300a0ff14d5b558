"""ch08.4: training the variants and what the measurement shows.

The property checks share one run of the learner's experiment (the GRADE config, the
grading seed), cached in the child process. Margins: the worst of seeds 0, 1, 2, halved.
"""

from __future__ import annotations

import math
from typing import Any

from grader.model import Verdict
from grader.probing import ProbeContext
from grader.specs.ch08.common import GRADE, GRADE_VARIANTS, SMALL, call_float
from grader.specs.helpers import match, prop

BN_MIN_TRAIN = 0.9  # BN's final training accuracy (measured 0.969, 1.000, 1.000)
BN_LEAD = 0.04  # over the next best final training accuracy (measured 0.125, 0.203, 0.078)
MIN_GAP = 0.05  # every variant overfits 128 examples (smallest measured gap 0.178)
DROPOUT_COST = 0.02  # dropout on at evaluation costs accuracy (measured 0.064, 0.052, 0.106)

_CACHE: dict[Any, Any] = {}


def summarize(run: Any) -> dict[str, Any]:
    f = run.final
    out = {k: call_float(getattr(f, k), f"{run.name}: final.{k}")
           for k in ("train_acc", "val_acc", "gap", "val_acc_train_mode")}
    out.update(epochs=[int(e) for e in run.epochs],
               train_curve=[float(a) for a in run.train_curve],
               val_curve=[float(a) for a in run.val_curve], diverged=bool(run.diverged))
    return out


def experiment(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    key = (id(mod), ctx.seed, ctx.device)
    if key not in _CACHE:
        runs = mod.gap_experiment(mod.GapConfig(**GRADE), seeds=(ctx.seed,),
                                  variants=GRADE_VARIANTS, device=ctx.device)
        _CACHE[key] = {name: summarize(runs[name][0]) for name in GRADE_VARIANTS}
    return _CACHE[key]


def probe_run_variant(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    cfg = mod.GapConfig(**SMALL)
    data = mod.load_gap_data(cfg, ctx.seed, ctx.device)
    return {name: summarize(mod.run_variant(name, cfg, ctx.seed, data, ctx.device))
            for name in ("l2", "batchnorm")}


def judge_run_variant(got: dict[str, Any], expected: dict[str, Any], ctx: Any) -> Verdict:
    tol = 1e-6 if ctx.device == "cpu" else 0.05  # GPU kernels may reorder sums
    for name, want in expected.items():
        have = got[name]
        for key in ("epochs", "diverged"):
            if have[key] != want[key]:
                return Verdict.fail(f"{name}: {key} {have[key]}, expected {want[key]}")
        for key in ("train_curve", "val_curve"):
            if len(have[key]) != len(want[key]) or any(
                abs(a - b) > tol for a, b in zip(have[key], want[key], strict=True)
            ):
                return Verdict.fail(f"{name}: {key} {have[key]}, expected {want[key]} (eval-mode "
                                    "accuracy after each evaluated epoch)")
        for key in ("train_acc", "val_acc", "gap", "val_acc_train_mode"):
            if abs(have[key] - want[key]) > tol:
                return Verdict.fail(
                    f"{name}: final {key} {have[key]:.4f}, expected {want[key]:.4f}")
    return Verdict.ok()


def fmt(res: dict[str, Any], key: str) -> str:
    return ", ".join(f"{name} {r[key]:.3f}" for name, r in res.items())


def judge_bn_fits(res: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    bn = res["batchnorm"]["train_acc"]
    others = {n: r["train_acc"] for n, r in res.items() if n != "batchnorm"}
    best_other = max(others, key=others.get)
    if bn < BN_MIN_TRAIN:
        return Verdict.fail(f"batch norm reached training accuracy {bn:.3f}; expected >= "
                            f"{BN_MIN_TRAIN} (train accuracies: {fmt(res, 'train_acc')})")
    if bn < others[best_other] + BN_LEAD:
        return Verdict.fail(f"batch norm's training accuracy {bn:.3f} should lead every other "
                            f"variant by >= {BN_LEAD}; {best_other} has {others[best_other]:.3f}")
    mean = {n: sum(r["train_curve"]) / max(1, len(r["train_curve"])) for n, r in res.items()}
    if max(mean, key=mean.get) != "batchnorm":
        curves = ", ".join(f"{n} {v:.3f}" for n, v in mean.items())
        return Verdict.fail("batch norm should have the highest training curve (mean over the "
                            f"evaluated epochs): {curves}")
    return Verdict.ok(f"train accuracies: {fmt(res, 'train_acc')}")


def judge_gaps(res: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    for name, r in res.items():
        if r["diverged"]:
            return Verdict.fail(f"{name} diverged: the experiment's numbers are not meaningful")
        if not all(0.0 <= r[k] <= 1.0 for k in ("train_acc", "val_acc")):
            return Verdict.fail(f"{name}: accuracies should be fractions in [0, 1]")
        if not math.isclose(r["gap"], r["train_acc"] - r["val_acc"], abs_tol=1e-9):
            return Verdict.fail(f"{name}: gap {r['gap']:.4f} is not train_acc - val_acc = "
                                f"{r['train_acc'] - r['val_acc']:.4f}")
        if not r["train_curve"] or abs(r["train_curve"][-1] - r["train_acc"]) > 1e-9:
            return Verdict.fail(f"{name}: the last point of the training curve should be the "
                                "final eval-mode training accuracy")
        if r["gap"] < MIN_GAP:
            return Verdict.fail(f"{name}: gap {r['gap']:.3f} < {MIN_GAP}; on 128 examples every "
                                f"variant should overfit (gaps: {fmt(res, 'gap')})")
    return Verdict.ok(f"gaps: {fmt(res, 'gap')}")


def judge_modes(res: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    base, drop = res["baseline"], res["dropout"]
    if base["val_acc_train_mode"] != base["val_acc"]:
        return Verdict.fail("the baseline has no dropout or batch norm, so its train-mode and "
                            f"eval-mode accuracies must agree: {base['val_acc_train_mode']:.3f} vs "
                            f"{base['val_acc']:.3f}")
    if drop["val_acc_train_mode"] > drop["val_acc"] - DROPOUT_COST:
        return Verdict.fail(
            f"dropout left on should cost >= {DROPOUT_COST} validation accuracy: train mode "
            f"{drop['val_acc_train_mode']:.3f}, eval {drop['val_acc']:.3f}")
    bn = res["batchnorm"]
    return Verdict.ok(f"batch norm val accuracy: eval mode {bn['val_acc']:.3f}, train mode "
                      f"{bn['val_acc_train_mode']:.3f}")


CHECKS = (
    match("ch08.4.run_variant", "run_variant trains and measures like the reference (tiny config)",
          probe_run_variant, judge=judge_run_variant, timeout=30.0,
          hint="Pass the variant's loss_fn to train(); curves from eval_epoch, train_eval_acc and "
          "test_acc; measure() after training with batch_size=cfg.batch_size."),
    prop("ch08.4.bn_fits_fastest", "batch norm fits the 128-example subset first and furthest",
         lambda mod, ctx: experiment(mod, ctx), judge_bn_fits, timeout=300.0,
         hint="All variants use the same lr, epochs and init seed; only the batchnorm variant has "
         "norm='batch'."),
    prop("ch08.4.gaps", "every variant's gap is measured (train - val) and shows overfitting",
         lambda mod, ctx: experiment(mod, ctx), judge_gaps, timeout=300.0,
         hint="gap = train_acc - val_acc, both in eval mode on the same trained model."),
    prop("ch08.4.train_vs_eval_mode", "train-mode accuracy: same for the baseline, lower with "
         "dropout", lambda mod, ctx: experiment(mod, ctx), judge_modes, timeout=300.0,
         hint="measure() takes val_acc_train_mode with accuracy(..., train_mode=True)."),
)
