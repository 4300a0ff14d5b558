"""Hessian tools for ch06: flat parameter vectors, a SciPy LinearOperator, frozen running stats.

Usage::

    from dlbn.hessian import OutlierConfig, as_linear_operator, fixed_batches, train_outlier_nets
    nets = train_outlier_nets(OutlierConfig(), load_mnist1d(), seed=0)   # {"batch", "none"}
    batches = fixed_batches(data.x_train, data.y_train, examples=1000, batch_size=250)
    op = as_linear_operator(lambda v: my_hvp(nets["none"], batches, v), num_params(nets["none"]))
    scipy.sparse.linalg.eigsh(op, k=20, which="LA")

Conventions: a model's parameters, in ``model.parameters()`` order, flattened and concatenated,
form a vector of length P (``num_params``); a Hessian-vector product maps a (P,) tensor to a
(P,) tensor. The loss over a list of ``batches`` is the mean over batches of each batch's mean
cross-entropy, computed in the model's current mode (train mode: batch norm uses each batch's
statistics). Nothing here is a chapter exercise; the HVPs themselves are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from dlbn.models import ModelConfig, build_model
from dlbn.train import TrainConfig, train
from dlbn.vectors import flatten, num_params, unflatten  # noqa: F401 - the HVP bench's API

Batches = Sequence[tuple[Tensor, Tensor]]  # [(x (B, C_in, L), y (B,)), ...]


@contextmanager
def frozen_running_stats(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block, batch-norm layers never update their running statistics.

    Train-mode layers still normalize with the batch's statistics (the Hessian we want) and
    eval-mode layers with the running ones; only the update is switched off, by setting
    ``track_running_stats = False`` for the duration (what torch.func's
    ``replace_all_batch_norm_modules_`` does permanently). Without this, every forward pass
    of an HVP would move the running statistics, and ``torch.func`` transforms refuse the
    in-place update outright ("mutate a captured Tensor").
    """
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    saved = [m.track_running_stats for m in layers]
    for m in layers:
        m.track_running_stats = False
    try:
        yield model
    finally:
        for m, flag in zip(layers, saved, strict=True):
            m.track_running_stats = flag


def fixed_batches(
    x: Tensor, y: Tensor, examples: int, batch_size: int, seed: int = 0
) -> list[tuple[Tensor, Tensor]]:
    """A fixed random subset of ``examples`` examples, cut into batches of ``batch_size``."""
    if examples > len(x) or examples % batch_size:
        raise ValueError(f"need examples <= {len(x)} and a multiple of batch_size {batch_size}")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:examples]
    idx = idx.to(x.device)
    return [(x[idx[i : i + batch_size]], y[idx[i : i + batch_size]])
            for i in range(0, examples, batch_size)]


def as_linear_operator(
    hvp: Callable[[Tensor], Tensor],
    n: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    on_call: Callable[[], Any] | None = None,
) -> Any:
    """A ``scipy.sparse.linalg.LinearOperator`` of shape (n, n) whose matvec is ``hvp``.

    SciPy hands over float64 NumPy vectors; they are converted to ``dtype`` on ``device``,
    passed to ``hvp`` and the result converted back. The operator counts its products in
    ``op.calls`` and calls ``on_call()`` after each (a progress bar's advance, say).
    """
    from scipy.sparse.linalg import LinearOperator

    def matvec(v: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(np.ascontiguousarray(v).reshape(-1), dtype=dtype, device=device)
        out = hvp(t).detach().to("cpu", torch.float64).numpy()
        op.calls += 1
        if on_call is not None:
            on_call()
        return out

    op = LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)
    op.calls = 0
    return op


def finite_difference_hvp(
    model: nn.Module, loss_fn: Callable[[nn.Module], Tensor], v: Tensor, eps: float = 1e-5
) -> Tensor:
    """(g(w + eps v) - g(w - eps v)) / (2 eps): the check every HVP must pass, in float64.

    In float32 the difference of two nearly equal gradients loses most of its digits, so use
    a float64 model (``model.double()``) and ``v`` of unit norm. The parameters are restored.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    w = [p.detach().clone() for p in params]
    step = unflatten(v, params)
    grads = []
    try:
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, p0, d in zip(params, w, step, strict=True):
                    p.copy_(p0 + sign * eps * d)
            grads.append(flatten(torch.autograd.grad(loss_fn(model), params)))
    finally:
        with torch.no_grad():
            for p, p0 in zip(params, w, strict=True):
                p.copy_(p0)
    return (grads[0] - grads[1]) / (2 * eps)


def random_overlap(dim: int, n: int) -> float:
    """Expected norm-squared overlap of a random unit vector in R^n with a dim-dim subspace."""
    return dim / n


@dataclass(frozen=True)
class OutlierConfig:
    """ch06's experiment: partially trained smooth nets, and how their Hessian is measured."""

    depth: int = 6  # conv blocks
    width: int = 16  # channels per block (32: ~4x the time, same picture; see the README)
    softplus_beta: float = 10.0  # sharp softplus: smooth (a Hessian exists) yet ReLU-like
    train_examples: int = 4000  # the first examples of MNIST-1D's training set
    epochs: int = 20  # length of the warm-up/decay schedule
    stop_epoch: int = 4  # stop here: partially trained, still in the high-LR phase
    warmup_epochs: float = 2.0  # linear warm-up, epochs
    batch_size: int = 32  # SGD batch
    lr_batch: float = 0.2  # peak LR of the BN net
    lr_none: float = 0.05  # peak LR of the net without BN (its own stable LR)
    hessian_examples: int = 1000  # fixed subset the Hessian is measured on
    hessian_batch_size: int = 250  # batch size of that loss (BN statistics per batch)
    k: int = 20  # eigenpairs per net
    tol: float = 1e-4  # eigsh tolerance (Page used 1e-4)


def outlier_model(cfg: OutlierConfig, norm: str) -> nn.Module:
    """The experiment's conv net with ``norm`` ("batch" or "none"), softplus activations."""
    return build_model(ModelConfig(depth=cfg.depth, width=cfg.width, norm=norm,
                                   activation="softplus", softplus_beta=cfg.softplus_beta))


def train_outlier_nets(cfg: OutlierConfig, data: Any, seed: int, device: str = "cpu",
                       progress: bool | None = None) -> dict[str, nn.Module]:
    """{"batch": BN net (train mode), "none": no-BN net}, each trained ``stop_epoch`` epochs.

    Same seed, same data order, same schedule shape; each net at its own peak LR. The frozen
    BN net is made from the BN net by the chapter's ``freeze_bn`` exercise.
    """
    n = cfg.train_examples
    split = (data.x_train[:n], data.y_train[:n])
    nets = {}
    for norm, lr in (("batch", cfg.lr_batch), ("none", cfg.lr_none)):
        torch.manual_seed(seed)
        model = outlier_model(cfg, norm)
        tc = TrainConfig(epochs=cfg.epochs, stop_epoch=cfg.stop_epoch, batch_size=cfg.batch_size,
                         lr=lr, schedule="warmup_linear_decay", warmup_epochs=cfg.warmup_epochs,
                         seed=seed, eval_every=0, device=device)
        result = train(model, split, tc, progress=progress)
        if result.diverged:
            raise RuntimeError(f"the {norm} net diverged: {result.summary()}")
        nets[norm] = model.train()
    return nets

