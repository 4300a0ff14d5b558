"""Probing a network without disturbing it: save its state, take trial steps, restore.

ch03 (internal covariate shift) and ch04 (loss landscape) measure things *around* the current
point of training: the gradient after the earlier layers have taken their step, the loss a
step of size eta along the gradient would reach. Every such probe moves the weights, runs
train-mode forward passes (which update batch norm's running statistics and draw fresh
noise) and may call the optimizer (which updates its momentum buffers). Training must then
continue exactly as if nothing had happened. Usage::

    from dlbn.landscape import restoring, loss_and_grads, add_scaled_

    with restoring(model, optimizer):            # everything below is undone on exit
        loss, grads = loss_and_grads(model, x, y)
        add_scaled_(params, grads, -0.1)         # w <- w - 0.1 g
        new_loss, _ = loss_and_grads(model, x, y)

What `save_state` keeps: every parameter's value and ``.grad``, every buffer (running_mean,
running_var, num_batches_tracked), the train/eval mode of every module, the optimizer's
state (``optimizer.state_dict()``, deep-copied: momentum buffers are updated in place), and
torch's random number generators (CPU, and CUDA when the model lives there).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LossFn = Callable[[Tensor, Tensor], Tensor]  # (logits (B, K), y (B,)) -> scalar


@dataclass
class ModelState:
    """A copy of everything a probe could change (see the module docstring)."""

    params: list[Tensor]
    grads: list[Tensor | None]
    buffers: list[Tensor]
    modes: list[bool]
    optimizer: dict[str, Any] | None
    cpu_rng: Tensor
    cuda_rng: list[Tensor] | None


def save_state(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> ModelState:
    """Copy the model's parameters, grads, buffers and modes, the optimizer state and RNGs."""
    cuda = any(p.is_cuda for p in model.parameters()) and torch.cuda.is_available()
    return ModelState(
        params=[p.detach().clone() for p in model.parameters()],
        grads=[None if p.grad is None else p.grad.detach().clone() for p in model.parameters()],
        buffers=[b.detach().clone() for b in model.buffers()],
        modes=[m.training for m in model.modules()],
        optimizer=None if optimizer is None else copy.deepcopy(optimizer.state_dict()),
        cpu_rng=torch.get_rng_state(),
        cuda_rng=torch.cuda.get_rng_state_all() if cuda else None,
    )


@torch.no_grad()
def restore_state(
    model: nn.Module, state: ModelState, optimizer: torch.optim.Optimizer | None = None
) -> None:
    """Put back what `save_state` copied, in place (the same Parameter objects stay)."""
    for p, value, grad in zip(model.parameters(), state.params, state.grads, strict=True):
        p.copy_(value)
        p.grad = None if grad is None else grad.clone()
    for b, value in zip(model.buffers(), state.buffers, strict=True):
        b.copy_(value)
    for m, mode in zip(model.modules(), state.modes, strict=True):
        m.training = mode
    if optimizer is not None and state.optimizer is not None:
        # load_state_dict copies again, so the saved state can be restored more than once.
        optimizer.load_state_dict(copy.deepcopy(state.optimizer))
    torch.set_rng_state(state.cpu_rng)
    if state.cuda_rng is not None:
        torch.cuda.set_rng_state_all(state.cuda_rng)


@contextmanager
def restoring(
    model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> Iterator[ModelState]:
    """``with restoring(model, optimizer): ...`` undoes every change to them on exit."""
    state = save_state(model, optimizer)
    try:
        yield state
    finally:
        restore_state(model, state, optimizer)


def loss_and_grads(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    params: Sequence[Tensor] | None = None,
    loss_fn: LossFn = F.cross_entropy,
) -> tuple[Tensor, list[Tensor]]:
    """The loss on (x, y) and its gradients with respect to ``params`` (default: all).

    Uses ``torch.autograd.grad``, so no ``.grad`` is written. The forward pass runs in the
    model's current mode (train mode: batch statistics, and running statistics updated).
    Returns (loss, a detached scalar; grads, one tensor per parameter, shaped like it).
    """
    params = list(model.parameters()) if params is None else list(params)
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
    return loss.detach(), [g.detach() for g in grads]


@torch.no_grad()
def add_scaled_(params: Sequence[Tensor], direction: Sequence[Tensor], alpha: float) -> None:
    """In place, ``p <- p + alpha * d`` for each parameter and its direction tensor."""
    for p, d in zip(params, direction, strict=True):
        p.add_(d, alpha=alpha)


def state_difference(
    model: nn.Module, state: ModelState, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, float]:
    """Largest absolute change since ``state`` of the parameters, grads, buffers, modes and
    (with ``optimizer``) the optimizer's state tensors, e.g. momentum buffers.

    All zeros means a probe left the model as it found it (the tests and graders use this).
    """
    def gap(a: Tensor | None, b: Tensor | None) -> float:
        if a is None or b is None:
            return 0.0 if a is None and b is None else float("inf")
        return float((a.detach().double() - b.double()).abs().max()) if a.numel() else 0.0

    params = list(model.parameters())
    return {
        "params": max((gap(p, v) for p, v in zip(params, state.params, strict=True)), default=0),
        "grads": max((gap(p.grad, g) for p, g in zip(params, state.grads, strict=True)),
                     default=0.0),
        "buffers": max((gap(b, v) for b, v in zip(model.buffers(), state.buffers, strict=True)),
                       default=0.0),
        "modes": float(sum(m.training != t for m, t in zip(model.modules(), state.modes,
                                                           strict=True))),
        "optimizer": 0.0 if optimizer is None else _optimizer_gap(optimizer, state, gap),
    }


def _optimizer_gap(optimizer: torch.optim.Optimizer, state: ModelState, gap: Any) -> float:
    now = optimizer.state_dict()["state"]
    then = (state.optimizer or {}).get("state", {})
    if set(now) != set(then):
        return float("inf")  # a parameter gained (or lost) momentum during the probe
    worst = 0.0
    for key, entry in now.items():
        for name, value in entry.items():
            old = then[key].get(name)
            if isinstance(value, Tensor):
                worst = max(worst, gap(value, old if isinstance(old, Tensor) else None))
            elif value != old:
                worst = float("inf")
    return worst
