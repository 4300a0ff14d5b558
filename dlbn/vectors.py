"""Parameter vectors: many tensors as one (P,) vector and back (ch04's distances, ch06's HVPs).

P is the number of trainable scalars; ``flatten`` and ``unflatten`` keep the parameters'
order (``model.parameters()``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def num_params(model: nn.Module) -> int:
    """P, the number of trainable scalars: the length of every parameter vector."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate tensors (e.g. per-parameter gradients) into one (P,) vector."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(v: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """Split a (P,) vector into views shaped like ``like`` (the parameters), in order."""
    sizes = [t.numel() for t in like]
    if v.numel() != sum(sizes):
        raise ValueError(f"vector of length {v.numel()} does not match {sum(sizes)} parameters")
    return [part.view_as(t) for part, t in zip(v.split(sizes), like, strict=True)]
