"""Chapter 7: group normalization from scratch, and the batch-size sweep.

Wu & He, "Group Normalization" (ECCV 2018): normalize each example on its own, over groups
of channels, so that nothing depends on the batch. Fill in the four tasks, then grade them:

    dlbn grade ch07            # all tasks
    dlbn grade ch07 --task 4   # only ch07.4
    dlbn run ch07              # the full sweep and its figures (minutes)

Shapes: ``x`` is (N, C) or (N, C, *), e.g. (N, C, L) for signals, (N, C, H, W) for images;
``weight`` (gamma) and ``bias`` (beta) are (C,). torch is the oracle: your functions must
agree with ``F.group_norm``, ``F.layer_norm`` over (C, *), ``F.instance_norm`` and
``nn.GroupNorm``, none of which you may call.
"""

# No `from __future__ import annotations` here: `dlbn run` imports this file under a name
# that is not in sys.modules, where dataclasses cannot resolve string annotations.
from dataclasses import dataclass
from typing import Any

import torch  # noqa: F401 - the starter's stubs do not use it yet; your code will
from torch import Tensor, nn

from dlbn.data import load_mnist1d
from dlbn.models import ModelConfig, build_model
from dlbn.train import TrainConfig, train  # noqa: F401 - for ch07.4

NORM_KINDS = ("batch", "group", "layer", "instance")


def per_channel(v: Tensor, x: Tensor) -> Tensor:
    """Reshape a (C,) vector to (1, C, 1, ..., 1) so that it broadcasts against ``x``."""
    return v.reshape(1, -1, *([1] * (x.dim() - 2)))


# Task ch07.1 - group norm, the function
# Hint 1: Group norm is batch norm turned sideways: statistics per example and per group of C/G
#         CONTIGUOUS channels (with all their positions), never over the batch. Think about what a
#         reshape can quietly hide when G does not divide C.
# Hint 2: First check that num_groups is at least 1 and divides C (a ValueError naming both), and
#         return an empty copy for N = 0. View x as (N, G, m), so that each row holds one example's
#         group (contiguous channels, then space), normalize each row by its mean and BIASED
#         variance with eps inside the square root, reshape back, and apply gamma and beta per
#         CHANNEL. Use only differentiable tensor ops and none of torch's norm functions.
# Hint 3: x reshaped to (N, G, -1); mu and sigma^2 over the last axis (keepdim, divide by m); x_hat
#         = (x_g - mu) / sqrt(sigma^2 + eps), reshaped to x.shape; y = x_hat * per_channel(weight,
#         x) + per_channel(bias, x), leaving out a factor or term whose vector is None.
def group_norm(
    x: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group normalization, with the meaning of ``torch.nn.functional.group_norm``.

    The C channels are split into G = ``num_groups`` groups of C / G CONTIGUOUS channels
    (group g holds channels g * C/G, ..., (g + 1) * C/G - 1). For each example n and group g
    the statistics run over the m = (C / G) * prod(*) values of that example in that group
    (all its channels and all spatial positions), never over the batch:

        mu_ng     = mean(x[n, group g])
        sigma2_ng = mean((x[n, group g] - mu_ng) ** 2)                  # biased: divide by m
        y[n, c]   = gamma_c * (x[n, c] - mu_ng) / sqrt(sigma2_ng + eps) + beta_c   (c in g)

    gamma and beta are per CHANNEL (C values each), not per group (Wu & He, eq. 1 and 3).
    G = 1 is layer norm over (C, *); G = C is instance norm.

    Args:
        x: (N, C) or (N, C, *).
        num_groups: G, which must divide C.
        weight, bias: (C,) gamma and beta, or None for 1 and 0.
        eps: added to the variance inside the square root.

    Returns:
        y with the shape, dtype and device of x; autograd flows to x, weight and bias.
        An empty batch (N = 0) gives an empty y, as torch's does. One value per group
        gives y = beta (x - mu = 0), as torch 2.14 does too (it does not raise). Unlike
        torch's, y is always contiguous: channels_last input does not stay channels_last.

    Raises:
        ValueError: if x has fewer than 2 dims, or G < 1, or G does not divide C; the
            message names C and G (``x.reshape`` would otherwise quietly succeed whenever
            G divides C * prod(*), and normalize the wrong values).
    """
    if x.dim() < 2:
        raise ValueError(f"group norm needs x of shape (N, C) or (N, C, *), got {tuple(x.shape)}")
    # BEGIN SOLUTION ch07.1
    # HINT: check that num_groups divides C first (ValueError naming C and num_groups).
    # HINT: view x as (N, G, m) with x.reshape, take the mean and the biased variance over
    # HINT: the last axis, normalize, reshape back to x.shape, then apply per-channel gamma, beta.
    N, C = x.shape[0], x.shape[1]
    if num_groups < 1 or C % num_groups != 0:
        raise ValueError(f"num_groups={num_groups} must divide the number of channels C={C}")
    if N == 0:  # an empty batch: nothing to normalize (reshape(0, G, -1) cannot infer m)
        return x.clone()
    xg = x.reshape(N, num_groups, -1)  # (N, G, m): contiguous channels, then space
    mean = xg.mean(dim=2, keepdim=True)  # (N, G, 1)
    var = xg.var(dim=2, unbiased=False, keepdim=True)  # (N, G, 1) biased
    x_hat = (xg - mean) / torch.sqrt(var + eps)  # (N, G, m)
    y = x_hat.reshape(x.shape)  # (N, C, *)
    if weight is not None:
        y = y * per_channel(weight, x)
    if bias is not None:
        y = y + per_channel(bias, x)
    return y
    # END SOLUTION


# Task ch07.2 - a drop-in nn.GroupNorm
# Hint 1: A drop-in replacement must look like nn.GroupNorm from the outside: the same parameter
#         names, shapes, init, dtype and device, and a state_dict that loads both ways. forward
#         computes nothing new.
# Hint 2: When affine, weight is an nn.Parameter of ones and bias one of zeros, one value per
#         CHANNEL (not per group), created with the given device and dtype; bias=False keeps weight
#         only; otherwise register both names as None, so that they still exist as attributes.
#         forward is one call of your group_norm with the module's group count, its two parameters
#         and its OWN eps.
# Hint 3: nn.Parameter(torch.ones(num_channels, device=device, dtype=dtype)) and the zeros
#         counterpart for bias; register_parameter with the name and None for each one missing.
#         forward passes self.num_groups, self.weight, self.bias and self.eps to group_norm.
class GroupNorm(nn.Module):
    """Group norm as a module, interchangeable with ``nn.GroupNorm``.

    Same constructor (``num_groups, num_channels, eps, affine, device, dtype, *, bias``)
    and names: attributes ``num_groups``, ``num_channels``, ``eps``, ``affine``;
    parameters ``weight`` (C,) initialized to ones and ``bias`` (C,) to zeros when
    ``affine`` (``bias=False`` keeps ``weight`` only), created with the given ``device``
    and ``dtype``, registered as None otherwise; ``reset_parameters()`` restores ones and
    zeros; no buffers (nothing depends on the
    batch, so train and eval mode compute the same thing). ``state_dict()`` matches
    ``nn.GroupNorm``'s key for key and shape for shape, and loads both ways.

    Raises ValueError at construction if ``num_groups`` does not divide ``num_channels``.
    Input: (N, C, *) with C = num_channels. Output: the same shape.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_groups < 1 or num_channels % num_groups != 0:
            raise ValueError(
                f"num_groups={num_groups} must divide num_channels={num_channels}"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        # BEGIN SOLUTION ch07.2
        # HINT: per-channel nn.Parameter weight (ones) and bias (zeros), or
        # HINT: self.register_parameter(name, None) for each when affine (or bias) is False;
        # HINT: create them with device=device, dtype=dtype.
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels, **factory))
            if bias:
                self.bias = nn.Parameter(torch.zeros(num_channels, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, *) -> the same shape; see the class docstring."""
        # BEGIN SOLUTION ch07.2
        # HINT: one call of your group_norm with this module's settings.
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        # END SOLUTION

    def reset_parameters(self) -> None:
        """weight 1, bias 0 (torch's)."""
        with torch.no_grad():
            if self.weight is not None:
                self.weight.fill_(1)
            if self.bias is not None:
                self.bias.zero_()

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


# Task ch07.3 - layer norm and instance norm are group norm, and a factory
# Hint 1: Layer norm and instance norm are the two extreme group counts. Which G puts all channels
#         in one group, and which gives every channel its own?
# Hint 2: layer_norm is group norm with a single group and instance_norm is group norm with one
#         group per channel, both passing gamma, beta and eps on. make_norm_layer returns torch's
#         BatchNorm1d or BatchNorm2d (by dims) for "batch" and YOUR GroupNorm for the other three
#         kinds; any other name raises ValueError listing NORM_KINDS.
# Hint 3: layer: group_norm with G = 1; instance: group_norm with G = x.shape[1]. Factory: map
#         group to num_groups, layer to 1 and instance to num_channels, then build GroupNorm(G,
#         num_channels); the error message contains ', '.join(NORM_KINDS).
def layer_norm(
    x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Layer norm over (C, *) with per-channel gamma and beta: group norm with G = 1.

    Equals ``F.layer_norm(x, x.shape[1:], w, b, eps)`` where w and b are ``weight`` and
    ``bias`` broadcast from (C,) to (C, *). Shapes as in :func:`group_norm`.
    """
    # BEGIN SOLUTION ch07.3
    # HINT: one call of group_norm: how many groups is "all channels together"?
    return group_norm(x, 1, weight, bias, eps)
    # END SOLUTION


def instance_norm(
    x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Instance norm (each example and channel over its own *): group norm with G = C.

    Equals ``F.instance_norm(x, weight=weight, bias=bias, eps=eps)`` for x (N, C, *) with
    at least one spatial axis.
    """
    # BEGIN SOLUTION ch07.3
    # HINT: one call of group_norm: how many groups is "every channel on its own"?
    return group_norm(x, x.shape[1], weight, bias, eps)
    # END SOLUTION


def make_norm_layer(kind: str, num_channels: int, num_groups: int = 8, dims: int = 1) -> nn.Module:
    """The normalization layer an experiment asks for, by name.

    | kind       | layer                                                       |
    | ---------- | ----------------------------------------------------------- |
    | "batch"    | torch's nn.BatchNorm1d (dims 1) or nn.BatchNorm2d (dims 2)  |
    | "group"    | your GroupNorm(num_groups, num_channels)                    |
    | "layer"    | your GroupNorm with G = 1                                   |
    | "instance" | your GroupNorm with G = num_channels                        |

    ``dims`` is the number of spatial axes of the input (it matters only for "batch").
    Raises ValueError for any other kind, listing the valid ones (``NORM_KINDS``).
    """
    # BEGIN SOLUTION ch07.3
    # HINT: batch norm is torch's (ch01 built it); the other three are your GroupNorm.
    if kind == "batch":
        return nn.BatchNorm1d(num_channels) if dims == 1 else nn.BatchNorm2d(num_channels)
    groups = {"group": num_groups, "layer": 1, "instance": num_channels}
    if kind not in groups:
        raise ValueError(f"unknown norm kind {kind!r}; valid kinds: {', '.join(NORM_KINDS)}")
    return GroupNorm(groups[kind], num_channels)
    # END SOLUTION


# Task ch07.4 - one point of the batch-size sweep
# Hint 1: Wu & He's protocol keeps the number of EPOCHS the same at every batch size and scales the
#         LR linearly with the batch size. The seed has to make two runs identical.
# Hint 2: Seed torch before build_net, scale the LR by batch_size / base_batch, and build a
#         TrainConfig with cfg.epochs (not more epochs for bigger batches), that batch size and LR,
#         the warmup_cosine schedule with cfg.warmup_epochs, evaluation only at the end, the seed
#         and the device. Train without a progress bar on data (or load_subset(cfg, device)) and
#         read the numbers from the TrainResult.
# Hint 3: lr = base_lr * B / base_batch; TrainConfig with epochs from cfg, batch_size, lr, schedule
#         'warmup_cosine', warmup_epochs from cfg, eval_every = 0, seed and device; then train(...,
#         progress=False). Return result.final_test_acc, result.final_train_acc, the lr,
#         result.steps, result.diverged and the model.
@dataclass(frozen=True)
class SweepConfig:
    """The protocol of the sweep: equal epochs at every batch size, LR scaled linearly."""

    depth: int = 8  # conv blocks of the MNIST-1D net (dlbn.models.ConvNet)
    width: int = 32  # channels per block
    num_groups: int = 8  # G for "group"
    epochs: int = 5  # the same number of passes over the data at every batch size
    base_lr: float = 0.02  # LR at base_batch; LR = base_lr * batch_size / base_batch
    base_batch: int = 32  # the batch size at which the LR is base_lr (Wu & He: 0.1 at 32)
    warmup_epochs: float = 0.0  # linear warm-up before the cosine decay, in epochs
    n_train: int = 4000  # training examples used (MNIST-1D has 4,000)
    n_test: int = 1000  # test examples used (MNIST-1D has 1,000)


def build_net(kind: str, cfg: SweepConfig, num_groups: int | None = None) -> nn.Module:
    """The sweep's conv net with every norm layer made by your ``make_norm_layer``."""
    G = cfg.num_groups if num_groups is None else num_groups
    model = build_model(ModelConfig(depth=cfg.depth, width=cfg.width, norm="batch", num_groups=G))
    for block in model.blocks:
        block.norm = make_norm_layer(kind, cfg.width, num_groups=G)  # gamma 1, beta 0
    return model


def load_subset(cfg: SweepConfig, device: str = "cpu") -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The first ``n_train`` / ``n_test`` MNIST-1D examples: (x_train, y_train, x_test, y_test)."""
    d = load_mnist1d(device=device)
    return d.x_train[: cfg.n_train], d.y_train[: cfg.n_train], d.x_test[: cfg.n_test], d.y_test[
        : cfg.n_test
    ]


def train_with_norm(
    kind: str,
    batch_size: int,
    cfg: SweepConfig,
    *,
    seed: int = 0,
    num_groups: int | None = None,
    data: Any = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train the sweep's net with norm ``kind`` at ``batch_size``; Wu & He's protocol.

    1. ``torch.manual_seed(seed)``, then ``build_net(kind, cfg, num_groups)``.
    2. LR = ``cfg.base_lr * batch_size / cfg.base_batch`` (the linear scaling rule, Goyal et
       al. 2017, which Wu & He use: 0.1 * N / 32), the same ``cfg.epochs`` at every batch
       size, SGD with momentum 0.9, cosine decay ("warmup_cosine" with
       ``cfg.warmup_epochs``), ``seed`` for the shuffling.
    3. ``dlbn.train.train`` on ``data`` (default: ``load_subset(cfg, device)``), no
       progress bar, evaluating only after the last epoch.

    Returns:
        {"test_acc": final test accuracy (eval mode), "train_acc": last epoch's running
        train accuracy, "lr": the peak LR used, "steps": optimizer steps taken,
        "diverged": bool, "model": the trained network (for further measurements)}.
    """
    # BEGIN SOLUTION ch07.4
    # HINT: torch.manual_seed, build_net, then a TrainConfig with the scaled lr,
    # HINT: schedule="warmup_cosine", eval_every=0, seed=seed, device=device;
    # HINT: then train(..., progress=False) and read the TrainResult.
    torch.manual_seed(seed)
    model = build_net(kind, cfg, num_groups)
    lr = cfg.base_lr * batch_size / cfg.base_batch
    tcfg = TrainConfig(
        epochs=cfg.epochs,
        batch_size=batch_size,
        lr=lr,
        schedule="warmup_cosine",
        warmup_epochs=cfg.warmup_epochs,
        eval_every=0,
        seed=seed,
        device=device,
    )
    data = data if data is not None else load_subset(cfg, device)
    result = train(model, data, tcfg, progress=False)
    return {
        "test_acc": result.final_test_acc,
        "train_acc": result.final_train_acc,
        "lr": lr,
        "steps": result.steps,
        "diverged": result.diverged,
        "model": model,
    }
    # END SOLUTION
