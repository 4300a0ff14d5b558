"""ch08.3 (accuracy in eval and train mode, the gap) and ch08.4 (train and measure). ch08.3's
labels are the net's own eval-mode predictions: an honest eval-mode accuracy is exactly 1.0.
ch08.4's properties share one `experiment` run (GRADE config, grading seed) per child process;
their margins are the worst of seeds 0, 1, 2, halved."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeContext
from grader.spec import Checks, contract, experiment, fail
from grader.specs.ch08.config import GRADE, GRADE_VARIANTS, SMALL, call_float, signals, small_net

BN_MIN_TRAIN = 0.9  # BN's final training accuracy (measured 0.969, 1.000, 1.000)
BN_LEAD = 0.04  # over the next best final training accuracy (measured 0.125, 0.203, 0.078)
MIN_GAP = 0.05  # every variant overfits 128 examples (smallest measured gap 0.178)
DROPOUT_COST = 0.02  # dropout on at evaluation costs accuracy (measured 0.064, 0.052, 0.106)

checks = Checks()


def trained_net(ctx: ProbeContext, offset: int, dropout: float, n: int) -> tuple[Any, Any, Any]:
    """A BN net in train mode (running statistics unlike any batch's), n signals, their labels."""
    net = small_net(ctx, offset, dropout=dropout).train()
    x, _ = signals(ctx, n, offset=offset + 1)
    with torch.no_grad():  # not a decorator: that would import torch when `dlbn list` runs
        for step in range(3):
            net(1.5 * ctx.randn(64, 1, 40, offset=offset + 50 + step, mean=0.7))
        y = net.eval()(x).argmax(dim=1)  # (N,)
    return net.train(), x, y


@checks.match("ch08.3.eval_mode", "accuracy of a net left in train mode is taken in eval mode",
              hint="Call model.eval() inside accuracy: it turns dropout off AND makes batch norm "
              "use its running statistics; torch.no_grad() does neither.")
def eval_mode(accuracy: Any, ctx: ProbeContext) -> dict[str, float]:
    net, x, y = trained_net(ctx, 10, dropout=0.5, n=300)  # a net straight out of training
    return {"acc": call_float(accuracy(net, x, y, batch_size=128), "accuracy")}


@checks.match("ch08.3.train_mode", "train_mode=True normalizes each slice with its own statistics",
              hint="With train_mode=True call model.train() and evaluate in slices of "
              "batch_size; each slice is one batch.")
def train_mode(accuracy: Any, ctx: ProbeContext) -> dict[str, float]:
    net, x, y = trained_net(ctx, 20, dropout=0.0, n=300)
    net.eval()
    acc = accuracy(net, x, y, train_mode=True, batch_size=50)
    return {"acc": call_float(acc, "accuracy(train_mode=True)")}


@checks.api("ch08.3.contract", "mode restored, running statistics untouched, no gradients",
            hint="Remember model.training and the buffers, and restore both in a finally block.",
            judge=contract({
                "train_kept": "a model passed in train mode came back in eval mode: restore "
                "model.training",
                "repeatable": "eval-mode accuracy changed between two calls (or with the slice "
                "size): is dropout still on, or are batch statistics used?",
                "range": "accuracy should be a fraction in [0, 1]",
                "eval_kept": "a model passed in eval mode came back in train mode: restore "
                "model.training",
                "buffers": "accuracy(train_mode=True) changed the running statistics: save the "
                "buffers and copy them back",
                "no_grad": "accuracy left gradients on the parameters: evaluate under "
                "torch.no_grad()",
            }))
def accuracy_contract(accuracy: Any, ctx: ProbeContext) -> dict[str, Any]:
    net, x, y = trained_net(ctx, 30, dropout=0.5, n=200)
    buffers = [b.clone() for b in net.buffers()]
    out: dict[str, Any] = {}
    a = call_float(accuracy(net, x, y), "accuracy")
    out["train_kept"] = net.training
    b = call_float(accuracy(net, x, y, batch_size=64), "accuracy")
    out["repeatable"] = a == b
    out["range"] = 0.0 <= a <= 1.0
    net.eval()
    call_float(accuracy(net, x, y, train_mode=True, batch_size=40), "accuracy")
    out["eval_kept"] = not net.training
    out["buffers"] = all(torch.equal(u, v) for u, v in zip(buffers, net.buffers(), strict=True))
    out["no_grad"] = all(p.grad is None for p in net.parameters())
    return out


@checks.match("ch08.3.measure",
              "measure: train and val accuracy, gap = train - val, train-mode val",
              hint="The gap is train_acc - val_acc (positive when the net overfits).")
def measure_probe(measure: Any, ctx: ProbeContext) -> dict[str, float]:
    net, x_train, y_train = trained_net(ctx, 40, dropout=0.3, n=96)
    y_train[::4] = (y_train[::4] + 1) % 10  # 3/4 right on the training set
    x_val, y_val = signals(ctx, 80, offset=42)  # random labels: ~1/10 right
    m = measure(net, x_train, y_train, x_val, y_val, batch_size=16)
    return {k: call_float(getattr(m, k), f"measure(...).{k}")
            for k in ("train_acc", "val_acc", "gap", "val_acc_train_mode")}


def summarize(run: Any) -> dict[str, Any]:
    final = {k: call_float(getattr(run.final, k), f"{run.name}: final.{k}")
             for k in ("train_acc", "val_acc", "gap", "val_acc_train_mode")}
    curves = {k: [float(a) for a in getattr(run, k)] for k in ("train_curve", "val_curve")}
    return {**final, **curves, "epochs": [int(e) for e in run.epochs],
            "diverged": bool(run.diverged)}


@experiment
def gap_run(gap_experiment: Any, GapConfig: Any, ctx: ProbeContext) -> dict[str, Any]:
    runs = gap_experiment(GapConfig(**GRADE), seeds=(ctx.seed,), variants=GRADE_VARIANTS,
                          device=ctx.device)
    return {name: summarize(runs[name][0]) for name in GRADE_VARIANTS}


@checks.match("ch08.4.run_variant",
              "run_variant trains and measures like the reference (tiny config)", timeout=30.0,
              hint="Pass the variant's loss_fn to train(); curves from eval_epoch, train_eval_acc "
              "and test_acc; measure() after training with batch_size=cfg.batch_size.")
def tiny_runs(run_variant: Any, load_gap_data: Any, GapConfig: Any, ctx: ProbeContext) -> Any:
    cfg = GapConfig(**SMALL)
    data = load_gap_data(cfg, ctx.seed, ctx.device)
    return {name: summarize(run_variant(name, cfg, ctx.seed, data, ctx.device))
            for name in ("l2", "batchnorm")}


@tiny_runs.judge
def _(got: dict[str, Any], expected: dict[str, Any], ctx: Any) -> None:
    tol = 1e-6 if ctx.device == "cpu" else 0.05  # GPU kernels may reorder sums
    for name, want in expected.items():
        have = got[name]
        for key in ("epochs", "diverged"):
            if have[key] != want[key]:
                fail(f"{name}: {key} {have[key]}, expected {want[key]}")
        for key in ("train_curve", "val_curve"):
            diffs = [abs(a - b) for a, b in zip(have[key], want[key], strict=False)]
            if len(have[key]) != len(want[key]) or max(diffs, default=0.0) > tol:
                fail(f"{name}: {key} {have[key]}, expected {want[key]} (eval-mode accuracy "
                     "after each evaluated epoch)")
        for key in ("train_acc", "val_acc", "gap", "val_acc_train_mode"):
            if abs(have[key] - want[key]) > tol:
                fail(f"{name}: final {key} {have[key]:.4f}, expected {want[key]:.4f}")


def fmt(res: dict[str, Any], key: str) -> str:
    return ", ".join(f"{name} {r[key]:.3f}" for name, r in res.items())


def measured(id: str, title: str, hint: str) -> Callable[..., Any]:
    """A property check whose probe is the shared run: decorate its judge with this."""
    check = checks.prop(id, title, hint=hint, timeout=300.0)
    return check(lambda module, ctx: gap_run(module, ctx)).judge  # an experiment's signature


@measured("ch08.4.bn_fits_fastest", "batch norm fits the 128-example subset first and furthest",
          hint="All variants use the same lr, epochs and init seed; only the batchnorm variant "
          "has norm='batch'.")
def bn_fits_fastest(got: dict[str, Any]) -> Verdict:
    bn = got["batchnorm"]["train_acc"]
    others = {n: r["train_acc"] for n, r in got.items() if n != "batchnorm"}
    best_other = max(others, key=others.get)
    if bn < BN_MIN_TRAIN:
        fail(f"batch norm reached training accuracy {bn:.3f}; expected >= {BN_MIN_TRAIN} "
             f"(train accuracies: {fmt(got, 'train_acc')})")
    if bn < others[best_other] + BN_LEAD:
        fail(f"batch norm's training accuracy {bn:.3f} should lead every other variant by >= "
             f"{BN_LEAD}; {best_other} has {others[best_other]:.3f}")
    mean = {n: sum(r["train_curve"]) / max(1, len(r["train_curve"])) for n, r in got.items()}
    if max(mean, key=mean.get) != "batchnorm":
        curves = ", ".join(f"{n} {v:.3f}" for n, v in mean.items())
        fail(f"batch norm should have the highest training curve (mean over the evaluated "
             f"epochs): {curves}")
    return Verdict.ok(f"train accuracies: {fmt(got, 'train_acc')}")


@measured("ch08.4.gaps", "every variant's gap is measured (train - val) and shows overfitting",
          hint="gap = train_acc - val_acc, both in eval mode on the same trained model.")
def gaps(got: dict[str, Any]) -> Verdict:
    for name, r in got.items():
        if r["diverged"]:
            fail(f"{name} diverged: the experiment's numbers are not meaningful")
        if not all(0.0 <= r[k] <= 1.0 for k in ("train_acc", "val_acc")):
            fail(f"{name}: accuracies should be fractions in [0, 1]")
        if not math.isclose(r["gap"], r["train_acc"] - r["val_acc"], abs_tol=1e-9):
            fail(f"{name}: gap {r['gap']:.4f} is not train_acc - val_acc = "
                 f"{r['train_acc'] - r['val_acc']:.4f}")
        if not r["train_curve"] or abs(r["train_curve"][-1] - r["train_acc"]) > 1e-9:
            fail(f"{name}: the last point of the training curve should be the final eval-mode "
                 "training accuracy")
        if r["gap"] < MIN_GAP:
            fail(f"{name}: gap {r['gap']:.3f} < {MIN_GAP}; on 128 examples every variant should "
                 f"overfit (gaps: {fmt(got, 'gap')})")
    return Verdict.ok(f"gaps: {fmt(got, 'gap')}")


@measured("ch08.4.train_vs_eval_mode",
          "train-mode accuracy: same for the baseline, lower with dropout",
          hint="measure() takes val_acc_train_mode with accuracy(..., train_mode=True).")
def train_vs_eval_mode(got: dict[str, Any]) -> Verdict:
    base, drop, bn = got["baseline"], got["dropout"], got["batchnorm"]
    if base["val_acc_train_mode"] != base["val_acc"]:
        fail("the baseline has no dropout or batch norm, so its train-mode and eval-mode "
             f"accuracies must agree: {base['val_acc_train_mode']:.3f} vs {base['val_acc']:.3f}")
    if drop["val_acc_train_mode"] > drop["val_acc"] - DROPOUT_COST:
        fail(f"dropout left on should cost >= {DROPOUT_COST} validation accuracy: train mode "
             f"{drop['val_acc_train_mode']:.3f}, eval {drop['val_acc']:.3f}")
    return Verdict.ok(f"batch norm val accuracy: eval mode {bn['val_acc']:.3f}, train mode "
                      f"{bn['val_acc_train_mode']:.3f}")
