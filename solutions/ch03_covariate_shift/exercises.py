"""Chapter 3: internal covariate shift (Santurkar, Tsipras, Ilyas, Madry 2018).

Batch norm was introduced to reduce "internal covariate shift" (ICS): the change of a
layer's input distribution while the layers before it train. Santurkar et al. test that
story twice: (1) inject a noise after every batch norm that shifts and rescales each channel
anew at every step, so the distributions are *less* stable than without BN, and see whether
training suffers; (2) measure ICS directly, as the change of a layer's gradient when the
earlier layers take their step (Definition 2.1), with and without BN.

    dlbn grade ch03            # all tasks
    dlbn grade ch03 --task 3   # only ch03.3
    dlbn run ch03              # the figures, with your code

Nets are dlbn's plain conv nets on MNIST-1D: x (N, 1, 40) -> logits (N, 10), ``depth``
blocks of conv -> norm -> ReLU (see dlbn.models); block i is ``model.blocks[i]``.
"""

from __future__ import annotations

from dataclasses import replace  # noqa: F401 - the exercises use these
from typing import Any

import torch
import torch.nn.functional as F  # noqa: F401
from torch import Tensor, nn

from dlbn.landscape import loss_and_grads, restore_state, save_state  # noqa: F401
from dlbn.models import ConvNet, ModelConfig, build_model  # noqa: F401
from dlbn.train import TrainConfig, TrainResult, make_optimizer, train  # noqa: F401

KINDS = ("standard", "batch", "noisy")  # no norm, batch norm, noisy batch norm


# Task ch03.1 - a noisy batch norm
# Hint 1: BN(x) is exactly what the parent nn.BatchNorm1d computes; the new part is one random
#         shift and one random scale per channel, drawn again at every training forward. What
#         should the layer do in eval mode instead of drawing?
# Hint 2: draw_noise turns two draws of C uniform values (shifts first, then scales, on x's device
#         and dtype) into U(-noise_mean, noise_mean) and U(1, noise_std). In training, forward
#         takes the parent's output, draws fresh noise on EVERY call, keeps it in last_shift /
#         last_scale and applies it per channel, broadcast over examples and positions; in eval it
#         draws nothing and multiplies by the expected scale, with no shift. Avoid in-place ops, so
#         autograd still reaches x, weight and bias.
# Hint 3: shift = noise_mean * (2u - 1) and scale = 1 + (noise_std - 1) v, with u and v from
#         torch.rand(C, device=x.device, dtype=x.dtype) in that order. Training: scale_c * BN(x) +
#         shift_c, both (C,) vectors reshaped to (1, C, 1, ...); eval: BN(x) in eval mode times (1
#         + noise_std) / 2.
class NoisyBatchNorm(nn.BatchNorm1d):
    """Batch norm followed by a per-channel noise that changes at every training step.

    Santurkar et al. (2018, Sec. 2.1) make the distribution of every batch-normalized
    activation *unstable* on purpose: noise with a non-zero mean and a non-unit variance,
    drawn afresh at each step. Here, at every forward pass in training mode, for every
    channel c draw (from torch's global RNG, on x's device and dtype)

        shift_c ~ U(-noise_mean, noise_mean)    # first: torch.rand(C) for the shifts
        scale_c ~ U(1, noise_std)               # then: torch.rand(C) for the scales

    and return ``y = scale_c * BN(x) + shift_c``, where BN(x) is ordinary batch norm (batch
    statistics, gamma, beta, running statistics updated as nn.BatchNorm1d does). One
    (scale_c, shift_c) per channel, shared by every example and position in the batch, so
    channel c's distribution is moved by shift_c and widened by scale_c. Keep the draws of
    the last step in ``self.last_shift`` and ``self.last_scale`` ((C,) tensors).

    In eval mode nothing is drawn: the noise is replaced by its expected value, shift 0 and
    scale (1 + noise_std) / 2, so ``y = (1 + noise_std) / 2 * BN(x)`` with BN in eval mode
    (dropout does the same: at test time the layer computes what training saw on average).

    Shapes: x (N, C) or (N, C, L) with C = num_features; y like x. ``state_dict()`` is that
    of nn.BatchNorm1d (the noise is not state).
    """

    def __init__(self, num_features: int, noise_mean: float = 0.5, noise_std: float = 2.0,
                 **kwargs: Any) -> None:
        super().__init__(num_features, **kwargs)
        if noise_mean < 0 or noise_std < 1:
            raise ValueError(f"need noise_mean >= 0 and noise_std >= 1, got {noise_mean}, "
                             f"{noise_std}")
        self.noise_mean = noise_mean
        self.noise_std = noise_std
        self.last_shift: Tensor | None = None
        self.last_scale: Tensor | None = None

    def draw_noise(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(shift, scale) for this step, each (C,): see the class docstring."""
        # BEGIN SOLUTION ch03.1
        # HINT: torch.rand(C, device=x.device, dtype=x.dtype) is U(0, 1); rescale it to
        # HINT: U(-noise_mean, noise_mean) for the shift, then draw again for U(1, noise_std).
        C = self.num_features
        u = torch.rand(C, device=x.device, dtype=x.dtype)
        shift = self.noise_mean * (2 * u - 1)  # (C,) in [-noise_mean, noise_mean]
        v = torch.rand(C, device=x.device, dtype=x.dtype)
        scale = 1 + (self.noise_std - 1) * v  # (C,) in [1, noise_std]
        return shift, scale
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """Batch norm, then y = scale_c * y + shift_c: fresh noise in training, its mean in eval."""
        # BEGIN SOLUTION ch03.1
        # HINT: y = super().forward(x); in training mode draw new noise EVERY call and
        # HINT: broadcast (C,) vectors as (1, C, 1): v.reshape(1, -1, *[1] * (x.dim() - 2)).
        y = super().forward(x)
        if not self.training:
            return (1 + self.noise_std) / 2 * y  # the expected scale; the expected shift is 0
        shift, scale = self.draw_noise(x)
        self.last_shift, self.last_scale = shift, scale
        shape = (1, -1, *[1] * (x.dim() - 2))
        return scale.reshape(shape) * y + shift.reshape(shape)
        # END SOLUTION


# Task ch03.2 - standard, BN and noisy-BN nets, and training them
# Hint 1: The three kinds differ only in their norm layers. The same torch seed must give all three
#         the same conv weights and batch order: when does the seed have to be set?
# Hint 2: Build the standard net with norm "none" and the other two with norm "batch"
#         (dataclasses.replace on the config), then for "noisy" swap every block's norm child for a
#         NoisyBatchNorm of the same width with the given noise settings; any other kind raises
#         ValueError. train_net seeds torch with the training config's seed BEFORE building, then
#         hands the net to dlbn.train.train.
# Hint 3: build_model(replace(model_cfg, norm=...)); for each block in model.blocks assign a
#         NoisyBatchNorm(num_features of the old norm, noise_mean, noise_std) to its norm
#         attribute. train_net: torch.manual_seed(train_cfg.seed), then build_net(kind, ...), then
#         train(model, data, train_cfg, progress=False).
def build_net(kind: str, model_cfg: ModelConfig, noise_mean: float = 0.5,
              noise_std: float = 2.0) -> ConvNet:
    """A conv net (dlbn.models.build_model) of the given kind, freshly initialized.

    ``kind``: "standard" (no normalization: ``norm="none"``), "batch" (``norm="batch"``) or
    "noisy" (the "batch" net with every nn.BatchNorm1d replaced by a NoisyBatchNorm with
    the same num_features and the given noise). Every other field comes from ``model_cfg``.
    With the same torch seed, the three kinds start from the same conv weights.
    Raises ValueError for an unknown kind.
    """
    # BEGIN SOLUTION ch03.2
    # HINT: build_model(replace(model_cfg, norm=...)); then swap block.norm in each of
    # HINT: model.blocks for a NoisyBatchNorm (blocks are nn.Sequential with a child "norm").
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    model = build_model(replace(model_cfg, norm="none" if kind == "standard" else "batch"))
    if kind == "noisy":
        for block in model.blocks:
            block.norm = NoisyBatchNorm(block.norm.num_features, noise_mean, noise_std)
    return model
    # END SOLUTION


def train_net(kind: str, data: Any, model_cfg: ModelConfig, train_cfg: TrainConfig,
              noise_mean: float = 0.5, noise_std: float = 2.0) -> TrainResult:
    """Seed torch with ``train_cfg.seed``, build the ``kind`` net, train it with
    dlbn.train.train on ``data`` (x_train, y_train, x_test, y_test) and return the result.

    The same seed gives the same initial conv weights and batch order for all three kinds,
    so their runs differ only by the normalization.
    """
    # BEGIN SOLUTION ch03.2
    # HINT: torch.manual_seed(train_cfg.seed) BEFORE build_net, then dlbn.train.train.
    torch.manual_seed(train_cfg.seed)
    model = build_net(kind, model_cfg, noise_mean, noise_std)
    return train(model, data, train_cfg, progress=False)
    # END SOLUTION


# Task ch03.3 - measuring internal covariate shift (Definition 2.1)
# Hint 1: Definition 2.1 compares the layer's gradient before and after ONLY the layers below it
#         take their step, on the same batch. The probe must also be invisible: training afterwards
#         goes on as if it never ran.
# Hint 2: Save the state first; in train mode get G for the block's conv weight together with the
#         gradients of every parameter of model.blocks[:layer] (not the layer itself); clear all
#         .grad, hand only those earlier parameters their own gradients (same sign) and let
#         optimizer.step() move them, so momentum and weight decay act as in training; compute G'
#         on the same batch, then restore model AND optimizer state. In the loop, probe each layer
#         at the steps that are multiples of `every` BEFORE that step's ordinary update, with
#         seeding, optimizer and shuffling exactly as the docstring says.
# Hint 3: One loss_and_grads call over [weight, *earlier] gives G and the earlier gradients, a
#         second over [weight] gives G'; with both flattened in float64: l2 = ||G - G'||, cos = <G,
#         G'> / (||G|| ||G'||), grad_norm = ||G||. Bracket it all with save_state(model, optimizer)
#         and restore_state, the optimizer passed to both.
def internal_covariate_shift(model: ConvNet, optimizer: torch.optim.Optimizer, x: Tensor,
                             y: Tensor, layer: int) -> dict[str, float]:
    """Santurkar et al., Definition 2.1, for the conv weight of block ``layer`` (0-based).

    1. G = dL/dW_layer on the batch (x, y), cross-entropy, train mode.
    2. Layers 0 .. layer-1 (all parameters of ``model.blocks[:layer]``, and nothing else)
       take the step ``optimizer`` would take with their gradients from step 1: set their
       ``.grad``, leave every other ``.grad`` None (SGD then skips them), ``optimizer.step()``.
    3. G' = dL/dW_layer again, on the SAME batch, now that the earlier layers have moved.
    4. Restore everything the probe changed (dlbn.landscape.save_state / restore_state):
       parameters, grads, buffers (running statistics), modes, optimizer state (momentum
       buffers), RNG. Training must go on as if nothing happened.

    Returns {"l2": ||G - G'||, "cos": <G, G'> / (||G|| ||G'||), "grad_norm": ||G||} as floats.
    Layer 0 has no earlier layers: l2 = 0 and cos = 1. The layer's own weights do NOT move.
    """
    # BEGIN SOLUTION ch03.3
    # HINT: dlbn.landscape.loss_and_grads(model, x, y, params) returns (loss, grads) without
    # HINT: touching .grad; save_state(model, optimizer) first, restore_state(...) at the end.
    weight = model.blocks[layer].conv.weight
    earlier = [p for block in model.blocks[:layer] for p in block.parameters()]
    state = save_state(model, optimizer)
    model.train()
    _, grads = loss_and_grads(model, x, y, [weight, *earlier])
    before = grads[0]
    optimizer.zero_grad(set_to_none=True)
    for p, g in zip(earlier, grads[1:], strict=True):
        p.grad = g.clone()
    optimizer.step()  # only the earlier layers have a .grad, so only they move
    _, (after,) = loss_and_grads(model, x, y, [weight])
    restore_state(model, state, optimizer)
    before, after = before.flatten().double(), after.flatten().double()
    cos = F.cosine_similarity(before, after, dim=0)
    return {"l2": float((before - after).norm()), "cos": float(cos),
            "grad_norm": float(before.norm())}
    # END SOLUTION


def ics_during_training(kind: str, data: Any, model_cfg: ModelConfig, train_cfg: TrainConfig,
                        layers: tuple[int, ...], every: int = 10,
                        max_steps: int | None = None) -> dict[str, Any]:
    """Train a ``kind`` net with SGD and measure ICS of ``layers`` every ``every`` steps.

    The loop (no dlbn.train.train: we need the optimizer between steps): seed torch with
    ``train_cfg.seed``; build the net; ``make_optimizer(model, train_cfg)`` (constant
    ``train_cfg.lr``); each epoch shuffle with ``torch.randperm(N, generator=g)`` where
    ``g = torch.Generator().manual_seed(train_cfg.seed)``; for each batch of
    ``train_cfg.batch_size`` (dropping the last partial one): at steps 0, every, 2 every,
    ... measure ``internal_covariate_shift`` of each layer on that batch BEFORE the step, then
    take the ordinary training step. Stop after ``train_cfg.epochs`` epochs or ``max_steps``
    steps.

    Returns {"step": [s, ...], "l2": {layer: [...]}, "cos": {layer: [...]},
    "grad_norm": {layer: [...]}, "loss": [loss of every step], "model": the trained model}.
    Because each probe restores the state, the trained model is the same as without probes.
    """
    # BEGIN SOLUTION ch03.3
    # HINT: one list per layer; the probe goes before zero_grad / backward / step.
    torch.manual_seed(train_cfg.seed)
    x_train, y_train = data.x_train, data.y_train
    model = build_net(kind, model_cfg).to(x_train.device)
    optimizer = make_optimizer(model, train_cfg)
    gen = torch.Generator().manual_seed(train_cfg.seed)
    n, bs = len(x_train), train_cfg.batch_size
    out: dict[str, Any] = {"step": [], "loss": [], "l2": {i: [] for i in layers},
                           "cos": {i: [] for i in layers}, "grad_norm": {i: [] for i in layers}}
    step = 0
    for _ in range(train_cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(x_train.device)
        for i in range(n // bs):
            if max_steps is not None and step >= max_steps:
                break
            xb, yb = x_train[perm[i * bs:(i + 1) * bs]], y_train[perm[i * bs:(i + 1) * bs]]
            model.train()
            if step % every == 0:
                out["step"].append(step)
                for layer in layers:
                    ics = internal_covariate_shift(model, optimizer, xb, yb, layer)
                    for key in ("l2", "cos", "grad_norm"):
                        out[key][layer].append(ics[key])
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            out["loss"].append(float(loss.detach()))
            step += 1
    out["model"] = model
    return out
    # END SOLUTION
