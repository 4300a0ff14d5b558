"""Normalization layers by name, and frozen batch norm.

`make_norm("batch", 32)` is how every model in dlbn picks its normalization, so that a
chapter can swap batch norm for group norm (ch07) or for frozen batch norm (ch02, ch06) with
one string. Usage::

    from dlbn.norms import make_norm, calibrate
    norm = make_norm("group", 32, num_groups=8)          # nn.GroupNorm(8, 32)
    calibrate(model, x_calib)                             # fix every FrozenBatchNorm's stats

All layers take ``x`` of shape (N, C), (N, C, L) or (N, C, H, W) and normalize per channel C:

    y = gamma * (x - mu) / sqrt(var + eps) + beta

They differ only in where mu and var come from:

| kind           | mu, var computed over                 | module                         |
| -------------- | ------------------------------------- | ------------------------------ |
| "none"         | (no normalization)                    | nn.Identity                    |
| "batch"        | (N, L) or (N, H, W): the batch        | nn.BatchNorm1d / nn.BatchNorm2d |
| "frozen_batch" | one calibration batch, then fixed     | FrozenBatchNorm                |
| "group"        | (C / G channels, L) per example       | nn.GroupNorm(G, C)             |
| "layer"        | (C, L) per example                    | nn.GroupNorm(1, C)             |
| "instance"     | (L) per example and channel           | nn.GroupNorm(C, C)             |

Frozen batch norm (Page, "How to train your ResNet 7: batch norm", 2019) is batch norm whose
statistics are measured once, on a calibration batch, and then held fixed in train and eval
mode alike: the network starts out exactly as well-scaled as with batch norm, but training
no longer renormalizes. It is the control that separates "good initial scaling" from "batch
norm during training".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

NORM_KINDS = ("none", "batch", "frozen_batch", "group", "layer", "instance")

# Modules whose parameters count as "norm parameters" (gamma, beta) for weight decay.
NORM_TYPES: tuple[type[nn.Module], ...] = (_BatchNorm, nn.GroupNorm, nn.LayerNorm)


class FrozenBatchNorm(nn.Module):
    """Batch norm that always normalizes with its stored statistics.

    ``y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta`` in train and eval mode.
    ``gamma`` (``weight``) and ``beta`` (``bias``) are trained as usual; the statistics are
    buffers set by :func:`calibrate` (one batch's mean and biased variance) or copied from a
    trained batch norm by :func:`freeze_batch_norm` (its running statistics).

    Until calibrated the buffers are mean 0 and variance 1, so the layer is the identity up to
    ``eps``. Names follow ``nn.BatchNorm1d``, so ``state_dict()`` matches it key for key and
    a trained batch norm's state loads directly.

    Shapes: ``x`` (N, C), (N, C, L) or (N, C, H, W) with C = ``num_features``; output alike.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        # While True, forward() measures the batch's statistics and stores them (calibrate()).
        self._calibrating = False

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"FrozenBatchNorm({self.num_features}) expects (N, {self.num_features}, ...), "
                f"got {tuple(x.shape)}"
            )
        if self._calibrating:
            reduce_dims = [0, *range(2, x.dim())]
            with torch.no_grad():
                self.running_mean.copy_(x.mean(dim=reduce_dims))
                self.running_var.copy_(x.var(dim=reduce_dims, unbiased=False))
                self.num_batches_tracked.fill_(1)
        # training=False: F.batch_norm uses the buffers and never updates them.
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


def make_norm(kind: str, num_channels: int, *, num_groups: int = 8, dims: int = 1) -> nn.Module:
    """A normalization layer for ``num_channels`` channels, by name (see the module table).

    ``dims`` is the number of spatial dimensions of the input: 1 for (N, C, L) signals and
    (N, C) features, 2 for (N, C, H, W) images; it matters only for "batch". ``num_groups``
    is G for "group" and must divide ``num_channels``.
    """
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        if dims == 1:
            return nn.BatchNorm1d(num_channels)
        if dims == 2:
            return nn.BatchNorm2d(num_channels)
        raise ValueError(f"dims must be 1 or 2 for batch norm, got {dims}")
    if kind == "frozen_batch":
        return FrozenBatchNorm(num_channels)
    if kind == "group":
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(
                f"group norm needs num_groups dividing num_channels, "
                f"got num_groups={num_groups}, num_channels={num_channels}"
            )
        return nn.GroupNorm(num_groups, num_channels)
    if kind == "layer":
        return nn.GroupNorm(1, num_channels)
    if kind == "instance":
        return nn.GroupNorm(num_channels, num_channels, affine=True)
    raise ValueError(f"unknown norm kind {kind!r}; valid kinds: {', '.join(NORM_KINDS)}")


def is_norm(module: nn.Module) -> bool:
    """True for the normalization layers make_norm builds (and nn.LayerNorm)."""
    return isinstance(module, (*NORM_TYPES, FrozenBatchNorm))


@torch.no_grad()
def calibrate(model: nn.Module, x: Tensor) -> int:
    """Set every FrozenBatchNorm's statistics from one forward pass of ``model`` on ``x``.

    Each layer stores the mean and biased variance of its own input over the batch (and
    length/space), exactly the statistics batch norm would use in train mode on ``x``; so right
    after calibration the model computes on ``x`` what its batch-norm twin computes in train
    mode. Layers are calibrated in order, each seeing the already-calibrated layers below it.
    The pass runs in eval mode (dropout off; any ordinary batch norm uses its running
    statistics and is not updated); the model's mode is restored afterwards.

    Returns the number of layers calibrated (0 if the model has none).
    """
    frozen = [m for m in model.modules() if isinstance(m, FrozenBatchNorm)]
    if not frozen:
        return 0
    was_training = model.training
    model.eval()
    try:
        for m in frozen:
            m._calibrating = True
        model(x)
    finally:
        for m in frozen:
            m._calibrating = False
        model.train(was_training)
    return len(frozen)


def freeze_batch_norm(model: nn.Module) -> nn.Module:
    """Replace every nn.BatchNorm1d/2d in ``model`` by a FrozenBatchNorm with its statistics.

    The frozen layer normalizes with the batch norm's running statistics (what eval mode would
    use) and keeps its ``gamma``/``beta`` (the same Parameter objects, so an optimizer built
    earlier still updates them). Unlike calling ``.eval()`` on the batch-norm layers, this
    survives ``model.train()``, so the rest of the net can keep training or use dropout.
    Modifies ``model`` in place and returns it.
    """
    for name, child in list(model.named_children()):
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            model._modules[name] = _frozen_from(child)
        else:
            freeze_batch_norm(child)
    return model


def _frozen_from(bn: _BatchNorm) -> FrozenBatchNorm:
    if not bn.track_running_stats or bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"{bn} has no running statistics to freeze")
    frozen = FrozenBatchNorm(bn.num_features, eps=bn.eps, affine=bn.affine)
    frozen.to(bn.running_mean.device)
    frozen.weight, frozen.bias = bn.weight, bn.bias  # share, do not copy
    frozen.running_mean.copy_(bn.running_mean)
    frozen.running_var.copy_(bn.running_var)
    if bn.num_batches_tracked is not None:
        frozen.num_batches_tracked.copy_(bn.num_batches_tracked)
    return frozen
