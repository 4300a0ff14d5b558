"""Chapter 8: the regularization gap (weight decay vs dropout vs batch norm).

Train the same small conv net four ways on a training subset small enough to overfit, and
measure what each does to the gap between training and validation accuracy:

    baseline      no regularizer
    weight decay  (a) an explicit L2 penalty in the loss ("l2"), (b) SGD's weight_decay
    dropout       nn.Dropout after every block
    batch norm    nn.BatchNorm1d after every conv

Then grade your work:

    dlbn grade ch08            # all tasks
    dlbn grade ch08 --task 3   # only ch08.3
    dlbn run ch08              # the chapter's experiment (3 seeds, 100 epochs) and figures

Convention (ours, stated once): weight decay lambda means the penalty (lambda / 2) * ||w||^2,
whose gradient lambda * w is exactly what ``torch.optim.SGD(weight_decay=lambda)`` adds.
Decay applies to conv and linear weights only, never to biases or to batch norm's gamma/beta.
"""

# No `from __future__ import annotations`: dataclasses here must also work when this file is
# imported by path without a sys.modules entry (as `dlbn run` does).
from dataclasses import dataclass, replace  # noqa: F401 - the starter needs them for your code

import torch
import torch.nn.functional as F  # noqa: F401
from torch import Tensor, nn

from dlbn.models import ModelConfig, build_model  # noqa: F401
from dlbn.train import LossFn, TrainConfig, TrainResult, train  # noqa: F401

VARIANTS = ("baseline", "l2", "weight_decay", "dropout", "batchnorm")
# data set -> (dims, in_channels, num_classes) of the net that reads it
DATASETS = {"mnist1d": (1, 1, 10), "cifar2": (2, 3, 2)}


@dataclass(frozen=True)
class GapConfig:
    """One gap experiment; the defaults are the chapter's `dlbn run` setting."""

    dataset: str = "mnist1d"  # "mnist1d", or "cifar2" (CIFAR-10 airplanes vs birds, the book's)
    train_size: int = 512  # examples in the training subset: small enough to overfit
    val_size: int = 1000  # validation examples (the first of the test split)
    depth: int = 4  # conv blocks of dlbn.models.ConvNet
    width: int = 32  # channels per block
    epochs: int = 100  # passes over the training subset
    batch_size: int = 32  # examples per SGD step (and per batch of train-mode evaluation)
    lr: float = 0.05  # SGD learning rate, constant
    momentum: float = 0.9  # heavy-ball momentum
    weight_decay: float = 5e-3  # lambda of "l2" and "weight_decay" (penalty lambda/2 ||w||^2)
    dropout: float = 0.2  # probability of zeroing an activation, "dropout" variant only
    eval_every: int = 2  # epochs between accuracy measurements for the curves

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; valid: {', '.join(DATASETS)}")


def load_gap_data(cfg: GapConfig, seed: int, device: str = "cpu") -> tuple[Tensor, ...]:
    """(x_train, y_train, x_val, y_val): ``cfg.train_size`` training examples drawn with
    ``seed`` and the first ``cfg.val_size`` test examples, on ``device``."""
    from dlbn.data import load

    if cfg.dataset == "cifar2":  # the book's CIFAR-2: airplane (0) -> 0, bird (2) -> 1
        d = load("cifar10", device=device)
        keep_tr, keep_te = d.y_train.eq(0) | d.y_train.eq(2), d.y_test.eq(0) | d.y_test.eq(2)
        xt, yt = d.x_train[keep_tr], d.y_train[keep_tr].div(2, rounding_mode="floor")
        xv, yv = d.x_test[keep_te], d.y_test[keep_te].div(2, rounding_mode="floor")
    else:
        d = load("mnist1d", device=device)
        xt, yt, xv, yv = d.x_train, d.y_train, d.x_test, d.y_test
    idx = torch.randperm(len(yt), generator=torch.Generator().manual_seed(seed))
    idx = idx[: cfg.train_size].to(xt.device)
    return xt[idx], yt[idx], xv[: cfg.val_size], yv[: cfg.val_size]


# Task ch08.1 - weight decay two ways
def decayed_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The (name, parameter) pairs weight decay applies to, in ``named_parameters`` order.

    Decayed: the weights of ``nn.Conv1d/2d`` and ``nn.Linear`` layers. Not decayed: every
    bias, and the gamma (``weight``) and beta (``bias``) of normalization layers
    (``dlbn.norms.is_norm``): shrinking gamma would shrink what batch norm lets through,
    which is not the "smaller weights" the penalty is meant to prefer.
    """
    # TODO(ch08.1): walk model.named_modules(); keep module.weight of Conv1d, Conv2d and Linear.
    raise NotImplementedError("ch08.1: implement decayed_parameters")


def l2_penalty(model: nn.Module, weight_decay: float) -> Tensor:
    """The explicit L2 term to add to the loss: (weight_decay / 2) * sum of ||w||^2.

    The sum runs over :func:`decayed_parameters`. With the 1/2 its gradient is
    ``weight_decay * w``, so SGD on ``loss + l2_penalty(model, lam)`` takes exactly the
    steps of SGD on ``loss`` with ``weight_decay=lam`` on the same parameters.

    Returns a scalar tensor in the graph (autograd reaches the weights).
    """
    # TODO(ch08.1): sum (w ** 2).sum() over decayed_parameters(model), times weight_decay / 2.
    raise NotImplementedError("ch08.1: implement l2_penalty")


@dataclass
class Variant:
    """A model, its training configuration and its loss, ready for ``dlbn.train.train``."""

    name: str
    model: nn.Module
    train_config: TrainConfig
    loss_fn: LossFn | None = None  # None: plain cross-entropy


# Task ch08.2 - the four variants
def make_variant(name: str, cfg: GapConfig, seed: int, device: str = "cpu") -> Variant:
    """Variant ``name`` (one of VARIANTS) of the chapter's net, freshly initialized.

    Every variant starts from ``ModelConfig(depth=cfg.depth, width=cfg.width, norm="none")``
    (with dims, in_channels and num_classes from ``DATASETS[cfg.dataset]``) and from
    ``TrainConfig(epochs, batch_size, lr, momentum from cfg; seed=seed; device=device;
    eval_every=cfg.eval_every; eval_train=True; decay_norm_and_bias=False)``. Then exactly
    one thing changes:

        baseline      nothing
        l2            loss_fn = cross-entropy + l2_penalty(model, cfg.weight_decay)
        weight_decay  TrainConfig.weight_decay = cfg.weight_decay
        dropout       ModelConfig.dropout = cfg.dropout
        batchnorm     ModelConfig.norm = "batch"

    Call ``torch.manual_seed(seed)`` right before ``build_model`` so that every variant with
    the same seed starts from the same weights. Raises ValueError for an unknown name.
    """
    # TODO(ch08.2): build the two base configs, then replace(...) the one field that changes.
    raise NotImplementedError("ch08.2: implement make_variant")


@dataclass(frozen=True)
class Measurement:
    """Accuracies of one trained model, as fractions in [0, 1]."""

    train_acc: float  # eval mode, on the whole training subset
    val_acc: float  # eval mode, on the validation set
    gap: float  # train_acc - val_acc: how much better the net does on what it has seen
    val_acc_train_mode: float  # validation accuracy left in train mode (batch statistics)


# Task ch08.3 - accuracy, the gap, and the move from training to eval
@torch.no_grad()
def accuracy(
    model: nn.Module, x: Tensor, y: Tensor, *, train_mode: bool = False, batch_size: int = 500
) -> float:
    """Fraction of ``x`` (N, ...) that ``model`` classifies as ``y`` (N,), in slices of
    ``batch_size``, without autograd.

    ``train_mode=False`` (the default) evaluates in eval mode: dropout off, batch norm
    normalizing with its running statistics, so the answer does not depend on the batch.
    ``train_mode=True`` evaluates as training sees the net: dropout on, batch norm using each
    slice's own statistics; the running statistics must come out unchanged (save the buffers
    and put them back). Either way the model leaves in the mode it came in.

    Write it yourself (``dlbn.train.evaluate`` does the same with the loss; read it after).
    """
    # TODO(ch08.3): remember model.training; model.train(train_mode); in train mode clone the
    #   buffers and copy them back; restore the mode in a finally block.
    raise NotImplementedError("ch08.3: implement accuracy")


def measure(
    model: nn.Module, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
    batch_size: int = 32,
) -> Measurement:
    """Train and validation accuracy in eval mode, their gap (train minus validation), and
    the validation accuracy in train mode with slices of ``batch_size`` (the training batch
    size: what you would report if you forgot ``model.eval()``)."""
    # TODO(ch08.3): three calls to accuracy(); gap = train_acc - val_acc.
    raise NotImplementedError("ch08.3: implement measure")


@dataclass
class VariantRun:
    """One variant trained on one seed: curves per evaluated epoch, and the end point."""

    name: str
    seed: int
    epochs: list[int]  # the evaluated epochs (1-based)
    train_curve: list[float]  # eval-mode training accuracy at those epochs
    val_curve: list[float]  # eval-mode validation accuracy at those epochs
    final: Measurement
    diverged: bool = False


# Task ch08.4 - train and measure
def run_variant(
    name: str, cfg: GapConfig, seed: int, data: tuple[Tensor, ...], device: str = "cpu",
    progress: bool = False,
) -> VariantRun:
    """Build variant ``name`` with :func:`make_variant`, train it with ``dlbn.train.train``
    on ``data`` = (x_train, y_train, x_val, y_val) (pass ``loss_fn`` and ``progress``), and
    return its curves (the result's ``eval_epoch``, ``train_eval_acc``, ``test_acc``), its
    final :func:`measure` (slices of ``cfg.batch_size``) and whether it diverged.
    """
    # TODO(ch08.4): v = make_variant(...); train(v.model, data, v.train_config, loss_fn=...).
    raise NotImplementedError("ch08.4: implement run_variant")


def epochs_to_fit(run: VariantRun, threshold: float = 0.99) -> float:
    """The first evaluated epoch whose training accuracy reaches ``threshold``; inf if none."""
    hits = (e for e, a in zip(run.epochs, run.train_curve, strict=True) if a >= threshold)
    return next(hits, float("inf"))


def gap_experiment(
    cfg: GapConfig, seeds: tuple[int, ...] = (0, 1, 2), variants: tuple[str, ...] = VARIANTS,
    device: str = "cpu", progress: bool = False,
) -> dict[str, list[VariantRun]]:
    """Every variant on every seed: {variant: [VariantRun per seed]}. One data subset per
    seed, shared by the variants, so they differ only in the regularizer."""
    from dlbn.progress import track

    runs: dict[str, list[VariantRun]] = {name: [] for name in variants}
    jobs = [(seed, name) for seed in seeds for name in variants]
    data: dict[int, tuple[Tensor, ...]] = {}
    for seed, name in track(jobs, "ch08 variants", enabled=progress):
        if seed not in data:
            data[seed] = load_gap_data(cfg, seed, device)
        runs[name].append(run_variant(name, cfg, seed, data[seed], device))
    return runs
