"""The training bench: SGD on whole-tensor data sets, airbench style.

Usage::

    from dlbn.data import load_mnist1d
    from dlbn.models import ModelConfig, build_model
    from dlbn.train import TrainConfig, train, save_result

    torch.manual_seed(0)
    model = build_model(ModelConfig(depth=8, width=32, norm="batch"))
    cfg = TrainConfig(epochs=10, batch_size=32, lr=0.05, schedule="warmup_cosine")
    result = train(model, load_mnist1d(), cfg)
    print(result.summary()); save_result(result, cfg, "runs/bn.json")

Why it is fast on small data: the data set lives on the device as four tensors; an epoch is
one ``randperm`` gather and then contiguous slices, so there is no DataLoader, no collation
and no per-example Python. The host syncs with the device once per epoch (losses and
accuracy are accumulated as tensors), which is also when divergence is checked.

Divergence does not raise: a batch loss that is NaN/inf or above ``diverge_factor`` times the
first batch's loss stops the run and is reported in the result (step, epoch, LR, loss).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlbn.config import TrainConfig
from dlbn.device import resolve
from dlbn.norms import is_norm
from dlbn.progress import track
from dlbn.results import TrainResult, save_result

__all__ = [
    "Augment",
    "Callback",
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "make_optimizer",
    "param_groups",
    "resolve_device",
    "save_result",
    "train",
]

LossFn = Callable[[nn.Module, Tensor, Tensor], Tensor]  # (model, logits (B, K), y (B,)) -> ()
Augment = Callable[[Tensor, torch.Generator], Tensor]  # (x (N, ...), generator) -> (N, ...)
Callback = Callable[[int, nn.Module, TrainResult], Any]  # truthy return stops training


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> cuda if available, else mps, else cpu (`dlbn.device.resolve`)."""
    return torch.device(resolve(device))


def param_groups(
    model: nn.Module, weight_decay: float, decay_norm_and_bias: bool = True
) -> list[dict[str, Any]]:
    """Optimizer parameter groups: with ``decay_norm_and_bias=False``, norm layers' gamma and
    beta and every bias go to a group with weight decay 0; the rest keep ``weight_decay``.

    Decaying gamma is not harmless under batch norm: the output does not depend on the scale of
    the weights before a BN layer, but it does depend on gamma, so decaying gamma shrinks
    the function itself.
    """
    if decay_norm_and_bias:
        return [
            {
                "params": [p for p in model.parameters() if p.requires_grad],
                "weight_decay": weight_decay,
            }
        ]
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            (no_decay if is_norm(module) or name == "bias" else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """torch.optim.SGD with cfg's momentum, Nesterov flag and weight-decay groups."""
    groups = param_groups(model, cfg.weight_decay, cfg.decay_norm_and_bias)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def _tensors(data: Any) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """(x_train, y_train, x_test, y_test) from a Splits-like object, a dict or a tuple."""
    if hasattr(data, "x_train"):
        return (
            data.x_train,
            data.y_train,
            getattr(data, "x_test", None),
            getattr(data, "y_test", None),
        )
    if isinstance(data, dict):
        return data["x_train"], data["y_train"], data.get("x_test"), data.get("y_test")
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        return (*data, None, None) if len(data) == 2 else tuple(data)  # type: ignore[return-value]
    raise TypeError(
        "data must have x_train/y_train(/x_test/y_test) attributes or keys, or be a tuple "
        f"(x_train, y_train[, x_test, y_test]); got {type(data).__name__}"
    )


def _restore_buffers(model: nn.Module) -> Callable[[], None]:
    saved = [(b, b.detach().clone()) for b in model.buffers()]

    def restore() -> None:
        with torch.no_grad():
            for b, value in saved:
                b.copy_(value)

    return restore


@torch.no_grad()
def evaluate(
    model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000, train_mode: bool = False
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on x (N, ...), y (N,), in slices.

    Eval mode by default; ``train_mode=True`` normalizes with each slice's batch statistics
    (and keeps dropout on) but leaves the running statistics as they were. The model's mode is
    restored either way. Returns Python floats (loss, acc).
    """
    was_training = model.training
    restore = _restore_buffers(model) if train_mode else None
    model.train(train_mode)
    try:
        loss_sum = torch.zeros((), device=x.device)
        correct = torch.zeros((), device=x.device, dtype=torch.long)
        for i in range(0, len(x), batch_size):
            logits = model(x[i : i + batch_size])  # (B, K)
            yb = y[i : i + batch_size]
            loss_sum += F.cross_entropy(logits, yb, reduction="sum")
            correct += (logits.argmax(dim=1) == yb).sum()
        return loss_sum.item() / len(x), correct.item() / len(x)
    finally:
        if restore is not None:
            restore()
        model.train(was_training)


def train(
    model: nn.Module,
    data: Any,
    cfg: TrainConfig,
    *,
    augment: Augment | None = None,
    loss_fn: LossFn | None = None,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``model`` in place with SGD on ``data`` as ``cfg`` says, and return its history.

    ``data``: an object with ``x_train`` (N, ...), ``y_train`` (N,) and optionally ``x_test``,
    ``y_test`` (e.g. dlbn.data.Splits), a dict with those keys, or a tuple. Tensors and model
    are moved to ``cfg.device``.

    Each epoch: 1. shuffle with ``randperm`` (CPU generator seeded by ``cfg.seed``: the same
    order on every device) and gather once; 2. ``augment(x, generator)`` the whole shuffled
    set, if given; 3. for each slice of ``batch_size``: set the scheduled LR, loss =
    ``loss_fn(model, logits, y)`` (default: cross-entropy with ``label_smoothing``; a penalty
    such as an explicit L2 term goes here), backward, SGD step; 4. one host sync: check
    divergence, record metrics; 5. evaluate every ``eval_every`` epochs and after the last;
    6. call each ``callback(epoch, model, result)``: a truthy return stops training.

    ``progress``: draw a bar over epochs (default: only when stderr is a terminal). Never
    raises on divergence: see ``TrainResult.diverged``. Deterministic on CPU for a fixed seed.
    """
    start = time.perf_counter()
    device = resolve_device(cfg.device)
    x_train, y_train, x_test, y_test = (None if t is None else t.to(device) for t in _tensors(data))
    model.to(device)
    torch.manual_seed(cfg.seed)  # dropout and anything else drawing from the global RNG
    gen = torch.Generator().manual_seed(cfg.seed)
    optimizer = make_optimizer(model, cfg)

    def cross_entropy(_model: nn.Module, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)

    compute_loss = loss_fn if loss_fn is not None else cross_entropy

    n, bs = len(x_train), cfg.batch_size
    steps_per_epoch = n // bs if cfg.drop_last else -(-n // bs)
    if steps_per_epoch < 1:
        raise ValueError(f"{n} training examples do not fill one batch of {bs}")
    last_epoch = cfg.epochs if cfg.stop_epoch is None else min(cfg.stop_epoch, cfg.epochs)
    result = TrainResult(stopped_early=last_epoch < cfg.epochs)
    first_loss: float | None = None
    step = 0

    for epoch in track(range(1, last_epoch + 1), "train", total=last_epoch, enabled=progress):
        tic = time.perf_counter()
        lrs = [cfg.lr_at(step + i, steps_per_epoch) for i in range(steps_per_epoch)]
        epoch_losses, correct = _one_epoch(model, optimizer, compute_loss, x_train, y_train,
                                           lrs, bs, gen, augment)
        result.train_seconds += time.perf_counter() - tic
        if first_loss is None:
            first_loss = float(epoch_losses[0])
        if _record_epoch(result, cfg, epoch, step, lrs, epoch_losses, first_loss):
            break  # diverged
        step += len(lrs)
        result.train_acc.append(correct / min(n, steps_per_epoch * bs))

        evaluated = False
        if (cfg.eval_every and epoch % cfg.eval_every == 0) or epoch == last_epoch:
            _evaluate_into(result, model, epoch, cfg, x_train, y_train, x_test, y_test)
            evaluated = True
        if any([bool(cb(epoch, model, result)) for cb in callbacks]):
            if not evaluated:
                _evaluate_into(result, model, epoch, cfg, x_train, y_train, x_test, y_test)
            result.stopped_early = epoch < cfg.epochs
            break

    result.seconds = time.perf_counter() - start
    return result


def _one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    compute_loss: LossFn,
    x_train: Tensor,
    y_train: Tensor,
    lrs: list[float],
    bs: int,
    gen: torch.Generator,
    augment: Augment | None,
) -> tuple[Tensor, int]:
    """One epoch of SGD steps at the learning rates ``lrs``: shuffle with one gather, augment,
    then contiguous slices of ``bs``. Returns the step losses (steps,) as float64 on the CPU
    (the epoch's one host sync) and the number of correct training predictions."""
    device = x_train.device
    model.train()
    perm = torch.randperm(len(x_train), generator=gen).to(device)  # (N,)
    xs, ys = x_train[perm], y_train[perm]  # (N, ...), (N,): one gather per epoch
    if augment is not None:
        xs = augment(xs, gen)
    losses: list[Tensor] = []
    correct = torch.zeros((), device=device, dtype=torch.long)
    for i, lr in enumerate(lrs):
        xb, yb = xs[i * bs : (i + 1) * bs], ys[i * bs : (i + 1) * bs]  # (B, ...), (B,)
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits = model(xb)  # (B, K)
        loss = compute_loss(model, logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        correct += (logits.detach().argmax(dim=1) == yb).sum()
    return torch.stack(losses).double().cpu(), correct.item()


def _divergence_limit(first_loss: float, factor: float) -> float:
    """Diverged: the first non-finite loss or one above ``factor`` x the first loss."""
    if not math.isfinite(first_loss):
        return -math.inf  # diverged on the very first step
    if first_loss > 0:
        return factor * first_loss
    return math.inf  # a loss that starts at 0 cannot blow up by a factor


def _record_epoch(
    result: TrainResult,
    cfg: TrainConfig,
    epoch: int,
    step: int,
    lrs: list[float],
    epoch_losses: Tensor,
    first_loss: float,
) -> bool:
    """Write one epoch's losses into ``result``; True (and the divergence) if it diverged."""
    bad = ~torch.isfinite(epoch_losses) | (
        epoch_losses > _divergence_limit(first_loss, cfg.diverge_factor))
    if cfg.record_steps:
        stop_at = int(bad.nonzero()[0]) + 1 if bad.any() else len(lrs)
        result.step_loss += epoch_losses[:stop_at].tolist()
        result.step_lr += lrs[:stop_at]
    if bad.any():
        i = int(bad.nonzero()[0])
        result.diverged, result.diverged_step = True, step + i
        result.diverged_epoch, result.diverged_lr = epoch, lrs[i]
        result.diverged_loss = float(epoch_losses[i])
        result.steps = step + i + 1
        return True
    result.steps = step + len(lrs)
    result.epoch.append(epoch)
    result.train_loss.append(float(epoch_losses.mean()))
    result.lr.append(lrs[-1])
    return False


def _evaluate_into(
    result: TrainResult,
    model: nn.Module,
    epoch: int,
    cfg: TrainConfig,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor | None,
    y_test: Tensor | None,
) -> None:
    if x_test is None and not cfg.eval_train:
        return
    result.eval_epoch.append(epoch)
    if x_test is not None and y_test is not None:
        loss, acc = evaluate(model, x_test, y_test, cfg.eval_batch_size)
        result.test_loss.append(loss)
        result.test_acc.append(acc)
    if cfg.eval_train:
        loss, acc = evaluate(model, x_train, y_train, cfg.eval_batch_size)
        result.train_eval_loss.append(loss)
        result.train_eval_acc.append(acc)
