"""Chapter 5: learning rates, with and without batch norm.

Bjorck et al. (2018, Fig. 1) found that batch norm's main gift is the learning rate: a
ResNet without BN diverges at LRs that a BN net trains well at, and the larger LR is
what buys BN its accuracy. You measure that on MNIST-1D with two plain 1-D conv nets
that differ only in ``ModelConfig.norm`` ("none" or "batch").

Fill in the five tasks, then grade them:

    dlbn grade ch05            # all tasks
    dlbn grade ch05 --task 3   # only ch05.3
    dlbn run ch05              # the full sweep and the figures, with your code

The training itself is the lab bench's (``dlbn.train.train``: SGD with momentum,
divergence detection). ``data`` below is anything with ``x_train``, ``y_train``, ``x_test``,
``y_test`` tensors, e.g. ``dlbn.data.load_mnist1d()``.
"""

from __future__ import annotations

import math  # noqa: F401 (used by the solutions)
from collections.abc import Sequence
from dataclasses import replace  # noqa: F401
from typing import Any

import torch  # noqa: F401
from torch import Tensor, nn

from dlbn.models import ModelConfig, build_model  # noqa: F401
from dlbn.train import TrainConfig, train  # noqa: F401


# Task ch05.1 - a logarithmic LR grid
# Hint 1: Learning rates matter by their ratio, so neighbours should have a constant ratio (like
#         torch.logspace), with both ends in the grid. Think about num = 1 and about arguments that
#         have no log grid.
# Hint 2: Validate first (lr_min > 0, lr_max >= lr_min, num >= 1, else ValueError) and return
#         [lr_min] for a single point. Otherwise multiply lr_min by powers of the overall ratio
#         lr_max / lr_min, with exponents from 0 to 1 in num - 1 equal steps, so the last point is
#         lr_max itself; return a list of Python floats.
# Hint 3: lr_i = lr_min * (lr_max / lr_min)^(i / (num - 1)) for i = 0 .. num - 1, each through
#         float(); the same as 10 to the power of a linear grid from log10(lr_min) to
#         log10(lr_max).
def lr_grid(lr_min: float, lr_max: float, num: int) -> list[float]:
    """``num`` learning rates from ``lr_min`` to ``lr_max`` (both included), equally spaced
    on a log scale: a constant ratio between neighbours, like ``torch.logspace``.

        lr_i = lr_min * (lr_max / lr_min) ** (i / (num - 1)),   i = 0, ..., num - 1

    ``num = 1`` gives ``[lr_min]``. LRs matter by their ratio (0.01 -> 0.1 is as big a step
    as 0.1 -> 1), so a linear grid wastes its points at the top.

    Raises:
        ValueError: if ``lr_min <= 0``, ``lr_max < lr_min`` or ``num < 1``.
    """
    # BEGIN SOLUTION ch05.1
    # HINT: the ratio between neighbours is (lr_max / lr_min) ** (1 / (num - 1)).
    if lr_min <= 0 or lr_max < lr_min or num < 1:
        raise ValueError(f"need 0 < lr_min <= lr_max and num >= 1, got {lr_min}, {lr_max}, {num}")
    if num == 1:
        return [float(lr_min)]
    ratio = lr_max / lr_min
    return [float(lr_min * ratio ** (i / (num - 1))) for i in range(num)]
    # END SOLUTION


# Task ch05.2 - test accuracy, in eval mode
# Hint 1: With batch norm the mode matters: a train-mode forward normalizes by the batch and
#         updates the running statistics, so the evaluation would change the model. The model
#         should also leave in the mode it came in.
# Hint 2: Remember the incoming mode, switch to eval, run the forwards in chunks of batch_size
#         under no_grad (a last partial chunk counts too) and count the argmax predictions that
#         equal y. Restore the original mode in a finally block, so it happens even if a forward
#         raises, and return the count over N as a Python float.
# Hint 3: was_training = model.training, then model.eval(); inside try and torch.no_grad(), for
#         chunk starts 0, batch_size, 2 batch_size, ... below N, add int((argmax over dim 1 of the
#         chunk's logits == its labels).sum()); the answer is correct / N; finally:
#         model.train(was_training).
def test_accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """The fraction of examples that ``model`` classifies correctly, measured in eval mode.

    x: (N, C, L) inputs; y: (N,) class indices; the prediction is ``argmax`` of the (B, K)
    logits. Forward ``batch_size`` examples at a time, without autograd.

    Batch norm makes the mode matter: in train mode each batch is normalized with its own
    statistics and the running statistics are updated (the evaluation would change the
    model); eval mode uses the running statistics. So: switch to eval mode, and on the way
    out restore the mode the model came in with (train or eval), even if the forward fails.

    Returns:
        A Python float in [0, 1].
    """
    # BEGIN SOLUTION ch05.2
    # HINT: remember model.training, call model.eval(), use torch.no_grad(), and
    # HINT: restore the mode with model.train(was_training) in a finally block.
    was_training = model.training
    model.eval()
    try:
        correct = 0
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                logits = model(x[i : i + batch_size])  # (B, K)
                correct += int((logits.argmax(dim=1) == y[i : i + batch_size]).sum())
        return correct / len(x)
    finally:
        model.train(was_training)
    # END SOLUTION


# Task ch05.3 - the LR sweep and the highest stable LR
# Hint 1: The LR must be the only thing that changes between runs: the same initial weights every
#         time, and a brand-new model per LR. For the highest stable LR, a run has to meet two
#         conditions to count.
# Hint 2: For each LR in order: seed torch with cfg.seed, build a new model, train it with a copy
#         of cfg whose lr is replaced, score it with test_accuracy on the test set (a diverged run
#         too), and record lr, diverged, the number of completed epochs, test and train accuracy.
#         highest_stable_lr keeps the runs that did NOT diverge AND reached target_acc (>=, not >),
#         and returns the largest of their LRs whatever the order of the records, or None.
# Hint 3: Inside the loop: torch.manual_seed(cfg.seed), build_model(model_cfg), train with
#         replace(cfg, lr=lr) and progress passed on; epochs = len(result.epoch), train_acc =
#         result.final_train_acc, test_acc = test_accuracy(model, data.x_test, data.y_test). The
#         highest stable LR is max{lr : not diverged and test_acc >= target}, None for an empty
#         set.
def lr_sweep(
    data: Any,
    model_cfg: ModelConfig,
    lrs: Sequence[float],
    cfg: TrainConfig,
    *,
    progress: bool | None = False,
) -> list[dict[str, Any]]:
    """Train one fresh net per learning rate and score it; the rest of ``cfg`` is fixed.

    For each ``lr`` in ``lrs``, in order:

    1. ``torch.manual_seed(cfg.seed)``, then ``build_model(model_cfg)``: every LR starts
       from the same initial weights, so LR is the only thing that changes;
    2. ``train(model, data, replace(cfg, lr=lr), progress=progress)``;
    3. score the model where training stopped with ``test_accuracy`` on the test set.

    Returns one record per LR, in the order of ``lrs``::

        {"lr": float, "diverged": bool (result.diverged), "epochs": int (completed epochs),
         "test_acc": float (step 3, also for a diverged run), "train_acc": float (the last
         completed epoch's, nan if none)}
    """
    # BEGIN SOLUTION ch05.3
    # HINT: seed and build INSIDE the loop; dataclasses.replace(cfg, lr=lr) sets the LR.
    records = []
    for lr in lrs:
        torch.manual_seed(cfg.seed)  # the same initial weights at every LR
        model = build_model(model_cfg)
        result = train(model, data, replace(cfg, lr=lr), progress=progress)
        records.append({
            "lr": float(lr),
            "diverged": bool(result.diverged),
            "epochs": len(result.epoch),
            "test_acc": test_accuracy(model, data.x_test, data.y_test),
            "train_acc": result.final_train_acc,
        })
    return records
    # END SOLUTION


def highest_stable_lr(records: Sequence[dict[str, Any]], target_acc: float) -> float | None:
    """The highest stable learning rate of a sweep (the definition this chapter uses).

    A run is *stable* when it did not diverge (``record["diverged"]`` is False) AND its
    ``record["test_acc"]`` is at least ``target_acc``. The highest stable LR is the largest
    ``record["lr"]`` among the stable runs, or None when no run is stable. Records may come
    in any order. A run that reached a good accuracy and then blew up is not stable.
    """
    # BEGIN SOLUTION ch05.3
    # HINT: filter on BOTH conditions, then take the max of the LRs (not the last record).
    stable = [r["lr"] for r in records if not r["diverged"] and r["test_acc"] >= target_acc]
    return max(stable) if stable else None
    # END SOLUTION


# Task ch05.4 - the exponential LR stress test
# Hint 1: The LR grows by factor per EPOCH, smoothly inside it: the exponent is a fraction of an
#         epoch count, neither a step count nor whole epochs. A run can fail in two ways: the loss
#         blows up, or the net dies quietly and its accuracy collapses.
# Hint 2: stress_lr is lr0 times factor to the power (steps / steps_per_epoch). stress_test seeds,
#         builds and trains with cfg changed to lr0, the exponential schedule, lr_factor = factor
#         and no warm-up, plus a callback that stops training once an epoch's train accuracy is
#         below half the best of the epochs before it. Afterwards blowup_lr is the result's
#         diverged_lr if it diverged, breakdown_lr is the last epoch's LR if the callback's rule
#         holds (else blowup_lr), and best_lr the LR of the best train-accuracy epoch.
# Hint 3: lr(step) = lr0 * factor^(step / steps_per_epoch), a true division; run_cfg = replace(cfg,
#         lr=lr0, schedule set to 'exponential', lr_factor=factor, warmup_epochs=0.0); the
#         callback(epoch, model, result) returns True when len(result.train_acc) > 1 and its last
#         entry < 0.5 * max of the earlier ones. Report result.lr, result.train_acc,
#         result.train_loss and result.best_train_acc.
def stress_lr(step: int, steps_per_epoch: int, lr0: float, factor: float = 2**0.5) -> float:
    """Page's stress-test schedule: the LR grows by ``factor`` per EPOCH, smoothly.

        lr(step) = lr0 * factor ** (step / steps_per_epoch)

    ``step`` counts optimizer steps from 0, so epoch e (from 0) starts at lr0 * factor**e;
    Page used lr0 = 0.005 and factor sqrt(2) (the LR doubles every two epochs). It is the
    bench's ``schedule="exponential"`` with ``lr_factor=factor``.
    """
    # BEGIN SOLUTION ch05.4
    # HINT: the exponent is in epochs (a float), not in steps.
    return lr0 * factor ** (step / steps_per_epoch)
    # END SOLUTION


def stress_test(
    data: Any,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    lr0: float = 0.005,
    factor: float = 2**0.5,
    *,
    progress: bool | None = False,
) -> dict[str, Any]:
    """One run whose LR grows exponentially until training breaks down (Page's stress test).

    1. ``torch.manual_seed(cfg.seed)``, ``build_model(model_cfg)``;
    2. train with ``cfg`` changed to ``lr=lr0``, ``schedule="exponential"``,
       ``lr_factor=factor`` and no warm-up, and a callback (``train(..., callbacks=[...])``)
       that stops the run once training has broken down (below);
    3. report, per completed epoch, the LR of its last step and its train accuracy/loss.

    A net can fail in two ways as the LR grows. It can *blow up*: the bench stops at the
    first step whose loss is NaN/inf or above ``cfg.diverge_factor`` times the first loss.
    Or it can *die* quietly: the ReLUs go dead, the net predicts one class, and the loss
    sits near ln(10) while the accuracy falls to chance. So training has *broken down* at
    the first epoch whose train accuracy is below half the best train accuracy of the
    epochs before it, or where the loss blew up, whichever comes first.

    Returns::

        {"lr": [float], "train_acc": [float], "train_loss": [float],   # per completed epoch
         "blowup_lr": float or None (the LR of the step where the loss blew up),
         "breakdown_lr": float or None (that epoch's LR, or blowup_lr; None if neither),
         "best_train_acc": float, "best_lr": float (the LR of that epoch; nan if none)}
    """
    # BEGIN SOLUTION ch05.4
    # HINT: dataclasses.replace(cfg, ...); a callback(epoch, model, result) returning
    # HINT: True stops training; TrainResult has lr, train_acc, train_loss, diverged_lr.
    def broke_down(epoch: int, model: nn.Module, result: Any) -> bool:
        accs = result.train_acc  # (epochs so far,)
        return len(accs) > 1 and accs[-1] < 0.5 * max(accs[:-1])

    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg)
    run_cfg = replace(cfg, lr=lr0, schedule="exponential", lr_factor=factor, warmup_epochs=0.0)
    result = train(model, data, run_cfg, progress=progress, callbacks=[broke_down])
    blowup = result.diverged_lr if result.diverged else None
    died = bool(result.train_acc) and broke_down(0, model, result)
    best = max(range(len(result.train_acc)), key=result.train_acc.__getitem__, default=None)
    return {
        "lr": list(result.lr),
        "train_acc": list(result.train_acc),
        "train_loss": list(result.train_loss),
        "blowup_lr": blowup,
        "breakdown_lr": result.lr[-1] if died else blowup,
        "best_train_acc": result.best_train_acc,
        "best_lr": result.lr[best] if best is not None else math.nan,
    }
    # END SOLUTION


# Task ch05.5 - with and without batch norm
# Hint 1: Everything is already built: two sweeps that differ only in model_cfg's norm, then
#         summaries of their records. Mind the corner cases of the ratio when one side has no
#         stable LR.
# Hint 2: For norm "none" and "batch", sweep the same lrs and cfg with a copy of model_cfg whose
#         norm is replaced, and take highest_stable_lr of each. best_acc is the largest test_acc
#         over the runs that did not diverge (nan if none) and acc_at_lowest the test_acc of the
#         run at the smallest LR; stable_ratio is BN's highest stable LR over no-BN's, nan when BN
#         has none and inf when only BN has one.
# Hint 3: Per norm: records from lr_sweep on replace(model_cfg, norm=norm) with the same lrs and
#         cfg; highest = highest_stable_lr(records, target_acc); best = max of test_acc over
#         records whose diverged is False, else math.nan; lowest = test_acc of min(records,
#         key=lr). The ratio is highest['batch'] / highest['none'], math.nan if the BN entry is
#         None, math.inf if only the no-BN entry is None.
def compare_norms(
    data: Any,
    model_cfg: ModelConfig,
    lrs: Sequence[float],
    cfg: TrainConfig,
    target_acc: float,
    *,
    progress: bool | None = False,
) -> dict[str, Any]:
    """Sweep the same grid with ``norm="none"`` and ``norm="batch"`` (the rest of
    ``model_cfg`` fixed) and summarize Bjorck's three claims::

        {"runs": {"none": records, "batch": records},          # lr_sweep's output
         "highest_stable": {"none": lr or None, "batch": lr or None},
         "stable_ratio": highest_stable["batch"] / highest_stable["none"]
                         (inf if only BN has a stable LR, nan if BN has none),
         "best_acc": {norm: the best test_acc over that norm's NON-diverged runs (nan if none)},
         "acc_at_lowest": {norm: test_acc of the run at min(lrs)}}
    """
    # BEGIN SOLUTION ch05.5
    # HINT: dataclasses.replace(model_cfg, norm=...); reuse lr_sweep and highest_stable_lr.
    runs, stable, best, lowest = {}, {}, {}, {}
    for norm in ("none", "batch"):
        records = lr_sweep(data, replace(model_cfg, norm=norm), lrs, cfg, progress=progress)
        runs[norm] = records
        stable[norm] = highest_stable_lr(records, target_acc)
        ok = [r["test_acc"] for r in records if not r["diverged"]]
        best[norm] = max(ok) if ok else math.nan
        lowest[norm] = min(records, key=lambda r: r["lr"])["test_acc"]
    if stable["batch"] is None:
        ratio = math.nan
    elif stable["none"] is None:
        ratio = math.inf
    else:
        ratio = stable["batch"] / stable["none"]
    return {
        "runs": runs,
        "highest_stable": stable,
        "stable_ratio": ratio,
        "best_acc": best,
        "acc_at_lowest": lowest,
    }
    # END SOLUTION
