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
# Hint 1: Weight decay is meant to prefer small weights: which parameters are "weights" here, and
#         which (biases, batch norm's gamma and beta) should it leave alone? Mind the 1/2 in the
#         convention: it decides what the penalty's gradient is.
# Hint 2: decayed_parameters walks the modules, remembers the weight tensors of Conv1d, Conv2d and
#         Linear layers by identity, and returns the (name, parameter) pairs of named_parameters
#         that are among them, in that order. l2_penalty sums the squared entries of those weights
#         as tensors (no .item(), so autograd reaches them) and multiplies by weight_decay / 2, so
#         that its gradient is weight_decay * w as with SGD's weight_decay; with nothing to decay
#         it is a 0-dim zero.
# Hint 3: keep = the ids of module.weight for the modules that are instances of (nn.Conv1d,
#         nn.Conv2d, nn.Linear); filter model.named_parameters() on id(p) in keep. Penalty =
#         (lambda / 2) * sum over those w of sum(w^2), e.g. by stacking the per-tensor sums;
#         torch.zeros(()) for an empty list.
def decayed_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The (name, parameter) pairs weight decay applies to, in ``named_parameters`` order.

    Decayed: the weights of ``nn.Conv1d/2d`` and ``nn.Linear`` layers. Not decayed: every
    bias, and the gamma (``weight``) and beta (``bias``) of normalization layers
    (``dlbn.norms.is_norm``): shrinking gamma would shrink what batch norm lets through,
    which is not the "smaller weights" the penalty is meant to prefer.
    """
    # BEGIN SOLUTION ch08.1
    # HINT: walk model.named_modules(); keep module.weight of Conv1d, Conv2d and Linear.
    layers = (nn.Conv1d, nn.Conv2d, nn.Linear)
    keep = {id(m.weight) for m in model.modules() if isinstance(m, layers)}
    return [(name, p) for name, p in model.named_parameters() if id(p) in keep]
    # END SOLUTION


def l2_penalty(model: nn.Module, weight_decay: float) -> Tensor:
    """The explicit L2 term to add to the loss: (weight_decay / 2) * sum of ||w||^2.

    The sum runs over :func:`decayed_parameters`. With the 1/2 its gradient is
    ``weight_decay * w``, so SGD on ``loss + l2_penalty(model, lam)`` takes exactly the
    steps of SGD on ``loss`` with ``weight_decay=lam`` on the same parameters.

    Returns a scalar tensor in the graph (autograd reaches the weights).
    """
    # BEGIN SOLUTION ch08.1
    # HINT: sum (w ** 2).sum() over decayed_parameters(model), times weight_decay / 2.
    squares = [p.pow(2).sum() for _, p in decayed_parameters(model)]
    return weight_decay / 2 * torch.stack(squares).sum() if squares else torch.zeros(())
    # END SOLUTION


@dataclass
class Variant:
    """A model, its training configuration and its loss, ready for ``dlbn.train.train``."""

    name: str
    model: nn.Module
    train_config: TrainConfig
    loss_fn: LossFn | None = None  # None: plain cross-entropy


# Task ch08.2 - the four variants
# Hint 1: A fair comparison changes exactly one thing per variant, in exactly one place: the model
#         config, the training config or the loss. Every variant with the same seed must also start
#         from the same weights.
# Hint 2: Check the name against VARIANTS (ValueError), build the base ModelConfig (norm "none",
#         with dims, in_channels and num_classes from DATASETS) and the base TrainConfig (epochs,
#         batch size, lr, momentum and eval_every from cfg, the seed, the device, eval_train on, no
#         decay of norm parameters and biases). Then change one field with dataclasses.replace:
#         weight_decay for "weight_decay", dropout or norm "batch" for the two model variants, and
#         for "l2" only a loss_fn (setting the optimizer's decay as well would apply it twice).
#         Seed torch right before build_model and return the Variant with the model on the device.
# Hint 3: For "l2": loss_fn(model, logits, y) = cross_entropy(logits, y) + l2_penalty(model,
#         cfg.weight_decay); otherwise replace(tc, weight_decay=cfg.weight_decay), replace(mc,
#         dropout=cfg.dropout) or replace(mc, norm='batch'); decay_norm_and_bias is False in the
#         base TrainConfig. Finally torch.manual_seed(seed), then a Variant of the name,
#         build_model(mc) moved to the device, tc and loss_fn.
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
    # BEGIN SOLUTION ch08.2
    # HINT: build the two base configs, then replace(...) the one field that changes.
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; valid: {', '.join(VARIANTS)}")
    dims, in_channels, num_classes = DATASETS[cfg.dataset]
    mc = ModelConfig(depth=cfg.depth, width=cfg.width, norm="none", dims=dims,
                     in_channels=in_channels, num_classes=num_classes)
    tc = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                     momentum=cfg.momentum, seed=seed, device=device, eval_every=cfg.eval_every,
                     eval_train=True, decay_norm_and_bias=False)
    loss_fn = None
    if name == "l2":
        def loss_fn(model: nn.Module, logits: Tensor, y: Tensor) -> Tensor:
            return F.cross_entropy(logits, y) + l2_penalty(model, cfg.weight_decay)
    elif name == "weight_decay":
        tc = replace(tc, weight_decay=cfg.weight_decay)
    elif name == "dropout":
        mc = replace(mc, dropout=cfg.dropout)
    elif name == "batchnorm":
        mc = replace(mc, norm="batch")
    torch.manual_seed(seed)
    return Variant(name, build_model(mc).to(device), tc, loss_fn)
    # END SOLUTION


@dataclass(frozen=True)
class Measurement:
    """Accuracies of one trained model, as fractions in [0, 1]."""

    train_acc: float  # eval mode, on the whole training subset
    val_acc: float  # eval mode, on the validation set
    gap: float  # train_acc - val_acc: how much better the net does on what it has seen
    val_acc_train_mode: float  # validation accuracy left in train mode (batch statistics)


# Task ch08.3 - accuracy, the gap, and the move from training to eval
# Hint 1: torch.no_grad() switches off neither dropout nor batch norm's batch statistics: only the
#         module's mode does. Train-mode evaluation also updates the running statistics, and the
#         model must leave in the mode it came in.
# Hint 2: accuracy remembers model.training and, in train mode, snapshots every buffer; it sets the
#         requested mode (eval by default), counts correct argmax predictions slice by slice (each
#         slice of batch_size is one batch for batch norm, the last partial one included), and in a
#         finally block copies the buffers back and restores the mode. measure calls it three
#         times: training and validation accuracy in eval mode, and validation accuracy in train
#         mode with slices of batch_size; the gap is training minus validation (positive when the
#         net overfits).
# Hint 3: saved = (buffer, clone) pairs from model.buffers() when train_mode; then model.train() or
#         model.eval(); correct = sum over slices of int((argmax over dim 1 == labels).sum()),
#         answer correct / N; finally: copy_ each clone back into its buffer and
#         model.train(was_training). measure returns a Measurement of the two eval-mode accuracies,
#         their difference train minus val, and the train-mode validation accuracy.
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
    # BEGIN SOLUTION ch08.3
    # HINT: remember model.training; model.train(train_mode); in train mode clone the
    # HINT: buffers and copy them back; restore the mode in a finally block.
    was_training = model.training
    saved = [(b, b.clone()) for b in model.buffers()] if train_mode else []
    if train_mode:
        model.train()
    else:
        model.eval()
    try:
        correct = 0
        for i in range(0, len(x), batch_size):
            logits = model(x[i : i + batch_size])  # (B, K)
            correct += int((logits.argmax(dim=1) == y[i : i + batch_size]).sum())
        return correct / len(x)
    finally:
        for b, value in saved:
            b.copy_(value)
        model.train(was_training)
    # END SOLUTION


def measure(
    model: nn.Module, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
    batch_size: int = 32,
) -> Measurement:
    """Train and validation accuracy in eval mode, their gap (train minus validation), and
    the validation accuracy in train mode with slices of ``batch_size`` (the training batch
    size: what you would report if you forgot ``model.eval()``)."""
    # BEGIN SOLUTION ch08.3
    # HINT: three calls to accuracy(); gap = train_acc - val_acc.
    train_acc = accuracy(model, x_train, y_train)
    val_acc = accuracy(model, x_val, y_val)
    val_train_mode = accuracy(model, x_val, y_val, train_mode=True, batch_size=batch_size)
    return Measurement(train_acc, val_acc, train_acc - val_acc, val_train_mode)
    # END SOLUTION


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
# Hint 1: Everything is built already: this function wires make_variant, dlbn.train.train and
#         measure together. Which of the TrainResult's curves is the eval-mode training accuracy,
#         and which is the running train-mode one?
# Hint 2: Make the variant, train its model on data with its train_config, passing its loss_fn
#         (without it "l2" is just the baseline) and progress, then measure the trained model on
#         the four tensors of data with slices of cfg.batch_size. The curves are the result's
#         eval_epoch, train_eval_acc (eval mode, not train_acc) and test_acc, as lists, and
#         diverged comes from the result.
# Hint 3: v = make_variant(name, cfg, seed, device); result = train(v.model, data, v.train_config,
#         loss_fn=v.loss_fn, progress=progress); final = measure on v.model and the unpacked data
#         with batch_size=cfg.batch_size; return VariantRun(name, seed, the three result curves as
#         lists, final, result.diverged).
def run_variant(
    name: str, cfg: GapConfig, seed: int, data: tuple[Tensor, ...], device: str = "cpu",
    progress: bool = False,
) -> VariantRun:
    """Build variant ``name`` with :func:`make_variant`, train it with ``dlbn.train.train``
    on ``data`` = (x_train, y_train, x_val, y_val) (pass ``loss_fn`` and ``progress``), and
    return its curves (the result's ``eval_epoch``, ``train_eval_acc``, ``test_acc``), its
    final :func:`measure` (slices of ``cfg.batch_size``) and whether it diverged.
    """
    # BEGIN SOLUTION ch08.4
    # HINT: v = make_variant(...); train(v.model, data, v.train_config, loss_fn=...).
    v = make_variant(name, cfg, seed, device)
    result: TrainResult = train(v.model, data, v.train_config, loss_fn=v.loss_fn,
                                progress=progress)
    final = measure(v.model, *data, batch_size=cfg.batch_size)
    return VariantRun(name, seed, list(result.eval_epoch), list(result.train_eval_acc),
                      list(result.test_acc), final, result.diverged)
    # END SOLUTION


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
