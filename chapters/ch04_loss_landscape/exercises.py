"""Chapter 4: the loss landscape along the gradient (Santurkar et al. 2018; Bjorck et al. 2018).

If batch norm does not help by reducing internal covariate shift (ch03), how does it help?
Santurkar et al. answer: it makes the landscape smoother. Standing at the current weights w
with gradient g = dL/dw on a batch, look along the gradient, at w - eta g for a range of step
sizes eta: how much does the loss change (loss range), how much does the gradient change
(gradient predictiveness), and how fast does it change per unit of distance (effective
beta-smoothness)? Bjorck et al. (Fig. 3) draw the same walk as one curve: the relative loss
L(w - eta g) / L(w) against eta. Without BN the loss improves only for tiny steps and then
explodes; with BN a range of steps orders of magnitude wider improves it.

    dlbn grade ch04            # all tasks
    dlbn grade ch04 --task 2   # only ch04.2
    dlbn run ch04              # the figures, with your code

Every probe here moves the weights and runs train-mode forward passes (which update batch
norm's running statistics). Each must leave the model exactly as it found it:
dlbn.landscape.save_state / restore_state do the bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch  # noqa: F401 - the exercises use these
import torch.nn.functional as F  # noqa: F401
from torch import Tensor, nn

from dlbn.landscape import add_scaled_, loss_and_grads, restore_state, save_state  # noqa: F401
from dlbn.models import ConvNet, ModelConfig, build_model
from dlbn.train import TrainConfig, make_optimizer  # noqa: F401
from dlbn.vectors import flatten  # noqa: F401

KINDS = ("standard", "batch")


def build_net(kind: str, model_cfg: ModelConfig) -> ConvNet:
    """The conv net of ``model_cfg`` without ("standard") or with ("batch") batch norm."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    return build_model(replace(model_cfg, norm="none" if kind == "standard" else "batch"))


# Task ch04.1 - the relative loss along the gradient (Bjorck Fig. 3)
def loss_along_gradient(model: nn.Module, x: Tensor, y: Tensor,
                        step_sizes: Sequence[float]) -> Tensor:
    """Relative loss L(w - eta g) / L(w) for each eta in ``step_sizes``, on one batch.

    1. In train mode (batch statistics), L(w) = cross-entropy of model(x) against y and
       g = dL/dw for ALL parameters.
    2. For each eta: move every parameter to w - eta g (a step DOWN the gradient), compute
       L(w - eta g) on the same (x, y) in train mode, without autograd, and put the model
       back to w (and its buffers back) before the next eta: each step starts from w.
    3. At the end the model is exactly as it was: parameters, grads, buffers, modes.

    Returns a float64 tensor (S,) of ratios; below 1 the step helped, above 1 it hurt.
    """
    # TODO(ch04.1): state = save_state(model); loss_and_grads gives (L(w), g); add_scaled_(params,
    #   grads, -eta) takes the step; restore_state(model, state) after EVERY eta.
    raise NotImplementedError("ch04.1: implement loss_along_gradient")


# Task ch04.2 - loss range, gradient predictiveness and beta-smoothness (Santurkar Fig. 4)
def landscape_measures(model: nn.Module, x: Tensor, y: Tensor,
                       step_sizes: Sequence[float]) -> dict[str, Any]:
    """Santurkar et al.'s three measures at the current weights w, on the batch (x, y).

    With g = dL/dw (all parameters, train mode) and, for each eta in ``step_sizes``, the
    loss L_eta = L(w - eta g) and the gradient g_eta = dL/dw at w - eta g (same batch, train
    mode), with every parameter flattened into one vector:

        loss_range      = max_eta L_eta - min_eta L_eta        # "loss landscape" (Fig. 4a)
        max_grad_change = max_eta ||g_eta - g||                # "gradient predictiveness" (4b)
        beta            = max_eta ||g_eta - g|| / ||eta g||    # "effective beta-smoothness" (4c)

    Each eta starts from w (restore the model between them) and the model is restored at the
    end (parameters, grads, buffers, modes), as in ch04.1.

    Returns {"loss": (S,) float64 L_eta, "grad_change": (S,) float64 ||g_eta - g||,
    "loss_range": float, "max_grad_change": float, "beta": float, "grad_norm": ||g||}.
    """
    # TODO(ch04.2): flatten(grads) turns a list of gradients into one vector; the distance moved is
    #   eta * ||g||.
    raise NotImplementedError("ch04.2: implement landscape_measures")


# Task ch04.3 - the measures over training
def landscape_during_training(kind: str, data: Any, model_cfg: ModelConfig,
                              train_cfg: TrainConfig, step_sizes: Sequence[float],
                              every: int = 10, max_steps: int | None = None) -> dict[str, Any]:
    """Train a ``kind`` net with SGD and take Santurkar's measures every ``every`` steps.

    The loop (as in ch03): ``torch.manual_seed(train_cfg.seed)``; ``build_net(kind,
    model_cfg)``; ``make_optimizer(model, train_cfg)`` (constant ``train_cfg.lr``); each epoch
    ``torch.randperm(N, generator=g)`` with ``g = torch.Generator().manual_seed(train_cfg.seed)``;
    batches of ``train_cfg.batch_size`` (the last partial one dropped); at steps 0, every,
    2 every, ... call ``landscape_measures`` on that batch BEFORE the training step; stop after
    ``train_cfg.epochs`` epochs or ``max_steps`` steps. ``data`` has x_train and y_train.

    Returns {"step": [...], "loss_range": [...], "max_grad_change": [...], "beta": [...],
    "loss": [every step's training loss], "model": the trained model}. The probes restore the
    model, so the trained model is the one training without probes would give.
    """
    # TODO(ch04.3): the loop of ch03's ics_during_training, with landscape_measures as the probe.
    raise NotImplementedError("ch04.3: implement landscape_during_training")
