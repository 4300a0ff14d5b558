"""Chapter 2: deep networks at initialization.

Before any training step, a deep ReLU net without normalization is already in trouble: its
channels drift to constants (Page, "How to train your ResNet 7: batch norm", 2019), its
activations grow with depth, it predicts one class for every input and its gradients are
huge (Bjorck et al., "Understanding Batch Normalization", 2018, Figs 2, 5, 6). You build the
instruments that show it, and the two fixes: batch norm frozen at init, and a shifted ReLU.

    dlbn grade ch02            # all tasks
    dlbn grade ch02 --task 3   # only ch02.3
    dlbn run ch02              # redraw the chapter's figures with your code

Shapes: activations ``x`` are (N, C) or (N, C, *) (e.g. (N, C, L) for MNIST-1D signals);
"per channel" means over every axis except axis 1, as in batch norm. The networks and the
experiments at the bottom of this file are provided; they call your functions.
"""

import math  # noqa: F401 - the tasks need it (the starter does not yet)
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: F401 - likewise
from torch import Tensor, nn


def reduce_axes(x: Tensor) -> list[int]:
    """Every axis except the channel axis 1: (N, C) -> [0]; (N, C, L) -> [0, 2]."""
    if x.dim() < 2:
        raise ValueError(f"expected (N, C) or (N, C, *), got {tuple(x.shape)}")
    return [0, *range(2, x.dim())]


# Task ch02.1 - per-channel statistics and the collapse share
# Hint 1: "Per channel" means over every axis except axis 1: the batch AND the positions. Which
#         variance does batch norm use, the one that divides by m or by m - 1?
# Hint 2: channel_stats is the mean and the biased (population) std over reduce_axes(x).
#         collapse_share follows the law of total variance: the between part is the spread of the C
#         channel means, the within part is the average of the C channel variances, and the share
#         is the between part over their sum (1 for channels that are each constant, not 0).
# Hint 3: With mu, sigma from channel_stats(x): the std uses correction=0; between = mean over c of
#         (mu_c - mean(mu))^2, i.e. mu's biased variance; within = mean over c of sigma_c^2; the
#         share is between / (within + between), a 0-dim tensor.
def channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of every channel over the batch (and positions).

    For channel c over its m = N * (product of *) values: mu_c = mean(x[:, c]) and
    sigma_c = sqrt(mean((x[:, c] - mu_c) ** 2)) (biased: divide by m, as batch norm does).

    Args:
        x: (N, C) or (N, C, *).
    Returns:
        (mean (C,), std (C,)), dtype and device of x.
    """
    # BEGIN SOLUTION ch02.1
    # HINT: reduce over reduce_axes(x); the biased std is x.std(dim=..., correction=0).
    axes = reduce_axes(x)
    return x.mean(dim=axes), x.std(dim=axes, correction=0)  # (C,), (C,)
    # END SOLUTION


def collapse_share(x: Tensor) -> Tensor:
    """The share of x's variance that lies BETWEEN channel means: 1 = a constant function.

    Pick one of x's values at random (uniform over all N * C * ... entries) and call its
    channel c. The law of total variance splits the variance of that value in two:

        Var(x) = E_c[sigma_c^2]   +   Var_c(mu_c)
                 within channels       between channel means

    and ``collapse_share = Var_c(mu_c) / Var(x)``, both variances biased (divide by the
    count). Near 0 every channel varies across inputs; near 1 every channel is almost
    constant (it no longer depends on the input) and only differs from the other channels.

    Args:
        x: (N, C) or (N, C, *).
    Returns:
        a 0-dim tensor in [0, 1], dtype of x.
    """
    # BEGIN SOLUTION ch02.1
    # HINT: use channel_stats; every channel has the same count, so E_c and Var_c are plain
    # HINT: means over the C channels (biased variance).
    mean, std = channel_stats(x)
    between = mean.var(correction=0)  # Var_c(mu_c)
    within = (std**2).mean()  # E_c[sigma_c^2]
    return between / (between + within)
    # END SOLUTION


# Task ch02.2 - forward hooks that record every layer's statistics
# Hint 1: A forward hook is called as fn(module, inputs, output) each time its module runs; what
#         you want is the layer's output. Ask what your function leaves behind if the forward pass
#         raises.
# Hint 2: Register one hook per layer that stores the output's statistics under that layer's index,
#         remember the incoming mode, switch to the requested one and run once under no_grad. In a
#         finally block remove every handle and restore the mode; stack the records in the order of
#         `layers`, not the order in which they ran.
# Hint 3: Keep the handles that register_forward_hook returns; try: model.train(train), then
#         model(x) inside torch.no_grad(); finally: remove() each handle and call model.train with
#         the saved model.training. Return torch.stack of the L means, L stds and L shares: (L, C),
#         (L, C), (L,).
def record_stats(
    model: nn.Module, x: Tensor, layers: Sequence[nn.Module], *, train: bool = True
) -> dict[str, Tensor]:
    """Run ``model(x)`` once and record the per-channel statistics of each layer's OUTPUT.

    Register a forward hook on every module of ``layers`` (each called once per forward,
    all with C output channels), run the model without autograd, in training mode if
    ``train`` (batch norm uses the batch's statistics, as in the first training step) else
    in eval mode, and collect for layer l = 0 .. L-1 (in the order of ``layers``):

        mean[l], std[l] = channel_stats(output of layers[l])     # (C,) each
        collapse[l]     = collapse_share(output of layers[l])    # ()

    Leave no trace: remove every hook (also if the model raises) and give the model back
    in the mode (``model.training``) it came in.

    Returns:
        {"mean": (L, C), "std": (L, C), "collapse": (L,)}.
    """
    # BEGIN SOLUTION ch02.2
    # HINT: handle = layer.register_forward_hook(fn) with fn(module, inputs, output);
    # HINT: handle.remove() in a finally block; model.train(mode) to set and restore.
    records: dict[int, tuple[Tensor, Tensor, Tensor]] = {}

    def hook_for(index: int):
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            mean, std = channel_stats(output)
            records[index] = (mean, std, collapse_share(output))

        return hook

    handles = [layer.register_forward_hook(hook_for(i)) for i, layer in enumerate(layers)]
    was_training = model.training
    try:
        model.train(train)
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    means, stds, shares = zip(*(records[i] for i in range(len(layers))), strict=True)
    return {"mean": torch.stack(means), "std": torch.stack(stds), "collapse": torch.stack(shares)}
    # END SOLUTION


# Task ch02.3 - He init, frozen batch norm and the shifted ReLU
# Hint 1: Which dimensions of a (C_out, C_in, k) weight feed one output unit? When should a frozen
#         batch norm measure its statistics, and when must it stop? For which input distribution
#         are the shifted ReLU's constants exact?
# Hint 2: he_normal_ fills the weight in place without autograd, with the given generator (so it
#         draws what kaiming_normal_ draws), and the 2 in its variance pays for ReLU.
#         FrozenBatchNorm calibrates only while num_batches_tracked is 0: it copies the batch mean
#         and BIASED variance into its buffers under no_grad and sets the counter to 1, then every
#         call (the first too) normalizes with the stored buffers. shifted_relu uses the constants
#         for N(0, 2) pre-activations, not N(0, 1).
# Hint 3: std = sqrt(2 / fan_in) with fan_in = C_in * k, the number of elements in weight[0], drawn
#         by weight.normal_(0, std, generator=generator) in torch.no_grad(). Frozen: y = weight *
#         (x - running_mean) / sqrt(running_var + eps) + bias with the (C,) vectors viewed as (1,
#         C, 1, ...). Shifted: (relu(x) - sqrt(1/pi)) / sqrt(1 - 1/pi).
def he_normal_(weight: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """He et al. (2015) init, in place: W ~ N(0, 2 / fan_in), returns ``weight``.

    fan_in is the number of inputs of one output unit: C_in for a linear weight
    (C_out, C_in), C_in * k for a conv weight (C_out, C_in, k). With ReLU, a pre-activation
    of variance s^2 then gives a next pre-activation of variance s^2 again (the 2 pays for
    the half that ReLU zeroes). Draw with ``weight.normal_(0, std, generator=generator)``
    without recording autograd history.
    """
    # BEGIN SOLUTION ch02.3
    # HINT: fan_in = number of elements of one output unit's weights, weight[0].
    fan_in = weight[0].numel()
    with torch.no_grad():
        return weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
    # END SOLUTION


class FrozenBatchNorm(nn.Module):
    """Batch norm whose statistics come from ONE calibration batch, then stay fixed.

    The first forward call (in any mode) measures its input's per-channel mean and biased
    variance, stores them in the buffers ``running_mean`` and ``running_var`` (without
    autograd) and sets ``num_batches_tracked`` to 1; every call, including the first, returns

        y = weight * (x - running_mean) / sqrt(running_var + eps) + bias

    with the stored statistics. So on its calibration batch it equals training-mode batch
    norm; on any other batch it is a fixed affine map per channel. Names follow
    ``nn.BatchNorm1d`` (``state_dict()`` matches key for key). dlbn.norms has the bench's
    version; here you build your own.

    Shapes: x (N, C) or (N, C, *) with C = num_features -> the same shape.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION ch02.3
        # HINT: calibrate only while num_batches_tracked == 0 (copy_ into the buffers under
        # HINT: torch.no_grad()); then normalize with the stored buffers, shaped (1, C, 1...).
        if int(self.num_batches_tracked) == 0:
            axes = reduce_axes(x)
            with torch.no_grad():
                self.running_mean.copy_(x.mean(dim=axes))
                self.running_var.copy_(x.var(dim=axes, correction=0))
                self.num_batches_tracked.fill_(1)
        shape = (1, -1, *([1] * (x.dim() - 2)))
        std = torch.sqrt(self.running_var.view(shape) + self.eps)  # (1, C, 1...)
        x_hat = (x - self.running_mean.view(shape)) / std
        return self.weight.view(shape) * x_hat + self.bias.view(shape)
        # END SOLUTION


def shifted_relu(x: Tensor) -> Tensor:
    """Page's analytic fix: (relu(x) - sqrt(1 / pi)) / sqrt(1 - 1 / pi), elementwise.

    For x ~ N(0, 2) (the pre-activations of a He-initialized layer fed unit-variance
    inputs), relu(x) has mean sqrt(1 / pi) and variance 1 - 1 / pi, so the output has mean 0
    and variance 1 exactly: the next layer again sees zero-mean, unit-variance inputs, and
    no channel mean builds up with depth. It is frozen batch norm with the statistics
    computed on paper instead of on a batch.
    """
    # BEGIN SOLUTION ch02.3
    # HINT: E[relu(x)] = sigma / sqrt(2 pi) and Var[relu(x)] = sigma^2 (1 - 1/pi) / 2 for
    # HINT: x ~ N(0, sigma^2); here sigma^2 = 2.
    return (F.relu(x) - math.sqrt(1 / math.pi)) / math.sqrt(1 - 1 / math.pi)
    # END SOLUTION


# Task ch02.4 - output-logit gradients and the one-class bias
# Hint 1: The logits are not a leaf tensor, so autograd throws their gradient away unless you ask
#         it to keep it. Which reduction of the loss makes row i the gradient of image i alone,
#         whatever N is?
# Hint 2: Switch to training mode, run the model, mark the logits to retain their gradient,
#         backpropagate the SUMMED cross-entropy (the mean divides every row by N) so the
#         parameters get .grad too, restore the mode in a finally block, and return detached
#         tensors. For the bias: count predictions per class, and sum only the positive part of
#         each gradient column (not its absolute value).
# Hint 3: Call logits.retain_grad(), then backward() on cross_entropy with reduction='sum';
#         logits.grad row i equals softmax(z_i) - onehot(y_i). top_class_share = max of
#         bincount(argmax over dim 1, minlength=K) / N; dominant_column_share = max_k P_k / sum_k
#         P_k, P_k = sum over images of max(grad[i, k], 0).
def output_gradients(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Logits and dL/dlogits for one batch, L = cross_entropy(logits, y, reduction="sum").

    With the SUM over the batch, row i of the gradient is softmax(z_i) - onehot(y_i): one
    image's own gradient, whatever the batch size (Bjorck et al. Fig 6 plots it). Run the
    model in training mode (batch norm on batch statistics, as in the first step), keep the
    gradient of the non-leaf ``logits`` with ``retain_grad()``, call ``backward()`` (so the
    parameters' ``.grad`` accumulate, as in training) and restore the model's mode.

    Args:
        x: (N, ...) inputs; y: (N,) int64 labels.
    Returns:
        (logits (N, K), grad (N, K)), both detached.
    """
    # BEGIN SOLUTION ch02.4
    # HINT: logits.retain_grad() before loss.backward(); afterwards read logits.grad.
    was_training = model.training
    model.train()
    try:
        logits = model(x)  # (N, K)
        logits.retain_grad()
        F.cross_entropy(logits, y, reduction="sum").backward()
    finally:
        model.train(was_training)
    return logits.detach(), logits.grad.detach()
    # END SOLUTION


def one_class_bias(logits: Tensor, grad: Tensor) -> dict[str, float]:
    """Two measures of "the net predicts one class for every image", from Fig 6's data.

    - ``top_class_share``: the share of the N images whose predicted class (argmax of the
      logits) is the most common prediction. 1 = one class for all; about 0.1-0.2 for an
      unbiased 10-class net on a small batch.
    - ``dominant_column_share``: positive gradient mass P_k = sum_i max(grad[i, k], 0) per
      class column k; the share max_k P_k / sum_k P_k. In Fig 6 one column is red for almost
      every image: that column carries nearly all of the positive mass.

    Args:
        logits, grad: (N, K).
    Returns:
        {"top_class_share": float, "dominant_column_share": float}.
    """
    # BEGIN SOLUTION ch02.4
    # HINT: torch.bincount(pred, minlength=K); grad.clamp(min=0).sum(dim=0) per column.
    pred = logits.argmax(dim=1)  # (N,)
    counts = torch.bincount(pred, minlength=logits.shape[1])  # (K,)
    mass = grad.clamp(min=0).sum(dim=0)  # (K,)
    return {
        "top_class_share": float(counts.max()) / logits.shape[0],
        "dominant_column_share": float(mass.max() / mass.sum()),
    }
    # END SOLUTION


# Task ch02.5 - gradient statistics at a middle layer
# Hint 1: A parameter's .grad adds up over backward calls, and a gradient entry of 1e10 raised to
#         the 4th power overflows float32.
# Hint 2: weight_gradient clears the gradients, reuses output_gradients, keeps a detached copy of
#         the weight's gradient and clears again, so two calls give the same answer and nothing is
#         left on the model. tail_stats works on the flattened entries in float64: a biased std,
#         the 4th central moment over s^4 (3 for a Gaussian, no minus 3) and the largest absolute
#         deviation over s.
# Hint 3: model.zero_grad(set_to_none=True) before and after, returning a detached clone of
#         weight.grad. With d = g - mean(g) in float64: std = sqrt(mean(d^2)), kurtosis = mean(d^4)
#         / std^4, max_over_std = max |d| / std.
def weight_gradient(model: nn.Module, x: Tensor, y: Tensor, weight: Tensor) -> Tensor:
    """dL/dweight for one batch at init (L as in `output_gradients`: summed cross-entropy).

    Clear stale gradients first (``model.zero_grad()``), reuse `output_gradients`, return a
    detached copy of ``weight.grad`` and leave no gradients behind
    (``model.zero_grad(set_to_none=True)``).

    Returns:
        a tensor shaped like ``weight``.
    """
    # BEGIN SOLUTION ch02.5
    # HINT: zero_grad, output_gradients(model, x, y), clone weight.grad, zero_grad again.
    model.zero_grad(set_to_none=True)
    output_gradients(model, x, y)
    grad = weight.grad.detach().clone()
    model.zero_grad(set_to_none=True)
    return grad
    # END SOLUTION


def tail_stats(g: Tensor) -> dict[str, float]:
    """Scale and tails of the entries of ``g`` (any shape), computed in float64.

    With mu = mean(g), s = sqrt(mean((g - mu)^2)) over all entries:
        - ``std``: s, the scale (Bjorck Fig 2: +/-0.04 with batch norm, +/-4 without);
        - ``kurtosis``: mean((g - mu)^4) / s^4 (3 for a Gaussian; heavy tails make it big);
        - ``max_over_std``: max |g - mu| / s.
    Without normalization the entries can reach 1e9: float32 overflows at the 4th power.
    """
    # BEGIN SOLUTION ch02.5
    # HINT: g = g.double().flatten() first.
    g = g.detach().double().flatten()
    centred = g - g.mean()
    s = centred.pow(2).mean().sqrt()
    return {
        "std": float(s),
        "kurtosis": float(centred.pow(4).mean() / s**4),
        "max_over_std": float(centred.abs().max() / s),
    }
    # END SOLUTION


# ---------------------------------------------------------------- provided: nets, experiments
class ShiftedReLU(nn.Module):
    """`shifted_relu` as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return shifted_relu(x)


VARIANTS = ("plain", "batch", "frozen", "shifted")


def deep_mlp(
    variant: str, depth: int, width: int, generator: torch.Generator | None = None
) -> nn.Sequential:
    """Page's net: ``depth`` layers of linear (He init, no bias) -> norm -> activation.

    variant: "plain" (ReLU), "batch" (nn.BatchNorm1d, ReLU), "frozen" (your
    FrozenBatchNorm, ReLU) or "shifted" (no norm, your ShiftedReLU). Layer i is ``model[i]``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    layers = []
    for _ in range(depth):
        linear = nn.Linear(width, width, bias=False)
        he_normal_(linear.weight, generator)
        norm = {"batch": nn.BatchNorm1d, "frozen": FrozenBatchNorm}.get(variant)
        act = ShiftedReLU() if variant == "shifted" else nn.ReLU()
        layers.append(nn.Sequential(linear, norm(width) if norm else nn.Identity(), act))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class CollapseConfig:
    depth: int = 50  # layers
    width: int = 256  # units per layer (Page: 2048)
    num_inputs: int = 1000  # N(0, 1) inputs the statistics are measured on
    seed: int = 0


def collapse_vs_depth(cfg: CollapseConfig) -> dict[str, Tensor]:
    """collapse_share after every layer, per variant: {variant: (depth,)}.

    The same weights (same seed) for every variant; frozen batch norm is calibrated on its
    own N(0, 1) batch before the measurement batch goes through.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(cfg.num_inputs, cfg.width, generator=gen)  # (N, width)
    x_calib = torch.randn(cfg.num_inputs, cfg.width, generator=gen)
    out = {}
    for variant in VARIANTS:
        model = deep_mlp(variant, cfg.depth, cfg.width, torch.Generator().manual_seed(cfg.seed + 1))
        if variant == "frozen":
            with torch.no_grad():
                model(x_calib)  # the first call fixes every layer's statistics, in order
        out[variant] = record_stats(model, x, list(model))["collapse"]
    return out


@dataclass(frozen=True)
class ResNetConfig:
    num_blocks: int = 54  # pre-activation blocks (Bjorck's ResNet-110 has 54)
    width: int = 16  # channels
    batch_size: int = 256  # MNIST-1D training signals, drawn at random
    seed: int = 0


def resnet_and_batch(cfg: ResNetConfig, norm: str) -> tuple[nn.Module, Tensor, Tensor]:
    """A fresh pre-activation ResNet (norm "none" or "batch") and one MNIST-1D batch.

    The same seed gives the same conv weights with and without batch norm, and the same batch.
    """
    from dlbn.data import load_mnist1d
    from dlbn.resnet import preact_resnet

    data = load_mnist1d()
    gen = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(len(data.y_train), generator=gen)[: cfg.batch_size]
    torch.manual_seed(cfg.seed)
    model = preact_resnet(cfg.num_blocks, cfg.width, norm)
    return model, data.x_train[idx], data.y_train[idx]  # (B, 1, 40), (B,)


def stream_stats(cfg: ResNetConfig) -> dict[str, dict[str, Tensor]]:
    """Bjorck Fig 5: the residual stream after every block, averaged over channels.

    Returns {norm: {"mean": (num_blocks,) average |mu_c|, "std": (num_blocks,) average
    sigma_c}} for norm in ("none", "batch").
    """
    out = {}
    for norm in ("none", "batch"):
        model, x, _ = resnet_and_batch(cfg, norm)
        stats = record_stats(model, x, list(model.blocks))
        out[norm] = {"mean": stats["mean"].abs().mean(dim=1), "std": stats["std"].mean(dim=1)}
    return out


def logit_gradients(cfg: ResNetConfig) -> dict[str, dict[str, object]]:
    """Bjorck Fig 6: {norm: {"grad": (B, K), "logits": (B, K), **one_class_bias}}."""
    out = {}
    for norm in ("none", "batch"):
        model, x, y = resnet_and_batch(cfg, norm)
        logits, grad = output_gradients(model, x, y)
        out[norm] = {"grad": grad, "logits": logits, **one_class_bias(logits, grad)}
    return out


def middle_gradients(cfg: ResNetConfig) -> dict[str, dict[str, object]]:
    """Bjorck Fig 2: the first conv of the middle block, {norm: {"grad": flat, **tail_stats}}."""
    out = {}
    for norm in ("none", "batch"):
        model, x, y = resnet_and_batch(cfg, norm)
        weight = model.blocks[cfg.num_blocks // 2].conv1.weight
        grad = weight_gradient(model, x, y, weight)
        out[norm] = {"grad": grad.flatten(), **tail_stats(grad)}
    return out
