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
# Hint 1: Every eta is a step from the same w, DOWN the gradient, and a train-mode forward also
#         moves batch norm's running statistics. What has to be put back between two step sizes?
# Hint 2: Save the state, compute L(w) and the gradients of ALL parameters in train mode, then for
#         each eta move every parameter by -eta times its gradient, evaluate the loss on the same
#         batch without autograd, record new loss over old, and restore the state before the next
#         eta. The model then also ends as it began (parameters, grads, buffers, modes); a ratio
#         below 1 means the step helped.
# Hint 3: state = save_state(model); (L0, g) = loss_and_grads over list(model.parameters()); for
#         each eta: add_scaled_ with factor -eta, L_eta = cross_entropy(model(x), y) under
#         torch.no_grad(), ratio L_eta / L0, then restore_state(model, state). Return the ratios as
#         a float64 tensor of shape (S,).
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
    # BEGIN SOLUTION ch04.1
    # HINT: state = save_state(model); loss_and_grads gives (L(w), g); add_scaled_(params,
    # HINT: grads, -eta) takes the step; restore_state(model, state) after EVERY eta.
    state = save_state(model)
    model.train()
    params = list(model.parameters())
    loss0, grads = loss_and_grads(model, x, y, params)
    ratios = []
    for eta in step_sizes:
        add_scaled_(params, grads, -eta)  # w - eta g
        with torch.no_grad():
            loss = F.cross_entropy(model(x), y)
        ratios.append(float(loss) / float(loss0))
        restore_state(model, state)
    return torch.tensor(ratios, dtype=torch.float64)
    # END SOLUTION


# Task ch04.2 - loss range, gradient predictiveness and beta-smoothness (Santurkar Fig. 4)
# Hint 1: The walk of ch04.1 again, but at every point you also need the gradient there, with all
#         parameters' gradients seen as one long vector. Beta-smoothness is a change of gradient
#         per unit of distance moved, not per unit of eta.
# Hint 2: Save the state and get g at w in train mode; for each eta step down from w, take the loss
#         and the full gradient at the new point, record the loss and the norm of the gradient
#         difference, and restore before the next eta (and so at the end). loss_range is the max
#         minus the min of the losses, max_grad_change the largest difference, and beta the largest
#         difference divided by the distance eta ||g||.
# Hint 3: With flatten(...) turning each gradient list into one float64 vector: d_eta =
#         ||flat(g_eta) - flat(g)||; loss_range = max L_eta - min L_eta, max_grad_change = max
#         d_eta, beta = max over eta of d_eta / (eta ||g||), grad_norm = ||g||; the losses and the
#         d_eta come back as (S,) float64 tensors.
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
    # BEGIN SOLUTION ch04.2
    # HINT: flatten(grads) turns a list of gradients into one vector; the distance moved is
    # HINT: eta * ||g||.
    state = save_state(model)
    model.train()
    params = list(model.parameters())
    _, grads = loss_and_grads(model, x, y, params)
    g = flatten(grads).double()
    losses, changes = [], []
    for eta in step_sizes:
        add_scaled_(params, grads, alpha=-eta)
        loss, grads_eta = loss_and_grads(model, x, y, params)
        losses.append(float(loss))
        changes.append(float((flatten(grads_eta).double() - g).norm()))
        restore_state(model, state)
    loss_t = torch.tensor(losses, dtype=torch.float64)
    change_t = torch.tensor(changes, dtype=torch.float64)
    distance = torch.tensor(list(step_sizes), dtype=torch.float64) * g.norm()
    return {"loss": loss_t, "grad_change": change_t,
            "loss_range": float(loss_t.max() - loss_t.min()),
            "max_grad_change": float(change_t.max()),
            "beta": float((change_t / distance).max()), "grad_norm": float(g.norm())}
    # END SOLUTION


# Task ch04.3 - the measures over training
# Hint 1: This is ch03's ics_during_training loop with a different probe: the same seeding,
#         optimizer, shuffling and probing BEFORE the step.
# Hint 2: Seed torch, build the kind's net on the data's device, make the optimizer, shuffle each
#         epoch with a generator seeded by the training seed, drop the last partial batch, and at
#         every multiple of `every` call landscape_measures on the current batch BEFORE that step's
#         zero_grad, backward and step; stop after max_steps. The probe restores the model, so the
#         trained weights must equal those of a run without probes.
# Hint 3: torch.manual_seed(train_cfg.seed), then build_net and make_optimizer(model, train_cfg);
#         each epoch perm = torch.randperm(N, generator=g) with one g =
#         torch.Generator().manual_seed(train_cfg.seed) for the whole run; batch i takes perm[i bs
#         : (i + 1) bs] for i < N // bs; record the step and the three measures when the step count
#         is divisible by every, and every step's loss as a float.
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
    # BEGIN SOLUTION ch04.3
    # HINT: the loop of ch03's ics_during_training, with landscape_measures as the probe.
    torch.manual_seed(train_cfg.seed)
    model = build_net(kind, model_cfg).to(data.x_train.device)
    optimizer = make_optimizer(model, train_cfg)
    gen = torch.Generator().manual_seed(train_cfg.seed)
    n, bs = len(data.x_train), train_cfg.batch_size
    keys = ("loss_range", "max_grad_change", "beta")
    out: dict[str, Any] = {"step": [], "loss": [], **{k: [] for k in keys}}
    step = 0
    for _ in range(train_cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(data.x_train.device)
        for i in range(n // bs):
            if max_steps is not None and step >= max_steps:
                break
            idx = perm[i * bs:(i + 1) * bs]
            xb, yb = data.x_train[idx], data.y_train[idx]
            model.train()
            if step % every == 0:
                measures = landscape_measures(model, xb, yb, step_sizes)
                out["step"].append(step)
                for k in keys:
                    out[k].append(measures[k])
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            out["loss"].append(float(loss.detach()))
            step += 1
    out["model"] = model
    return out
    # END SOLUTION
