"""Batched data augmentation on the device: one call augments a whole (N, ...) tensor.

Usage, with :func:`dlbn.train.train` (which calls ``augment(x, generator)`` once per epoch on
the shuffled training set)::

    from functools import partial
    from dlbn.augment import random_shift
    train(model, data, cfg, augment=partial(random_shift, max_shift=3))

Random draws come from a CPU ``torch.Generator`` and are moved to ``x``'s device, so the same
seed gives the same augmentation on every device. No per-example Python.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _randint(high: int, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    return torch.randint(0, high, (n,), generator=generator).to(device)


def random_shift(
    x: Tensor, generator: torch.Generator | None = None, *, max_shift: int = 3
) -> Tensor:
    """Shift each signal by a random whole number of samples in [-max_shift, max_shift].

    Vacated samples are zero (the mean of standardized data). Shapes: x (N, C, L) -> (N, C, L);
    every channel of an example moves together.
    """
    if max_shift <= 0:
        return x
    n, c, length = x.shape
    padded = F.pad(x, (max_shift, max_shift))  # (N, C, L + 2 s)
    start = _randint(2 * max_shift + 1, n, generator, x.device)  # (N,) in [0, 2 s]
    idx = start[:, None] + torch.arange(length, device=x.device)  # (N, L)
    return padded.gather(2, idx[:, None, :].expand(n, c, length))  # (N, C, L)


def random_flip_crop(
    x: Tensor, generator: torch.Generator | None = None, *, pad: int = 4, flip: bool = True
) -> Tensor:
    """Random horizontal flip (p = 1/2) and random crop after zero-padding by ``pad`` pixels.

    The standard CIFAR-10 augmentation. Shapes: x (N, C, H, W) -> (N, C, H, W).
    """
    n, c, h, w = x.shape
    if flip:
        mask = torch.rand(n, generator=generator).to(x.device) < 0.5  # (N,)
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    if pad <= 0:
        return x
    padded = F.pad(x, (pad, pad, pad, pad))  # (N, C, H + 2p, W + 2p)
    top = _randint(2 * pad + 1, n, generator, x.device)  # (N,)
    left = _randint(2 * pad + 1, n, generator, x.device)  # (N,)
    rows = top[:, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = left[:, None] + torch.arange(w, device=x.device)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, H, W)
